// Where demo_proxy's listeners come from: socket activation (LISTEN_FDS) through the
// with_listen_pid wrapper, the blocking-mode policy for adopted sockets, unix
// listeners (never unlinked by a drain), and --reuseport (two instances, one address).
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "handover/status.h"
#include "handover/sys.h"
#include "tests/testing/child_process.h"
#include "tests/testing/demo_processes.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::BinPath;
using ::handover::testing::ConnectTo;
using ::handover::testing::DemoProcess;
using ::handover::testing::HttpExchange;
using ::handover::testing::IsOkAndHolds;
using ::handover::testing::SpawnOptions;
using ::testing::HasSubstr;

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

// A TCP listener on 127.0.0.1:0, blocking or not; returns it and "127.0.0.1:PORT".
std::pair<UniqueFd, std::string> Listen(bool nonblocking) {
  UniqueFd fd = *sys::Socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  sockaddr_in in = {.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
  EXPECT_EQ(::listen(fd.get(), 128), 0);
  socklen_t len = sizeof(in);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&in), &len);
  return {std::move(fd), absl::StrCat("127.0.0.1:", ntohs(in.sin_port))};
}

// Socket activation of demo_proxy with `fd` as fd 3.
SpawnOptions Activation(int fd) {
  return {.argv = {BinPath("with_listen_pid")},
          .env = {"LISTEN_FDS=1", "LISTEN_FDNAMES=web"},
          .fds = {{fd, 3}}};
}

bool NonBlocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

class DemoProxyListenersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<DemoProcess> backend = testing::StartBackend();
    ASSERT_OK(backend);
    backend_.emplace(*std::move(backend));
  }
  std::optional<DemoProcess> backend_;
};

TEST_F(DemoProxyListenersTest, ServesAnInheritedListenerWithoutChangingItsFlags) {
  auto [listener, address] = Listen(/*nonblocking=*/true);
  const int flags_before = ::fcntl(listener.get(), F_GETFL);
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, testing::StartProxy(
      {"--listen=" + address, "--backend=" + backend_->address}, Activation(listener.get())));
  EXPECT_EQ(proxy.listener_fd, 3);  // the inherited socket, not a new bind
  EXPECT_EQ(proxy.address, address);
  ASSERT_OK_AND_ASSIGN(UniqueFd client, ConnectTo(address));
  EXPECT_OK(HttpExchange(client.get(), kGet));
  EXPECT_EQ(::fcntl(listener.get(), F_GETFL), flags_before);
}

TEST_F(DemoProxyListenersTest, UsesEveryInheritedListenerWhenListenIsEmpty) {
  auto [listener, address] = Listen(/*nonblocking=*/true);
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, testing::StartProxy(
      {"--backend=" + backend_->address}, Activation(listener.get())));
  EXPECT_EQ(proxy.address, address);
  ASSERT_OK_AND_ASSIGN(UniqueFd client, ConnectTo(address));
  EXPECT_OK(HttpExchange(client.get(), kGet));
}

TEST_F(DemoProxyListenersTest, RefusesABlockingInheritedListenerAndLeavesItBlocking) {
  auto [listener, address] = Listen(/*nonblocking=*/false);
  SpawnOptions o = Activation(listener.get());
  o.argv.push_back(BinPath("demo_proxy"));
  o.argv.push_back("--backend=" + backend_->address);
  ASSERT_OK_AND_ASSIGN(testing::RunResult r, testing::Run(o));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("inherited listener fd 3 is in blocking mode"));
  EXPECT_FALSE(NonBlocking(listener.get())) << "status flags are shared: must stay untouched";
}

TEST_F(DemoProxyListenersTest, AdoptBlockingListenersSetsNonBlockingForEveryHolder) {
  auto [listener, address] = Listen(/*nonblocking=*/false);
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, testing::StartProxy(
      {"--backend=" + backend_->address, "--adopt_blocking_listeners"},
      Activation(listener.get())));
  EXPECT_TRUE(NonBlocking(listener.get())) << "O_NONBLOCK lives in the shared file description";
  ASSERT_OK_AND_ASSIGN(UniqueFd client, ConnectTo(address));
  EXPECT_OK(HttpExchange(client.get(), kGet));
}

TEST_F(DemoProxyListenersTest, ServesUnixListenersAndNeverUnlinksTheirPath) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/demo_proxy_", ::getpid(), "_unix.sock");
  ::unlink(path.c_str());
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, testing::StartProxy(
      {"--listen=unix:" + path, "--backend=" + backend_->address}));
  EXPECT_EQ(proxy.address, "unix:" + path);
  ASSERT_OK_AND_ASSIGN(testing::RunResult r, testing::Run({.argv = {
      BinPath("demo_loadgen"), "--target=unix:" + path, "--duration_ms=300",
      "--concurrency=2"}}));
  std::cout << "unix: " << r.out;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_OK(proxy.process.Signal(SIGTERM));
  EXPECT_THAT(proxy.process.WaitExitCode(), IsOkAndHolds(0));
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << "the drain must not unlink " << path;
  ::unlink(path.c_str());
}

// "accepted" from the counters a running proxy prints on SIGUSR1.
absl::StatusOr<int64_t> Accepted(DemoProcess& proxy) {
  HANDOVER_RETURN_IF_ERROR(proxy.process.Signal(SIGUSR1));
  HANDOVER_ASSIGN_OR_RETURN(std::string line,
                            testing::ReadLineStartingWith(proxy.process, "stats "));
  return testing::ParseCounters(line)["accepted"];
}

TEST_F(DemoProxyListenersTest, ReuseportLetsTwoInstancesBindOneAddressAndBothAccept) {
  ASSERT_OK_AND_ASSIGN(DemoProcess first, testing::StartProxy(
      {"--listen=127.0.0.1:0", "--backend=" + backend_->address, "--reuseport"}));
  // Without SO_REUSEPORT on both sockets the second bind is refused.
  ASSERT_OK_AND_ASSIGN(testing::RunResult refused, testing::Run({.argv = {
      BinPath("demo_proxy"), "--listen=" + first.address, "--backend=" + backend_->address}}));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("[EADDRINUSE]"));
  ASSERT_OK_AND_ASSIGN(DemoProcess second, testing::StartProxy(
      {"--listen=" + first.address, "--backend=" + backend_->address, "--reuseport"}));
  EXPECT_EQ(second.address, first.address);
  // Each connection has its own source port, which the kernel hashes to one of the two
  // sockets: with 64 connections both get some (all on one: probability 2^-63).
  constexpr int kConnections = 64;
  for (int i = 0; i < kConnections; ++i) {
    ASSERT_OK_AND_ASSIGN(UniqueFd client, ConnectTo(first.address));
    ASSERT_OK(HttpExchange(client.get(), kGet));
  }
  ASSERT_OK_AND_ASSIGN(int64_t by_first, Accepted(first));
  ASSERT_OK_AND_ASSIGN(int64_t by_second, Accepted(second));
  std::cout << "accepted: first " << by_first << ", second " << by_second << "\n";
  EXPECT_GT(by_first, 0);
  EXPECT_GT(by_second, 0);
  EXPECT_EQ(by_first + by_second, kConnections);
  // The first one drains and closes its own socket: the second keeps the address.
  ASSERT_OK(first.process.Signal(SIGTERM));
  EXPECT_THAT(first.process.WaitExitCode(), IsOkAndHolds(0));
  for (int i = 0; i < 8; ++i) {
    ASSERT_OK_AND_ASSIGN(UniqueFd client, ConnectTo(second.address));
    ASSERT_OK(HttpExchange(client.get(), kGet));
  }
  EXPECT_THAT(Accepted(second), IsOkAndHolds(by_second + 8));
}

TEST(DemoProxyFlagsTest, TakeoverFromNobodyFailsWithNotFoundBeforeServing) {
  const std::string missing =
      absl::StrCat(::testing::TempDir(), "/demo_proxy_", ::getpid(), "_missing.ctl");
  for (const std::string& flag : {"--takeover_scm=" + missing,
                                   "--takeover_pidfile=" + missing + ".pid"}) {
    ASSERT_OK_AND_ASSIGN(testing::RunResult r, testing::Run({.argv = {
        BinPath("demo_proxy"), "--listen=127.0.0.1:0", "--backend=127.0.0.1:1",
        "--print_ready", flag}}));
    EXPECT_EQ(r.exit_code, 4) << flag << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(missing)) << flag;
    EXPECT_EQ(r.out, "") << "nothing may be served after a failed takeover";
  }
}

}  // namespace
}  // namespace handover
