// demo_loadgen against a closed port and against demo_backend, and its --samples_out file.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
using ::handover::testing::DemoProcess;
using ::handover::testing::IsOkAndHolds;
using ::handover::testing::RunResult;
using ::testing::EndsWith;
using ::testing::HasSubstr;

TEST(LoadgenTest, ReportsRefusedAgainstAClosedPort) {
  // Bound but not listening, and held: nobody else can take the port meanwhile.
  UniqueFd fd = *sys::Socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in in = {.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
  socklen_t len = sizeof(in);
  ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&in), &len), 0);
  ASSERT_OK_AND_ASSIGN(RunResult r, testing::Run({.argv = {
      BinPath("demo_loadgen"), absl::StrCat("--target=127.0.0.1:", ntohs(in.sin_port)),
      "--max_requests=5", "--concurrency=1", "--duration_ms=5000", "--json"}}));
  std::cout << r.out;
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("{\"ok\":0,\"refused\":5,\"reset\":0,"));
}

TEST(LoadgenTest, ReportsOkAgainstTheBackendInBothModes) {
  ASSERT_OK_AND_ASSIGN(DemoProcess backend, testing::StartBackend());
  for (const char* mode : {"--mode=new_conn", "--mode=keepalive"}) {
    ASSERT_OK_AND_ASSIGN(RunResult r, testing::Run({.argv = {
        BinPath("demo_loadgen"), "--target=" + backend.address, mode, "--duration_ms=5000",
        "--max_requests=200", "--concurrency=4"}}));
    std::cout << mode << ": " << r.out;
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("ok=200 refused=0 reset=0 timeout=0 bad_response=0 other=0"));
  }
}

// The lines of a --samples_out file, header first.
std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(LoadgenTest, WritesOneSampleLinePerAttemptWithItsStartLatencyAndOutcome) {
  ASSERT_OK_AND_ASSIGN(DemoProcess backend, testing::StartBackend());
  const std::string path = absl::StrCat(::testing::TempDir(), "/loadgen_", ::getpid(), ".csv");
  const int64_t before_us = absl::ToUnixMicros(absl::Now());
  ASSERT_OK_AND_ASSIGN(RunResult r, testing::Run({.argv = {
      BinPath("demo_loadgen"), "--target=" + backend.address, "--max_requests=50",
      "--concurrency=2", "--duration_ms=5000", "--samples_out=" + path}}));
  const int64_t after_us = absl::ToUnixMicros(absl::Now());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::vector<std::string> lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 51u);
  EXPECT_EQ(lines[0], "start_unix_us,latency_us,outcome");
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> f = absl::StrSplit(lines[i], ',');
    ASSERT_EQ(f.size(), 3u) << lines[i];
    int64_t start_us = 0, latency_us = -1;
    ASSERT_TRUE(absl::SimpleAtoi(f[0], &start_us)) << lines[i];
    ASSERT_TRUE(absl::SimpleAtoi(f[1], &latency_us)) << lines[i];
    EXPECT_GE(start_us, before_us) << lines[i];
    EXPECT_GE(latency_us, 0) << lines[i];
    EXPECT_LE(start_us + latency_us, after_us) << lines[i];
    EXPECT_EQ(f[2], "ok") << lines[i];
  }
  ::unlink(path.c_str());
}

TEST(LoadgenTest, SamplesNameTheFailureKind) {
  UniqueFd fd = *sys::Socket(AF_INET, SOCK_STREAM, 0);  // bound, not listening: refuses
  sockaddr_in in = {.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
  socklen_t len = sizeof(in);
  ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&in), &len), 0);
  const std::string path = absl::StrCat(::testing::TempDir(), "/loadgen_", ::getpid(), "_r.csv");
  ASSERT_OK_AND_ASSIGN(RunResult r, testing::Run({.argv = {
      BinPath("demo_loadgen"), absl::StrCat("--target=127.0.0.1:", ntohs(in.sin_port)),
      "--max_requests=3", "--concurrency=1", "--duration_ms=5000", "--samples_out=" + path}}));
  EXPECT_EQ(r.exit_code, 1);
  const std::vector<std::string> lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 4u);
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_THAT(lines[i], EndsWith(",refused"));
  ::unlink(path.c_str());
}

TEST(LoadgenTest, FailsWhenTheSamplesFileCannotBeWritten) {
  ASSERT_OK_AND_ASSIGN(DemoProcess backend, testing::StartBackend());
  ASSERT_OK_AND_ASSIGN(RunResult r, testing::Run({.argv = {
      BinPath("demo_loadgen"), "--target=" + backend.address, "--max_requests=1",
      "--duration_ms=5000", "--samples_out=" + ::testing::TempDir() + "/no/such/dir/s.csv"}}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--samples_out"));
  EXPECT_THAT(r.err, HasSubstr("[ENOENT]"));
}

TEST(LoadgenTest, SigtermEndsTheRunEarlyAndStillPrintsTheResults) {
  ASSERT_OK_AND_ASSIGN(DemoProcess backend, testing::StartBackend());
  ASSERT_OK_AND_ASSIGN(testing::ChildProcess load, testing::ChildProcess::Spawn({.argv = {
      BinPath("demo_loadgen"), "--target=" + backend.address, "--duration_ms=60000",
      "--concurrency=2", "--print_started"}}));
  ASSERT_OK(testing::ReadLineStartingWith(load, "started").status());
  const absl::Time signalled = absl::Now();
  ASSERT_OK(load.Signal(SIGTERM));
  EXPECT_THAT(load.WaitExitCode(), IsOkAndHolds(0));  // long before the 60 s
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(5));
  ASSERT_OK_AND_ASSIGN(std::string out, load.ReadAll());
  std::map<std::string, int64_t> counts = testing::ParseCounters(out);
  std::cout << out;
  EXPECT_GT(counts["ok"], 0);
  EXPECT_THAT(out, HasSubstr("refused=0 reset=0 timeout=0 bad_response=0 other=0"));
}

TEST(LoadgenTest, PacesToTheRateAndStopsAtTheDuration) {
  ASSERT_OK_AND_ASSIGN(DemoProcess backend, testing::StartBackend());
  const absl::Time start = absl::Now();
  ASSERT_OK_AND_ASSIGN(RunResult r, testing::Run({.argv = {
      BinPath("demo_loadgen"), "--target=" + backend.address, "--rate=100",
      "--duration_ms=500", "--concurrency=4"}}));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  std::map<std::string, int64_t> counts = testing::ParseCounters(r.out);
  EXPECT_GE(counts["ok"], 45);  // 100/s for 0.5 s: 50 starts, scheduled from time 0
  EXPECT_LE(counts["ok"], 51);
  EXPECT_LT(took, absl::Seconds(3));
}

TEST(LoadgenTest, ReportsTimeoutWhenNothingAnswers) {
  // A listener nobody accepts on: the kernel completes the handshake, no reply comes.
  UniqueFd fd = *sys::Socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in in = {.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)), 0);
  ASSERT_EQ(::listen(fd.get(), 16), 0);
  socklen_t len = sizeof(in);
  ASSERT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&in), &len), 0);
  ASSERT_OK_AND_ASSIGN(RunResult r, testing::Run({.argv = {
      BinPath("demo_loadgen"), absl::StrCat("--target=127.0.0.1:", ntohs(in.sin_port)),
      "--max_requests=1", "--concurrency=1", "--timeout_ms=300", "--duration_ms=5000"}}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("ok=0 refused=0 reset=0 timeout=1"));  // never answered
}

}  // namespace
}  // namespace handover
