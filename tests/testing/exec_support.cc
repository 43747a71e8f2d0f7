#include "tests/testing/exec_support.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover::testing {

int64_t JsonInt(absl::string_view json, absl::string_view key) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  const size_t at = json.find(needle);
  if (at == absl::string_view::npos) return -1;
  absl::string_view rest = json.substr(at + needle.size());
  rest = rest.substr(0, rest.find_first_of(",}"));
  int64_t value = -1;
  return absl::SimpleAtoi(rest, &value) ? value : -1;
}

std::string LoadCounts::DebugString() const {
  return absl::StrFormat("ok=%d refused=%d reset=%d timeout=%d bad_response=%d other=%d", ok,
                         refused, reset, timeout, bad_response, other);
}

absl::StatusOr<ChildProcess> StartLoad(const std::string& target, const std::string& mode,
                                       int duration_ms, int concurrency) {
  HANDOVER_ASSIGN_OR_RETURN(
      ChildProcess load,
      ChildProcess::Spawn({.argv = {BinPath("demo_loadgen"), "--target=" + target,
                                    "--mode=" + mode, absl::StrCat("--duration_ms=", duration_ms),
                                    absl::StrCat("--concurrency=", concurrency), "--json",
                                    "--print_started"}}));
  HANDOVER_ASSIGN_OR_RETURN(std::string line, load.ReadLine());
  if (line != "started") return absl::InternalError("loadgen said '" + line + "', not 'started'");
  return load;
}

absl::StatusOr<LoadCounts> FinishLoad(ChildProcess& load) {
  HANDOVER_ASSIGN_OR_RETURN(std::string line, load.ReadLine(absl::Seconds(30)));
  LoadCounts c;
  c.ok = JsonInt(line, "ok");
  c.refused = JsonInt(line, "refused");
  c.reset = JsonInt(line, "reset");
  c.timeout = JsonInt(line, "timeout");
  c.bad_response = JsonInt(line, "bad_response");
  c.other = JsonInt(line, "other");
  if (c.ok < 0 || c.failed() < 0) return absl::InternalError("bad loadgen output: " + line);
  (void)load.Wait();
  return c;
}

void BecomeSubreaper() { (void)::prctl(PR_SET_CHILD_SUBREAPER, 1); }

absl::StatusOr<AdoptedProcess> AdoptedProcess::Adopt(pid_t pid) {
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd pidfd, sys::PidfdOpen(pid));
  return AdoptedProcess(pid, std::move(pidfd));
}

bool AdoptedProcess::alive() const {
  absl::StatusOr<bool> exited = sys::WaitReadable(pidfd_.get(), absl::Now());
  return exited.ok() && !*exited;
}

AdoptedProcess::~AdoptedProcess() {
  if (!pidfd_.valid()) return;
  (void)sys::PidfdSendSignal(pidfd_.get(), SIGKILL);
  (void)sys::WaitReadable(pidfd_.get(), absl::Now() + absl::Seconds(10));
  (void)::waitpid(pid_, nullptr, WNOHANG);  // ours once orphaned (subreaper)
}

absl::StatusOr<ChildProcess> StartHandover(std::vector<std::string> args) {
  SpawnOptions o = {.argv = {BinPath("handover")}};
  for (std::string& a : args) o.argv.push_back(std::move(a));
  return ChildProcess::Spawn(o);
}

}  // namespace handover::testing
