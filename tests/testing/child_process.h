// ChildProcess: a real child for tests. It forks and execs a binary, captures its
// stdout through a pipe (tests read readiness lines from it), holds a pidfd for
// it, and in its destructor SIGKILLs and reaps it. Waits take a timeout; none sleeps.
//
//   ASSERT_OK_AND_ASSIGN(ChildProcess holder,
//                        ChildProcess::Spawn({.argv = {BinPath("fd_holder"), "--tcp=2"}}));
//   ASSERT_OK_AND_ASSIGN(std::vector<std::string> lines, holder.ReadUntil("ready"));
#ifndef HANDOVER_TESTS_TESTING_CHILD_PROCESS_H_
#define HANDOVER_TESTS_TESTING_CHILD_PROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "handover/unique_fd.h"

namespace handover::testing {

// build/bin/<name> (HANDOVER_BIN_DIR is set by tests/CMakeLists.txt).
std::string BinPath(absl::string_view name);

struct SpawnOptions {
  std::vector<std::string> argv;
  std::vector<std::string> env;             // extra "KEY=VALUE" entries
  std::optional<uid_t> uid;                 // setresuid before exec (with gid)
  std::optional<gid_t> gid;                 // setresgid + setgroups({}) before exec
  std::vector<std::pair<int, int>> fds;     // {parent fd, child fd}: placed with dup2
  bool capture_stdout = true;
  bool capture_stderr = false;              // else inherits the test's stderr
};

class ChildProcess {
 public:
  static absl::StatusOr<ChildProcess> Spawn(const SpawnOptions& options);

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }

  // Next line of stdout (without '\n'). DEADLINE_EXCEEDED after `timeout`,
  // OUT_OF_RANGE at EOF.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout = absl::Seconds(10));
  // Lines of stdout up to (not including) the first line equal to `marker`.
  absl::StatusOr<std::vector<std::string>> ReadUntil(absl::string_view marker,
                                                     absl::Duration timeout = absl::Seconds(10));
  // Everything left on stdout and stderr until EOF on both.
  absl::StatusOr<std::string> ReadAll(absl::Duration timeout = absl::Seconds(10));
  // What the child wrote to stderr so far plus until EOF (capture_stderr only).
  absl::StatusOr<std::string> ReadStderr(absl::Duration timeout = absl::Seconds(10));

  absl::Status Signal(int sig);
  // Waits (polling the pidfd) for exit and reaps. Returns the waitpid status.
  absl::StatusOr<int> Wait(absl::Duration timeout = absl::Seconds(10));
  // Wait() and return the exit code; FAILED_PRECONDITION if killed by a signal.
  absl::StatusOr<int> WaitExitCode(absl::Duration timeout = absl::Seconds(10));
  bool reaped() const { return reaped_; }

 private:
  ChildProcess() = default;
  void KillAndReap();

  pid_t pid_ = -1;
  bool reaped_ = false;
  UniqueFd pidfd_;
  UniqueFd stdout_;
  UniqueFd stderr_;
  std::string buffer_;
};

// Runs a command to completion; returns {exit code, stdout, stderr}.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
absl::StatusOr<RunResult> Run(SpawnOptions options, absl::Duration timeout = absl::Seconds(20));

}  // namespace handover::testing

#endif  // HANDOVER_TESTS_TESTING_CHILD_PROCESS_H_
