// Drain: ask an old instance to finish (a signal through its pidfd) and wait for
// it to exit, with a deadline and an optional SIGKILL escalation.
//
//   HANDOVER_ASSIGN_OR_RETURN(Process old, Process::OpenPidfile("/run/proxy.pid"));
//   ... take its listeners ...
//   absl::StatusOr<DrainResult> r = Drain(old, {.timeout = absl::Seconds(30)});
//   // r->exited, r->signal_to_exit, r->exit_code / r->exit_signal when known
//
// Waiting polls the pidfd (readable once the whole thread group has exited,
// zombie included; Linux >= 5.3). Nothing here sleeps.
#ifndef HANDOVER_DRAIN_H_
#define HANDOVER_DRAIN_H_

#include <signal.h>

#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "handover/process.h"

namespace handover {

struct DrainOptions {
  int signal = SIGTERM;  // sent first, through the pidfd
  absl::Duration timeout = absl::Seconds(30);
  bool kill_after_timeout = false;              // then SIGKILL ...
  absl::Duration kill_wait = absl::Seconds(5);  // ... and wait this much longer
};

struct DrainResult {
  bool exited = false;
  bool killed = false;            // SIGKILL was sent
  absl::Duration signal_to_exit;  // first signal -> exit seen (0 if already gone)
  // How it ended, when the kernel can tell (see ExitWaitStatus): exactly one is set,
  // or neither.
  std::optional<int> exit_code;
  std::optional<int> exit_signal;
};

// Waits until the process behind `pidfd` (borrowed) exits or `deadline` passes.
// Returns true when it exited (a zombie counts), false at the deadline.
// absl::InfiniteFuture() waits forever; absl::InfinitePast() only checks.
absl::StatusOr<bool> WaitForExit(int pidfd, absl::Time deadline);

// The wait(2)-style status of the exited process behind `pidfd`, or nullopt when
// the kernel cannot tell (yet):
//  - ioctl(PIDFD_GET_INFO, PIDFD_INFO_EXIT), Linux >= 6.15, works for any process
//    but only once it has been reaped by its parent;
//  - else, for a child of ours, waitid(P_PIDFD, WNOWAIT): it reads the status of
//    the zombie WITHOUT reaping it (reaping stays with whoever owns the child).
// A non-child whose parent has not reaped it yet gives nullopt. Never blocks.
std::optional<int> ExitWaitStatus(int pidfd);

// Sends options.signal through process.pidfd() and waits up to options.timeout
// for the process to exit. If it is still running and options.kill_after_timeout,
// sends SIGKILL and waits up to options.kill_wait more.
//
// A process that has already exited when Drain starts is not an error: the result
// has exited = true, signal_to_exit = 0 and no signal is sent (there is nothing
// to drain; the caller's goal — the old instance gone — holds).
//
// Blocks for at most timeout (+ kill_wait). Errors:
//   DEADLINE_EXCEEDED  still running at the end: "pid N still running after 30s
//                      (signal SIGTERM); rerun with --kill_after_timeout or a longer
//                      --timeout_ms" (mentions a stopped (SIGSTOP) process, which
//                      keeps the signal pending until SIGCONT);
//   PERMISSION_DENIED  not allowed to signal it (kill(2) rules);
//   INVALID_ARGUMENT   bad signal number.
absl::StatusOr<DrainResult> Drain(const Process& process, const DrainOptions& options = {});

}  // namespace handover

#endif  // HANDOVER_DRAIN_H_
