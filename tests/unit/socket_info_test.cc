#include "handover/socket_info.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace handover {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

SocketInfo Tcp(int fd, std::string address, uint16_t port) {
  return SocketInfo{.fd = fd,
                    .inode = 1234,
                    .proto = Proto::kTcp,
                    .type = SOCK_STREAM,
                    .state = SocketState::kListen,
                    .address = std::move(address),
                    .port = port};
}

TEST(NamesTest, ProtoStateAndTypeNames) {
  EXPECT_EQ(ProtoName(Proto::kTcp), "tcp");
  EXPECT_EQ(ProtoName(Proto::kTcp6), "tcp6");
  EXPECT_EQ(ProtoName(Proto::kUdp), "udp");
  EXPECT_EQ(ProtoName(Proto::kUdp6), "udp6");
  EXPECT_EQ(ProtoName(Proto::kUnix), "unix");
  EXPECT_EQ(StateName(SocketState::kListen), "listen");
  EXPECT_EQ(StateName(SocketState::kBound), "bound");
  EXPECT_EQ(TypeName(SOCK_STREAM), "stream");
  EXPECT_EQ(TypeName(SOCK_DGRAM), "dgram");
  EXPECT_EQ(TypeName(SOCK_SEQPACKET), "seqpacket");
  EXPECT_EQ(TypeName(SOCK_RAW), "other");
}

TEST(FormatInetAddressTest, FormatsIpv4AndIpv6) {
  struct in_addr any4 = {.s_addr = htonl(INADDR_ANY)};
  struct in_addr lo4 = {.s_addr = htonl(INADDR_LOOPBACK)};
  EXPECT_EQ(FormatInetAddress(AF_INET, &any4, 80), "0.0.0.0:80");
  EXPECT_EQ(FormatInetAddress(AF_INET, &lo4, 65535), "127.0.0.1:65535");
  EXPECT_EQ(FormatInetAddress(AF_INET6, &in6addr_any, 443), "[::]:443");
  EXPECT_EQ(FormatInetAddress(AF_INET6, &in6addr_loopback, 8080), "[::1]:8080");
  struct in6_addr mapped = {};
  ASSERT_EQ(::inet_pton(AF_INET6, "::ffff:127.0.0.1", &mapped), 1);
  EXPECT_EQ(FormatInetAddress(AF_INET6, &mapped, 1), "[::ffff:127.0.0.1]:1");
  EXPECT_EQ(FormatInetAddress(AF_UNIX, &lo4, 1), "");
}

TEST(FormatSocketTest, InetLine) {
  SocketInfo s = Tcp(3, "127.0.0.1:8080", 8080);
  s.reuseport = true;
  EXPECT_EQ(FormatSocket(s), "fd 3  tcp  listen  127.0.0.1:8080  inode 1234  reuseport");
  s.reuseport = false;
  EXPECT_EQ(FormatSocket(s), "fd 3  tcp  listen  127.0.0.1:8080  inode 1234");
  s.reuseport.reset();
  EXPECT_EQ(FormatSocket(s), "fd 3  tcp  listen  127.0.0.1:8080  inode 1234  reuseport unknown");
}

TEST(FormatSocketTest, UnixLineShowsTypeDuplicatesAndEscapes) {
  SocketInfo s{.fd = 7,
               .inode = 99,
               .proto = Proto::kUnix,
               .type = SOCK_SEQPACKET,
               .state = SocketState::kListen,
               .address = "/run/x.sock",
               .reuseport = false,
               .duplicate_fds = {9, 12}};
  EXPECT_EQ(FormatSocket(s),
            "fd 7  unix seqpacket  listen  /run/x.sock  inode 99  dup fds 9,12");
  s.address = "/tmp/a\nb";
  EXPECT_THAT(FormatSocket(s), HasSubstr("/tmp/a\\nb"));
  EXPECT_THAT(FormatSocket(s), Not(HasSubstr("\n")));
  s.address = "";
  EXPECT_THAT(FormatSocket(s), HasSubstr("(unnamed)"));
}

TEST(JsonStringTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("plain /run/x.sock"), "\"plain /run/x.sock\"");
  EXPECT_EQ(JsonString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonString("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(JsonString(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\x7f\"");
  EXPECT_EQ(JsonString(std::string("@a\0b", 4)), "\"@a\\u0000b\"");
  EXPECT_EQ(JsonString("/"), "\"/\"");
}

TEST(JsonStringTest, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(JsonString("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  EXPECT_EQ(JsonString("\xff"), "\"\\ufffd\"");
  EXPECT_EQ(JsonString("\xc3"), "\"\\ufffd\"");                        // truncated sequence
  EXPECT_EQ(JsonString("\xc0\xaf"), "\"\\ufffd\\ufffd\"");             // overlong '/'
  EXPECT_EQ(JsonString("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate
  EXPECT_EQ(JsonString("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // > U+10FFFF
}

TEST(SocketsToJsonTest, EmptyAndFullArrays) {
  EXPECT_EQ(SocketsToJson({}), "[]");
  SocketInfo tcp = Tcp(3, "0.0.0.0:80", 80);
  tcp.reuseport = true;
  SocketInfo unix_sock{.fd = 4,
                       .inode = 5,
                       .proto = Proto::kUnix,
                       .type = SOCK_STREAM,
                       .state = SocketState::kListen,
                       .address = "/tmp/\"q\"",
                       .duplicate_fds = {6}};
  SocketInfo udp{.fd = 8,
                 .inode = 9,
                 .proto = Proto::kUdp6,
                 .type = SOCK_DGRAM,
                 .state = SocketState::kBound,
                 .address = "[::]:53",
                 .port = 53,
                 .reuseport = false};
  EXPECT_EQ(SocketsToJson({tcp, unix_sock, udp}),
            "[{\"fd\":3,\"inode\":1234,\"proto\":\"tcp\",\"type\":\"stream\","
            "\"address\":\"0.0.0.0:80\",\"port\":80,\"state\":\"listen\",\"reuseport\":true,"
            "\"duplicate_fds\":[]},"
            "{\"fd\":4,\"inode\":5,\"proto\":\"unix\",\"type\":\"stream\","
            "\"address\":\"/tmp/\\\"q\\\"\",\"state\":\"listen\",\"reuseport\":null,"
            "\"duplicate_fds\":[6]},"
            "{\"fd\":8,\"inode\":9,\"proto\":\"udp6\",\"type\":\"dgram\","
            "\"address\":\"[::]:53\",\"port\":53,\"state\":\"bound\",\"reuseport\":false,"
            "\"duplicate_fds\":[]}]");
}

}  // namespace
}  // namespace handover
