// demo_proxy's SIGTERM drain and SIGINT stop, with real processes on loopback.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "handover/sys.h"
#include "tests/testing/child_process.h"
#include "tests/testing/demo_processes.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::ConnectTo;
using ::handover::testing::DemoProcess;
using ::handover::testing::HttpExchange;
using ::handover::testing::IsOkAndHolds;
using ::handover::testing::ParseCounters;
using ::handover::testing::ReadLineStartingWith;
using ::handover::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

class DemoProxyDrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<DemoProcess> backend = testing::StartBackend();
    ASSERT_OK(backend);
    backend_.emplace(*std::move(backend));
  }
  absl::StatusOr<DemoProcess> StartProxy(int drain_timeout_ms) {
    return testing::StartProxy({"--listen=127.0.0.1:0", "--backend=" + backend_->address,
                                absl::StrCat("--drain_timeout_ms=", drain_timeout_ms)});
  }
  // An established relay: one request answered, connection kept open.
  static absl::StatusOr<UniqueFd> OpenRelay(const DemoProcess& proxy) {
    HANDOVER_ASSIGN_OR_RETURN(UniqueFd c, ConnectTo(proxy.address));
    HANDOVER_RETURN_IF_ERROR(HttpExchange(c.get(), kGet).status());
    return c;
  }
  static std::map<std::string, int64_t> FinalStats(DemoProcess& proxy) {
    absl::StatusOr<std::string> line = ReadLineStartingWith(proxy.process, "stats ");
    EXPECT_OK(line);
    return line.ok() ? ParseCounters(*line) : std::map<std::string, int64_t>{};
  }
  std::optional<DemoProcess> backend_;
};

TEST_F(DemoProxyDrainTest, KeepsRelayingOpenConnectionsAndRefusesNewOnes) {
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, StartProxy(8000));
  ASSERT_OK_AND_ASSIGN(UniqueFd open, OpenRelay(proxy));
  ASSERT_OK(proxy.process.Signal(SIGTERM));
  ASSERT_OK(ReadLineStartingWith(proxy.process, "draining").status());
  // Listeners are closed and nobody else holds them: the port refuses now.
  EXPECT_THAT(ConnectTo(proxy.address),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("[ECONNREFUSED]")));
  // The open connection still relays whole requests.
  EXPECT_OK(HttpExchange(open.get(), kGet));
  EXPECT_OK(HttpExchange(open.get(), kGet));
  open.Reset();  // the last connection ends: the proxy exits without waiting for the timeout
  const absl::Time closed = absl::Now();
  std::map<std::string, int64_t> stats = FinalStats(proxy);
  EXPECT_THAT(proxy.process.WaitExitCode(), IsOkAndHolds(0));
  EXPECT_LT(absl::Now() - closed, absl::Seconds(5));
  EXPECT_EQ(stats["accepted"], 1);
  EXPECT_EQ(stats["drained_closed"], 0);
}

TEST_F(DemoProxyDrainTest, DrainTimeoutClosesAConnectionThatNeverEndsAndExitsZero) {
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, StartProxy(300));
  ASSERT_OK_AND_ASSIGN(UniqueFd stuck, OpenRelay(proxy));
  const absl::Time start = absl::Now();
  ASSERT_OK(proxy.process.Signal(SIGTERM));
  EXPECT_THAT(proxy.process.WaitExitCode(absl::Seconds(5)), IsOkAndHolds(0));
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(3));
  EXPECT_THAT(testing::ReadToEof(stuck.get()), IsOkAndHolds(""));  // cut by the proxy
  std::map<std::string, int64_t> stats = FinalStats(proxy);
  EXPECT_EQ(stats["drained_closed"], 1);
  EXPECT_EQ(stats["active"], 0);
}

// kernel-notes §5: if a draining process closed its listener without EPOLL_CTL_DEL
// while another process holds the same socket, its epoll set would keep reporting the
// queued connection forever: a busy loop. Recreate exactly that setup and check the
// draining proxy's CPU time stays near zero for the whole drain.
TEST_F(DemoProxyDrainTest, DoesNotSpinWhileAnotherProcessHoldsItsListener) {
  constexpr int kDrainMs = 1000;
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, StartProxy(kDrainMs));
  ASSERT_OK_AND_ASSIGN(UniqueFd copy, sys::PidfdGetfd(proxy.process.pidfd(), proxy.listener_fd));
  ASSERT_OK_AND_ASSIGN(UniqueFd stuck, OpenRelay(proxy));  // keeps the drain going
  ASSERT_OK_AND_ASSIGN(int64_t ticks_before, testing::CpuTicks(proxy.process.pid()));
  ASSERT_OK(proxy.process.Signal(SIGTERM));
  ASSERT_OK(ReadLineStartingWith(proxy.process, "draining").status());
  // Our copy keeps the socket listening: this connection waits in its accept queue,
  // so the socket stays readable for the whole drain.
  ASSERT_OK_AND_ASSIGN(UniqueFd queued, ConnectTo(proxy.address));
  // Wait for exit without reaping, so /proc/PID/stat is still readable.
  ASSERT_THAT(sys::WaitReadable(proxy.process.pidfd(), absl::Now() + absl::Seconds(5)),
              IsOkAndHolds(true));
  ASSERT_OK_AND_ASSIGN(int64_t ticks_after, testing::CpuTicks(proxy.process.pid()));
  const int64_t hz = ::sysconf(_SC_CLK_TCK);
  std::cout << "CPU during a " << kDrainMs << " ms drain: " << ticks_after - ticks_before
            << " ticks of 1/" << hz << " s\n";
  EXPECT_LE(ticks_after - ticks_before, hz / 10) << "the draining proxy burned CPU";
  EXPECT_THAT(proxy.process.WaitExitCode(), IsOkAndHolds(0));
  // Nothing was lost: the queued connection is ours to accept.
  ASSERT_THAT(sys::WaitReadable(copy.get(), absl::Now() + absl::Seconds(5)), IsOkAndHolds(true));
  UniqueFd accepted(::accept4(copy.get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(accepted.valid()) << "accept4: " << ::strerror(errno);
}

TEST_F(DemoProxyDrainTest, SigintStopsAtOnceWithConnectionsOpen) {
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, StartProxy(30000));
  ASSERT_OK_AND_ASSIGN(UniqueFd open, OpenRelay(proxy));
  ASSERT_OK(proxy.process.Signal(SIGINT));
  EXPECT_THAT(proxy.process.WaitExitCode(absl::Seconds(5)), IsOkAndHolds(0));
  EXPECT_THAT(testing::ReadToEof(open.get()), IsOkAndHolds(""));
}

TEST_F(DemoProxyDrainTest, Sigusr1PrintsCountersAndKeepsServing) {
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, StartProxy(1000));
  ASSERT_OK_AND_ASSIGN(UniqueFd open, OpenRelay(proxy));
  ASSERT_OK(proxy.process.Signal(SIGUSR1));
  ASSERT_OK_AND_ASSIGN(std::string line, ReadLineStartingWith(proxy.process, "stats "));
  std::map<std::string, int64_t> stats = ParseCounters(line);
  EXPECT_EQ(stats["accepted"], 1);
  EXPECT_EQ(stats["active"], 1);
  EXPECT_GT(stats["bytes_backend_to_client"], 0);
  EXPECT_OK(HttpExchange(open.get(), kGet));
}

}  // namespace
}  // namespace handover
