// scripts/rolling_restart.sh as a deploy pipeline calls it: pidfile in, new
// command, one summary line and handover's exit code out.
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "handover/process.h"
#include "tests/testing/demo_processes.h"
#include "tests/testing/exec_support.h"
#include "tests/testing/fd_holder.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::AdoptedProcess;
using ::handover::testing::BinPath;
using ::handover::testing::DemoProcess;
using ::handover::testing::RunResult;
using ::testing::HasSubstr;

std::string Script() { return absl::StrCat(HANDOVER_SOURCE_DIR, "/scripts/rolling_restart.sh"); }

class RollingRestartTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { handover::testing::BecomeSubreaper(); }

  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(DemoProcess backend, handover::testing::StartBackend());
    backend_.emplace(std::move(backend));
    ASSERT_OK_AND_ASSIGN(DemoProcess old, handover::testing::StartProxy(
                                              {"--listen=127.0.0.1:0",
                                               "--backend=" + backend_->address}));
    old_.emplace(std::move(old));
    ASSERT_OK_AND_ASSIGN(Process p, Process::Open(old_->process.pid()));
    pidfile_ = handover::testing::UniqueTempPath("proxy.pid");
    ASSERT_OK(WritePidfile(pidfile_, p.identity()));
  }

  absl::StatusOr<RunResult> Restart(std::vector<std::string> command) {
    handover::testing::SpawnOptions o = {
        // The new server must not hold our output pipes: its log goes to a file.
        .argv = {Script(), "--pidfile=" + pidfile_, "--ready_timeout_ms=2000",
                 "--command_output=" + pidfile_ + ".log", "--"},
        .env = {"HANDOVER=" + BinPath("handover")}};
    for (std::string& c : command) o.argv.push_back(std::move(c));
    return handover::testing::Run(o);
  }

  absl::StatusOr<Pidfile> CurrentPidfile() { return ReadPidfile(pidfile_); }

  std::optional<DemoProcess> backend_, old_;
  std::string pidfile_;
};

TEST_F(RollingRestartTest, ReplacesTheServerAndItsPidfile) {
  ASSERT_OK_AND_ASSIGN(RunResult r,
                       Restart({BinPath("demo_proxy"), "--backend=" + backend_->address}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("rolling_restart: ok: pid " + std::to_string(old_->process.pid())));
  ASSERT_OK_AND_ASSIGN(Pidfile now, CurrentPidfile());
  ASSERT_NE(now.pid, old_->process.pid());
  ASSERT_OK_AND_ASSIGN(AdoptedProcess fresh, AdoptedProcess::Adopt(now.pid));
  EXPECT_TRUE(now.start_time.has_value());
  EXPECT_THAT(old_->process.WaitExitCode(), handover::testing::IsOkAndHolds(0));
  // The pidfile it wrote names the new server with its identity: it opens.
  EXPECT_OK(Process::OpenPidfile(pidfile_).status());
}

TEST_F(RollingRestartTest, FailedCommandRollsBackAndKeepsThePidfile) {
  ASSERT_OK_AND_ASSIGN(RunResult r, Restart({"/bin/false"}));
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_THAT(r.err, HasSubstr("FAILED, rolled back (old pid " +
                               std::to_string(old_->process.pid()) + " keeps serving)"));
  ASSERT_OK_AND_ASSIGN(Pidfile now, CurrentPidfile());
  EXPECT_EQ(now.pid, old_->process.pid());
  EXPECT_OK(old_->process.Signal(0));
}

TEST_F(RollingRestartTest, StalePidfileStopsBeforeTouchingAnything) {
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(old_->process.pid()));
  ProcessIdentity wrong = p.identity();
  wrong.start_time += 1;
  ASSERT_OK(WritePidfile(pidfile_, wrong));
  ASSERT_OK_AND_ASSIGN(RunResult r, Restart({"/bin/true"}));
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("FAILED before touching anything"));
  EXPECT_THAT(r.err, HasSubstr("stale"));
}

}  // namespace
}  // namespace handover
