#include "handover/activation.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "handover/notify.h"
#include "handover/sys.h"
#include "tests/testing/child_process.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::BinPath;
using ::handover::testing::IsOkAndHolds;
using ::handover::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

absl::StatusOr<UniqueFd> TcpListener() {
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, sys::Socket(AF_INET, SOCK_STREAM, 0));
  struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr = {htonl(INADDR_LOOPBACK)}};
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0 ||
      ::listen(fd.get(), 4) != 0) {
    return absl::InternalError("bind/listen");
  }
  return fd;
}

ino_t Inode(int fd) {
  struct stat st = {};
  ::fstat(fd, &st);
  return st.st_ino;
}

// A child from SpawnWithFds, killed and reaped at scope exit.
class Spawned {
 public:
  explicit Spawned(SpawnedChild c) : c_(std::move(c)) {}
  ~Spawned() {
    if (reaped_) return;
    ::kill(c_.pid, SIGKILL);
    ::waitpid(c_.pid, nullptr, 0);
  }
  pid_t pid() const { return c_.pid; }
  int pidfd() const { return c_.pidfd.get(); }
  absl::StatusOr<int> WaitExitCode() {
    HANDOVER_ASSIGN_OR_RETURN(bool exited,
                              sys::WaitReadable(pidfd(), absl::Now() + absl::Seconds(10)));
    if (!exited) return absl::DeadlineExceededError("child did not exit");
    int status = 0;
    ::waitpid(c_.pid, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  SpawnedChild c_;
  bool reaped_ = false;
};

// Puts a copy of `src` at fd number `target` for the test's duration and then
// restores whatever was there (fds 3.. of the test process may be in use).
class FdAt {
 public:
  FdAt(int src, int target) : target_(target) {
    flags_ = ::fcntl(target, F_GETFD);
    if (flags_ >= 0) backup_.Reset(::fcntl(target, F_DUPFD_CLOEXEC, 100));
    slot_.Reset(::dup3(src, target, O_CLOEXEC));
  }
  ~FdAt() {
    if (!backup_.valid()) return;
    (void)slot_.Release();
    ::dup3(backup_.get(), target_, (flags_ & FD_CLOEXEC) ? O_CLOEXEC : 0);
  }
  bool ok() const { return slot_.get() == target_; }

 private:
  int target_;
  int flags_ = -1;
  UniqueFd backup_;
  UniqueFd slot_;
};

class ActivationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "activation_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    out_ = dir_ + "/report";
  }
  void TearDown() override {
    ::unlink(out_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::vector<std::string> Probe(std::vector<std::string> flags = {}) {
    std::vector<std::string> argv = {BinPath("activation_probe"), "--out=" + out_};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return argv;
  }
  absl::StatusOr<std::vector<std::string>> Report() {
    HANDOVER_ASSIGN_OR_RETURN(std::string text, sys::ReadFileAt(AT_FDCWD, out_));
    return std::vector<std::string>(absl::StrSplit(text, '\n', absl::SkipEmpty()));
  }
  std::string dir_;
  std::string out_;
};

// The fds >= 3 of an "open=0,1,2,3" report line.
std::vector<int> HighFds(const std::string& line) {
  std::vector<int> out;
  for (absl::string_view s : absl::StrSplit(absl::StripPrefix(line, "open="), ',')) {
    int fd;
    if (absl::SimpleAtoi(s, &fd) && fd >= 3) out.push_back(fd);
  }
  return out;
}

TEST_F(ActivationTest, SpawnPlacesFdsWithNamesAndClosesEverythingElse) {
  ASSERT_OK_AND_ASSIGN(UniqueFd a, TcpListener());
  ASSERT_OK_AND_ASSIGN(UniqueFd b, TcpListener());
  UniqueFd not_cloexec(::open("/dev/null", O_RDONLY));  // must not leak into the child
  ASSERT_TRUE(not_cloexec.valid());
  ASSERT_OK_AND_ASSIGN(SpawnedChild c, SpawnWithFds({.argv = Probe(), .fds = {a.get(), b.get()},
                                                     .names = {"http", "ht:tps"}}));
  Spawned child(std::move(c));
  EXPECT_THAT(child.WaitExitCode(), IsOkAndHolds(0));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> r, Report());
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0], absl::StrCat("listen_pid_env=", child.pid(), " self_pid=", child.pid()));
  EXPECT_EQ(r[1], absl::StrCat("fd=3 name=http inode=", Inode(a.get()), " cloexec=1"));
  EXPECT_EQ(r[2], absl::StrCat("fd=4 name=ht_tps inode=", Inode(b.get()), " cloexec=1"));
  EXPECT_THAT(HighFds(r[3]), ElementsAre(3, 4));
  EXPECT_EQ(r[4], "env_left=");
  // The caller's fds are untouched.
  EXPECT_TRUE(::fcntl(a.get(), F_GETFD) & FD_CLOEXEC);
}

TEST_F(ActivationTest, SourcesAlreadyInTheTargetRangeAreSwappedCorrectly) {
  // Keep the originals out of the way, at >= 10.
  ASSERT_OK_AND_ASSIGN(UniqueFd a0, TcpListener());
  ASSERT_OK_AND_ASSIGN(UniqueFd a, sys::DupCloexec(a0.get(), 10));
  a0.Reset();
  ASSERT_OK_AND_ASSIGN(UniqueFd b0, TcpListener());
  ASSERT_OK_AND_ASSIGN(UniqueFd b, sys::DupCloexec(b0.get(), 10));
  b0.Reset();
  FdAt a_at_4(a.get(), 4);
  FdAt b_at_3(b.get(), 3);
  ASSERT_TRUE(a_at_4.ok() && b_at_3.ok());
  ASSERT_OK_AND_ASSIGN(SpawnedChild c, SpawnWithFds({.argv = Probe(), .fds = {4, 3}}));
  Spawned child(std::move(c));
  EXPECT_THAT(child.WaitExitCode(), IsOkAndHolds(0));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> r, Report());
  ASSERT_GE(r.size(), 3u);
  EXPECT_EQ(r[1], absl::StrCat("fd=3 name=unknown inode=", Inode(a.get()), " cloexec=1"));
  EXPECT_EQ(r[2], absl::StrCat("fd=4 name=unknown inode=", Inode(b.get()), " cloexec=1"));
}

TEST_F(ActivationTest, NginxStyle) {
  ASSERT_OK_AND_ASSIGN(UniqueFd a, TcpListener());
  ASSERT_OK_AND_ASSIGN(UniqueFd b, TcpListener());
  ASSERT_OK_AND_ASSIGN(SpawnedChild c, SpawnWithFds({.argv = Probe(), .fds = {a.get(), b.get()},
                                                     .style = FdEnvStyle::kNginx}));
  Spawned child(std::move(c));
  EXPECT_THAT(child.WaitExitCode(), IsOkAndHolds(0));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> r, Report());
  ASSERT_EQ(r.size(), 5u);
  EXPECT_THAT(r[0], HasSubstr("listen_pid_env=unset"));
  EXPECT_EQ(r[1], absl::StrCat("fd=3 name=unknown inode=", Inode(a.get()), " cloexec=1"));
  EXPECT_EQ(r[2], absl::StrCat("fd=4 name=unknown inode=", Inode(b.get()), " cloexec=1"));
  EXPECT_EQ(r[4], "env_left=");
}

TEST_F(ActivationTest, ReceiverRejectsAnFdThatIsNotASocket) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r_end(p[0]), w_end(p[1]);
  ASSERT_OK_AND_ASSIGN(SpawnedChild c, SpawnWithFds({.argv = Probe(), .fds = {r_end.get()}}));
  Spawned child(std::move(c));
  EXPECT_THAT(child.WaitExitCode(), IsOkAndHolds(3));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> r, Report());
  ASSERT_GE(r.size(), 2u);
  EXPECT_THAT(r[1], HasSubstr("error=INVALID_ARGUMENT: fd 3 from LISTEN_FDS is not a socket"));
}

TEST_F(ActivationTest, MissingBinaryIsReportedWithErrno) {
  EXPECT_THAT(SpawnWithFds({.argv = {"/nonexistent/handover-probe"}}),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("execve(/nonexistent/handover-probe): No such file or "
                                 "directory [ENOENT]")));
}

TEST_F(ActivationTest, SpawnRejectsAClosedFdAndReservedEnv) {
  EXPECT_THAT(SpawnWithFds({.argv = Probe(), .fds = {999}}),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("[EBADF]")));
  EXPECT_THAT(SpawnWithFds({.argv = Probe(), .extra_env = {"LISTEN_FDS=7"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("may not set")));
}

TEST(BuildActivationEnvTest, SystemdAndNginx) {
  const std::vector<std::string> names = {"a", "b:c\n", std::string(300, 'x'), ""};
  ASSERT_OK_AND_ASSIGN(ActivationEnv env, BuildActivationEnv(4, names, FdEnvStyle::kSystemd));
  EXPECT_THAT(env.vars, ElementsAre("LISTEN_FDS=4", "LISTEN_FDNAMES=a:b_c_:" +
                                                        std::string(255, 'x') + ":unknown"));
  EXPECT_TRUE(env.needs_listen_pid);
  ASSERT_OK_AND_ASSIGN(env, BuildActivationEnv(2, {}, FdEnvStyle::kNginx));
  EXPECT_THAT(env.vars, ElementsAre("NGINX=3;4;"));
  EXPECT_FALSE(env.needs_listen_pid);
  EXPECT_THAT(BuildActivationEnv(2, names, FdEnvStyle::kSystemd),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2 fds with 4 names")));
}

// These run in the test process and never reach fd 3: each fails or returns
// before taking anything.
class TakeInheritedFdsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* v : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NGINX"}) ::unsetenv(v);
  }
  static void SetOurPid() { ::setenv("LISTEN_PID", absl::StrCat(::getpid()).c_str(), 1); }
};

TEST_F(TakeInheritedFdsTest, NothingSetMeansNoFds) {
  EXPECT_THAT(TakeInheritedFds(), IsOkAndHolds(IsEmpty()));
}

TEST_F(TakeInheritedFdsTest, IgnoresFdsMeantForAnotherPidAndUnsetsTheVars) {
  ::setenv("LISTEN_PID", "1", 1);
  ::setenv("LISTEN_FDS", "1", 1);
  EXPECT_THAT(TakeInheritedFds(/*unset_env=*/false), IsOkAndHolds(IsEmpty()));
  EXPECT_NE(::getenv("LISTEN_FDS"), nullptr);
  EXPECT_THAT(TakeInheritedFds(), IsOkAndHolds(IsEmpty()));
  EXPECT_EQ(::getenv("LISTEN_FDS"), nullptr);
  EXPECT_EQ(::getenv("LISTEN_PID"), nullptr);
}

TEST_F(TakeInheritedFdsTest, RejectsGarbageCounts) {
  for (const char* bad : {"abc", "-1", "+1", " 1", "1x", "", "99999999999", "70000"}) {
    SetOurPid();
    ::setenv("LISTEN_FDS", bad, 1);
    EXPECT_THAT(TakeInheritedFds(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat("LISTEN_FDS='", bad, "'"))))
        << bad;
    EXPECT_EQ(::getenv("LISTEN_FDS"), nullptr);
  }
}

TEST_F(TakeInheritedFdsTest, RejectsGarbagePidAndNameCountMismatch) {
  ::setenv("LISTEN_PID", "12ab", 1);
  ::setenv("LISTEN_FDS", "1", 1);
  EXPECT_THAT(TakeInheritedFds(), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("LISTEN_PID='12ab'")));
  SetOurPid();
  ::setenv("LISTEN_FDS", "2", 1);
  ::setenv("LISTEN_FDNAMES", "only-one", 1);
  EXPECT_THAT(TakeInheritedFds(), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("1 names for LISTEN_FDS=2")));
}

TEST_F(TakeInheritedFdsTest, RejectsGarbageNginx) {
  for (const char* bad : {"3;x;", "1;", "3;3;", "-4;"}) {
    ::setenv("NGINX", bad, 1);
    EXPECT_THAT(TakeInheritedFds(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NGINX=")))
        << bad;
  }
}

using NotifyTest = ActivationTest;

TEST_F(NotifyTest, ChildSendsReady) {
  ASSERT_OK_AND_ASSIGN(NotifySocket notify, NotifySocket::Create());
  EXPECT_EQ(notify.address()[0], '@');
  ASSERT_OK_AND_ASSIGN(SpawnedChild c, SpawnWithFds({.argv = Probe({"--ready", "--wait"}),
                                                     .extra_env = {notify.EnvVar()}}));
  Spawned child(std::move(c));
  EXPECT_OK(notify.WaitReady(child.pid(), child.pidfd(), absl::Now() + absl::Seconds(10)));
}

TEST_F(NotifyTest, ChildThatExitsWithoutReadyIsReportedAtOnce) {
  ASSERT_OK_AND_ASSIGN(NotifySocket notify, NotifySocket::Create());
  ASSERT_OK_AND_ASSIGN(SpawnedChild c, SpawnWithFds({.argv = Probe({"--status=loading config"}),
                                                     .extra_env = {notify.EnvVar()}}));
  Spawned child(std::move(c));
  EXPECT_THAT(notify.WaitReady(child.pid(), child.pidfd(), absl::Now() + absl::Seconds(10)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("exited before sending READY=1 (last STATUS=loading config)")));
}

TEST_F(NotifyTest, SilentChildHitsTheDeadline) {
  ASSERT_OK_AND_ASSIGN(NotifySocket notify, NotifySocket::Create());
  ASSERT_OK_AND_ASSIGN(SpawnedChild c, SpawnWithFds({.argv = Probe({"--wait"}),
                                                     .extra_env = {notify.EnvVar()}}));
  Spawned child(std::move(c));
  const absl::Time start = absl::Now();
  EXPECT_THAT(notify.WaitReady(child.pid(), child.pidfd(), start + absl::Milliseconds(200)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("sent no READY=1")));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(NotifyTest, ReadyFromAnotherPidIsIgnored) {
  ASSERT_OK_AND_ASSIGN(NotifySocket notify, NotifySocket::Create());
  ASSERT_OK_AND_ASSIGN(SpawnedChild c, SpawnWithFds({.argv = Probe({"--wait"}),
                                                     .extra_env = {notify.EnvVar()}}));
  Spawned child(std::move(c));
  ::setenv("NOTIFY_SOCKET", notify.address().c_str(), 1);
  EXPECT_OK(NotifyReady());  // from the test process, not the child
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_THAT(
      notify.WaitReady(child.pid(), child.pidfd(), absl::Now() + absl::Milliseconds(100)),
      StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("sent no READY=1")));
}

TEST(NotifyClientTest, NoSocketIsANoOpAndARelativeNameIsAnError) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_OK(NotifyReady());
  ::setenv("NOTIFY_SOCKET", "relative.sock", 1);
  EXPECT_THAT(NotifyReady(), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("NOTIFY_SOCKET='relative.sock'")));
  ::unsetenv("NOTIFY_SOCKET");
}

}  // namespace
}  // namespace handover
