// Internal helpers shared by the SCM_RIGHTS server and client (scm_rights.h)
// and the sd_notify code (notify.h): AF_UNIX addresses, deadline-bounded
// send/recv on non-blocking sockets, and SCM_RIGHTS batches.
#ifndef HANDOVER_SCM_WIRE_H_
#define HANDOVER_SCM_WIRE_H_

#include <sys/socket.h>
#include <sys/un.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "handover/unique_fd.h"

namespace handover::internal {

// The kernel's SCM_MAX_FD: at most this many fds per SCM_RIGHTS message.
inline constexpr int kMaxFdsPerMessage = 253;

struct UnixAddr {
  struct sockaddr_un addr = {};
  socklen_t len = 0;
  const struct sockaddr* get() const { return reinterpret_cast<const struct sockaddr*>(&addr); }
};

// "/path" or "relative/path" -> a filesystem address; "@name" -> the abstract
// name "\0name". INVALID_ARGUMENT when empty or longer than sun_path allows.
absl::StatusOr<UnixAddr> MakeUnixAddr(absl::string_view name);

// Waits for `events` (POLLIN/POLLOUT) on fd until deadline. DEADLINE_EXCEEDED
// (with `what` in the message) when the deadline passes first.
absl::Status WaitFor(int fd, short events, absl::Time deadline, absl::string_view what);

// Sends all of `data` on a non-blocking stream socket before `deadline`
// (MSG_NOSIGNAL: a vanished peer gives EPIPE, not SIGPIPE).
absl::Status SendAll(int fd, absl::string_view data, absl::Time deadline);

// Sends `fds` (borrowed) in order, in messages of at most kMaxFdsPerMessage fds
// and one data byte '.' each. Errors: errno codes of sendmsg (ETOOMANYREFS:
// the sender's in-flight fd limit, RLIMIT_NOFILE), DEADLINE_EXCEEDED.
absl::Status SendFds(int fd, absl::Span<const int> fds, absl::Time deadline);

// One recvmsg(MSG_CMSG_CLOEXEC) after waiting for input until `deadline`.
// Appends data to `data` and wraps every received fd into `fds` at once, also
// fds beyond what the caller expects. `truncated` reports MSG_CTRUNC: fds were
// dropped by the kernel (too small a buffer, or our RLIMIT_NOFILE was reached).
struct RecvResult {
  size_t bytes = 0;  // 0: EOF
  bool truncated = false;
};
absl::StatusOr<RecvResult> RecvWithFds(int fd, std::string& data, std::vector<UniqueFd>& fds,
                                       absl::Time deadline);

}  // namespace handover::internal

#endif  // HANDOVER_SCM_WIRE_H_
