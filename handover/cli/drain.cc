// `handover drain`: signal the target through its pidfd and wait for it to exit.
#include <string.h>

#include <iostream>

#include "absl/strings/str_format.h"
#include "handover/cli/cli.h"
#include "handover/status.h"

namespace handover::cli {

absl::Status RunDrain(const CliOptions& options) {
  HANDOVER_ASSIGN_OR_RETURN(Process process, OpenTarget(options.target));
  const DrainOptions drain = {.signal = options.signal,
                              .timeout = options.timeout,
                              .kill_after_timeout = options.kill_after_timeout,
                              .kill_wait = options.kill_wait};
  HANDOVER_ASSIGN_OR_RETURN(DrainResult result, Drain(process, drain));
  std::string how;
  if (result.exit_code.has_value()) how = absl::StrFormat(", exit code %d", *result.exit_code);
  if (result.exit_signal.has_value()) {
    how = absl::StrFormat(", killed by SIG%s", ::sigabbrev_np(*result.exit_signal));
  }
  std::cout << absl::StreamFormat("pid %d (%s) exited %s after SIG%s%s%s\n", process.pid(),
                                  process.comm(), absl::FormatDuration(result.signal_to_exit),
                                  ::sigabbrev_np(options.signal), how,
                                  result.killed ? " (SIGKILL after the drain timeout)" : "");
  return absl::OkStatus();
}

}  // namespace handover::cli
