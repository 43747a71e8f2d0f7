// demo_proxy end to end with real processes on loopback: demo_backend behind
// demo_proxy, loaded by demo_loadgen or driven by hand. Ports are always 0.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <map>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
using ::handover::testing::ParseCounters;
using ::handover::testing::ReadLineStartingWith;
using ::handover::testing::ReadToEof;
using ::handover::testing::RunResult;
using ::testing::HasSubstr;

constexpr char kGet[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
constexpr char kGetClose[] = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

absl::StatusOr<RunResult> Loadgen(const std::string& target, std::vector<std::string> args) {
  std::vector<std::string> argv = {BinPath("demo_loadgen"), "--target=" + target, "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::Run({.argv = argv});
}

// A 127.0.0.1 port that refuses connections: bound, never listening, held open.
struct RefusingPort {
  UniqueFd fd;
  std::string address;
};
RefusingPort ReserveRefusingPort() {
  RefusingPort out;
  out.fd = *sys::Socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in in = {.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
  EXPECT_EQ(::bind(out.fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
  socklen_t len = sizeof(in);
  ::getsockname(out.fd.get(), reinterpret_cast<sockaddr*>(&in), &len);
  out.address = absl::StrCat("127.0.0.1:", ntohs(in.sin_port));
  return out;
}

// demo_loadgen --json output as counters: {"ok":3,...} -> {ok: 3, ...}.
std::map<std::string, int64_t> LoadgenCounts(const std::string& json) {
  return ParseCounters(absl::StrReplaceAll(json, {{"{", ""}, {"}", ""}, {"\"", ""},
                                                  {",", " "}, {":", "="}}));
}

// SIGTERM, then the counters line printed at exit; expects exit status 0.
std::map<std::string, int64_t> StopAndCount(DemoProcess& proxy) {
  EXPECT_OK(proxy.process.Signal(SIGTERM));
  absl::StatusOr<std::string> line = ReadLineStartingWith(proxy.process, "stats ");
  EXPECT_OK(line);
  EXPECT_THAT(proxy.process.WaitExitCode(), testing::IsOkAndHolds(0));
  return line.ok() ? ParseCounters(*line) : std::map<std::string, int64_t>{};
}

class DemoProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<DemoProcess> backend = testing::StartBackend();
    ASSERT_OK(backend);
    backend_.emplace(*std::move(backend));
  }
  std::optional<DemoProcess> backend_;
};

TEST_F(DemoProxyTest, RelaysNewConnectionsWithoutFailures) {
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, testing::StartProxy(
      {"--listen=127.0.0.1:0", "--backend=" + backend_->address}));
  ASSERT_OK_AND_ASSIGN(RunResult r, Loadgen(proxy.address, {"--mode=new_conn",
      "--duration_ms=700", "--concurrency=4"}));
  std::cout << "new_conn: " << r.out;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::map<std::string, int64_t> counts = LoadgenCounts(r.out);
  EXPECT_GT(counts["ok"], 0) << r.out;
  EXPECT_EQ(counts["ok"] + counts["refused"] + counts["reset"] + counts["timeout"] +
                counts["bad_response"] + counts["other"],
            counts["ok"]);
  std::map<std::string, int64_t> stats = StopAndCount(proxy);
  EXPECT_GT(stats["accepted"], 0);
  EXPECT_EQ(stats["relay_errors"], 0);
  EXPECT_EQ(stats["active"], 0);
}

TEST_F(DemoProxyTest, RelaysKeepAliveRequestsWithoutFailures) {
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, testing::StartProxy(
      {"--listen=127.0.0.1:0,[::1]:0", "--backend=" + backend_->address}));
  ASSERT_OK_AND_ASSIGN(RunResult r, Loadgen(proxy.address, {"--mode=keepalive",
      "--duration_ms=700", "--concurrency=4"}));
  std::cout << "keepalive: " << r.out;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"refused\":0,\"reset\":0,\"timeout\":0,\"bad_response\":0"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("\"ok\":0,")));
  std::map<std::string, int64_t> stats = StopAndCount(proxy);
  EXPECT_EQ(stats["accepted"], 4);  // one connection per loadgen slot
}

TEST_F(DemoProxyTest, FailsOverToTheNextBackendAndCountsTheError) {
  RefusingPort refusing = ReserveRefusingPort();
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, testing::StartProxy(
      {"--listen=127.0.0.1:0", "--backend=" + refusing.address + "," + backend_->address}));
  ASSERT_OK_AND_ASSIGN(RunResult r, Loadgen(proxy.address, {"--mode=new_conn",
      "--max_requests=20", "--concurrency=2", "--duration_ms=5000"}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"ok\":20,"));
  std::map<std::string, int64_t> stats = StopAndCount(proxy);
  std::cout << "backend_connect_errors=" << stats["backend_connect_errors"] << "\n";
  EXPECT_EQ(stats["backend_connect_errors"], 10);  // round robin: every second client
  EXPECT_EQ(stats["backend_give_ups"], 0);
}

TEST_F(DemoProxyTest, ClosesTheClientWhenEveryBackendFails) {
  RefusingPort a = ReserveRefusingPort();
  RefusingPort b = ReserveRefusingPort();
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, testing::StartProxy(
      {"--listen=127.0.0.1:0", "--backend=" + a.address + "," + b.address}));
  ASSERT_OK_AND_ASSIGN(UniqueFd client, ConnectTo(proxy.address));
  ASSERT_OK_AND_ASSIGN(std::string got, ReadToEof(client.get()));
  EXPECT_EQ(got, "");
  std::map<std::string, int64_t> stats = StopAndCount(proxy);
  EXPECT_EQ(stats["backend_connect_errors"], 2);  // each backend tried once
  EXPECT_EQ(stats["backend_give_ups"], 1);
}

TEST_F(DemoProxyTest, PassesHalfCloseOnAndFinishesTheOtherDirection) {
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, testing::StartProxy(
      {"--listen=127.0.0.1:0", "--backend=" + backend_->address}));
  ASSERT_OK_AND_ASSIGN(UniqueFd client, ConnectTo(proxy.address));
  ASSERT_OK(sys::WriteAll(client.get(), kGet));
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);  // the backend sees EOF after the request
  ASSERT_OK_AND_ASSIGN(std::string got, ReadToEof(client.get()));
  EXPECT_THAT(got, ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(got, ::testing::EndsWith("\r\n\r\nabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"));
}

TEST(DemoProxyLongTransferTest, MovesSeveralMegabytesIntactToASlowReaderInBoundedMemory) {
  constexpr size_t kBody = 16 << 20;
  ASSERT_OK_AND_ASSIGN(DemoProcess backend,
                       testing::StartBackend({absl::StrCat("--body_bytes=", kBody)}));
  ASSERT_OK_AND_ASSIGN(DemoProcess proxy, testing::StartProxy(
      {"--listen=127.0.0.1:0", "--backend=" + backend.address, "--buffer_bytes=65536"}));
  ASSERT_OK_AND_ASSIGN(int64_t hwm_before, testing::ProcStatusKb(proxy.process.pid(), "VmHWM"));
  // A slow reader: a tiny receive window and tiny reads.
  ASSERT_OK_AND_ASSIGN(UniqueFd client, ConnectTo(proxy.address, /*rcvbuf_bytes=*/4096));
  ASSERT_OK(sys::WriteAll(client.get(), kGetClose));
  std::string head;  // up to and including the blank line
  size_t body = 0;
  bool intact = true;
  char buf[4096];
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (;;) {
    ASSERT_THAT(sys::WaitReadable(client.get(), deadline), testing::IsOkAndHolds(true))
        << "body bytes so far: " << body;
    const ssize_t n = ::read(client.get(), buf, sizeof(buf));
    ASSERT_GE(n, 0);
    if (n == 0) break;
    absl::string_view data(buf, static_cast<size_t>(n));
    if (!absl::EndsWith(head, "\r\n\r\n")) {
      const size_t before = head.size();
      head.append(data.data(), data.size());
      const size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      head.resize(end + 4);
      data.remove_prefix(end + 4 - before);
    }
    for (char ch : data) intact = intact && ch == static_cast<char>('a' + body++ % 26);
  }
  EXPECT_THAT(head, HasSubstr(absl::StrCat("Content-Length: ", kBody, "\r\n")));
  EXPECT_EQ(body, kBody);
  EXPECT_TRUE(intact);
  ASSERT_OK_AND_ASSIGN(int64_t hwm_after, testing::ProcStatusKb(proxy.process.pid(), "VmHWM"));
  std::cout << "proxy VmHWM " << hwm_before << " kB -> " << hwm_after << " kB\n";
  EXPECT_LT(hwm_after - hwm_before, 4 * 1024) << "the proxy buffered the body";
  client.Reset();  // our EOF ends the relay's other direction
  std::map<std::string, int64_t> stats = StopAndCount(proxy);
  EXPECT_GE(stats["bytes_backend_to_client"], static_cast<int64_t>(kBody));
}

}  // namespace
}  // namespace handover
