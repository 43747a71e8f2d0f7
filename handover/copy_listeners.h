// Taking over by copying first: pidfd_getfd every fd of the target, keep the
// copies that are its listening/bound sockets, close the rest.
//
//   HANDOVER_ASSIGN_OR_RETURN(std::vector<TakenSocket> taken,
//                             CopyListeners(old.fd_pidfd(), old.fd_dir()));
//
// Why: the listing path (discover.h, then takeover.h) pays per target fd one
// readlinkat of /proc/PID/fd/N, the slowest lookup there is, and per socket
// pidfd_getfd, fstat and getsockopt. Here each target fd costs one pidfd_getfd,
// and the copies are recognised together: one batched SO_COOKIE read (io_uring,
// fd_batch.h) matched against the cookies sock_diag reports for the target's
// network namespace. A cookie is unique for the life of the kernel, so a match is
// that very socket, whatever happened to fd numbers in between.
//
// The copies of fds that are not wanted (files, pipes, connections) are only
// held until their cookie is read, at most kChunk of them at a time, and closing
// a copy never affects the target: it holds its own reference.
#ifndef HANDOVER_COPY_LISTENERS_H_
#define HANDOVER_COPY_LISTENERS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "handover/takeover.h"

namespace handover {

// Every listening/bound socket of the process behind `pidfd` and `proc_dir`
// (borrowed; as DiscoverSockets) that belongs to its network namespace, copied:
// in target fd order, `info` as DiscoverSockets lists it (fd = the lowest target
// fd, duplicate_fds, cookie; reuseport unset). Every listener is shown to listen
// after it was copied: the dump is made once the first kChunk fds are copied, and
// those copied later (targets holding more) are asked SO_ACCEPTCONN.
// Errors: NOT_FOUND (the process exited), PERMISSION_DENIED (pidfd_getfd refused
// for some fd: ptrace access, or an LSM guarding one file — the listing path,
// which copies sockets only, may still work), those of sock_diag in the target's
// netns (internal::SockDiagSocketsOf), ABORTED (a listener stopped listening),
// RESOURCE_EXHAUSTED (our fd limit). Nothing is held after an error.
absl::StatusOr<std::vector<TakenSocket>> CopyListeners(int pidfd, int proc_dir);

}  // namespace handover

#endif  // HANDOVER_COPY_LISTENERS_H_
