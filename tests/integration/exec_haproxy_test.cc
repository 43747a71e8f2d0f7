// A real, unmodified HAProxy from Debian replaced by handover exec under load,
// the recipe of docs/operations.md: the new haproxy is started with the sockets
// at fd 3.. (--fd_env=systemd) and a config that says `bind fd@3`; readiness is read from the kernel (--ready=accepting); the
// old one soft-stops on SIGUSR1 and exits once its connections are done.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "handover/readiness.h"
#include "handover/sys.h"
#include "tests/testing/demo_processes.h"
#include "tests/testing/exec_support.h"
#include "tests/testing/fd_holder.h"
#include "tests/testing/fds.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::AdoptedProcess;
using ::handover::testing::ChildProcess;
using ::handover::testing::FinishLoad;
using ::handover::testing::IsOkAndHolds;
using ::handover::testing::JsonInt;
using ::handover::testing::LoadCounts;
using ::handover::testing::StartHandover;
using ::handover::testing::StartLoad;
using ::testing::HasSubstr;

constexpr char kHaproxy[] = "/usr/sbin/haproxy";

// Both instances `bind fd@3`: the old one inherits the test's listener (HAProxy
// refuses port 0, and this way there is no port to guess), the new one gets it
// from handover.
std::string Config(const std::string& bind, const std::string& body) {
  return absl::StrFormat(R"(global
  maxconn 2000
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend f
  bind %s
  http-request return status 200 content-type text/plain string "%s"
)",
                         bind, body);
}

class ExecHaproxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { handover::testing::BecomeSubreaper(); }

  void SetUp() override {
    if (::access(kHaproxy, X_OK) != 0) GTEST_SKIP() << "no haproxy: run scripts/install_deps.sh";
    dir_ = handover::testing::UniqueTempPath("haproxy");
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    std::ofstream(dir_ + "/old.cfg") << Config("fd@3", "old");
    std::ofstream(dir_ + "/new.cfg") << Config("fd@3", "new");
    ASSERT_OK_AND_ASSIGN(listener_, handover::testing::ListenOnLoopback());
  }

  std::string dir_;
  handover::testing::LoopbackListener listener_;
};

TEST_F(ExecHaproxyTest, ReplacesHaproxyUnderLoadWithNoFailedRequest) {
  ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(listener_.fd.get()));
  ASSERT_OK_AND_ASSIGN(ChildProcess old,
                       ChildProcess::Spawn({.argv = {kHaproxy, "-db", "-f", dir_ + "/old.cfg"},
                                            .fds = {{listener_.fd.get(), 3}},
                                            .capture_stdout = false}));
  listener_.fd.Reset();  // haproxy holds it now
  const uint64_t inodes[] = {st.st_ino};
  ASSERT_THAT(WaitUntilAccepting(old.pidfd(), old.pid(), inodes, absl::Now() + absl::Seconds(10)),
              IsOkAndHolds(true));
  const std::string address = listener_.address();
  ASSERT_OK_AND_ASSIGN(ChildProcess load, StartLoad(address, "new_conn", 2500));

  ASSERT_OK_AND_ASSIGN(ChildProcess exec,
                       StartHandover({"exec", absl::StrCat("--pid=", old.pid()), "--fd_env=systemd",
                                      "--ready=accepting", "--drain_signal=SIGUSR1",
                                      "--drain_timeout_ms=10000", "--json", "--", kHaproxy, "-db",
                                      "-f", dir_ + "/new.cfg"}));
  ASSERT_OK_AND_ASSIGN(std::string report, exec.ReadLine(absl::Seconds(20)));
  EXPECT_THAT(exec.WaitExitCode(absl::Seconds(20)), IsOkAndHolds(0)) << report;
  EXPECT_THAT(report, HasSubstr("\"result\":\"ok\""));
  ASSERT_OK_AND_ASSIGN(AdoptedProcess fresh, AdoptedProcess::Adopt(JsonInt(report, "new_pid")));
  EXPECT_TRUE(old.WaitExitCode().ok());  // gone: soft stop ends the old process

  ASSERT_OK_AND_ASSIGN(LoadCounts counts, FinishLoad(load));
  std::cout << "haproxy -> haproxy under new_conn load: " << counts.DebugString() << "\n"
            << report << "\n";
  EXPECT_EQ(counts.failed(), 0) << counts.DebugString();
  EXPECT_GT(counts.ok, 0);
  // The new one answers on the same port, through the inherited socket.
  ASSERT_OK_AND_ASSIGN(UniqueFd c, handover::testing::ConnectTo(address));
  ASSERT_OK_AND_ASSIGN(std::string body,
                       handover::testing::HttpExchange(
                           c.get(), "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(body, "new");
  ASSERT_OK(sys::PidfdSendSignal(fresh.pidfd(), SIGUSR1));
  EXPECT_THAT(sys::WaitReadable(fresh.pidfd(), absl::Now() + absl::Seconds(10)),
              IsOkAndHolds(true));
}

}  // namespace
}  // namespace handover
