#include "handover/drain.h"

#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "handover/process.h"
#include "handover/sys.h"
#include "tests/testing/child_process.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::BinPath;
using ::handover::testing::ChildProcess;
using ::handover::testing::IsOkAndHolds;
using ::handover::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Optional;

absl::StatusOr<ChildProcess> SpawnHolder() {
  HANDOVER_ASSIGN_OR_RETURN(ChildProcess holder,
                            ChildProcess::Spawn({.argv = {BinPath("fd_holder"), "--noise=false"}}));
  HANDOVER_RETURN_IF_ERROR(holder.ReadUntil("ready").status());
  return holder;
}

// A shell that ignores SIGTERM; the ignored disposition survives exec into sleep.
absl::StatusOr<ChildProcess> SpawnTermIgnorer() {
  HANDOVER_ASSIGN_OR_RETURN(
      ChildProcess child,
      ChildProcess::Spawn({.argv = {"/bin/sh", "-c", "trap '' TERM; echo ready; exec sleep 60"}}));
  HANDOVER_RETURN_IF_ERROR(child.ReadUntil("ready").status());
  return child;
}

// SIGSTOPs our child `pid` and waits (event-driven, with a deadline) until the
// kernel reports it stopped: SIGCHLD is blocked first, so none is missed.
absl::Status StopChild(pid_t pid, int pidfd, absl::Time deadline) {
  sigset_t chld, old;
  ::sigemptyset(&chld);
  ::sigaddset(&chld, SIGCHLD);
  ::pthread_sigmask(SIG_BLOCK, &chld, &old);
  absl::Status result = sys::PidfdSendSignal(pidfd, SIGSTOP);
  while (result.ok()) {
    siginfo_t info = {};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WSTOPPED | WNOHANG | WNOWAIT) != 0) {
      result = ErrnoError(errno, "waitid(WSTOPPED)");
      break;
    }
    if (info.si_pid == pid) break;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      result = absl::DeadlineExceededError("child did not stop");
      break;
    }
    const struct timespec ts = absl::ToTimespec(left);
    (void)::sigtimedwait(&chld, nullptr, &ts);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return result;
}

TEST(WaitForExitTest, ChecksAndWaits) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  EXPECT_THAT(WaitForExit(holder.pidfd(), absl::InfinitePast()), IsOkAndHolds(false));
  EXPECT_THAT(WaitForExit(holder.pidfd(), absl::Now() + absl::Milliseconds(20)),
              IsOkAndHolds(false));
  ASSERT_OK(holder.Signal(SIGTERM));
  EXPECT_THAT(WaitForExit(holder.pidfd(), absl::Now() + absl::Seconds(10)), IsOkAndHolds(true));
}

TEST(DrainTest, SigtermEndsFdHolderAndRecordsTimingAndExitCode) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.pid()));
  const absl::Time before = absl::Now();
  ASSERT_OK_AND_ASSIGN(DrainResult r, Drain(p, {.timeout = absl::Seconds(10)}));
  EXPECT_TRUE(r.exited);
  EXPECT_FALSE(r.killed);
  EXPECT_GT(r.signal_to_exit, absl::ZeroDuration());
  EXPECT_LE(r.signal_to_exit, absl::Now() - before);
  EXPECT_THAT(r.exit_code, Optional(0));  // our child: read with waitid(WNOWAIT)
  EXPECT_EQ(r.exit_signal, std::nullopt);
  // Drain did not reap it: its owner still can.
  EXPECT_THAT(holder.WaitExitCode(), IsOkAndHolds(0));
}

TEST(DrainTest, IgnoredSignalIsDeadlineExceededWithAdvice) {
  ASSERT_OK_AND_ASSIGN(ChildProcess child, SpawnTermIgnorer());
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(child.pid()));
  EXPECT_THAT(Drain(p, {.timeout = absl::Milliseconds(200)}),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       HasSubstr(absl::StrFormat(
                           "pid %d still running after 200ms (signal SIGTERM); rerun with "
                           "--kill_after_timeout or a longer --timeout_ms",
                           child.pid()))));
  EXPECT_THAT(WaitForExit(p.pidfd(), absl::InfinitePast()), IsOkAndHolds(false));
}

TEST(DrainTest, KillAfterTimeoutKills) {
  ASSERT_OK_AND_ASSIGN(ChildProcess child, SpawnTermIgnorer());
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(child.pid()));
  ASSERT_OK_AND_ASSIGN(DrainResult r, Drain(p, {.timeout = absl::Milliseconds(100),
                                                .kill_after_timeout = true,
                                                .kill_wait = absl::Seconds(10)}));
  EXPECT_TRUE(r.exited);
  EXPECT_TRUE(r.killed);
  EXPECT_GE(r.signal_to_exit, absl::Milliseconds(100));
  EXPECT_THAT(r.exit_signal, Optional(SIGKILL));
  EXPECT_EQ(r.exit_code, std::nullopt);
}

TEST(DrainTest, StoppedTargetKeepsSignalPendingUntilKilled) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.pid()));
  ASSERT_OK(StopChild(holder.pid(), holder.pidfd(), absl::Now() + absl::Seconds(10)));
  EXPECT_THAT(Drain(p, {.timeout = absl::Milliseconds(100)}),
              StatusIs(absl::StatusCode::kDeadlineExceeded,
                       AllOf(HasSubstr("still running after 100ms"),
                             HasSubstr("it is stopped: the signal stays pending until SIGCONT"))));
  ASSERT_OK_AND_ASSIGN(DrainResult r, Drain(p, {.timeout = absl::Milliseconds(50),
                                                .kill_after_timeout = true,
                                                .kill_wait = absl::Seconds(10)}));
  EXPECT_TRUE(r.exited);
  EXPECT_TRUE(r.killed);
  EXPECT_THAT(r.exit_signal, Optional(SIGKILL));
}

TEST(DrainTest, AlreadyExitedIsNothingToDrain) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.pid()));
  ASSERT_OK(holder.Signal(SIGTERM));
  ASSERT_THAT(WaitForExit(p.pidfd(), absl::Now() + absl::Seconds(10)), IsOkAndHolds(true));
  // A zombie: exited, not reaped.
  ASSERT_OK_AND_ASSIGN(DrainResult zombie, Drain(p));
  EXPECT_TRUE(zombie.exited);
  EXPECT_FALSE(zombie.killed);
  EXPECT_EQ(zombie.signal_to_exit, absl::ZeroDuration());
  EXPECT_THAT(zombie.exit_code, Optional(0));
  // Reaped: still fine, and on Linux >= 6.15 the pidfd still knows the status.
  ASSERT_OK(holder.Wait());
  ASSERT_OK_AND_ASSIGN(DrainResult reaped, Drain(p));
  EXPECT_TRUE(reaped.exited);
  ASSERT_OK_AND_ASSIGN(sys::PidfdInfo info, sys::PidfdGetInfo(p.pidfd(), sys::kPidfdInfoExit));
  if ((info.mask & sys::kPidfdInfoExit) == 0) GTEST_SKIP() << "no PIDFD_INFO_EXIT (< 6.15)";
  EXPECT_THAT(reaped.exit_code, Optional(0));
}

TEST(DrainTest, ReportsExitStatusOfANonChildOnceItsParentReapedIt) {
  // sh starts fd_holder in the background, prints its pid, reaps it, says so.
  ASSERT_OK_AND_ASSIGN(
      ChildProcess sh,
      ChildProcess::Spawn(
          {.argv = {"/bin/sh", "-c", "\"$0\" --noise=false & echo $!; wait $!; echo reaped $?",
                    BinPath("fd_holder")}}));
  pid_t pid = 0;
  bool ready = false;
  while (pid == 0 || !ready) {
    ASSERT_OK_AND_ASSIGN(std::string line, sh.ReadLine());
    if (line == "ready")
      ready = true;
    else
      ASSERT_TRUE(absl::SimpleAtoi(line, &pid)) << line;
  }
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(pid));
  ASSERT_OK_AND_ASSIGN(DrainResult r, Drain(p, {.timeout = absl::Seconds(10)}));
  EXPECT_TRUE(r.exited);
  // Not our child: the status exists only after sh reaps it.
  EXPECT_THAT(sh.ReadLine(), IsOkAndHolds("reaped 0"));
  ASSERT_OK_AND_ASSIGN(sys::PidfdInfo info, sys::PidfdGetInfo(p.pidfd(), sys::kPidfdInfoExit));
  if ((info.mask & sys::kPidfdInfoExit) == 0) GTEST_SKIP() << "no PIDFD_INFO_EXIT (< 6.15)";
  EXPECT_EQ(info.exit_code, 0);
  EXPECT_THAT(ExitWaitStatus(p.pidfd()), Optional(0));
}

TEST(DrainTest, BadSignalIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.pid()));
  EXPECT_THAT(Drain(p, {.signal = 999}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(absl::StrFormat("draining pid %d", holder.pid())),
                             HasSubstr("signal 999"), HasSubstr("[EINVAL]"))));
}

TEST(ExitWaitStatusTest, UnknownWhileRunning) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  EXPECT_EQ(ExitWaitStatus(holder.pidfd()), std::nullopt);
}

}  // namespace
}  // namespace handover
