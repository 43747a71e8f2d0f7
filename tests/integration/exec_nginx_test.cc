// A real, unmodified nginx from Debian replaced by handover exec under load:
// old nginx -> new nginx with the nginx binary-upgrade variable (NGINX="3;"),
// readiness read from the kernel (--ready=accepting: the new worker has the
// listener in its epoll set), old master drained with SIGQUIT.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
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

constexpr char kNginx[] = "/usr/sbin/nginx";

std::string Config(const std::string& dir, uint16_t port) {
  return absl::StrFormat(R"(daemon off;
master_process on;
worker_processes 1;
error_log %1$s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %1$s/body;
  proxy_temp_path %1$s/proxy;
  fastcgi_temp_path %1$s/fastcgi;
  uwsgi_temp_path %1$s/uwsgi;
  scgi_temp_path %1$s/scgi;
  server {
    listen 127.0.0.1:%2$d;
    location / { return 200 "hello from nginx\n"; }
  }
}
)",
                         dir, port);
}

class ExecNginxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { handover::testing::BecomeSubreaper(); }

  void SetUp() override {
    if (::access(kNginx, X_OK) != 0) GTEST_SKIP() << "no nginx: run scripts/install_deps.sh";
    if (::geteuid() != 0) GTEST_SKIP() << "nginx's master/worker setup here needs root";
    dir_ = handover::testing::UniqueTempPath("nginx");
    ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
    // The listener is ours: nginx inherits it (no port to guess, no bind race).
    ASSERT_OK_AND_ASSIGN(listener_, handover::testing::ListenOnLoopback());
    conf_ = dir_ + "/nginx.conf";
    std::ofstream(conf_) << Config(dir_, listener_.port);
  }

  std::vector<std::string> NginxArgv(const std::string& pid_name) {
    return {kNginx, "-c", conf_, "-g", absl::StrCat("pid ", dir_, "/", pid_name, ";")};
  }

  std::string address() const { return listener_.address(); }

  std::string dir_, conf_;
  handover::testing::LoopbackListener listener_;
};

TEST_F(ExecNginxTest, ReplacesNginxUnderLoadWithNoFailedRequest) {
  ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(listener_.fd.get()));
  ASSERT_OK_AND_ASSIGN(ChildProcess old,
                       ChildProcess::Spawn({.argv = NginxArgv("old.pid"),
                                            .env = {"NGINX=3;"},
                                            .fds = {{listener_.fd.get(), 3}},
                                            .capture_stdout = false}));
  listener_.fd.Reset();  // nginx holds it now
  const uint64_t inodes[] = {st.st_ino};
  ASSERT_THAT(WaitUntilAccepting(old.pidfd(), old.pid(), inodes, absl::Now() + absl::Seconds(10)),
              IsOkAndHolds(true));
  ASSERT_OK_AND_ASSIGN(ChildProcess load, StartLoad(address(), "new_conn", 2500));

  std::vector<std::string> args = {"exec",
                                   absl::StrCat("--pid=", old.pid()),
                                   "--fd_env=nginx",
                                   "--ready=accepting",
                                   "--drain_signal=SIGQUIT",
                                   "--drain_timeout_ms=10000",
                                   "--json",
                                   "--"};
  for (std::string& a : NginxArgv("new.pid")) args.push_back(a);
  ASSERT_OK_AND_ASSIGN(ChildProcess exec, StartHandover(args));
  ASSERT_OK_AND_ASSIGN(std::string report, exec.ReadLine(absl::Seconds(20)));
  EXPECT_THAT(exec.WaitExitCode(absl::Seconds(20)), IsOkAndHolds(0)) << report;
  EXPECT_THAT(report, HasSubstr("\"result\":\"ok\""));
  ASSERT_OK_AND_ASSIGN(AdoptedProcess fresh, AdoptedProcess::Adopt(JsonInt(report, "new_pid")));
  EXPECT_THAT(old.WaitExitCode(), IsOkAndHolds(0));  // SIGQUIT: graceful

  ASSERT_OK_AND_ASSIGN(LoadCounts counts, FinishLoad(load));
  std::cout << "nginx -> nginx under new_conn load: " << counts.DebugString() << "\n"
            << report << "\n";
  EXPECT_EQ(counts.failed(), 0) << counts.DebugString();
  EXPECT_GT(counts.ok, 0);
  ASSERT_OK_AND_ASSIGN(UniqueFd c, handover::testing::ConnectTo(address()));
  ASSERT_OK_AND_ASSIGN(std::string body,
                       handover::testing::HttpExchange(
                           c.get(), "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  EXPECT_EQ(body, "hello from nginx\n");
  // Stop the new master the nginx way so it takes its worker with it.
  ASSERT_OK(sys::PidfdSendSignal(fresh.pidfd(), SIGQUIT));
  EXPECT_THAT(sys::WaitReadable(fresh.pidfd(), absl::Now() + absl::Seconds(10)),
              IsOkAndHolds(true));
}

}  // namespace
}  // namespace handover
