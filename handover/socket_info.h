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
  int fd = -1;                     // descriptor number in the TARGET process
  uint64_t inode = 0;              // socket inode (socket:[INODE])
  Proto proto = Proto::kTcp;
  int type = 0;                    // SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET
  SocketState state = SocketState::kListen;
  // "127.0.0.1:8080", "[::1]:8080", "*:8080" (0.0.0.0), "[::]:8080",
  // "/run/x.sock", "@abstract-name".
  std::string address;
  uint16_t port = 0;               // inet sockets only
  std::optional<bool> reuseport;   // known once a copy was inspected (SO_REUSEPORT)
};

absl::string_view ProtoName(Proto proto);        // "tcp", "tcp6", "udp", "udp6", "unix"
absl::string_view StateName(SocketState state);  // "listen", "bound"
absl::string_view TypeName(int type);            // "stream", "dgram", "seqpacket"

// One human-readable line: "fd 3  tcp  listen  127.0.0.1:8080  inode 1234  reuseport".
std::string FormatSocket(const SocketInfo& s);

// A JSON array of objects with fd, inode, proto, type, address, port (inet only),
// state, reuseport (bool or null). Strings are escaped.
std::string SocketsToJson(const std::vector<SocketInfo>& sockets);

// Escapes `s` as a JSON string literal, quotes included.
std::string JsonString(absl::string_view s);

}  // namespace handover

#endif  // HANDOVER_SOCKET_INFO_H_
