// Taking copies of another process's sockets with pidfd_getfd(2), all or nothing.
//
//   HANDOVER_ASSIGN_OR_RETURN(std::vector<TakenSocket> taken,
//                             TakeSockets(old.pidfd(), old.proc_dir(), selected));
//   for (TakenSocket& s : taken) Serve(std::move(s.fd));
//
// Each copy refers to the SAME open file description as the old process's fd:
// same socket, same accept queue, shared file status flags (O_NONBLOCK). Nothing
// here changes the socket or its flags, so the old process is never affected,
// whether the takeover succeeds or fails.
#ifndef HANDOVER_TAKEOVER_H_
#define HANDOVER_TAKEOVER_H_

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "handover/socket_info.h"
#include "handover/unique_fd.h"

namespace handover {

struct TakenSocket {
  SocketInfo info;  // as discovered; reuseport unset until ReadReuseport
  UniqueFd fd;      // our copy, close-on-exec
};

// Takes a copy of every socket in `selected` from the process behind `pidfd`
// (borrowed; `proc_dir` is its /proc/PID directory fd, used to explain EPERM).
// Each copy is verified before it is accepted: it must be a socket whose inode
// equals the listed one (the fd number may have been closed and reused since
// listing; the listing itself came from the kernel by inode, so type and family
// follow), and a listener must still listen.
// All or nothing: on any failure every copy taken so far is closed and the error
// names the socket. Errors: PERMISSION_DENIED (with the cause and fix appended),
// NOT_FOUND (the process exited), ABORTED (an fd changed since listing: list and
// take again), RESOURCE_EXHAUSTED (our fd limit; raise `ulimit -n`).
absl::StatusOr<std::vector<TakenSocket>> TakeSockets(int pidfd, int proc_dir,
                                                     absl::Span<const SocketInfo> selected);

// Checks that `fd` (borrowed) is the socket `expected` describes (from a listing
// of the kernel's, as above): same socket inode, still listening if it listened.
absl::Status VerifySocket(int fd, const SocketInfo& expected);

// Fills info.reuseport (SO_REUSEPORT) of each socket from its copy; left unset
// where the read fails. Not part of a takeover: one more read per socket that
// only a report needs (`handover check`, exec's report).
void ReadReuseport(absl::Span<TakenSocket> sockets);

namespace internal {

// A takeover of many sockets grows our fd table several times; a multi-threaded
// process pays an RCU grace period at each doubling (kernel-notes §7). This grows
// it once, up front, to hold `count` more fds (by dup'ing `any_fd` high and
// closing the probe). Best effort: past RLIMIT_NOFILE nothing changes.
void PreGrowFdTable(int any_fd, size_t count);

}  // namespace internal

}  // namespace handover

#endif  // HANDOVER_TAKEOVER_H_
