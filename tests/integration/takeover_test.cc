// Takeover against real target processes: every socket kind, stopped targets,
// other network namespaces, exited targets, fd exhaustion half-way, and a queued
// connection that survives the old process.
#include "handover/handover.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "gtest/gtest.h"
#include "handover/sys.h"
#include "tests/testing/fd_holder.h"
#include "tests/testing/fds.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::CountOpenFds;
using ::handover::testing::FdHolder;
using ::handover::testing::StartFdHolder;
using ::handover::testing::StatusIs;
using ::handover::testing::UniqueTempPath;
using ::testing::HasSubstr;

UniqueFd ConnectTcp4(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in in = {};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0) fd.Reset();
  return fd;
}

TEST(TakeOverTest, TakesEverySocketKindFromAnotherProcess) {
  const std::string path = UniqueTempPath("takeover.sock");
  const std::string seqpacket = UniqueTempPath("takeover.seq");
  const std::string abstract = "handover-test-" + std::to_string(::getpid());
  ASSERT_OK_AND_ASSIGN(FdHolder holder,
                       StartFdHolder({"--tcp=2", "--tcp6=1", "--udp=1", "--udp6=1",
                                      "--reuseport=2", "--unix=" + path,
                                      "--seqpacket=" + seqpacket, "--abstract=" + abstract}));
  ASSERT_OK_AND_ASSIGN(Takeover t, TakeOver({.pid = holder.child.pid()}));
  ASSERT_EQ(t.sockets.size(), holder.sockets.size());
  for (const TakenSocket& s : t.sockets) EXPECT_EQ(s.info.reuseport, std::nullopt);
  ReadReuseport(absl::MakeSpan(t.sockets));
  for (size_t i = 0; i < t.sockets.size(); ++i) {
    const TakenSocket& got = t.sockets[i];
    SCOPED_TRACE(FormatSocket(got.info));
    EXPECT_EQ(got.info.fd, holder.sockets[i].fd);
    EXPECT_EQ(got.info.inode, holder.sockets[i].inode);
    EXPECT_EQ(ProtoName(got.info.proto), holder.sockets[i].proto);
    EXPECT_EQ(got.info.address, holder.sockets[i].address);
    ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(got.fd.get()));
    EXPECT_EQ(st.st_ino, holder.sockets[i].inode);
    EXPECT_TRUE(::fcntl(got.fd.get(), F_GETFD) & FD_CLOEXEC);
    ASSERT_TRUE(got.info.reuseport.has_value());
  }
  // The two reuseport members are the two before the unix sockets.
  EXPECT_TRUE(*t.sockets[5].info.reuseport);
  EXPECT_TRUE(*t.sockets[6].info.reuseport);
  EXPECT_FALSE(*t.sockets[0].info.reuseport);
  EXPECT_EQ(t.process.pid(), holder.child.pid());
  ::unlink(path.c_str());
  ::unlink(seqpacket.c_str());
}

TEST(TakeOverTest, SelectNarrowsAndReportsSpecsThatMatchNothing) {
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=2", "--udp=1"}));
  const std::string spec = "tcp:127.0.0.1:" + std::to_string(holder.sockets[1].port);
  ASSERT_OK_AND_ASSIGN(Takeover t, TakeOver({.pid = holder.child.pid()}, {.select = spec}));
  ASSERT_EQ(t.sockets.size(), 1u);
  EXPECT_EQ(t.sockets[0].info.inode, holder.sockets[1].inode);
  EXPECT_THAT(TakeOver({.pid = holder.child.pid()}, {.select = "tcp:*:1"}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("tcp:*:1")));
}

TEST(TakeOverTest, WorksOnAStoppedTarget) {
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=1"}));
  ASSERT_OK(holder.child.Signal(SIGSTOP));
  ASSERT_OK_AND_ASSIGN(Takeover t, TakeOver({.pid = holder.child.pid()}));
  ASSERT_EQ(t.sockets.size(), 1u);
  EXPECT_EQ(t.sockets[0].info.inode, holder.sockets[0].inode);
}

TEST(TakeOverTest, WorksOnATargetInAnotherNetworkNamespace) {
  if (::geteuid() != 0) GTEST_SKIP() << "creating a network namespace needs root";
  absl::StatusOr<FdHolder> holder = StartFdHolder({"--netns", "--tcp=1", "--udp=1"});
  if (!holder.ok()) GTEST_SKIP() << "cannot create a network namespace: " << holder.status();
  ASSERT_OK_AND_ASSIGN(Takeover t, TakeOver({.pid = holder->child.pid()}));
  ASSERT_EQ(t.sockets.size(), 2u);
  EXPECT_EQ(t.sockets[0].info.inode, holder->sockets[0].inode);
  EXPECT_EQ(t.sockets[1].info.inode, holder->sockets[1].inode);
  // The copy is still the socket in the target's namespace, not ours.
  UniqueFd sock_ns(::ioctl(t.sockets[0].fd.get(), SIOCGSKNS));
  ASSERT_TRUE(sock_ns.valid()) << ::strerror(errno);
  ASSERT_OK_AND_ASSIGN(struct stat sock_ns_st, sys::Fstat(sock_ns.get()));
  ASSERT_OK_AND_ASSIGN(struct stat ours, sys::FstatAt(AT_FDCWD, "/proc/self/ns/net", 0));
  ASSERT_OK_AND_ASSIGN(struct stat theirs,
                       sys::FstatAt(t.process.proc_dir(), "ns/net", 0));
  EXPECT_NE(sock_ns_st.st_ino, ours.st_ino);
  EXPECT_EQ(sock_ns_st.st_ino, theirs.st_ino);
}

TEST(TakeOverTest, TakesSocketsOfAProcessWhoseMainThreadExited) {
  // The leader is a zombie; another thread keeps the process and its fd table.
  absl::StatusOr<FdHolder> holder = StartFdHolder({"--tcp=2", "--exit_main_thread"});
  ASSERT_OK(holder.status());
  absl::StatusOr<Process> process = Process::Open(holder->child.pid());
  if (absl::IsUnimplemented(process.status())) GTEST_SKIP() << process.status();  // < 6.9
  ASSERT_OK(process.status());
  EXPECT_NE(process->fd_pidfd(), process->pidfd());
  ASSERT_OK_AND_ASSIGN(Takeover t, TakeOver({.pid = holder->child.pid()}));
  ASSERT_EQ(t.sockets.size(), 2u);
  EXPECT_EQ(t.sockets[0].info.inode, holder->sockets[0].inode);
  EXPECT_EQ(t.sockets[1].info.inode, holder->sockets[1].inode);
  // Signalling and waiting still use the process pidfd: SIGTERM ends it.
  ASSERT_OK_AND_ASSIGN(DrainResult d, Drain(t.process, {.timeout = absl::Seconds(10)}));
  EXPECT_TRUE(d.exited);
}

TEST(TakeOverTest, ExitedTargetIsNotFound) {
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=1"}));
  const pid_t pid = holder.child.pid();
  ASSERT_OK(holder.child.Signal(SIGTERM));
  ASSERT_OK(holder.child.Wait());
  EXPECT_THAT(TakeOver({.pid = pid}), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(TakeOverTest, FdLimitHalfWayTakesNothing) {
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=8"}));
  ASSERT_OK_AND_ASSIGN(Process process, Process::Open(holder.child.pid()));
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> found, DiscoverSockets(process));
  ASSERT_EQ(found.size(), 8u);
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old_limit), 0);
  const int before = CountOpenFds();
  // Room for 3 more descriptors: the 4th copy fails with EMFILE.
  struct rlimit low = old_limit;
  low.rlim_cur = static_cast<rlim_t>(before + 3);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  absl::StatusOr<std::vector<TakenSocket>> taken =
      TakeSockets(process.pidfd(), process.proc_dir(), found);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old_limit), 0);
  EXPECT_THAT(taken, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("[EMFILE]")));
  EXPECT_EQ(CountOpenFds(), before);
  // The old process still holds and serves every socket.
  for (const auto& s : holder.sockets) EXPECT_TRUE(ConnectTcp4(s.port).valid()) << s.address;
}

TEST(TakeOverTest, QueuedConnectionIsAcceptedAfterTheOldProcessExits) {
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=1"}));
  // Queued in the accept queue; the old process never accepts it.
  UniqueFd client = ConnectTcp4(holder.sockets[0].port);
  ASSERT_TRUE(client.valid());
  ASSERT_EQ(::write(client.get(), "hello", 5), 5);
  ASSERT_OK_AND_ASSIGN(Takeover t, TakeOver({.pid = holder.child.pid()}));
  ASSERT_EQ(t.sockets.size(), 1u);
  ASSERT_OK(holder.child.Signal(SIGTERM));
  ASSERT_OK(holder.child.Wait());
  ASSERT_OK_AND_ASSIGN(bool readable,
                       sys::WaitReadable(t.sockets[0].fd.get(), absl::Now() + absl::Seconds(10)));
  ASSERT_TRUE(readable);
  UniqueFd conn(::accept4(t.sockets[0].fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn.valid());
  char buf[8] = {};
  ASSERT_EQ(::read(conn.get(), buf, sizeof(buf)), 5);
  EXPECT_STREQ(buf, "hello");
}

TEST(TakeSocketsTest, ReusedFdNumberIsDetected) {
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=2"}));
  ASSERT_OK_AND_ASSIGN(Process process, Process::Open(holder.child.pid()));
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> found, DiscoverSockets(process));
  ASSERT_EQ(found.size(), 2u);
  // Pretend the listing saw the second socket at the first one's fd number.
  std::vector<SocketInfo> stale = {found[1]};
  stale[0].fd = found[0].fd;
  EXPECT_THAT(TakeSockets(process.pidfd(), process.proc_dir(), stale),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("list and take again")));
}

}  // namespace
}  // namespace handover
