#include "handover/readiness.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <optional>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "handover/sys.h"
#include "tests/testing/child_process.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::BinPath;
using ::handover::testing::ChildProcess;
using ::handover::testing::IsOkAndHolds;
using ::handover::testing::StatusIs;
using ::testing::HasSubstr;

struct Server {
  UniqueFd listener;
  uint64_t inode = 0;
  std::optional<ChildProcess> acceptor;
  ChildProcess& child() { return *acceptor; }
};

// Starts `acceptor MODE` with a fresh loopback listener at its fd 3, waits for "waiting".
absl::StatusOr<Server> StartAcceptor(const std::string& mode) {
  Server s;
  HANDOVER_ASSIGN_OR_RETURN(s.listener, sys::Socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in in = {};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(s.listener.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0 ||
      ::listen(s.listener.get(), 16) != 0) {
    return absl::InternalError("bind/listen failed");
  }
  HANDOVER_ASSIGN_OR_RETURN(struct stat st, sys::Fstat(s.listener.get()));
  s.inode = st.st_ino;
  HANDOVER_ASSIGN_OR_RETURN(
      s.acceptor, ChildProcess::Spawn({.argv = {BinPath("acceptor"), mode},
                                       .fds = {{s.listener.get(), 3}}}));
  HANDOVER_ASSIGN_OR_RETURN(std::string line, s.child().ReadLine());
  if (line != "waiting") return absl::InternalError("acceptor said: " + line);
  return s;
}

absl::StatusOr<bool> Wait(Server& s, absl::Duration d) {
  const uint64_t inodes[] = {s.inode};
  return WaitUntilAccepting(s.child().pidfd(), s.child().pid(), inodes, absl::Now() + d);
}

TEST(ParseEpollTargetInodesTest, ReadsHexInodesOfTargetLines) {
  const char kText[] =
      "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\n"
      "tfd:        3 events:       19 data:                3  pos:0 ino:40eb sdev:9\n"
      "tfd:        7 events:       19 data:                7  pos:0 ino:ff sdev:9\n"
      "tfd: garbage\n";
  EXPECT_EQ(ParseEpollTargetInodes(kText), (absl::flat_hash_set<uint64_t>{0x40eb, 0xff}));
  EXPECT_TRUE(ParseEpollTargetInodes("").empty());
}

TEST(WaitUntilAcceptingTest, ReadyOnceTheServerAddsTheListenerToEpoll) {
  ASSERT_OK_AND_ASSIGN(Server s, StartAcceptor("epoll"));
  ASSERT_OK_AND_ASSIGN(auto served, ServedSocketInodes(s.child().pid()));
  EXPECT_FALSE(served.contains(s.inode));
  ASSERT_OK(s.child().Signal(SIGUSR1));
  EXPECT_THAT(Wait(s, absl::Seconds(10)), IsOkAndHolds(true));
}

TEST(WaitUntilAcceptingTest, ReadyWhenAThreadIsBlockedInAccept) {
  ASSERT_OK_AND_ASSIGN(Server s, StartAcceptor("accept"));
  ASSERT_OK(s.child().Signal(SIGUSR1));
  EXPECT_THAT(Wait(s, absl::Seconds(10)), IsOkAndHolds(true));
}

TEST(WaitUntilAcceptingTest, ReadyWhenAForkedWorkerServes) {
  ASSERT_OK_AND_ASSIGN(Server s, StartAcceptor("fork_epoll"));
  ASSERT_OK(s.child().Signal(SIGUSR1));
  EXPECT_THAT(Wait(s, absl::Seconds(10)), IsOkAndHolds(true));
  ASSERT_OK(s.child().Signal(SIGTERM));  // the acceptor reaps its worker
  EXPECT_THAT(s.child().WaitExitCode(), IsOkAndHolds(0));
}

TEST(WaitUntilAcceptingTest, ServerThatExitsFirstIsAnError) {
  ASSERT_OK_AND_ASSIGN(Server s, StartAcceptor("exit"));
  ASSERT_OK(s.child().Signal(SIGUSR1));
  EXPECT_THAT(Wait(s, absl::Seconds(10)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("exited before")));
}

TEST(WaitUntilAcceptingTest, ServerThatNeverServesTimesOut) {
  ASSERT_OK_AND_ASSIGN(Server s, StartAcceptor("none"));
  ASSERT_OK(s.child().Signal(SIGUSR1));
  EXPECT_THAT(Wait(s, absl::Milliseconds(100)), IsOkAndHolds(false));
}

}  // namespace
}  // namespace handover
