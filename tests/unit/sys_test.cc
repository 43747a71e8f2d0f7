#include "handover/sys.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/child_process.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::BinPath;
using ::handover::testing::ChildProcess;
using ::handover::testing::IsOkAndHolds;
using ::handover::testing::StatusIs;
using ::testing::HasSubstr;

TEST(PidfdOpenTest, RejectsNonPositivePid) {
  EXPECT_THAT(sys::PidfdOpen(-1), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("pidfd_open(-1, 0): Invalid argument [EINVAL]")));
  EXPECT_THAT(sys::PidfdOpen(0), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[EINVAL]")));
}

TEST(PidfdOpenTest, ReturnsNotFoundForReapedChild) {
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Spawn({.argv = {"/bin/true"}}));
  const pid_t pid = child.pid();
  ASSERT_OK(child.Wait());
  EXPECT_THAT(sys::PidfdOpen(pid), StatusIs(absl::StatusCode::kNotFound, HasSubstr("[ESRCH]")));
}

TEST(PidfdOpenTest, PidfdIsCloseOnExec) {
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, sys::PidfdOpen(::getpid()));
  EXPECT_TRUE(::fcntl(pidfd.get(), F_GETFD) & FD_CLOEXEC);
}

TEST(PidfdGetfdTest, CopiesTheSameSocketCloseOnExec) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder,
                       ChildProcess::Spawn({.argv = {BinPath("fd_holder"), "--tcp=1"}}));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> lines, holder.ReadUntil("ready"));
  ASSERT_EQ(lines.size(), 1u);
  int fd = -1;
  unsigned long inode = 0;
  ASSERT_EQ(::sscanf(lines[0].c_str(), "fd=%d inode=%lu", &fd, &inode), 2) << lines[0];
  ASSERT_OK_AND_ASSIGN(UniqueFd copy, sys::PidfdGetfd(holder.pidfd(), fd));
  EXPECT_TRUE(::fcntl(copy.get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(copy.get()));
  EXPECT_EQ(st.st_ino, inode);
  EXPECT_THAT(sys::GetSockOptInt(copy.get(), SOL_SOCKET, SO_ACCEPTCONN), IsOkAndHolds(1));
}

TEST(PidfdGetfdTest, ReturnsFailedPreconditionForClosedFd) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder,
                       ChildProcess::Spawn({.argv = {BinPath("fd_holder"), "--noise=false"}}));
  ASSERT_OK(holder.ReadUntil("ready").status());
  EXPECT_THAT(sys::PidfdGetfd(holder.pidfd(), 999),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("[EBADF]")));
}

TEST(PidfdGetfdTest, ReturnsNotFoundForExitedProcess) {
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Spawn({.argv = {"/bin/true"}}));
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, sys::PidfdOpen(child.pid()));
  ASSERT_OK(child.Wait());
  EXPECT_THAT(sys::PidfdGetfd(pidfd.get(), 0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("[ESRCH]")));
}

TEST(PidfdSendSignalTest, ReturnsNotFoundAfterReap) {
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Spawn({.argv = {"/bin/true"}}));
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, sys::PidfdOpen(child.pid()));
  ASSERT_OK(child.Wait());
  EXPECT_THAT(sys::PidfdSendSignal(pidfd.get(), SIGTERM),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("[ESRCH]")));
}

TEST(WaitReadableTest, TimesOutOnLiveProcessAndFiresOnExit) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder,
                       ChildProcess::Spawn({.argv = {BinPath("fd_holder")}}));
  ASSERT_OK(holder.ReadUntil("ready").status());
  EXPECT_THAT(sys::WaitReadable(holder.pidfd(), absl::Now()), IsOkAndHolds(false));
  ASSERT_OK(holder.Signal(SIGTERM));
  EXPECT_THAT(sys::WaitReadable(holder.pidfd(), absl::Now() + absl::Seconds(10)),
              IsOkAndHolds(true));
}

TEST(OpenAtTest, MissingFileIsNotFound) {
  EXPECT_THAT(sys::OpenAt(AT_FDCWD, "/nonexistent/handover", O_RDONLY),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("[ENOENT]")));
}

TEST(ReadLinkAtTest, ReadsLongTargets) {
  const std::string dir = ::testing::TempDir();
  const std::string target(600, 'x');
  const std::string link = dir + "/readlink_long";
  ::unlink(link.c_str());
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_THAT(sys::ReadLinkAt(AT_FDCWD, link), IsOkAndHolds(target));
  ::unlink(link.c_str());
}

}  // namespace
}  // namespace handover
