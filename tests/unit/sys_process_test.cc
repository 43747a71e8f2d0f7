// Tests for the sys:: wrappers added for process, drain and permission.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <string>

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

TEST(SignalNameTest, NamesSignals) {
  EXPECT_EQ(sys::SignalName(SIGTERM), "SIGTERM");
  EXPECT_EQ(sys::SignalName(SIGKILL), "SIGKILL");
  EXPECT_EQ(sys::SignalName(0), "signal 0");
  EXPECT_EQ(sys::SignalName(999), "signal 999");
}

TEST(PidfdSendSignalTest, UnnamedSignalIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, sys::PidfdOpen(::getpid()));
  EXPECT_THAT(sys::PidfdSendSignal(pidfd.get(), 999),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(", signal 999): Invalid argument [EINVAL]")));
}

TEST(IsPidfsTest, TellsPidfdsFromOtherFiles) {
  ASSERT_OK_AND_ASSIGN(UniqueFd file, sys::OpenAt(AT_FDCWD, "/proc/self/stat", O_RDONLY));
  EXPECT_THAT(sys::IsPidfs(file.get()), IsOkAndHolds(false));
  EXPECT_THAT(sys::IsPidfs(-1), StatusIs(absl::StatusCode::kFailedPrecondition,
                                         HasSubstr("fstatfs(-1): Bad file descriptor [EBADF]")));
  struct utsname u;
  ASSERT_EQ(::uname(&u), 0);
  int major = 0, minor = 0;
  ASSERT_EQ(::sscanf(u.release, "%d.%d", &major, &minor), 2);
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, sys::PidfdOpen(::getpid()));
  if (major > 6 || (major == 6 && minor >= 9)) {
    EXPECT_THAT(sys::IsPidfs(pidfd.get()), IsOkAndHolds(true));
  }
}

TEST(PidfdGetInfoTest, ReportsPidAndIsUnimplementedOnOtherFiles) {
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, sys::PidfdOpen(::getpid()));
  absl::StatusOr<sys::PidfdInfo> info = sys::PidfdGetInfo(pidfd.get(), sys::kPidfdInfoPid);
  if (absl::IsUnimplemented(info.status())) GTEST_SKIP() << "kernel < 6.13";
  ASSERT_OK(info);
  EXPECT_EQ(info->pid, static_cast<uint32_t>(::getpid()));
  EXPECT_EQ(info->ppid, static_cast<uint32_t>(::getppid()));
  // A live process has no exit information.
  ASSERT_OK_AND_ASSIGN(sys::PidfdInfo exit, sys::PidfdGetInfo(pidfd.get(), sys::kPidfdInfoExit));
  EXPECT_EQ(exit.mask & sys::kPidfdInfoExit, 0u);

  ASSERT_OK_AND_ASSIGN(UniqueFd file, sys::OpenAt(AT_FDCWD, "/proc/self/stat", O_RDONLY));
  EXPECT_THAT(sys::PidfdGetInfo(file.get(), sys::kPidfdInfoPid),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("PIDFD_GET_INFO")));
}

TEST(PidfdGetInfoTest, ReapedProcessWithoutExitMaskIsNotFound) {
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Spawn({.argv = {"/bin/true"}}));
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, sys::PidfdOpen(child.pid()));
  ASSERT_OK(child.Wait());
  absl::StatusOr<sys::PidfdInfo> info = sys::PidfdGetInfo(pidfd.get(), sys::kPidfdInfoPid);
  if (absl::IsUnimplemented(info.status())) GTEST_SKIP() << "kernel < 6.13";
  EXPECT_THAT(info, StatusIs(absl::StatusCode::kNotFound, HasSubstr("[ESRCH]")));
}

TEST(PeekChildExitTest, RunningThenExitedWithoutReaping) {
  ASSERT_OK_AND_ASSIGN(ChildProcess child,
                       ChildProcess::Spawn({.argv = {BinPath("fd_holder"), "--noise=false"}}));
  ASSERT_OK(child.ReadUntil("ready").status());
  EXPECT_THAT(sys::PeekChildExit(child.pidfd()), IsOkAndHolds(std::nullopt));
  ASSERT_OK(child.Signal(SIGKILL));
  ASSERT_THAT(sys::WaitReadable(child.pidfd(), absl::Now() + absl::Seconds(10)),
              IsOkAndHolds(true));
  ASSERT_OK_AND_ASSIGN(std::optional<int> status, sys::PeekChildExit(child.pidfd()));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGKILL);
  // Not reaped: the owner still can.
  ASSERT_OK_AND_ASSIGN(int again, child.Wait());
  EXPECT_EQ(again, *status);
}

TEST(PeekChildExitTest, NotOurChildIsAnError) {
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, sys::PidfdOpen(::getppid()));
  const absl::Status s = sys::PeekChildExit(pidfd.get()).status();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("[ECHILD]"));
}

TEST(GetResIdsTest, MatchGetuid) {
  EXPECT_EQ(sys::GetResUid().real, ::getuid());
  EXPECT_EQ(sys::GetResUid().effective, ::geteuid());
  EXPECT_EQ(sys::GetResGid().real, ::getgid());
  EXPECT_EQ(sys::GetResGid().effective, ::getegid());
}

TEST(PrctlTest, ReportsTheOptionName) {
  EXPECT_THAT(sys::Prctl(PR_SET_DUMPABLE, 7, "PR_SET_DUMPABLE"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prctl(PR_SET_DUMPABLE, 0x7): Invalid argument [EINVAL]")));
  EXPECT_OK(sys::Prctl(PR_SET_DUMPABLE, 1, "PR_SET_DUMPABLE"));
}

TEST(FsyncRenameTest, ReportErrors) {
  EXPECT_THAT(sys::Fsync(-1),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("fsync(-1)")));
  const std::string missing = ::testing::TempDir() + "/sys_process_test_missing_source";
  EXPECT_THAT(sys::Rename(missing, missing + ".2"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("[ENOENT]")));
}

TEST(OpenAtTest, CreatesWithTheGivenMode) {
  const std::string path =
      ::testing::TempDir() + "/sys_process_test_mode." + std::to_string(::getpid());
  ::unlink(path.c_str());
  const mode_t old_umask = ::umask(0);
  absl::StatusOr<UniqueFd> fd = sys::OpenAt(AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL, 0640);
  ::umask(old_umask);
  ASSERT_OK(fd);
  EXPECT_TRUE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(fd->get()));
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_THAT(sys::OpenAt(AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL, 0640),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("[EEXIST]")));
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace handover
