#include "handover/proc_net.h"

#include <sys/socket.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace handover::internal {
namespace {

using ::handover::testing::IsOkAndHolds;
using ::handover::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Captured from Linux 6.18 (fd_holder --tcp=1 plus an sshd-like 0.0.0.0 listener and
// an established pair); lines keep the kernel's trailing spaces.
constexpr char kTcp[] =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode                                                     \n"
    "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "1075 1 000000008d234248 100 0 0 10 0                      \n"
    "   1: 0100007F:9F45 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
    "14150 1 000000009f79813d 100 0 0 10 0                     \n"
    "   2: 0100007F:9F46 0100007F:8AE0 01 00000000:00000000 00:00000000 00000000     0        0 "
    "14160 1 000000009f79813d 20 4 30 10 -1                    \n";

constexpr char kTcp6[] =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    "   0: 00000000000000000000000001000000:A15F 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 14151 1 00000000d1c897e8 100 0 0 10 0\n"
    "   1: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 14170 1 00000000d1c897e8 100 0 0 10 0\n"
    "   2: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 14171 1 00000000d1c897e8 100 0 0 10 0\n";

constexpr char kUdp[] =
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode ref pointer drops            \n"
    " 6252: 0100007F:C4AB 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 "
    "14152 2 000000005d197625 0         \n"
    " 6253: 0100007F:C4AC 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 "
    "14153 2 000000005d197625 0         \n";

constexpr char kUnix[] =
    "Num       RefCount Protocol Flags    Type St Inode Path\n"
    "000000007446c6bc: 00000002 00000000 00010000 0001 01 14154 /tmp/dt1.sock\n"
    "000000008554fe56: 00000002 00000000 00010000 0005 01 14155 /tmp/dt2.sock\n"
    "00000000eee545d0: 00000002 00000000 00010000 0001 01 14156 @dtabs\n"
    "0000000094a91b95: 00000003 00000000 00000000 0001 03  1071\n"
    "0000000094a91b96: 00000002 00000000 00000000 0002 01 14157 /run/dgram.sock\n"
    "0000000094a91b97: 00000002 00000000 00010000 0001 01 14158 /tmp/with space@x\n"
    "0000000094a91b98: 00000002 00000000 00010000 0001 01   999\n";

TEST(ParseProcNetInetTest, TcpKeepsOnlyListeners) {
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, ParseProcNetInet(kTcp, Proto::kTcp));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], (SocketInfo{.fd = -1,
                                .inode = 1075,
                                .proto = Proto::kTcp,
                                .type = SOCK_STREAM,
                                .state = SocketState::kListen,
                                .address = "0.0.0.0:2024",
                                .port = 2024}));
  EXPECT_EQ(got[1].address, "127.0.0.1:40773");
  EXPECT_EQ(got[1].inode, 14150u);
}

TEST(ParseProcNetInetTest, Tcp6AddressesIncludingIpv4Mapped) {
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, ParseProcNetInet(kTcp6, Proto::kTcp6));
  EXPECT_THAT(got, ElementsAre(Field(&SocketInfo::address, "[::1]:41311"),
                               Field(&SocketInfo::address, "[::]:8080"),
                               Field(&SocketInfo::address, "[::ffff:127.0.0.1]:8081")));
  EXPECT_EQ(got[0].proto, Proto::kTcp6);
  EXPECT_EQ(got[2].port, 8081);
  EXPECT_EQ(got[2].inode, 14171u);
}

TEST(ParseProcNetInetTest, UdpKeepsBoundUnconnectedOnly) {
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, ParseProcNetInet(kUdp, Proto::kUdp));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], (SocketInfo{.fd = -1,
                                .inode = 14152,
                                .proto = Proto::kUdp,
                                .type = SOCK_DGRAM,
                                .state = SocketState::kBound,
                                .address = "127.0.0.1:50347",
                                .port = 50347}));
}

TEST(ParseProcNetInetTest, UdpWithPortZeroIsNotListed) {
  const std::string text = std::string(kUdp, 0, std::string(kUdp).find('\n') + 1) +
                           "  1: 00000000:0000 00000000:0000 07 00000000:00000000 00:00000000 "
                           "00000000     0        0 555 2 0000000000000000 0\n";
  EXPECT_THAT(ParseProcNetInet(text, Proto::kUdp), IsOkAndHolds(IsEmpty()));
}

TEST(ParseProcNetInetTest, HeaderOnlyOrEmptyTextGivesNothing) {
  EXPECT_THAT(ParseProcNetInet("", Proto::kTcp), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(ParseProcNetInet("  sl  local_address\n", Proto::kTcp6), IsOkAndHolds(IsEmpty()));
}

TEST(ParseProcNetInetTest, MalformedLinesAreErrorsNamingTheLine) {
  const std::string header = "  sl  local_address rem_address st\n";
  const std::vector<std::string> bad = {
      "   0: 0100007F:1F90 00000000:0000 0A",                                        // short
      "   0: 0100007G:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1",                        // hex
      "   0: 0100007F1F90 00000000:0000 0A 0:0 0:0 0 0 0 1",                         // no colon
      "   0: 0100007F:1F9 00000000:0000 0A 0:0 0:0 0 0 0 1",                         // short port
      "   0: 00000000000000000000000001000000:1F90 0:0 0A 0:0 0:0 0 0 0 1",          // v6 in v4
      "   0: 0100007F:1F90 00000000:0000 A 0:0 0:0 0 0 0 1",                         // state
      "   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 -1",                       // inode
      "   0: 0100007F:1F90 00000000:0000 0A 0:0 0:0 0 0 0 99999999999999999999999",  // overflow
  };
  for (const std::string& line : bad) {
    EXPECT_THAT(ParseProcNetInet(header + line + "\n", Proto::kTcp),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/proc/net/tcp line 2")))
        << line;
  }
  EXPECT_THAT(ParseProcNetInet(header + "   0: 0100007F:1F90\x01\n", Proto::kTcp),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\\x01")));
  EXPECT_THAT(ParseProcNetInet(header, Proto::kUnix),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("proto")));
}

TEST(ParseProcNetUnixTest, KeepsListeningStreamAndSeqpacket) {
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, ParseProcNetUnix(kUnix));
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0], (SocketInfo{.fd = -1,
                                .inode = 14154,
                                .proto = Proto::kUnix,
                                .type = SOCK_STREAM,
                                .state = SocketState::kListen,
                                .address = "/tmp/dt1.sock"}));
  EXPECT_EQ(got[1].type, SOCK_SEQPACKET);
  EXPECT_EQ(got[1].address, "/tmp/dt2.sock");
  EXPECT_EQ(got[2].address, "@dtabs");
  EXPECT_EQ(got[3].address, "/tmp/with space@x");
  EXPECT_EQ(got[4].address, "");
  EXPECT_EQ(got[4].inode, 999u);
}

TEST(ParseProcNetUnixTest, MalformedLinesAreErrors) {
  const std::string header = "Num       RefCount Protocol Flags    Type St Inode Path\n";
  const std::vector<std::string> bad = {
      "0000000000000000: 00000002 00000000 00010000 0001 01",            // no inode
      "0000000000000000 00000002 00000000 00010000 0001 01 5 /x",        // slot without ':'
      "0000000000000000: 00000002 00000000 0001000Z 0001 01 5 /x",       // flags
      "0000000000000000: 00000002 00000000 00010000 0001 01 5x /x",      // inode
      "0000000000000000: 00000002 00000000 00010000 000100001 01 5 /x",  // type too long
  };
  for (const std::string& line : bad) {
    EXPECT_THAT(ParseProcNetUnix(header + line + "\n"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/proc/net/unix line 2")))
        << line;
  }
}

TEST(ParseProcNetTest, ArbitraryBytesNeverCrash) {
  std::string text = "header\n";
  for (int i = 0; i < 256; ++i) text.push_back(static_cast<char>(i));
  (void)ParseProcNetInet(text, Proto::kTcp6);
  (void)ParseProcNetUnix(text);
  (void)ParseProcNetUnix("h\n:\n");
  (void)ParseProcNetUnix("h\n   \n");
}

}  // namespace
}  // namespace handover::internal
