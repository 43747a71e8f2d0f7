// The handover CLI's subcommands. main.cc parses flags into CliOptions and calls
// one of these; each returns a Status that main turns into an exit code.
#ifndef HANDOVER_CLI_CLI_H_
#define HANDOVER_CLI_CLI_H_

#include <cstdint>
#include <sys/resource.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "handover/activation.h"
#include "handover/handover.h"

namespace handover::cli {

// Exit codes, documented in docs/operations.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;           // anything else
inline constexpr int kExitUsage = 2;             // bad flags, pid, pidfile or select spec
inline constexpr int kExitPermission = 3;        // PERMISSION_DENIED
inline constexpr int kExitNotFound = 4;          // no such process, stale pidfile, no socket
inline constexpr int kExitDeadline = 5;          // the old process is still running
inline constexpr int kExitCommandFailed = 6;     // exec: COMMAND failed or exited; rolled back
inline constexpr int kExitNotReady = 7;          // exec: COMMAND not ready in time; rolled back

// The exit code for `status`: an explicit one attached with WithExitCode, else
// one derived from the status code.
int ExitCodeFor(const absl::Status& status);
absl::Status WithExitCode(absl::Status status, int exit_code);

enum class ReadyMode { kNotify, kAccepting, kNone };

struct CliOptions {
  Target target;
  std::string select;
  bool json = false;
  int signal = 0;                   // drain signal
  absl::Duration timeout;           // drain timeout
  bool kill_after_timeout = false;
  absl::Duration kill_wait;
  std::vector<std::string> command; // after `--` (exec)
  FdEnvStyle fd_env = FdEnvStyle::kSystemd;
  ReadyMode ready = ReadyMode::kNotify;
  absl::Duration ready_timeout;
  std::string new_pidfile;
  std::string report_json;          // exec: also write the JSON report here
  std::string command_output;       // exec: COMMAND's stdout+stderr go here
  // The soft RLIMIT_NOFILE handover started with, before main() raised its own
  // to the hard limit: COMMAND gets it back (exec).
  std::optional<rlim_t> original_nofile_soft;
};

absl::Status RunList(const CliOptions& options);
absl::Status RunCheck(const CliOptions& options);
absl::Status RunDrain(const CliOptions& options);
absl::Status RunExec(const CliOptions& options);

// Parses "SIGTERM", "TERM" or "15". INVALID_ARGUMENT otherwise.
absl::StatusOr<int> ParseSignal(const std::string& text);
// Parses a --pid value: a positive decimal integer. INVALID_ARGUMENT otherwise.
absl::StatusOr<pid_t> ParsePid(const std::string& text);

}  // namespace handover::cli

#endif  // HANDOVER_CLI_CLI_H_
