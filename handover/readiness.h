// Is a freshly started server accepting on the sockets it was handed?
//
//   HANDOVER_ASSIGN_OR_RETURN(bool ready,
//       WaitUntilAccepting(child_pidfd, child_pid, inodes, absl::Now() + absl::Seconds(10)));
//
// For servers that do not speak sd_notify, "ready" is read from the kernel: a
// socket counts as served once a process in the tree rooted at `pid` (the server
// and the workers it forks) has it in an epoll set (`tfd: ... ino:` lines of
// /proc/PID/fdinfo/N for each eventpoll fd) or has a thread blocked in
// accept()/accept4() on it (/proc/PID/task/TID/syscall). Servers that use
// poll()/select() are not recognised: use sd_notify readiness for them.
//
// There is no event for "a process added a socket to its epoll set", so
// WaitUntilAccepting re-checks at a short, growing interval (1 ms to 20 ms). It
// is the only place in handover that waits on time; it also wakes at once when
// the server exits (its pidfd becomes readable).
#ifndef HANDOVER_READINESS_H_
#define HANDOVER_READINESS_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace handover {

// The socket inodes that processes in the tree rooted at `pid` have in an epoll
// set or are blocked in accept() on. Processes that exit during the walk are
// skipped. Descendants are found by one scan of /proc (ppid links).
absl::StatusOr<absl::flat_hash_set<uint64_t>> ServedSocketInodes(pid_t pid);

// Parses the text of /proc/PID/fdinfo/N of an eventpoll fd: the `ino:` (hex) of
// each `tfd:` line. Lines it does not recognise are ignored.
absl::flat_hash_set<uint64_t> ParseEpollTargetInodes(absl::string_view fdinfo);

// Waits until every inode in `inodes` is served (see above) or `deadline` passes.
// Returns true when served, false at the deadline. FAILED_PRECONDITION when the
// server exits first (`pidfd`, borrowed, becomes readable).
absl::StatusOr<bool> WaitUntilAccepting(int pidfd, pid_t pid, absl::Span<const uint64_t> inodes,
                                        absl::Time deadline);

}  // namespace handover

#endif  // HANDOVER_READINESS_H_
