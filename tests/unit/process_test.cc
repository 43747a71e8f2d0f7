#include "handover/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

// A fresh directory under TempDir(), removed (if empty) at the end of the test.
class TempDirectory {
 public:
  TempDirectory() {
    std::string tmpl = ::testing::TempDir() + "/process_test.XXXXXX";
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDirectory() { ::rmdir(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::vector<std::string> List() const {
    std::vector<std::string> names;
    DIR* d = ::opendir(path_.c_str());
    if (d == nullptr) return names;
    while (struct dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    return names;
  }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd.valid()) << path;
  ASSERT_OK(sys::WriteAll(fd.get(), text));
}

absl::StatusOr<ChildProcess> SpawnHolder() {
  HANDOVER_ASSIGN_OR_RETURN(ChildProcess holder,
                            ChildProcess::Spawn({.argv = {BinPath("fd_holder"), "--noise=false"}}));
  HANDOVER_RETURN_IF_ERROR(holder.ReadUntil("ready").status());
  return holder;
}

uint64_t StartTimeOf(pid_t pid) {
  absl::StatusOr<std::string> text =
      sys::ReadFileAt(AT_FDCWD, absl::StrFormat("/proc/%d/stat", pid));
  if (!text.ok()) return 0;
  absl::StatusOr<ProcStat> stat = ParseProcStat(*text);
  return stat.ok() ? stat->start_time : 0;
}

// /proc/PID/stat with comm "x", fields 3..22 = S 1 2 ... 19 and then `start`.
std::string SyntheticStat(absl::string_view comm, absl::string_view start) {
  std::string s = absl::StrCat("4242 (", comm, ") S 1");
  for (int field = 5; field < 22; ++field) absl::StrAppend(&s, " ", field);
  absl::StrAppend(&s, " ", start, " 0 0\n");
  return s;
}

TEST(ParseProcStatTest, ParsesOwnStat) {
  ASSERT_OK_AND_ASSIGN(std::string text, sys::ReadFileAt(AT_FDCWD, "/proc/self/stat"));
  ASSERT_OK_AND_ASSIGN(ProcStat stat, ParseProcStat(text));
  ASSERT_OK_AND_ASSIGN(std::string comm, sys::ReadFileAt(AT_FDCWD, "/proc/self/comm"));
  EXPECT_EQ(stat.comm + "\n", comm);
  EXPECT_EQ(stat.state, 'R');
  EXPECT_EQ(stat.ppid, ::getppid());
  EXPECT_GT(stat.start_time, 0u);
}

TEST(ParseProcStatTest, CommMayHoldSpacesAndParentheses) {
  ASSERT_OK_AND_ASSIGN(ProcStat stat, ParseProcStat(SyntheticStat("a) b (c) S 7 ", "123456")));
  EXPECT_EQ(stat.comm, "a) b (c) S 7 ");
  EXPECT_EQ(stat.state, 'S');
  EXPECT_EQ(stat.ppid, 1);
  EXPECT_EQ(stat.start_time, 123456u);
  EXPECT_THAT(ParseProcStat(SyntheticStat("", "9")),
              IsOkAndHolds(::testing::Field(&ProcStat::start_time, 9u)));
}

TEST(ParseProcStatTest, RejectsMalformedText) {
  for (const std::string& text :
       {std::string(""), std::string("garbage"), std::string("1 (x"), std::string("1 x) S"),
        std::string("1 (x) S 1 2 3\n"), SyntheticStat("x", "12a"), SyntheticStat("x", "-1"),
        SyntheticStat("x", "99999999999999999999999")}) {
    EXPECT_THAT(ParseProcStat(text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed /proc/PID/stat")))
        << text;
  }
}

TEST(ParseProcStatTest, ReadsRealCommWithSpacesAndParentheses) {
  TempDirectory dir;
  const std::string link = dir.path() + "/a) b (c";
  ASSERT_EQ(::symlink(BinPath("fd_holder").c_str(), link.c_str()), 0);
  // The kernel sets comm from the name of the executed path: the symlink's.
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Spawn({.argv = {link, "--noise=false"}}));
  ASSERT_OK(child.ReadUntil("ready").status());
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(child.pid()));
  EXPECT_EQ(p.comm(), "a) b (c");
  EXPECT_EQ(p.identity().start_time, StartTimeOf(child.pid()));
  ::unlink(link.c_str());
}

TEST(ParsePidfileTest, AcceptsOneToThreeFields) {
  ASSERT_OK_AND_ASSIGN(Pidfile a, ParsePidfile("42"));
  EXPECT_EQ(a.pid, 42);
  EXPECT_EQ(a.start_time, std::nullopt);
  EXPECT_EQ(a.pidfs_inode, std::nullopt);
  ASSERT_OK_AND_ASSIGN(Pidfile b, ParsePidfile("42\n"));
  EXPECT_EQ(b.pid, 42);
  ASSERT_OK_AND_ASSIGN(Pidfile c, ParsePidfile("42 1000\n"));
  EXPECT_THAT(c.start_time, Optional(1000u));
  EXPECT_EQ(c.pidfs_inode, std::nullopt);
  ASSERT_OK_AND_ASSIGN(Pidfile d, ParsePidfile("42 1000 77\n"));
  EXPECT_THAT(d.pidfs_inode, Optional(77u));
  ASSERT_OK_AND_ASSIGN(Pidfile e, ParsePidfile("42 1000 0\n"));
  EXPECT_EQ(e.pidfs_inode, std::nullopt);
}

TEST(ParsePidfileTest, RejectsGarbageQuotingIt) {
  for (const char* text :
       {"", "\n", "0", "-1", "+42", " 42", "42 ", "42  1000", "42\n\n", "42\r\n", "4x", "1 2 3 4",
        "99999999999", "42\t1000", "42 184467440737095516160"}) {
    EXPECT_THAT(ParsePidfile(text), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("is not 'PID[ STARTTIME[ PIDFS_INODE]]'")))
        << text;
  }
  EXPECT_THAT(ParsePidfile("4x\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pidfile text '4x\\n'")));
  const std::string long_text(500, 'z');
  absl::StatusOr<Pidfile> long_result = ParsePidfile(long_text);
  EXPECT_THAT(long_result, StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr(std::string(60, 'z') + "...'")));
  EXPECT_LT(long_result.status().message().size(), 150u);
}

TEST(ReadPidfileTest, MissingFileIsNotFoundWithHint) {
  TempDirectory dir;
  const std::string path = dir.path() + "/missing.pid";
  EXPECT_THAT(ReadPidfile(path),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr(path), HasSubstr("[ENOENT]"),
                             HasSubstr("is the old instance running? was it started with "
                                       "--pidfile?"))));
}

TEST(ReadPidfileTest, GarbageAndNonFilesAreInvalidArgumentNamingThePath) {
  TempDirectory dir;
  const std::string path = dir.path() + "/garbage.pid";
  WriteFile(path, "hello world\n");
  EXPECT_THAT(ReadPidfile(path), StatusIs(absl::StatusCode::kInvalidArgument,
                                          AllOf(HasSubstr(path), HasSubstr("'hello world\\n'"))));
  WriteFile(path, std::string(10000, '1'));
  EXPECT_THAT(ReadPidfile(path), StatusIs(absl::StatusCode::kInvalidArgument,
                                          AllOf(HasSubstr(path), HasSubstr("larger than"))));
  ::unlink(path.c_str());
  EXPECT_THAT(ReadPidfile(dir.path()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
  WriteFile(path, "123 456 789\n");
  ASSERT_OK_AND_ASSIGN(Pidfile p, ReadPidfile(path));
  EXPECT_EQ(p.pid, 123);
  EXPECT_THAT(p.start_time, Optional(456u));
  EXPECT_THAT(p.pidfs_inode, Optional(789u));
  ::unlink(path.c_str());
}

TEST(SelfIdentityTest, MatchesProc) {
  ASSERT_OK_AND_ASSIGN(ProcessIdentity self, SelfIdentity());
  EXPECT_EQ(self.pid, ::getpid());
  EXPECT_EQ(self.start_time, StartTimeOf(::getpid()));
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, sys::PidfdOpen(::getpid()));
  ASSERT_OK_AND_ASSIGN(bool pidfs, sys::IsPidfs(pidfd.get()));
  if (pidfs) {
    ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(pidfd.get()));
    EXPECT_THAT(self.pidfs_inode, Optional(static_cast<uint64_t>(st.st_ino)));
  } else {
    EXPECT_EQ(self.pidfs_inode, std::nullopt);
  }
}

TEST(FormatPidfileTest, RoundTrips) {
  EXPECT_EQ(FormatPidfile({.pid = 7, .start_time = 8, .pidfs_inode = 9}), "7 8 9\n");
  EXPECT_EQ(FormatPidfile({.pid = 7, .start_time = 8}), "7 8 0\n");
  ASSERT_OK_AND_ASSIGN(Pidfile p, ParsePidfile("7 8 9\n"));
  EXPECT_EQ(p.pid, 7);
}

TEST(WritePidfileTest, WritesSelfIdentityAtomicallyAndLeavesNoTempFile) {
  TempDirectory dir;
  const std::string path = dir.path() + "/server.pid";
  WriteFile(path, "1\n");  // replaced, not appended to
  ASSERT_OK(WritePidfile(path));
  EXPECT_THAT(dir.List(), ElementsAre("server.pid"));
  ASSERT_OK_AND_ASSIGN(ProcessIdentity self, SelfIdentity());
  ASSERT_OK_AND_ASSIGN(std::string text, sys::ReadFileAt(AT_FDCWD, path));
  EXPECT_EQ(text, FormatPidfile(self));
  ASSERT_OK_AND_ASSIGN(Pidfile p, ReadPidfile(path));
  EXPECT_EQ(p.pid, self.pid);
  EXPECT_EQ(p.start_time, self.start_time);
  EXPECT_EQ(p.pidfs_inode, self.pidfs_inode);
  // The pidfile opens as this very process.
  ASSERT_OK_AND_ASSIGN(Process me, Process::OpenPidfile(path));
  EXPECT_EQ(me.pid(), ::getpid());
  ::unlink(path.c_str());
}

TEST(WritePidfileTest, FailureLeavesNoTempFile) {
  TempDirectory dir;
  EXPECT_THAT(WritePidfile(dir.path() + "/no/such/dir.pid"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("writing pidfile")));
  // rename() onto a non-empty directory fails after the temp file was written.
  const std::string sub = dir.path() + "/taken";
  ASSERT_EQ(::mkdir(sub.c_str(), 0755), 0);
  WriteFile(sub + "/x", "");
  const absl::Status s = WritePidfile(sub);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), AllOf(HasSubstr("rename("), HasSubstr("[EISDIR]")));
  EXPECT_THAT(dir.List(), ElementsAre("taken"));
  ::unlink((sub + "/x").c_str());
  ::rmdir(sub.c_str());
}

TEST(ProcessOpenTest, OpensLiveChildWithItsIdentity) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.pid()));
  EXPECT_EQ(p.pid(), holder.pid());
  EXPECT_EQ(p.comm(), "fd_holder");
  EXPECT_EQ(p.identity().start_time, StartTimeOf(holder.pid()));
  // The proc dir is the child's: its stat names the child.
  ASSERT_OK_AND_ASSIGN(std::string text, sys::ReadFileAt(p.proc_dir(), "stat"));
  EXPECT_EQ(text.substr(0, text.find(' ')), std::to_string(holder.pid()));
  // Both descriptors are close-on-exec.
  EXPECT_TRUE(::fcntl(p.pidfd(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(p.proc_dir(), F_GETFD) & FD_CLOEXEC);
  // And the pidfd is a real pidfd: it signals the child.
  ASSERT_OK(sys::PidfdSendSignal(p.pidfd(), SIGTERM));
  EXPECT_THAT(holder.WaitExitCode(), IsOkAndHolds(0));
}

TEST(ProcessOpenTest, PidfsInodeMatchesWhenTheKernelHasPidfs) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  ASSERT_OK_AND_ASSIGN(bool pidfs, sys::IsPidfs(holder.pidfd()));
  if (!pidfs) GTEST_SKIP() << "kernel without pidfs (< 6.9)";
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(holder.pid()));
  ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(holder.pidfd()));
  EXPECT_THAT(p.identity().pidfs_inode, Optional(static_cast<uint64_t>(st.st_ino)));
  // Each process has its own inode.
  ASSERT_OK_AND_ASSIGN(ProcessIdentity self, SelfIdentity());
  EXPECT_NE(self.pidfs_inode, p.identity().pidfs_inode);
}

TEST(ProcessOpenTest, ReapedChildIsNotFound) {
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Spawn({.argv = {"/bin/true"}}));
  const pid_t pid = child.pid();
  ASSERT_OK(child.Wait());
  EXPECT_THAT(Process::Open(pid),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(absl::StrCat("pid ", pid))));
}

TEST(ProcessOpenTest, ZombieChildIsNotFound) {
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Spawn({.argv = {"/bin/true"}}));
  // Exited but not reaped: a zombie.
  ASSERT_THAT(sys::WaitReadable(child.pidfd(), absl::Now() + absl::Seconds(10)),
              IsOkAndHolds(true));
  EXPECT_THAT(Process::Open(child.pid()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("has exited")));
}

TEST(ProcessOpenTest, RejectsBadPids) {
  EXPECT_THAT(Process::Open(0), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pid 0")));
  EXPECT_THAT(Process::Open(-1), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pid -1")));
  EXPECT_THAT(Process::Open(99999999),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("opening pid 99999999"), HasSubstr("[ESRCH]"))));
  EXPECT_THAT(Process::Open(42, Pidfile{.pid = 43}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("pid 43")));
}

TEST(ProcessOpenTest, WrongStartTimeMeansStalePidfile) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  const uint64_t start = StartTimeOf(holder.pid());
  EXPECT_THAT(
      Process::Open(holder.pid(), Pidfile{.pid = holder.pid(), .start_time = start + 1}),
      StatusIs(absl::StatusCode::kNotFound,
               HasSubstr(absl::StrFormat("pid %d is now a different process (start time %d, "
                                         "pidfile says %d): the pidfile is stale",
                                         holder.pid(), start, start + 1))));
}

TEST(ProcessOpenTest, WrongPidfsInodeMeansStalePidfile) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  ASSERT_OK_AND_ASSIGN(bool pidfs, sys::IsPidfs(holder.pidfd()));
  if (!pidfs) GTEST_SKIP() << "kernel without pidfs (< 6.9)";
  ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(holder.pidfd()));
  EXPECT_THAT(Process::Open(holder.pid(), Pidfile{.pid = holder.pid(),
                                                  .start_time = StartTimeOf(holder.pid()),
                                                  .pidfs_inode = st.st_ino + 1}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("the pidfile is stale")));
}

TEST(ProcessOpenTest, OpensPidfileWithMatchingIdentity) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  ASSERT_OK_AND_ASSIGN(Process first, Process::Open(holder.pid()));
  TempDirectory dir;
  const std::string path = dir.path() + "/holder.pid";
  WriteFile(path, FormatPidfile(first.identity()));
  ASSERT_OK_AND_ASSIGN(Process second, Process::OpenPidfile(path));
  EXPECT_EQ(second.pid(), holder.pid());
  EXPECT_EQ(second.identity().start_time, first.identity().start_time);
  EXPECT_EQ(second.identity().pidfs_inode, first.identity().pidfs_inode);

  // Once the holder is gone, the same pidfile fails and names itself.
  ASSERT_OK(holder.Signal(SIGTERM));
  ASSERT_OK(holder.Wait());
  EXPECT_THAT(Process::OpenPidfile(path),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(absl::StrCat("pidfile ", path))));
  ::unlink(path.c_str());
}

TEST(ProcessOpenTest, OpensClassicPidfileWithoutIdentityFields) {
  ASSERT_OK_AND_ASSIGN(ChildProcess holder, SpawnHolder());
  TempDirectory dir;
  const std::string path = dir.path() + "/classic.pid";
  WriteFile(path, absl::StrCat(holder.pid(), "\n"));
  ASSERT_OK_AND_ASSIGN(Process p, Process::OpenPidfile(path));
  EXPECT_EQ(p.pid(), holder.pid());
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace handover
