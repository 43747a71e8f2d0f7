// demo_proxy handing its listeners to a new instance, with real processes on
// loopback: pidfd_getfd (--takeover_pid), SCM_RIGHTS (--control_socket /
// --takeover_scm), and the pidfd -> SCM_RIGHTS fallback. Every wait is on a
// readiness line, a summary line or a pidfd; no sleeps, no fixed ports or paths.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "handover/sys.h"
#include "tests/testing/child_process.h"
#include "tests/testing/demo_processes.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::BinPath;
using ::handover::testing::ChildProcess;
using ::handover::testing::ConnectTo;
using ::handover::testing::DemoProcess;
using ::handover::testing::HttpExchange;
using ::handover::testing::IsOkAndHolds;
using ::handover::testing::ParseCounters;
using ::handover::testing::ReadLineStartingWith;
using ::handover::testing::SpawnOptions;
using ::testing::HasSubstr;

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
constexpr char kGetClose[] = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
constexpr uid_t kNobody = 65534;

enum class Mode { kPidfd, kScm };
const char* ModeName(Mode m) { return m == Mode::kPidfd ? "pidfd" : "scm"; }
void PrintTo(Mode m, std::ostream* os) { *os << ModeName(m); }

// A fresh directory under TempDir (mode 0777 so an instance running as nobody can
// bind and rename its control socket there).
std::string MakeDir(const std::string& tag) {
  std::string tmpl = absl::StrCat(::testing::TempDir(), "/demo_handover_", tag, "_XXXXXX");
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  ::chmod(tmpl.c_str(), 0777);
  return tmpl;
}

std::string ParamName(const ::testing::TestParamInfo<Mode>& p) { return ModeName(p.param); }

class DemoProxyHandoverTest : public ::testing::TestWithParam<Mode> {
 public:
  void SetUp() override {
    absl::StatusOr<DemoProcess> backend = testing::StartBackend(backend_args_);
    ASSERT_OK(backend);
    backend_.emplace(*std::move(backend));
    dir_ = MakeDir(ModeName(GetParam()));
    control_ = dir_ + "/proxy.ctl";
  }
  void TearDown() override {
    ::unlink(control_.c_str());
    ::rmdir(dir_.c_str());
  }

  // The first instance; every instance serves its control socket at the same path.
  absl::StatusOr<DemoProcess> StartFirst(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen=127.0.0.1:0", "--backend=" + backend_->address,
                                     "--control_socket=" + control_};
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::StartProxy(args);
  }

  // A new instance taking over from `old` in the test's mode. Returns once it is
  // serving ("ready"); the old instance has been or is about to be signalled.
  absl::StatusOr<DemoProcess> HandOver(const DemoProcess& old, const std::string& address,
                                       std::vector<std::string> extra = {},
                                       SpawnOptions base = {}) {
    std::vector<std::string> args = {"--listen=" + address, "--backend=" + backend_->address,
                                     "--control_socket=" + control_};
    if (GetParam() == Mode::kPidfd) {
      args.push_back(absl::StrCat("--takeover_pid=", old.process.pid()));
    } else {
      args.push_back("--takeover_scm=" + control_);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::StartProxy(args, std::move(base));
  }

  std::vector<std::string> backend_args_;
  std::optional<DemoProcess> backend_;
  std::string dir_;
  std::string control_;
};

// Tests that only make sense for pidfd_getfd.
class DemoProxyPidfdHandoverTest : public DemoProxyHandoverTest {};

// The "handover ..." line of `successor`, parsed; old_status kept as text.
struct Summary {
  std::map<std::string, int64_t> counters;
  std::string line;
};
Summary ReadSummary(DemoProcess& successor, absl::Duration timeout = absl::Seconds(10)) {
  absl::StatusOr<std::string> line = ReadLineStartingWith(successor.process, "handover ", timeout);
  EXPECT_OK(line);
  if (!line.ok()) return {};
  return {ParseCounters(*line), *line};
}

std::map<std::string, int64_t> LoadgenCounts(const std::string& json) {
  return ParseCounters(
      absl::StrReplaceAll(json, {{"{", ""}, {"}", ""}, {"\"", ""}, {",", " "}, {":", "="}}));
}

// Load through `kHandovers` handovers; asserts no failed request of any kind.
void RunLoadThroughHandovers(DemoProxyHandoverTest* t, const char* load_mode) {
  constexpr int kHandovers = 5;
  std::vector<DemoProcess> gens;
  absl::StatusOr<DemoProcess> first = t->StartFirst();
  ASSERT_OK(first);
  const std::string address = first->address;
  gens.push_back(*std::move(first));
  ASSERT_OK_AND_ASSIGN(
      ChildProcess load,
      ChildProcess::Spawn(
          {.argv = {BinPath("demo_loadgen"), "--target=" + address, "--json", "--duration_ms=2000",
                    "--concurrency=8", std::string("--mode=") + load_mode, "--timeout_ms=5000"}}));
  for (int i = 0; i < kHandovers; ++i) {
    absl::StatusOr<DemoProcess> next = t->HandOver(gens.back(), address);
    ASSERT_OK(next) << "handover " << i;
    gens.push_back(*std::move(next));
  }
  ASSERT_OK_AND_ASSIGN(bool load_done, sys::WaitReadable(load.pidfd(), absl::InfinitePast()));
  std::cout << "the load was " << (load_done ? "ALREADY OVER" : "still running")
            << " when handover " << kHandovers << " completed\n";
  ASSERT_OK_AND_ASSIGN(std::string out, load.ReadAll(absl::Seconds(10)));
  const int exit_code = *load.WaitExitCode();
  std::map<std::string, int64_t> counts = LoadgenCounts(out);
  std::cout << ModeName(t->GetParam()) << " x" << kHandovers << ", " << load_mode << ": " << out;
  EXPECT_EQ(exit_code, 0) << out;
  EXPECT_GT(counts["ok"], 0);
  for (const char* kind : {"refused", "reset", "timeout", "bad_response", "other"}) {
    EXPECT_EQ(counts[kind], 0) << kind;
  }
  // Each successor retired its predecessor, which drained and exited 0. (With
  // keep-alive load the first instance relays its connections until the load ends,
  // after its successor, drained in turn, has already exited: that summary says
  // old_status=running.)
  for (int i = 1; i <= kHandovers; ++i) {
    Summary s = ReadSummary(gens[i]);
    std::cout << "  " << s.line << "\n";
    EXPECT_THAT(s.line, HasSubstr(absl::StrCat("mode=", ModeName(t->GetParam()))));
    EXPECT_EQ(s.counters["claimed"], 1);
    EXPECT_EQ(s.counters["old_pid"], gens[i - 1].process.pid());
    if (!absl::StrContains(s.line, "old_status=running")) {
      EXPECT_GE(s.counters["old_exit_us"], 0);
    }
    EXPECT_THAT(gens[i - 1].process.WaitExitCode(), IsOkAndHolds(0));
  }
}

TEST_P(DemoProxyHandoverTest, NewConnectionLoadSeesNoFailureThroughFiveHandovers) {
  RunLoadThroughHandovers(this, "new_conn");
}

TEST_P(DemoProxyHandoverTest, KeepAliveLoadSeesNoFailureThroughFiveHandovers) {
  RunLoadThroughHandovers(this, "keepalive");
}

// A connection that never ends keeps the old instance draining until its
// --drain_timeout_ms; then it is cut, the old instance exits 0, and the successor
// reports the exit.
TEST_P(DemoProxyHandoverTest, OldInstanceDrainTimeoutClosesAConnectionThatNeverEnds) {
  constexpr int kDrainMs = 300;
  ASSERT_OK_AND_ASSIGN(DemoProcess old,
                       StartFirst({absl::StrCat("--drain_timeout_ms=", kDrainMs)}));
  ASSERT_OK_AND_ASSIGN(UniqueFd stuck, ConnectTo(old.address));
  ASSERT_OK(HttpExchange(stuck.get(), kGet).status());
  ASSERT_OK_AND_ASSIGN(DemoProcess next, HandOver(old, old.address));
  Summary s = ReadSummary(next);
  std::cout << s.line << "\n";
  EXPECT_GE(s.counters["old_exit_us"], kDrainMs * 1000);
  ASSERT_OK_AND_ASSIGN(UniqueFd fresh, ConnectTo(old.address));  // the new one serves it
  EXPECT_OK(HttpExchange(fresh.get(), kGet));
  EXPECT_THAT(testing::ReadToEof(stuck.get()), IsOkAndHolds(""));
  absl::StatusOr<std::string> stats = ReadLineStartingWith(old.process, "stats ");
  ASSERT_OK(stats);
  EXPECT_EQ(ParseCounters(*stats)["drained_closed"], 1);
  EXPECT_THAT(old.process.WaitExitCode(), IsOkAndHolds(0));
}

// An old instance that does not react (SIGSTOPped: SIGTERM stays pending) is
// SIGKILLed at --old_kill_after_ms, from the successor's event loop.
// (pidfd only: a stopped instance cannot answer SCM_RIGHTS.)
TEST_P(DemoProxyPidfdHandoverTest, KillsAnOldInstanceThatDoesNotExitInTime) {
  ASSERT_OK_AND_ASSIGN(DemoProcess old, StartFirst());
  ASSERT_OK(old.process.Signal(SIGSTOP));
  ASSERT_OK_AND_ASSIGN(DemoProcess next, HandOver(old, old.address, {"--old_kill_after_ms=200"}));
  Summary s = ReadSummary(next);
  std::cout << s.line << "\n";
  EXPECT_THAT(s.line, HasSubstr("old_status=killed"));
  EXPECT_GE(s.counters["old_exit_us"], 200 * 1000);
  ASSERT_OK_AND_ASSIGN(UniqueFd c, ConnectTo(old.address));
  EXPECT_OK(HttpExchange(c.get(), kGet));
}

// Sockets taken but not claimed by --listen are closed (our copy) and logged, as
// tableflip and HAProxy do; the old instance's control socket is never served.
TEST_P(DemoProxyHandoverTest, ClosesAndLogsSocketsThatListenDoesNotClaim) {
  ASSERT_OK_AND_ASSIGN(DemoProcess old, StartFirst({"--listen=127.0.0.1:0,127.0.0.1:0"}));
  SpawnOptions base{.capture_stderr = true};
  ASSERT_OK_AND_ASSIGN(DemoProcess next, HandOver(old, old.address, {}, base));
  Summary s = ReadSummary(next);
  std::cout << s.line << "\n";
  // pidfd takes every listening socket (2 + the control socket), SCM gets the 2 served.
  EXPECT_EQ(s.counters["sockets"], GetParam() == Mode::kPidfd ? 3 : 2);
  EXPECT_EQ(s.counters["claimed"], 1);
  ASSERT_OK(next.process.Signal(SIGTERM));
  ASSERT_OK_AND_ASSIGN(std::string stats, ReadLineStartingWith(next.process, "stats "));
  EXPECT_EQ(ParseCounters(stats)["unclaimed_closed"], s.counters["sockets"] - 1);
  ASSERT_OK_AND_ASSIGN(std::string err, next.process.ReadStderr());
  EXPECT_THAT(err, HasSubstr("not claimed by --listen"));
  if (GetParam() == Mode::kPidfd) {
    EXPECT_THAT(err, HasSubstr("control socket"));
  }
}

// A new instance that fails after taking the sockets (here: its control socket
// cannot be created) exits without signalling the old one, which keeps serving.
TEST_P(DemoProxyHandoverTest, AFailedSuccessorLeavesTheOldInstanceServing) {
  ASSERT_OK_AND_ASSIGN(DemoProcess old, StartFirst());
  std::vector<std::string> args = {"--listen=" + old.address, "--backend=" + backend_->address,
                                   "--control_socket=" + dir_ + "/no/such/dir/p.ctl"};
  if (GetParam() == Mode::kPidfd) {
    args.push_back(absl::StrCat("--takeover_pid=", old.process.pid()));
  } else {
    args.push_back("--takeover_scm=" + control_);
  }
  args.insert(args.begin(), BinPath("demo_proxy"));
  ASSERT_OK_AND_ASSIGN(testing::RunResult r, testing::Run({.argv = args}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--control_socket"));
  ASSERT_OK_AND_ASSIGN(bool exited, sys::WaitReadable(old.process.pidfd(), absl::InfinitePast()));
  EXPECT_FALSE(exited);
  // The successor is gone: only a listener the old instance still holds (it was
  // never told to drain) can answer.
  ASSERT_OK_AND_ASSIGN(UniqueFd c, ConnectTo(old.address));
  EXPECT_OK(HttpExchange(c.get(), kGet));
}

// A unix listener handed on keeps its path: the old instance's drain closes its
// copy but never unlinks the path, so clients reach the new instance at once.
TEST_P(DemoProxyHandoverTest, UnixListenerKeepsItsPathAcrossTheHandover) {
  const std::string path = dir_ + "/web.sock";
  ASSERT_OK_AND_ASSIGN(DemoProcess old, StartFirst({"--listen=unix:" + path}));
  ASSERT_EQ(old.address, "unix:" + path);
  ASSERT_OK_AND_ASSIGN(DemoProcess next, HandOver(old, old.address));
  Summary s = ReadSummary(next);
  std::cout << s.line << "\n";
  EXPECT_THAT(old.process.WaitExitCode(), IsOkAndHolds(0));
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << "the old instance unlinked " << path;
  ASSERT_OK_AND_ASSIGN(UniqueFd c, ConnectTo(old.address));
  EXPECT_OK(HttpExchange(c.get(), kGet));
  ::unlink(path.c_str());
}

// --pidfile publishes "PID STARTTIME PIDFS_INODE"; --takeover_pidfile reads and
// proves it, and the successor replaces the file with its own identity.
TEST_P(DemoProxyPidfdHandoverTest, TakesOverThroughAPidfileAndRewritesIt) {
  const std::string pidfile = dir_ + "/proxy.pid";
  ASSERT_OK_AND_ASSIGN(DemoProcess old, StartFirst({"--pidfile=" + pidfile}));
  ASSERT_OK_AND_ASSIGN(std::string before, sys::ReadFileAt(AT_FDCWD, pidfile));
  EXPECT_TRUE(absl::StartsWith(before, absl::StrCat(old.process.pid(), " "))) << before;
  ASSERT_OK_AND_ASSIGN(
      DemoProcess next,
      testing::StartProxy({"--listen=" + old.address, "--backend=" + backend_->address,
                           "--takeover_pidfile=" + pidfile, "--pidfile=" + pidfile}));
  Summary s = ReadSummary(next);
  EXPECT_EQ(s.counters["old_pid"], old.process.pid());
  ASSERT_OK_AND_ASSIGN(std::string after, sys::ReadFileAt(AT_FDCWD, pidfile));
  EXPECT_TRUE(absl::StartsWith(after, absl::StrCat(next.process.pid(), " "))) << after;
  ::unlink(pidfile.c_str());
}

INSTANTIATE_TEST_SUITE_P(Modes, DemoProxyHandoverTest, ::testing::Values(Mode::kPidfd, Mode::kScm),
                         ParamName);
INSTANTIATE_TEST_SUITE_P(Modes, DemoProxyPidfdHandoverTest, ::testing::Values(Mode::kPidfd),
                         ParamName);

// A long transfer started before the handover (several MB to a slow reader) ends
// intact after it: the old instance keeps relaying it while it drains.
class DemoProxyHandoverTransferTest : public DemoProxyHandoverTest {
 protected:
  DemoProxyHandoverTransferTest() { backend_args_ = {absl::StrCat("--body_bytes=", kBody)}; }
  static constexpr size_t kBody = 8 << 20;
};

TEST_P(DemoProxyHandoverTransferTest, InFlightTransferCompletesIntactAfterTheHandover) {
  ASSERT_OK_AND_ASSIGN(DemoProcess old, StartFirst());
  ASSERT_OK_AND_ASSIGN(UniqueFd client, ConnectTo(old.address, /*rcvbuf_bytes=*/4096));
  ASSERT_OK(sys::WriteAll(client.get(), kGetClose));
  std::string got;
  char buf[4096];
  bool handed_over = false;
  std::optional<DemoProcess> next;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (;;) {
    ASSERT_THAT(sys::WaitReadable(client.get(), deadline), IsOkAndHolds(true))
        << "bytes so far: " << got.size();
    const ssize_t n = ::read(client.get(), buf, sizeof(buf));
    ASSERT_GE(n, 0);
    if (n == 0) break;
    got.append(buf, static_cast<size_t>(n));
    if (!handed_over && got.size() >= 64 * 1024) {  // mid-transfer
      handed_over = true;
      absl::StatusOr<DemoProcess> started = HandOver(old, old.address);
      ASSERT_OK(started);
      next.emplace(*std::move(started));
    }
  }
  ASSERT_TRUE(handed_over);
  const size_t head = got.find("\r\n\r\n");
  ASSERT_NE(head, std::string::npos);
  const absl::string_view body = absl::string_view(got).substr(head + 4);
  EXPECT_EQ(body.size(), kBody);
  bool intact = true;
  for (size_t i = 0; i < body.size() && intact; ++i) {
    intact = body[i] == static_cast<char>('a' + i % 26);
  }
  EXPECT_TRUE(intact);
  client.Reset();
  Summary s = ReadSummary(*next);
  std::cout << s.line << "\n";
  EXPECT_THAT(old.process.WaitExitCode(), IsOkAndHolds(0));
}

INSTANTIATE_TEST_SUITE_P(Modes, DemoProxyHandoverTransferTest,
                         ::testing::Values(Mode::kPidfd, Mode::kScm), ParamName);

// The old instance binds as root and then switches to nobody in place (--user):
// the kernel makes it non-dumpable, so a new instance running as nobody is refused
// pidfd_getfd (EPERM) and falls back to SCM_RIGHTS (same uid: allowed), logging why.
TEST(DemoProxyFallbackTest, FallsBackToScmRightsWhenPidfdGetfdIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to start instances as another user";
  ASSERT_OK_AND_ASSIGN(DemoProcess backend, testing::StartBackend());
  const std::string dir = MakeDir("fallback");
  const std::string control = dir + "/proxy.ctl";
  ASSERT_OK_AND_ASSIGN(
      DemoProcess old,
      testing::StartProxy({"--listen=127.0.0.1:0", "--backend=" + backend.address,
                           "--control_socket=" + control, absl::StrCat("--user=", kNobody)}));
  SpawnOptions as_nobody{.uid = kNobody, .gid = kNobody, .capture_stderr = true};
  ASSERT_OK_AND_ASSIGN(
      DemoProcess next,
      testing::StartProxy(
          {"--listen=" + old.address, "--backend=" + backend.address,
           absl::StrCat("--takeover_pid=", old.process.pid()), "--takeover_scm=" + control},
          as_nobody));
  Summary s = ReadSummary(next);
  std::cout << s.line << "\n";
  EXPECT_THAT(s.line, HasSubstr("mode=scm"));
  EXPECT_EQ(s.counters["fallback"], 1);
  EXPECT_EQ(s.counters["old_pid"], old.process.pid());
  ASSERT_OK_AND_ASSIGN(UniqueFd c, ConnectTo(old.address));
  EXPECT_OK(HttpExchange(c.get(), kGet));
  EXPECT_THAT(old.process.WaitExitCode(), IsOkAndHolds(0));
  c.Reset();  // our only connection: the drain below ends at once
  ASSERT_OK(next.process.Signal(SIGTERM));
  ASSERT_OK_AND_ASSIGN(std::string err, next.process.ReadStderr());
  EXPECT_THAT(err, HasSubstr("falling back to SCM_RIGHTS"));
  EXPECT_THAT(err, HasSubstr("not dumpable"));  // the library's diagnosis
  ::unlink(control.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace handover
