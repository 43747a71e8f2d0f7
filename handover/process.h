// A proven handle on another process: its pidfd plus a /proc/PID directory fd
// that is known to belong to the same process (not a later one that reused the pid).
//
//   HANDOVER_ASSIGN_OR_RETURN(Process old, Process::OpenPidfile("/run/proxy.pid"));
//   sys::PidfdGetfd(old.pidfd(), 7);            // acts on the pinned process
//   sys::ReadFileAt(old.proc_dir(), "status");  // reads ITS /proc entries
//
// Identity proof (kernel-notes §1): pidfd_open first; then, if the kernel has
// pidfs (Linux >= 6.9), fstat(pidfd).st_ino is a boot-unique process id; in every
// case /proc/PID is opened as a directory fd, its `stat` start time is read
// through it, and pidfd_send_signal(pidfd, 0) succeeding with the pidfd not yet
// readable shows the directory still belongs to the pidfd's process.
//
// Pidfile format (one line, fields separated by single spaces):
//   PID                          identity unchecked (classic pidfiles)
//   PID STARTTIME                STARTTIME = field 22 of /proc/PID/stat (clock ticks since boot)
//   PID STARTTIME PIDFS_INODE    PIDFS_INODE = fstat(pidfd).st_ino, 0 when the kernel has no pidfs
// When identity fields are present and do not match the running process, opening
// fails with NOT_FOUND ("pid N is now a different process ...: the pidfile is
// stale"). A pidfs inode recorded on a kernel with pidfs is not checked on a
// kernel without it (the start time still is).
#ifndef HANDOVER_PROCESS_H_
#define HANDOVER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "handover/unique_fd.h"

namespace handover {

// What identifies one process for its whole life.
struct ProcessIdentity {
  pid_t pid = 0;
  uint64_t start_time = 0;                // /proc/PID/stat field 22, clock ticks
  std::optional<uint64_t> pidfs_inode;    // set when the kernel has pidfs (>= 6.9)
};

// The parsed contents of a pidfile. Missing identity fields are nullopt.
struct Pidfile {
  pid_t pid = 0;
  std::optional<uint64_t> start_time;
  std::optional<uint64_t> pidfs_inode;    // 0 in the file means "no pidfs": nullopt
};

// Fields of /proc/PID/stat that handover uses. comm may hold spaces and ')':
// parsing splits after the LAST ')'.
struct ProcStat {
  std::string comm;
  char state = '?';
  pid_t ppid = 0;
  uint64_t start_time = 0;
};

// Parses the text of /proc/PID/stat. INVALID_ARGUMENT on malformed text.
absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text);

// Parses pidfile text ("PID[ STARTTIME[ PIDFS_INODE]]\n"). INVALID_ARGUMENT with a
// message that quotes the offending text when it is not in that form or pid <= 0.
absl::StatusOr<Pidfile> ParsePidfile(absl::string_view text);

// Reads and parses a pidfile. NOT_FOUND when missing (with the hint "is the old
// instance running? was it started with --pidfile?"), INVALID_ARGUMENT when
// garbage, not a regular file or larger than 4 KiB; messages name the path.
// Never blocks (a FIFO at the path is opened O_NONBLOCK and rejected).
absl::StatusOr<Pidfile> ReadPidfile(const std::string& path);

// The calling process's identity (what a server writes into its pidfile).
absl::StatusOr<ProcessIdentity> SelfIdentity();

// Formats "PID STARTTIME PIDFS_INODE\n" (0 for a missing inode).
std::string FormatPidfile(const ProcessIdentity& identity);

// Writes the calling process's identity to `path` atomically: a temp file
// ".NAME.tmp.PID.NANOS" in the same directory (O_EXCL), fsync, rename(2), fsync of
// the directory. Readers see the old or the new file, never a partial one. On
// failure the temp file is removed and `path` is untouched (unless only the final
// directory fsync failed).
absl::Status WritePidfile(const std::string& path);

// The same for another process's identity (handover exec --new_pidfile).
absl::Status WritePidfile(const std::string& path, const ProcessIdentity& identity);

class Process {
 public:
  // Opens `pid` and proves it is the process `expected` describes (fields that are
  // nullopt are not checked; pid must match). Both descriptors are owned by the
  // Process and are close-on-exec. Needs no privilege over the target: a pidfd
  // and /proc/PID/stat are available for any process (an EPERM from the liveness
  // probe pidfd_send_signal(0) still proves the process is alive). Does not block.
  // Errors: INVALID_ARGUMENT (pid <= 0, or expected.pid != pid), NOT_FOUND (no such
  // process, it exited — a zombie counts as exited —, or its identity does not
  // match: the message says "the pidfile is stale").
  static absl::StatusOr<Process> Open(pid_t pid, const Pidfile& expected);
  static absl::StatusOr<Process> Open(pid_t pid) { return Open(pid, Pidfile{.pid = pid}); }
  // ReadPidfile + Open; errors from Open are prefixed with "pidfile PATH: ".
  static absl::StatusOr<Process> OpenPidfile(const std::string& path);

  Process(Process&&) = default;
  Process& operator=(Process&&) = default;

  pid_t pid() const { return identity_.pid; }
  int pidfd() const { return pidfd_.get(); }          // borrowed
  int proc_dir() const { return proc_dir_.get(); }    // borrowed: /proc/PID, O_DIRECTORY
  const ProcessIdentity& identity() const { return identity_; }
  const std::string& comm() const { return comm_; }

  // The pidfd and /proc directory to list and copy descriptors through
  // (borrowed). Normally pidfd() and proc_dir(). When the main thread has exited
  // while other threads live, /proc/PID/fd is empty and pidfd_getfd on the
  // process pidfd fails with ESRCH: then these are a live thread's pidfd
  // (PIDFD_THREAD, Linux >= 6.9) and its /proc/PID/task/TID directory, which has
  // the same fd table and network namespace. Signal and wait with pidfd().
  int fd_pidfd() const { return thread_pidfd_.valid() ? thread_pidfd_.get() : pidfd_.get(); }
  int fd_dir() const { return thread_dir_.valid() ? thread_dir_.get() : proc_dir_.get(); }

 private:
  Process() = default;
  // The leader is a zombie but the process lives: adopt a live thread (above).
  absl::Status AdoptLiveThread();

  ProcessIdentity identity_;
  std::string comm_;
  UniqueFd pidfd_;
  UniqueFd proc_dir_;
  UniqueFd thread_pidfd_;
  UniqueFd thread_dir_;
};

}  // namespace handover

#endif  // HANDOVER_PROCESS_H_
