#include "handover/process.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover {
namespace {

// A pidfile is one short line; anything bigger is not one.
constexpr size_t kMaxPidfileBytes = 4096;
constexpr size_t kQuoteChars = 60;

// 'text' for error messages: escaped, cut to kQuoteChars.
std::string Quote(absl::string_view text) {
  const bool cut = text.size() > kQuoteChars;
  return absl::StrCat("'", absl::CHexEscape(text.substr(0, kQuoteChars)), cut ? "...'" : "'");
}

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// fstat(pidfd).st_ino when the kernel has pidfs (Linux >= 6.9), else nullopt.
absl::StatusOr<std::optional<uint64_t>> PidfsInode(int pidfd) {
  HANDOVER_ASSIGN_OR_RETURN(bool pidfs, sys::IsPidfs(pidfd));
  if (!pidfs) return std::nullopt;
  HANDOVER_ASSIGN_OR_RETURN(struct stat st, sys::Fstat(pidfd));
  return static_cast<uint64_t>(st.st_ino);
}

// OK while the process behind `pidfd` has not exited. pidfd_send_signal(0)
// fails with ESRCH once it is reaped; EPERM still proves it is alive (we may
// just not signal it). poll() is readable from zombie time on (Linux >= 5.3).
absl::Status CheckAlive(int pidfd, pid_t pid) {
  absl::Status sent = sys::PidfdSendSignal(pidfd, 0);
  if (absl::IsNotFound(sent)) {
    return absl::NotFoundError(absl::StrFormat("pid %d has exited: %s", pid, sent.message()));
  }
  if (!sent.ok() && !absl::IsPermissionDenied(sent)) return sent;
  HANDOVER_ASSIGN_OR_RETURN(bool exited, sys::WaitReadable(pidfd, absl::InfinitePast()));
  if (exited) {
    return absl::NotFoundError(
        absl::StrFormat("pid %d has exited (a zombie its parent has not reaped yet)", pid));
  }
  return absl::OkStatus();
}

// Reads at most kMaxPidfileBytes of a regular file.
absl::StatusOr<std::string> ReadSmallRegularFile(const std::string& path) {
  // O_NONBLOCK: a FIFO planted at the path must not hang us.
  absl::StatusOr<UniqueFd> fd = sys::OpenAt(AT_FDCWD, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (absl::IsNotFound(fd.status())) {
    return absl::NotFoundError(absl::StrCat(
        fd.status().message(), "; is the old instance running? was it started with --pidfile?"));
  }
  if (!fd.ok()) return fd.status();
  HANDOVER_ASSIGN_OR_RETURN(struct stat st, sys::Fstat(fd->get()));
  if (!S_ISREG(st.st_mode)) return absl::InvalidArgumentError("not a regular file");
  absl::StatusOr<std::string> text = sys::ReadAll(fd->get(), path, kMaxPidfileBytes);
  if (absl::IsOutOfRange(text.status())) {
    return absl::InvalidArgumentError(
        absl::StrFormat("larger than %d bytes: not a pidfile", kMaxPidfileBytes));
  }
  return text;
}

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text) {
  // "PID (COMM) S PPID ...": COMM may contain spaces, '(' and ')', so it ends at
  // the LAST ')' (kernel-notes §1).
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == absl::string_view::npos || close == absl::string_view::npos || close < open) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed /proc/PID/stat: no '(comm)' in ", Quote(text)));
  }
  ProcStat stat;
  stat.comm = std::string(text.substr(open + 1, close - open - 1));
  // Fields 3.. follow the ')'. Index i here is field i + 3.
  const std::vector<absl::string_view> fields =
      absl::StrSplit(text.substr(close + 1), absl::ByAnyChar(" \n"), absl::SkipEmpty());
  constexpr size_t kStartTime = 22 - 3;
  if (fields.size() <= kStartTime) {
    return absl::InvalidArgumentError(
        absl::StrFormat("malformed /proc/PID/stat: %d fields after comm, want >= %d in %s",
                        fields.size(), kStartTime + 1, Quote(text)));
  }
  int ppid = 0;
  if (fields[0].size() != 1 || !absl::SimpleAtoi(fields[1], &ppid) || ppid < 0 ||
      !AllDigits(fields[kStartTime]) || !absl::SimpleAtoi(fields[kStartTime], &stat.start_time)) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed /proc/PID/stat: bad state, ppid or start time in ", Quote(text)));
  }
  stat.state = fields[0][0];
  stat.ppid = ppid;
  return stat;
}

absl::StatusOr<Pidfile> ParsePidfile(absl::string_view text) {
  absl::string_view line = text;
  if (absl::EndsWith(line, "\n")) line.remove_suffix(1);
  const std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
  auto bad = [&text]() {
    return absl::InvalidArgumentError(absl::StrCat(
        "pidfile text ", Quote(text), " is not 'PID[ STARTTIME[ PIDFS_INODE]]' in decimal"));
  };
  if (fields.size() > 3) return bad();
  for (absl::string_view f : fields) {
    if (!AllDigits(f)) return bad();
  }
  Pidfile pidfile;
  uint64_t pid = 0;
  if (!absl::SimpleAtoi(fields[0], &pid) || pid == 0 ||
      pid > static_cast<uint64_t>(std::numeric_limits<pid_t>::max())) {
    return bad();
  }
  pidfile.pid = static_cast<pid_t>(pid);
  uint64_t value = 0;
  if (fields.size() >= 2) {
    if (!absl::SimpleAtoi(fields[1], &value)) return bad();
    pidfile.start_time = value;
  }
  if (fields.size() == 3) {
    if (!absl::SimpleAtoi(fields[2], &value)) return bad();
    if (value != 0) pidfile.pidfs_inode = value;
  }
  return pidfile;
}

absl::StatusOr<Pidfile> ReadPidfile(const std::string& path) {
  const std::string context = absl::StrCat("pidfile ", path);
  absl::StatusOr<std::string> text = ReadSmallRegularFile(path);
  if (!text.ok()) return WithContext(text.status(), context);
  absl::StatusOr<Pidfile> pidfile = ParsePidfile(*text);
  if (!pidfile.ok()) return WithContext(pidfile.status(), context);
  return pidfile;
}

absl::StatusOr<ProcessIdentity> SelfIdentity() {
  ProcessIdentity identity;
  identity.pid = ::getpid();
  HANDOVER_ASSIGN_OR_RETURN(std::string text, sys::ReadFileAt(AT_FDCWD, "/proc/self/stat"));
  HANDOVER_ASSIGN_OR_RETURN(ProcStat stat, ParseProcStat(text));
  identity.start_time = stat.start_time;
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd pidfd, sys::PidfdOpen(identity.pid));
  HANDOVER_ASSIGN_OR_RETURN(identity.pidfs_inode, PidfsInode(pidfd.get()));
  return identity;
}

std::string FormatPidfile(const ProcessIdentity& identity) {
  return absl::StrFormat("%d %d %d\n", identity.pid, identity.start_time,
                         identity.pidfs_inode.value_or(0));
}

absl::Status WritePidfile(const std::string& path) {
  absl::StatusOr<ProcessIdentity> identity = SelfIdentity();
  if (!identity.ok()) return WithContext(identity.status(), "writing pidfile " + path);
  return WritePidfile(path, *identity);
}

absl::Status WritePidfile(const std::string& path, const ProcessIdentity& identity) {
  const std::string context = absl::StrCat("writing pidfile ", path);

  // The temp file sits in the same directory so that rename() is atomic. A
  // dot name keeps it out of globs; pid + time make it unique, O_EXCL proves it.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const std::string tmp =
      absl::StrFormat("%s/.%s.tmp.%d.%d", dir, base, ::getpid(), absl::ToUnixNanos(absl::Now()));
  absl::StatusOr<UniqueFd> fd =
      sys::OpenAt(AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
  if (!fd.ok()) return WithContext(fd.status(), context);
  absl::Cleanup remove_tmp = [&tmp] { (void)::unlink(tmp.c_str()); };

  absl::Status s = sys::WriteAll(fd->get(), FormatPidfile(identity));
  if (s.ok()) s = sys::Fsync(fd->get());
  if (s.ok()) s = sys::Rename(tmp, path);
  if (!s.ok()) return WithContext(s, context);
  std::move(remove_tmp).Cancel();

  // Make the rename itself durable.
  absl::StatusOr<UniqueFd> dir_fd = sys::OpenAt(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY);
  if (!dir_fd.ok()) return WithContext(dir_fd.status(), context);
  return WithContext(sys::Fsync(dir_fd->get()), context);
}

absl::StatusOr<Process> Process::Open(pid_t pid, const Pidfile& expected) {
  if (pid <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("pid %d: must be positive", pid));
  }
  if (expected.pid != pid) {
    return absl::InvalidArgumentError(
        absl::StrFormat("pid %d: the expected identity is for pid %d", pid, expected.pid));
  }
  const std::string context = absl::StrFormat("opening pid %d", pid);
  Process p;
  p.identity_.pid = pid;

  // 1. Pin the process. From here on a reused pid cannot fool us.
  absl::StatusOr<UniqueFd> pidfd = sys::PidfdOpen(pid);
  if (!pidfd.ok()) return WithContext(pidfd.status(), context);
  p.pidfd_ = *std::move(pidfd);
  absl::StatusOr<std::optional<uint64_t>> inode = PidfsInode(p.pidfd_.get());
  if (!inode.ok()) return WithContext(inode.status(), context);
  p.identity_.pidfs_inode = *inode;

  // 2. /proc/PID as a directory fd, and its start time read through it.
  absl::StatusOr<UniqueFd> proc_dir =
      sys::OpenAt(AT_FDCWD, absl::StrFormat("/proc/%d", pid), O_RDONLY | O_DIRECTORY);
  if (!proc_dir.ok()) {
    HANDOVER_RETURN_IF_ERROR(WithContext(CheckAlive(p.pidfd_.get(), pid), context));
    return WithContext(proc_dir.status(),
                       absl::StrCat(context, " (is /proc mounted for this pid namespace?)"));
  }
  p.proc_dir_ = *std::move(proc_dir);
  absl::StatusOr<std::string> text = sys::ReadFileAt(p.proc_dir_.get(), "stat");
  absl::StatusOr<ProcStat> stat =
      text.ok() ? ParseProcStat(*text) : absl::StatusOr<ProcStat>(text.status());

  // 3. Still alive now means it was alive all along: the directory is the
  // pidfd's process, not a successor with the same pid.
  HANDOVER_RETURN_IF_ERROR(WithContext(CheckAlive(p.pidfd_.get(), pid), context));
  if (!stat.ok()) return WithContext(stat.status(), context);
  p.identity_.start_time = stat->start_time;
  p.comm_ = stat->comm;

  // 4. Compare with what the pidfile recorded.
  if (expected.start_time.has_value() && *expected.start_time != stat->start_time) {
    return absl::NotFoundError(absl::StrFormat(
        "pid %d is now a different process (start time %d, pidfile says %d): the pidfile is stale",
        pid, stat->start_time, *expected.start_time));
  }
  // An inode recorded on a kernel with pidfs cannot be checked on one without;
  // the start time above still is.
  if (expected.pidfs_inode.has_value() && p.identity_.pidfs_inode.has_value() &&
      *expected.pidfs_inode != *p.identity_.pidfs_inode) {
    return absl::NotFoundError(absl::StrFormat(
        "pid %d is now a different process (pidfs inode %d, pidfile says %d): the pidfile is "
        "stale",
        pid, *p.identity_.pidfs_inode, *expected.pidfs_inode));
  }
  // 5. A zombie leader of a live process (the pidfd is not readable: checked
  // above): its descriptors are reachable only through another thread.
  if (stat->state == 'Z') HANDOVER_RETURN_IF_ERROR(WithContext(p.AdoptLiveThread(), context));
  return p;
}

absl::Status Process::AdoptLiveThread() {
  constexpr unsigned int kPidfdThread = O_EXCL;  // PIDFD_THREAD, Linux >= 6.9
  HANDOVER_ASSIGN_OR_RETURN(std::vector<std::string> tids, sys::ListDirAt(proc_dir(), "task"));
  for (const std::string& name : tids) {
    pid_t tid = 0;
    if (!absl::SimpleAtoi(name, &tid) || tid == pid()) continue;
    absl::StatusOr<UniqueFd> thread = sys::PidfdOpen(tid, kPidfdThread);
    if (absl::IsInvalidArgument(thread.status())) {
      return absl::UnimplementedError(absl::StrFormat(
          "pid %d's main thread has exited; its other threads hold the descriptors, and "
          "reaching them needs PIDFD_THREAD (Linux 6.9 or later): %s",
          pid(), thread.status().message()));
    }
    if (!thread.ok()) continue;  // that thread exited meanwhile
    absl::StatusOr<UniqueFd> dir = sys::OpenAt(proc_dir(), absl::StrCat("task/", tid),
                                               O_RDONLY | O_DIRECTORY);
    // Alive after opening the directory: the directory is that thread's.
    absl::StatusOr<bool> exited = sys::WaitReadable(thread->get(), absl::Now());
    if (!dir.ok() || !exited.ok() || *exited) continue;
    thread_pidfd_ = *std::move(thread);
    thread_dir_ = *std::move(dir);
    return absl::OkStatus();
  }
  return absl::NotFoundError(
      absl::StrFormat("pid %d's main thread has exited and no other thread is alive", pid()));
}

absl::StatusOr<Process> Process::OpenPidfile(const std::string& path) {
  HANDOVER_ASSIGN_OR_RETURN(Pidfile pidfile, ReadPidfile(path));
  absl::StatusOr<Process> p = Open(pidfile.pid, pidfile);
  if (!p.ok()) return WithContext(p.status(), absl::StrCat("pidfile ", path));
  return p;
}

}  // namespace handover
