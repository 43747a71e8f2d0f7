// Socket addresses as the demo writes them on the command line and in its output:
// "127.0.0.1:8080", "[::1]:8080", "unix:/run/x.sock" (and "unix:@name" for the
// abstract namespace), plus the socket calls every demo binary shares.
//
//   HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr addr, demo::ParseAddress("[::1]:0"));
//   HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, demo::BindListener(addr, 1024));
//   demo::FormatAddress(*sys::GetSockName(fd.get()));  // "[::1]:41234"
#ifndef HANDOVER_DEMO_PROXY_ADDRESS_H_
#define HANDOVER_DEMO_PROXY_ADDRESS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "handover/sys.h"
#include "handover/unique_fd.h"

namespace handover::demo {

// Parses one address. INVALID_ARGUMENT on anything else (hostnames are not resolved).
absl::StatusOr<sys::SockAddr> ParseAddress(absl::string_view text);

// Parses a comma-separated list; empty items are an error, an empty string is an empty list.
absl::StatusOr<std::vector<sys::SockAddr>> ParseAddressList(absl::string_view csv);

// The inverse of ParseAddress.
std::string FormatAddress(const sys::SockAddr& addr);

// A new non-blocking, close-on-exec stream listener bound to `addr` (SO_REUSEADDR
// for TCP; a unix path must not exist yet). With `reuseport`, a TCP listener also
// gets SO_REUSEPORT, so another process may bind its own socket on the same address
// (with SO_REUSEPORT too, same uid) and the kernel spreads new connections over both.
// Errors come from socket/setsockopt/bind/listen (EADDRINUSE when the address is held
// without SO_REUSEPORT on both sides).
absl::StatusOr<UniqueFd> BindListener(const sys::SockAddr& addr, int backlog,
                                      bool reuseport = false);

// A non-blocking stream socket with connect(2) started. `in_progress` is true on
// EINPROGRESS: wait for EPOLLOUT, then read ConnectError(). When connect(2) fails at
// once (loopback TCP may say ECONNREFUSED right away, a unix socket ENOENT or EAGAIN),
// `error` holds its errno and `fd` is closed. The Status is an error only when no
// socket could be created at all.
struct ConnectAttempt {
  UniqueFd fd;
  bool in_progress = false;
  int error = 0;
};
absl::StatusOr<ConnectAttempt> StartConnect(const sys::SockAddr& addr);

// After EPOLLOUT on a connecting socket: 0 when connected, else the connect errno
// (SO_ERROR, or getsockopt's own errno).
int ConnectError(int fd);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_ADDRESS_H_
