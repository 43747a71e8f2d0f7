// --select: which of the discovered sockets to take over.
//
//   HANDOVER_ASSIGN_OR_RETURN(std::vector<SelectSpec> specs,
//                             ParseSelectSpecs("tcp:*:8080,unix:/run/app.sock,fd:7"));
//   HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> chosen, ApplySelect(specs, found));
//
// Spec forms (comma-separated; whitespace around a spec is ignored):
//   tcp:ADDR:PORT     tcp:*:PORT       ADDR is dotted IPv4 ("127.0.0.1", "0.0.0.0")
//   tcp6:[ADDR]:PORT  tcp6:*:PORT      ADDR is IPv6 in brackets ("[::1]", "[::ffff:10.0.0.1]")
//   udp:..., udp6:...                  as tcp/tcp6, for bound UDP sockets
//   unix:PATH         unix:@NAME       a unix listener's path, or its abstract name
//   fd:N                               the socket at fd N of the target
// '*' matches any address of that protocol, 0.0.0.0 and :: included; tcp:*:80
// does not match a tcp6 socket. Addresses compare in canonical form, so
// tcp6:[0:0::1]:80 matches [::1]:80. A unix path holding ',' cannot be selected by
// path (use fd:N).
#ifndef HANDOVER_SELECT_H_
#define HANDOVER_SELECT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "handover/socket_info.h"

namespace handover {

struct SelectSpec {
  enum class Kind { kInet, kUnix, kFd };
  Kind kind = Kind::kFd;
  Proto proto = Proto::kTcp;           // kInet: tcp/tcp6/udp/udp6; kUnix: kUnix
  std::optional<std::string> address;  // kInet: canonical "ADDR:PORT" / "[ADDR]:PORT";
                                       // nullopt for '*'
  uint16_t port = 0;                   // kInet: 1..65535
  std::string path;                    // kUnix: "/path" or "@name"
  int fd = -1;                         // kFd
  std::string text;                    // the spec as written, for messages
};

// True when `socket` is what `spec` names. fd:N also matches a socket whose
// duplicate_fds hold N (it is the same socket).
bool SpecMatches(const SelectSpec& spec, const SocketInfo& socket);

// Parses the comma-separated specs of --select. "" (or only whitespace) yields no
// specs, which ApplySelect reads as "everything".
// Errors: INVALID_ARGUMENT quoting the bad spec, saying what is wrong with it and
// listing the accepted forms.
absl::StatusOr<std::vector<SelectSpec>> ParseSelectSpecs(absl::string_view text);

// The sockets of `found` that match any of `specs`, in spec order (for one spec, in
// the order of `found`), each socket once. No specs: all of `found`.
// Errors: NOT_FOUND naming every spec that matched nothing and listing what was found.
absl::StatusOr<std::vector<SocketInfo>> ApplySelect(const std::vector<SelectSpec>& specs,
                                                    const std::vector<SocketInfo>& found);

}  // namespace handover

#endif  // HANDOVER_SELECT_H_
