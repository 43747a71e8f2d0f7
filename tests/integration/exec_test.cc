// `handover exec` with real processes: demo_proxy (socket activation, sd_notify)
// replaced under load, rollbacks that leave the old server untouched, and
// handover itself SIGKILLed mid-way without a failed request.
#include <signal.h>

#include <cstdlib>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/demo_processes.h"
#include "tests/testing/exec_support.h"
#include "handover/status.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::AdoptedProcess;
using ::handover::testing::BinPath;
using ::handover::testing::ChildProcess;
using ::handover::testing::DemoProcess;
using ::handover::testing::FinishLoad;
using ::handover::testing::HttpExchange;
using ::handover::testing::JsonInt;
using ::handover::testing::LoadCounts;
using ::handover::testing::ParseCounters;
using ::handover::testing::ReadLineStartingWith;
using ::handover::testing::StartBackend;
using ::handover::testing::StartHandover;
using ::handover::testing::StartLoad;
using ::handover::testing::StartProxy;
using ::testing::HasSubstr;

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

class ExecTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { handover::testing::BecomeSubreaper(); }

  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(DemoProcess backend, StartBackend());
    backend_.emplace(std::move(backend));
    ASSERT_OK_AND_ASSIGN(DemoProcess old, StartProxy({"--listen=127.0.0.1:0",
                                                      "--backend=" + backend_->address}));
    old_.emplace(std::move(old));
  }

  std::vector<std::string> NewProxyCommand() {
    return {"--", BinPath("demo_proxy"), "--backend=" + backend_->address};
  }

  // The old proxy still serves: one request through it succeeds.
  void ExpectOldStillServes() {
    ASSERT_OK_AND_ASSIGN(UniqueFd c, handover::testing::ConnectTo(old_->address));
    EXPECT_OK(HttpExchange(c.get(), kGet).status());
    EXPECT_FALSE(old_->process.reaped());
    EXPECT_OK(old_->process.Signal(0));
  }

  std::optional<DemoProcess> backend_;
  std::optional<DemoProcess> old_;
};

class ExecUnderLoadTest : public ExecTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(ExecUnderLoadTest, ReplacesDemoProxyWithNoFailedRequest) {
  ASSERT_OK_AND_ASSIGN(ChildProcess load, StartLoad(old_->address, GetParam(), 2500));
  std::vector<std::string> args = {"exec", absl::StrCat("--pid=", old_->process.pid()),
                                   "--json", "--ready=notify", "--drain_timeout_ms=10000"};
  for (std::string& a : NewProxyCommand()) args.push_back(a);
  ASSERT_OK_AND_ASSIGN(ChildProcess exec, StartHandover(args));
  ASSERT_OK_AND_ASSIGN(std::string report, exec.ReadLine(absl::Seconds(20)));
  EXPECT_THAT(exec.WaitExitCode(absl::Seconds(20)), handover::testing::IsOkAndHolds(0)) << report;
  EXPECT_THAT(report, HasSubstr("\"result\":\"ok\""));
  ASSERT_OK_AND_ASSIGN(AdoptedProcess fresh, AdoptedProcess::Adopt(JsonInt(report, "new_pid")));
  // The old proxy drained and exited by itself; it had served part of the load.
  EXPECT_THAT(old_->process.WaitExitCode(), handover::testing::IsOkAndHolds(0));
  ASSERT_OK_AND_ASSIGN(std::string stats, ReadLineStartingWith(old_->process, "stats"));
  EXPECT_GT(ParseCounters(stats)["accepted"], 0) << stats;
  ASSERT_OK_AND_ASSIGN(LoadCounts counts, FinishLoad(load));
  std::cout << "exec under " << GetParam() << " load: " << counts.DebugString() << "\n"
            << report << "\n";
  EXPECT_EQ(counts.failed(), 0) << counts.DebugString();
  EXPECT_GT(counts.ok, 0);
  // The new proxy serves on the same address.
  ASSERT_OK_AND_ASSIGN(UniqueFd c, handover::testing::ConnectTo(old_->address));
  EXPECT_OK(HttpExchange(c.get(), kGet).status());
}

INSTANTIATE_TEST_SUITE_P(Modes, ExecUnderLoadTest, ::testing::Values("new_conn", "keepalive"));

TEST_F(ExecTest, CommandThatExitsAtOnceRollsBack) {
  ASSERT_OK_AND_ASSIGN(ChildProcess exec,
                       StartHandover({"exec", absl::StrCat("--pid=", old_->process.pid()),
                                      "--json", "--", "/bin/false"}));
  ASSERT_OK_AND_ASSIGN(std::string report, exec.ReadLine());
  EXPECT_THAT(exec.WaitExitCode(), handover::testing::IsOkAndHolds(6)) << report;
  EXPECT_THAT(report, HasSubstr("\"result\":\"rolled_back\""));
  EXPECT_THAT(report, HasSubstr("not signalled"));
  ExpectOldStillServes();
}

TEST_F(ExecTest, MissingBinaryRollsBack) {
  ASSERT_OK_AND_ASSIGN(ChildProcess exec,
                       StartHandover({"exec", absl::StrCat("--pid=", old_->process.pid()),
                                      "--json", "--", "/nonexistent/server"}));
  ASSERT_OK_AND_ASSIGN(std::string report, exec.ReadLine());
  EXPECT_THAT(exec.WaitExitCode(), handover::testing::IsOkAndHolds(6)) << report;
  EXPECT_THAT(report, HasSubstr("[ENOENT]"));
  ExpectOldStillServes();
}

TEST_F(ExecTest, CommandThatNeverBecomesReadyIsKilledAndRollsBack) {
  ASSERT_OK_AND_ASSIGN(ChildProcess exec,
                       StartHandover({"exec", absl::StrCat("--pid=", old_->process.pid()),
                                      "--json", "--ready=notify", "--ready_timeout_ms=300", "--",
                                      "/bin/sleep", "30"}));
  ASSERT_OK_AND_ASSIGN(std::string report, exec.ReadLine());
  EXPECT_THAT(exec.WaitExitCode(), handover::testing::IsOkAndHolds(7)) << report;
  const pid_t sleeper = JsonInt(report, "new_pid");
  ASSERT_GT(sleeper, 0) << report;
  EXPECT_NE(::kill(sleeper, 0), 0) << "the command that never became ready is still running";
  ExpectOldStillServes();
}

TEST_F(ExecTest, NotAcceptingInTimeRollsBack) {
  // sleep holds the sockets but never accepts: --ready=accepting must time out.
  ASSERT_OK_AND_ASSIGN(ChildProcess exec,
                       StartHandover({"exec", absl::StrCat("--pid=", old_->process.pid()),
                                      "--ready=accepting", "--ready_timeout_ms=300", "--",
                                      "/bin/sleep", "30"}));
  EXPECT_THAT(exec.WaitExitCode(), handover::testing::IsOkAndHolds(7));
  ExpectOldStillServes();
}

// Reads stdout lines of `child` until one contains `text`.
absl::StatusOr<std::string> ReadLineContaining(ChildProcess& child, absl::string_view text) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (;;) {
    HANDOVER_ASSIGN_OR_RETURN(std::string line, child.ReadLine(deadline - absl::Now()));
    if (absl::StrContains(line, text)) return line;
  }
}

// handover exec SIGKILLed (a) as soon as it has taken the sockets and (b) once
// COMMAND has started with them and exec waits for its readiness: the old server
// was never signalled, so it keeps serving, and no request fails either way.
class ExecKilledTest : public ExecTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(ExecKilledTest, NoRequestFails) {
  const std::string point = GetParam();
  ASSERT_OK_AND_ASSIGN(ChildProcess load, StartLoad(old_->address, "new_conn", 1500));
  // `sleep` as COMMAND never becomes ready, so exec stays in its ready phase. Its
  // log (stderr) is read through the stdout pipe.
  handover::testing::SpawnOptions o = {
      .argv = {"/bin/sh", "-c",
               absl::StrCat("exec 2>&1 ", BinPath("handover"), " exec --pid=",
                            old_->process.pid(),
                            " --ready=notify --ready_timeout_ms=20000 -- /bin/sleep 5")}};
  ASSERT_OK_AND_ASSIGN(ChildProcess exec, ChildProcess::Spawn(o));
  ASSERT_OK_AND_ASSIGN(std::string line, ReadLineContaining(exec, point));
  ASSERT_OK(exec.Signal(SIGKILL));
  ASSERT_OK(exec.Wait().status());
  std::optional<AdoptedProcess> command;  // started by exec, now orphaned to us
  if (point == "started pid") {
    const pid_t pid = std::atoi(line.substr(line.find("started pid ") + 12).c_str());
    ASSERT_OK_AND_ASSIGN(AdoptedProcess p, AdoptedProcess::Adopt(pid));
    EXPECT_TRUE(p.alive()) << "COMMAND keeps running after handover is killed";
    command.emplace(std::move(p));
  }
  ASSERT_OK_AND_ASSIGN(LoadCounts counts, FinishLoad(load));
  std::cout << "handover SIGKILLed at '" << point << "': " << counts.DebugString() << "\n";
  EXPECT_EQ(counts.failed(), 0) << counts.DebugString();
  EXPECT_GT(counts.ok, 0);
  ExpectOldStillServes();
}

INSTANTIATE_TEST_SUITE_P(Points, ExecKilledTest, ::testing::Values("took", "started pid"));

}  // namespace
}  // namespace handover
