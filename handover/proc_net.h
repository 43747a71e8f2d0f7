// Parsers for the text of /proc/PID/net/{tcp,tcp6,udp,udp6,unix}: the fallback
// listing used when the target's network namespace cannot be entered (kernel-notes §4).
// Pure functions: text in, entries out, so they can be unit tested and fuzzed.
//
//   HANDOVER_ASSIGN_OR_RETURN(std::string text, sys::ReadFileAt(proc_dir, "net/tcp"));
//   HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> tcp,
//                             internal::ParseProcNetInet(text, Proto::kTcp));
#ifndef HANDOVER_PROC_NET_H_
#define HANDOVER_PROC_NET_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "handover/socket_info.h"

namespace handover::internal {

// Parses /proc/net/tcp, tcp6, udp or udp6 text (first line is the header) and
// returns the sockets handover takes over, with fd = -1 and reuseport unset:
// for kTcp/kTcp6 those in LISTEN (st 0A); for kUdp/kUdp6 those in state 07
// (TCP_CLOSE, i.e. not connected) with a nonzero local port. `proto` must not be kUnix.
// Errors: INVALID_ARGUMENT naming the 1-based line and quoting it when a line is malformed.
absl::StatusOr<std::vector<SocketInfo>> ParseProcNetInet(absl::string_view text, Proto proto);

// Parses /proc/net/unix text and returns the listening (flags __SO_ACCEPTCON)
// stream and seqpacket sockets, fd = -1. The address is the path as the kernel
// prints it: "@name" for abstract names, "" when the socket has no name.
// A path holding '\n' cannot be told apart from a line break in this format.
// Errors: INVALID_ARGUMENT naming and quoting the malformed line.
absl::StatusOr<std::vector<SocketInfo>> ParseProcNetUnix(absl::string_view text);

}  // namespace handover::internal

#endif  // HANDOVER_PROC_NET_H_
