// The copy-first path against real targets: it finds what the listing path finds
// (every socket kind, duplicates, next to connections, pipes and files), keeps
// nothing else, copes with our fd limit, and TakeOver gives the same answer
// either way.
#include "handover/copy_listeners.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "handover/discover.h"
#include "handover/handover.h"
#include "handover/sys.h"
#include "tests/testing/capabilities.h"
#include "tests/testing/fd_holder.h"
#include "tests/testing/fds.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::CountOpenFds;
using ::handover::testing::FdHolder;
using ::handover::testing::RunWithoutCapSysAdmin;
using ::handover::testing::StartFdHolder;
using ::handover::testing::StatusIs;
using ::handover::testing::UniqueTempPath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<SocketInfo> Infos(const std::vector<TakenSocket>& taken) {
  std::vector<SocketInfo> out;
  for (const TakenSocket& t : taken) out.push_back(t.info);
  return out;
}

// What the listing path says, without temporary copies (reuseport unset).
std::vector<SocketInfo> Listed(const Process& p) {
  absl::StatusOr<std::vector<SocketInfo>> found =
      DiscoverSockets(p, {.method = DiscoverOptions::Method::kSockDiag, .inspect_copies = false});
  EXPECT_OK(found.status());
  return found.ok() ? *found : std::vector<SocketInfo>{};
}

TEST(CopyListenersTest, FindsWhatTheListingFindsAndKeepsNothingElse) {
  const std::string path = UniqueTempPath("copy.sock");
  const std::string seqpacket = UniqueTempPath("copy.seq");
  ASSERT_OK_AND_ASSIGN(FdHolder holder,
                       StartFdHolder({"--tcp=2", "--tcp6=1", "--udp=1", "--udp6=1",
                                      "--reuseport=2", "--unix=" + path,
                                      "--seqpacket=" + seqpacket, "--established=20"}));
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.child.pid()));
  const int before = CountOpenFds();
  ASSERT_OK_AND_ASSIGN(std::vector<TakenSocket> taken, CopyListeners(p.fd_pidfd(), p.fd_dir()));
  // Only the sockets are held: the copies of connections, pipe and file are closed.
  EXPECT_EQ(CountOpenFds(), before + static_cast<int>(taken.size()));
  ASSERT_EQ(taken.size(), holder.sockets.size());
  EXPECT_EQ(Infos(taken), Listed(p));
  for (size_t i = 0; i < taken.size(); ++i) {
    SCOPED_TRACE(FormatSocket(taken[i].info));
    EXPECT_EQ(taken[i].info.fd, holder.sockets[i].fd);
    EXPECT_NE(taken[i].info.cookie, 0u);
    ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(taken[i].fd.get()));
    EXPECT_EQ(st.st_ino, holder.sockets[i].inode);
    EXPECT_TRUE(::fcntl(taken[i].fd.get(), F_GETFD) & FD_CLOEXEC);
  }
  ::unlink(path.c_str());
  ::unlink(seqpacket.c_str());
}

TEST(CopyListenersTest, FewSocketsOfOneFamilyAreFoundWithTheirFamilysDumpsOnly) {
  // A handful of sockets: only the dumps of their families are made.
  const std::string path = UniqueTempPath("few.sock");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--noise=false", "--tcp6=1", "--udp6=1"},
        std::vector<std::string>{"--noise=false", "--unix=" + path},
        std::vector<std::string>{"--noise=false", "--udp=2"}}) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder(args));
    ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.child.pid()));
    ASSERT_OK_AND_ASSIGN(std::vector<TakenSocket> taken,
                         CopyListeners(p.fd_pidfd(), p.fd_dir()));
    ASSERT_EQ(taken.size(), holder.sockets.size());
    EXPECT_EQ(Infos(taken), Listed(p));
    ::unlink(path.c_str());
  }
}

TEST(CopyListenersTest, ManySocketsGoThroughOneBatchAndMatchTheListing) {
  // Over FdBatch::kMinRingFds: cookies are read in a batch (io_uring where
  // the kernel has socket commands).
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=300", "--established=40"}));
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.child.pid()));
  ASSERT_OK_AND_ASSIGN(std::vector<TakenSocket> taken, CopyListeners(p.fd_pidfd(), p.fd_dir()));
  ASSERT_EQ(taken.size(), 300u);
  EXPECT_EQ(Infos(taken), Listed(p));
}

TEST(CopyListenersTest, ASocketAtSeveralFdsIsTakenOnceAtTheLowest) {
  // Our own process is the target: a listener and two duplicates of it.
  ASSERT_OK_AND_ASSIGN(handover::testing::LoopbackListener loopback,
                       handover::testing::ListenOnLoopback());
  const UniqueFd& listener = loopback.fd;
  ASSERT_OK_AND_ASSIGN(UniqueFd dup_high, sys::DupCloexec(listener.get(), 200));
  ASSERT_OK_AND_ASSIGN(UniqueFd dup_higher, sys::DupCloexec(listener.get(), 300));
  ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(listener.get()));
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, sys::PidfdOpen(::getpid()));
  ASSERT_OK_AND_ASSIGN(UniqueFd proc_dir, sys::OpenAt(AT_FDCWD, absl::StrCat("/proc/", ::getpid()),
                                                      O_RDONLY | O_DIRECTORY));
  ASSERT_OK_AND_ASSIGN(std::vector<TakenSocket> taken,
                       CopyListeners(pidfd.get(), proc_dir.get()));
  std::vector<const TakenSocket*> ours;
  for (const TakenSocket& t : taken) {
    if (t.info.inode == st.st_ino) ours.push_back(&t);
  }
  ASSERT_EQ(ours.size(), 1u);
  EXPECT_EQ(ours[0]->info.fd, listener.get());
  EXPECT_THAT(ours[0]->info.duplicate_fds, ElementsAre(dup_high.get(), dup_higher.get()));
}

TEST(CopyListenersTest, OurFdLimitIsWorkedAroundByClosingTheCopiesNotWanted) {
  // 4 listeners behind 100 connection fds: more than our limit leaves room for.
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--established=50", "--tcp=4"}));
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.child.pid()));
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old_limit), 0);
  const int before = CountOpenFds();
  struct rlimit low = old_limit;
  low.rlim_cur = static_cast<rlim_t>(before + 20);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  absl::StatusOr<std::vector<TakenSocket>> taken = CopyListeners(p.fd_pidfd(), p.fd_dir());
  // Room for 2 copies: the 3rd listener cannot be held.
  low.rlim_cur = static_cast<rlim_t>(before + 2);
  absl::StatusOr<std::vector<TakenSocket>> too_few = [&] {
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    return CopyListeners(p.fd_pidfd(), p.fd_dir());
  }();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old_limit), 0);
  ASSERT_OK(taken.status());
  EXPECT_EQ(taken->size(), 4u);
  EXPECT_THAT(too_few, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("[EMFILE]")));
  taken->clear();
  EXPECT_EQ(CountOpenFds(), before);
}

TEST(CopyListenersTest, ExitedTargetIsNotFound) {
  ASSERT_OK_AND_ASSIGN(FdHolder holder, StartFdHolder({"--tcp=1"}));
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.child.pid()));
  ASSERT_OK(holder.child.Signal(SIGKILL));
  ASSERT_OK(holder.child.Wait());
  EXPECT_THAT(CopyListeners(p.fd_pidfd(), p.fd_dir()),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(TakeOverPathTest, CopyFirstAndListFirstTakeTheSameSockets) {
  ASSERT_OK_AND_ASSIGN(FdHolder holder,
                       StartFdHolder({"--tcp=3", "--udp=1", "--tcp6=1", "--established=5"}));
  using Path = TakeoverOptions::Path;
  const std::string select = absl::StrCat("tcp:*:", holder.sockets[0].port, ",tcp:*:",
                                          holder.sockets[2].port, ",udp:*:",
                                          holder.sockets[4].port);
  ASSERT_OK_AND_ASSIGN(Takeover copied, TakeOver({.pid = holder.child.pid()},
                                                 {.select = select, .path = Path::kCopyFirst}));
  ASSERT_OK_AND_ASSIGN(Takeover listed, TakeOver({.pid = holder.child.pid()},
                                                 {.select = select, .path = Path::kListFirst}));
  ASSERT_EQ(copied.sockets.size(), 3u);
  EXPECT_EQ(Infos(copied.sockets), Infos(listed.sockets));
  EXPECT_THAT(TakeOver({.pid = holder.child.pid()}, {.select = "tcp:*:1", .path = Path::kCopyFirst}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("tcp:*:1")));
}

TEST(TakeOverPathTest, AutoListsFirstWhenSetnsIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to unshare a network namespace";
  absl::StatusOr<FdHolder> holder = StartFdHolder({"--netns", "--tcp=1", "--udp=1"});
  if (!holder.ok()) GTEST_SKIP() << "cannot create a network namespace: " << holder.status();
  RunWithoutCapSysAdmin([&] {
    // Copy-first needs sock_diag in the target's namespace: setns is refused.
    EXPECT_THAT(TakeOver({.pid = holder->child.pid()}, {.path = TakeoverOptions::Path::kCopyFirst}),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("setns")));
    // kAuto lists first instead, reading the target's /proc/PID/net.
    ASSERT_OK_AND_ASSIGN(Takeover t, TakeOver({.pid = holder->child.pid()}));
    ASSERT_EQ(t.sockets.size(), 2u);
    EXPECT_EQ(t.sockets[0].info.inode, holder->sockets[0].inode);
    EXPECT_EQ(t.sockets[1].info.inode, holder->sockets[1].inode);
  });
}

}  // namespace
}  // namespace handover
