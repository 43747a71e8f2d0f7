// The handover CLI as an operator runs it: real binary, real targets, exit codes.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "handover/process.h"
#include "tests/testing/fd_holder.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::BinPath;
using ::handover::testing::FdHolder;
using ::handover::testing::Run;
using ::handover::testing::RunResult;
using ::handover::testing::StartFdHolder;
using ::handover::testing::UniqueTempPath;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uid_t kNobody = 65534;

absl::StatusOr<RunResult> Handover(std::vector<std::string> args,
                                   std::optional<uid_t> as_uid = std::nullopt) {
  handover::testing::SpawnOptions o;
  o.argv = {BinPath("handover")};
  for (std::string& a : args) o.argv.push_back(std::move(a));
  if (as_uid.has_value()) {
    o.uid = *as_uid;
    o.gid = *as_uid;
  }
  return Run(o);
}

std::string WriteFile(const std::string& contents) {
  const std::string path = UniqueTempPath("pidfile");
  std::ofstream(path) << contents;
  return path;
}

int Lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

struct BadInput {
  std::vector<std::string> args;
  int exit_code;
  std::string message;
};

TEST(CliTest, BadInputGetsOneClearLineAndADocumentedExitCode) {
  const std::string garbage = WriteFile("hello world\n");
  const std::string empty = WriteFile("");
  const std::vector<BadInput> cases = {
      {{"list", "--pid=0"}, 2, "--pid=0 is not a process id"},
      {{"list", "--pid=-1"}, 2, "--pid=-1 is not a process id"},
      {{"list", "--pid=abc"}, 2, "--pid=abc is not a process id"},
      {{"list", "--pid=99999999"}, 4, "[ESRCH]"},
      {{"list", "--pidfile=/nonexistent/x.pid"}, 4, "/nonexistent/x.pid"},
      {{"list", "--pidfile=" + garbage}, 2, garbage},
      {{"list", "--pidfile=" + empty}, 2, empty},
      {{"list"}, 2, "exactly one of --pid or --pidfile"},
      {{"list", "--pid=1", "--pidfile=" + garbage}, 2, "exactly one of --pid or --pidfile"},
      {{"list", "--pid=1", "--no_such_flag"}, 2, "no_such_flag"},
      {{"list", "--pid=1", "--timeout_ms=soon"}, 2, "timeout_ms"},
      {{"drain", "--pid=1", "--signal=SIGNOPE"}, 2, "--signal=SIGNOPE is not a signal"},
      {{"frobnicate", "--pid=1"}, 2, "unknown command 'frobnicate'"},
      {{}, 2, "usage: handover COMMAND"},
  };
  for (const BadInput& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    ASSERT_OK_AND_ASSIGN(RunResult r, Handover(c.args));
    EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message));
    if (!c.args.empty()) {
      EXPECT_EQ(Lines(r.err), 1) << r.err;
    }
    EXPECT_EQ(r.out, "");
  }
}

TEST(CliTest, SelectThatMatchesNothingIsNotFound) {
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=1"}));
  const std::string pid = "--pid=" + std::to_string(holder.child.pid());
  ASSERT_OK_AND_ASSIGN(RunResult r, Handover({"list", pid, "--select=udp:*:1"}));
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("udp:*:1"));
  ASSERT_OK_AND_ASSIGN(r, Handover({"list", pid, "--select=bogus:1"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("bogus:1"));
}

TEST(CliTest, ListPrintsEverySocketAsJson) {
  const std::string path = UniqueTempPath("cli.sock");
  ASSERT_OK_AND_ASSIGN(FdHolder holder,
                       StartFdHolder({"--tcp=1", "--tcp6=1", "--udp=1", "--unix=" + path}));
  ASSERT_OK_AND_ASSIGN(RunResult r, Handover({"list", "--json", "--pid=" + std::to_string(holder.child.pid())}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("\"proto\":\"tcp\""), HasSubstr("\"proto\":\"tcp6\""),
                           HasSubstr("\"proto\":\"udp\""), HasSubstr("\"proto\":\"unix\""),
                           HasSubstr("\"state\":\"listen\""), HasSubstr("\"state\":\"bound\""),
                           HasSubstr("\"reuseport\":false")));
  for (const auto& s : holder.sockets) {
    EXPECT_THAT(r.out, HasSubstr("\"inode\":" + std::to_string(s.inode)));
    EXPECT_THAT(r.out, HasSubstr("\"address\":\"" + s.address + "\""));
  }
  EXPECT_EQ(r.out.front(), '[');
  EXPECT_EQ(Lines(r.out), 1);
  ::unlink(path.c_str());
}

TEST(CliTest, ListAcceptsAPidfileWithIdentity) {
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=1"}));
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.child.pid()));
  const std::string good = WriteFile(FormatPidfile(p.identity()));
  ASSERT_OK_AND_ASSIGN(RunResult r, Handover({"list", "--pidfile=" + good}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(holder.sockets[0].address));
  ProcessIdentity wrong = p.identity();
  wrong.start_time += 1;
  const std::string stale = WriteFile(FormatPidfile(wrong));
  ASSERT_OK_AND_ASSIGN(r, Handover({"list", "--pidfile=" + stale}));
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("stale"));
}

TEST(CliTest, CheckSaysOkForTheSameUnprivilegedUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run target and caller as nobody";
  ASSERT_OK_AND_ASSIGN(FdHolder holder,
                       StartFdHolder({"--tcp=1"}, {.uid = kNobody, .gid = kNobody}));
  ASSERT_OK_AND_ASSIGN(RunResult r,
                       Handover({"check", "--pid=" + std::to_string(holder.child.pid())}, kNobody));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ok: this caller may take 1 socket"));
}

TEST(CliTest, CheckExplainsAnotherUsersTarget) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the caller as nobody";
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=1"}));  // root's
  ASSERT_OK_AND_ASSIGN(RunResult r,
                       Handover({"check", "--pid=" + std::to_string(holder.child.pid())}, kNobody));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, AllOf(HasSubstr("Permission denied"), HasSubstr("uid"), HasSubstr("CAP_SYS_PTRACE")));
  EXPECT_EQ(Lines(r.err), 1) << r.err;
}

TEST(CliTest, CheckExplainsANonDumpableTarget) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop privileges in the target";
  ASSERT_OK_AND_ASSIGN(FdHolder holder,
                       StartFdHolder({"--tcp=1", "--drop_to_uid=" + std::to_string(kNobody)}));
  ASSERT_OK_AND_ASSIGN(RunResult r,
                       Handover({"check", "--pid=" + std::to_string(holder.child.pid())}, kNobody));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, AllOf(HasSubstr("Permission denied"), HasSubstr("dumpable"),
                           HasSubstr("PR_SET_DUMPABLE")));
}

TEST(CliTest, DrainSignalsAndReportsTheExit) {
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=1"}));
  const std::string pid = "--pid=" + std::to_string(holder.child.pid());
  ASSERT_OK_AND_ASSIGN(RunResult r, Handover({"drain", pid, "--signal=SIGQUIT"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, AllOf(HasSubstr("exited"), HasSubstr("SIGQUIT")));
}

TEST(CliTest, DrainTimesOutWithExitCode5AndCanKill) {
  // A shell that ignores SIGTERM (ignored signals survive exec), then waits.
  handover::testing::SpawnOptions o = {
      .argv = {"/bin/sh", "-c", "trap '' TERM; echo ready; exec sleep 60"}};
  ASSERT_OK_AND_ASSIGN(handover::testing::ChildProcess stubborn,
                       handover::testing::ChildProcess::Spawn(o));
  ASSERT_OK(stubborn.ReadUntil("ready").status());
  const std::string pid = "--pid=" + std::to_string(stubborn.pid());
  ASSERT_OK_AND_ASSIGN(RunResult r, Handover({"drain", pid, "--timeout_ms=200"}));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--kill_after_timeout"));
  ASSERT_OK_AND_ASSIGN(r, Handover({"drain", pid, "--timeout_ms=200", "--kill_after_timeout"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SIGKILL"));
}

}  // namespace
}  // namespace handover
