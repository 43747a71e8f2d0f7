// `handover exec` under a low soft RLIMIT_NOFILE (systemd's default is 1024): it
// raises its own soft limit to the hard one to hold every listener of a server
// with more listeners than that, and gives COMMAND back the limit it was started
// with.
#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "handover/sys.h"
#include "tests/testing/child_process.h"
#include "tests/testing/exec_support.h"
#include "tests/testing/fd_holder.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::AdoptedProcess;
using ::handover::testing::BinPath;
using ::handover::testing::ChildProcess;
using ::handover::testing::FdHolder;
using ::handover::testing::IsOkAndHolds;
using ::handover::testing::JsonInt;
using ::handover::testing::StartFdHolder;
using ::handover::testing::UniqueTempPath;
using ::testing::HasSubstr;

// Runs `handover exec --pid=OLD --ready=none -- sh` from a shell that lowered the
// soft fd limit to `soft`, against a target with `listeners` listeners; returns
// the soft limit COMMAND saw.
std::string CommandLimitAfterExec(int soft, int listeners) {
  absl::StatusOr<FdHolder> old = StartFdHolder({absl::StrCat("--tcp=", listeners)});
  EXPECT_OK(old.status());
  if (!old.ok()) return "";
  const std::string seen = UniqueTempPath("nofile");
  absl::StatusOr<ChildProcess> exec = ChildProcess::Spawn(
      {.argv = {"/bin/sh", "-c", absl::StrCat("ulimit -Sn ", soft, " && exec \"$@\""), "sh",
                BinPath("handover"), "exec",
                absl::StrCat("--pid=", old->child.pid()), "--ready=none", "--json", "--",
                "/bin/sh", "-c",
                absl::StrCat("ulimit -Sn > ", seen, ".tmp && mv ", seen, ".tmp ", seen,
                             " && exec sleep 60")}});
  EXPECT_OK(exec.status());
  if (!exec.ok()) return "";
  absl::StatusOr<std::string> report = exec->ReadLine(absl::Seconds(20));
  EXPECT_THAT(exec->WaitExitCode(absl::Seconds(20)), IsOkAndHolds(0));
  EXPECT_OK(report.status());
  if (!report.ok()) return "";
  EXPECT_THAT(*report, HasSubstr("\"result\":\"ok\""));
  // Every socket went to COMMAND.
  const std::vector<std::string> parts = absl::StrSplit(*report, "\"proto\":\"tcp\"");
  EXPECT_EQ(parts.size() - 1, static_cast<size_t>(listeners));
  absl::StatusOr<AdoptedProcess> command = AdoptedProcess::Adopt(JsonInt(*report, "new_pid"));
  EXPECT_OK(command.status());
  if (!command.ok()) return "";
  std::string limit;
  for (absl::Time deadline = absl::Now() + absl::Seconds(10); limit.empty();) {
    if (absl::Now() > deadline) {
      ADD_FAILURE() << "COMMAND did not write its limit";
      return "";
    }
    std::ifstream in(seen);
    std::getline(in, limit);
    // Written with a rename: absent or whole. Meanwhile wait on COMMAND's pidfd
    // (it returns at once should COMMAND die: then fail).
    if (limit.empty() &&
        !::testing::Value(sys::WaitReadable(command->pidfd(), absl::Now() + absl::Milliseconds(5)),
                          IsOkAndHolds(false))) {
      ADD_FAILURE() << "COMMAND exited before writing its limit";
      return "";
    }
  }
  return limit;
}

TEST(ExecLimitsTest, CommandGetsBackTheSoftFdLimitHandoverStartedWith) {
  handover::testing::BecomeSubreaper();
  EXPECT_EQ(CommandLimitAfterExec(256, 2), "256");
}

TEST(ExecLimitsTest, TakesMoreListenersThanItsSoftFdLimitAndLeavesCommandRoomForThem) {
  handover::testing::BecomeSubreaper();
  // 100 sockets do not fit below 64: handover raised its own limit to take them,
  // and COMMAND gets room for them plus 64.
  EXPECT_EQ(CommandLimitAfterExec(64, 100), std::to_string(3 + 100 + 64));
}

}  // namespace
}  // namespace handover
