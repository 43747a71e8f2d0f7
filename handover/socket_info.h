// SocketInfo: one listening or bound socket found in a target process.
//
//   for (const SocketInfo& s : sockets) LOG(INFO) << FormatSocket(s);
//   std::cout << SocketsToJson(sockets);
#ifndef HANDOVER_SOCKET_INFO_H_
#define HANDOVER_SOCKET_INFO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace handover {

enum class Proto { kTcp, kTcp6, kUdp, kUdp6, kUnix };
enum class SocketState { kListen, kBound };

struct SocketInfo {
  int fd = -1;         // descriptor number in the TARGET process
  uint64_t inode = 0;  // socket inode (socket:[INODE])
  uint64_t cookie = 0;  // socket cookie (SO_COOKIE) from sock_diag; 0 from /proc/net
  Proto proto = Proto::kTcp;
  int type = 0;  // SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET
  SocketState state = SocketState::kListen;
  // "127.0.0.1:8080", "0.0.0.0:8080", "[::1]:8080", "[::]:8080",
  // "[::ffff:127.0.0.1]:8080", "/run/x.sock", "@abstract-name" (NUL bytes inside an
  // abstract name show as '@', as in /proc/net/unix), "" for an unnamed unix socket.
  std::string address;
  uint16_t port = 0;               // inet sockets only
  std::optional<bool> reuseport;   // known once a copy was inspected (SO_REUSEPORT)
  std::vector<int> duplicate_fds;  // other target fds holding the same socket (ascending)
};

bool operator==(const SocketInfo& a, const SocketInfo& b);
inline bool operator!=(const SocketInfo& a, const SocketInfo& b) { return !(a == b); }

absl::string_view ProtoName(Proto proto);        // "tcp", "tcp6", "udp", "udp6", "unix"
absl::string_view StateName(SocketState state);  // "listen", "bound"
absl::string_view TypeName(int type);            // "stream", "dgram", "seqpacket", "other"

// "127.0.0.1:8080" (AF_INET, `addr` = 4 bytes) or "[::1]:8080" (AF_INET6, 16 bytes).
// `addr` is in network byte order, `port` in host byte order. "" for another family.
std::string FormatInetAddress(int family, const void* addr, uint16_t port);

// One human-readable line:
//   "fd 3  tcp  listen  127.0.0.1:8080  inode 1234  reuseport"
//   "fd 7  unix seqpacket  listen  /run/x.sock  inode 99  dup fds 9,12"
// The reuseport column reads "reuseport", "-" (off) or "reuseport?" (not inspected).
// Non-printable bytes of the address are C-escaped so the line stays one line.
std::string FormatSocket(const SocketInfo& s);

// A JSON array of objects with fd, inode, proto, type, address, port (inet only),
// state, reuseport (bool or null), duplicate_fds (array). Strings are escaped.
std::string SocketsToJson(const std::vector<SocketInfo>& sockets);

// Escapes `s` as a JSON string literal, quotes included: '"', '\\' and control
// characters are escaped (\n, \t, \u001f...); valid UTF-8 passes through and each
// byte that is not part of valid UTF-8 becomes \ufffd, so the output is valid JSON.
std::string JsonString(absl::string_view s);

}  // namespace handover

#endif  // HANDOVER_SOCKET_INFO_H_
