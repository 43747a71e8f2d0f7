#include "handover/drain.h"

#include <sys/wait.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover {
namespace {

// Marks `result` exited after `signal_to_exit` and records how, when the kernel can tell.
DrainResult Exited(DrainResult result, int pidfd, absl::Duration signal_to_exit) {
  result.exited = true;
  result.signal_to_exit = signal_to_exit;
  if (std::optional<int> status = ExitWaitStatus(pidfd); status.has_value()) {
    if (WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
    if (WIFSIGNALED(*status)) result.exit_signal = WTERMSIG(*status);
  }
  return result;
}

// " (it is stopped: ...)" when the process is in state T, else "".
std::string StoppedNote(const Process& process) {
  absl::StatusOr<std::string> text = sys::ReadFileAt(process.proc_dir(), "stat");
  if (!text.ok()) return "";
  absl::StatusOr<ProcStat> stat = ParseProcStat(*text);
  if (!stat.ok() || stat->state != 'T') return "";
  return " (it is stopped: the signal stays pending until SIGCONT)";
}

}  // namespace

absl::StatusOr<bool> WaitForExit(int pidfd, absl::Time deadline) {
  return sys::WaitReadable(pidfd, deadline);
}

std::optional<int> ExitWaitStatus(int pidfd) {
  // Any process, once reaped (Linux >= 6.15).
  absl::StatusOr<sys::PidfdInfo> info = sys::PidfdGetInfo(pidfd, sys::kPidfdInfoExit);
  if (info.ok() && (info->mask & sys::kPidfdInfoExit) != 0) return info->exit_code;
  // Our own child, still a zombie: peek without reaping. ECHILD for anyone else.
  absl::StatusOr<std::optional<int>> child = sys::PeekChildExit(pidfd);
  if (child.ok()) return *child;
  return std::nullopt;
}

absl::StatusOr<DrainResult> Drain(const Process& process, const DrainOptions& options) {
  const int pidfd = process.pidfd();
  const std::string context = absl::StrFormat("draining pid %d", process.pid());
  DrainResult result;

  absl::StatusOr<bool> gone = WaitForExit(pidfd, absl::InfinitePast());
  if (!gone.ok()) return WithContext(gone.status(), context);
  if (*gone) return Exited(result, pidfd, absl::ZeroDuration());

  const absl::Time start = absl::Now();
  absl::Status sent = sys::PidfdSendSignal(pidfd, options.signal);
  // ESRCH: it was reaped between the check and the signal.
  if (absl::IsNotFound(sent)) return Exited(result, pidfd, absl::ZeroDuration());
  if (!sent.ok()) return WithContext(sent, context);

  absl::StatusOr<bool> exited = WaitForExit(pidfd, start + options.timeout);
  if (!exited.ok()) return WithContext(exited.status(), context);
  if (*exited) return Exited(result, pidfd, absl::Now() - start);

  if (!options.kill_after_timeout) {
    return absl::DeadlineExceededError(absl::StrFormat(
        "pid %d still running after %s (signal %s)%s; rerun with --kill_after_timeout or a "
        "longer --timeout_ms",
        process.pid(), absl::FormatDuration(options.timeout), sys::SignalName(options.signal),
        StoppedNote(process)));
  }
  sent = sys::PidfdSendSignal(pidfd, SIGKILL);
  if (absl::IsNotFound(sent)) return Exited(result, pidfd, absl::Now() - start);
  if (!sent.ok()) return WithContext(sent, context);
  result.killed = true;
  exited = WaitForExit(pidfd, absl::Now() + options.kill_wait);
  if (!exited.ok()) return WithContext(exited.status(), context);
  if (*exited) return Exited(result, pidfd, absl::Now() - start);
  // SIGKILL cannot be blocked; only an uninterruptible kernel wait delays it.
  return absl::DeadlineExceededError(absl::StrFormat(
      "pid %d still running %s after SIGKILL (%s after %s); it is probably blocked in the "
      "kernel (state D: check /proc/%d/stack)",
      process.pid(), absl::FormatDuration(options.kill_wait), absl::FormatDuration(options.timeout),
      sys::SignalName(options.signal), process.pid()));
}

}  // namespace handover
