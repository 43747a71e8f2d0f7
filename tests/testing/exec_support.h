// Support for tests of `handover exec`: load generation, the report's JSON, and
// the servers exec starts (they outlive handover, so the test process becomes
// their reaper with PR_SET_CHILD_SUBREAPER and stops them by pid).
#ifndef HANDOVER_TESTS_TESTING_EXEC_SUPPORT_H_
#define HANDOVER_TESTS_TESTING_EXEC_SUPPORT_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "handover/unique_fd.h"
#include "tests/testing/child_process.h"

namespace handover::testing {

// The integer value of "key":N in a flat JSON object, or -1.
int64_t JsonInt(absl::string_view json, absl::string_view key);

struct LoadCounts {
  int64_t ok = 0, refused = 0, reset = 0, timeout = 0, bad_response = 0, other = 0;
  int64_t failed() const { return refused + reset + timeout + bad_response + other; }
  std::string DebugString() const;
};

// demo_loadgen --json against `target` for `duration_ms`; returns once the first
// request has succeeded, so load is flowing.
absl::StatusOr<ChildProcess> StartLoad(const std::string& target, const std::string& mode,
                                       int duration_ms, int concurrency = 8);
// Waits for the loadgen's JSON line and parses it.
absl::StatusOr<LoadCounts> FinishLoad(ChildProcess& load);

// Makes this process the reaper of its orphaned descendants (idempotent).
void BecomeSubreaper();

// A process this test did not start directly but must stop: SIGKILLed and, when
// it is our child (subreaper), reaped on destruction.
class AdoptedProcess {
 public:
  static absl::StatusOr<AdoptedProcess> Adopt(pid_t pid);
  AdoptedProcess(AdoptedProcess&&) = default;
  ~AdoptedProcess();
  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  bool alive() const;

 private:
  AdoptedProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  pid_t pid_;
  UniqueFd pidfd_;
};

// Spawns build/bin/handover with `args` (stdout captured, stderr inherited).
absl::StatusOr<ChildProcess> StartHandover(std::vector<std::string> args);

}  // namespace handover::testing

#endif  // HANDOVER_TESTS_TESTING_EXEC_SUPPORT_H_
