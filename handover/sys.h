// handover::sys: thin wrappers over every raw syscall the library makes.
// Each returns absl::Status / absl::StatusOr built at the call with its
// arguments and errno (see status.h), retries EINTR where the call blocks, and
// never logs. Descriptors come back inside a UniqueFd, close-on-exec.
//
//   HANDOVER_ASSIGN_OR_RETURN(UniqueFd pidfd, sys::PidfdOpen(pid));
//   HANDOVER_ASSIGN_OR_RETURN(UniqueFd copy, sys::PidfdGetfd(pidfd.get(), 7));
#ifndef HANDOVER_SYS_H_
#define HANDOVER_SYS_H_

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "absl/time/time.h"
#include "handover/unique_fd.h"

namespace handover::sys {

// pidfd_open(2), Linux >= 5.3. The pidfd is close-on-exec.
// Errors: INVALID_ARGUMENT (pid <= 0), NOT_FOUND (no such process).
absl::StatusOr<UniqueFd> PidfdOpen(pid_t pid, unsigned int flags = 0);

// pidfd_getfd(2), Linux >= 5.6. Returns a new descriptor for the SAME open file
// description as `target_fd` in the process behind `pidfd`; it has FD_CLOEXEC set.
// Errors: PERMISSION_DENIED (no ptrace access), FAILED_PRECONDITION (target_fd
// not open, or pidfd is not a pidfd), NOT_FOUND (the process has exited),
// RESOURCE_EXHAUSTED (EMFILE/ENFILE), UNIMPLEMENTED (kernel < 5.6 or seccomp).
absl::StatusOr<UniqueFd> PidfdGetfd(int pidfd, int target_fd);

// "SIGTERM" for SIGTERM, "signal 0" / "signal 99" for numbers without a name.
std::string SignalName(int sig);

// pidfd_send_signal(2), Linux >= 5.1. sig 0 only checks that the process exists
// and may be signalled. Errors: NOT_FOUND (exited, even if the pid was reused),
// PERMISSION_DENIED (kill(2) rules).
absl::Status PidfdSendSignal(int pidfd, int sig);

// Waits until `fd` is readable or `deadline` passes (poll(2), EINTR retried with
// the remaining time). Returns true when readable (for a pidfd: the process has
// exited, Linux >= 5.3), false at the deadline. absl::InfiniteFuture() waits forever.
absl::StatusOr<bool> WaitReadable(int fd, absl::Time deadline);

// openat(2) with O_CLOEXEC added. Errors: NOT_FOUND (ENOENT/ESRCH), PERMISSION_DENIED.
absl::StatusOr<UniqueFd> OpenAt(int dir_fd, const std::string& path, int flags);
// The same with the mode for O_CREAT / O_TMPFILE.
absl::StatusOr<UniqueFd> OpenAt(int dir_fd, const std::string& path, int flags, mode_t mode);

// Reads a whole (small, e.g. /proc) file relative to dir_fd.
absl::StatusOr<std::string> ReadFileAt(int dir_fd, const std::string& path);

// Reads `fd` to EOF, retrying EINTR. `what` names it in errors. OUT_OF_RANGE when
// it holds more than `max_bytes`.
absl::StatusOr<std::string> ReadAll(int fd, const std::string& what,
                                    size_t max_bytes = SIZE_MAX);

// readlinkat(2), any length.
absl::StatusOr<std::string> ReadLinkAt(int dir_fd, const std::string& path);

// The names in directory `path` (relative to dir_fd), "." and ".." left out, in the
// order getdents64(2) returns them (ascending fd order for /proc/PID/fd).
// Errors: NOT_FOUND (no such directory, or the /proc process has been reaped),
// PERMISSION_DENIED.
absl::StatusOr<std::vector<std::string>> ListDirAt(int dir_fd, const std::string& path);

// fstat(2) / fstatat(2).
absl::StatusOr<struct stat> Fstat(int fd);
absl::StatusOr<struct stat> FstatAt(int dir_fd, const std::string& path, int flags);

// getsockopt(2) for an int-valued option.
absl::StatusOr<int> GetSockOptInt(int fd, int level, int optname);

// A socket address and its length, as getsockname(2) returns it.
struct SockAddr {
  struct sockaddr_storage storage = {};
  socklen_t len = 0;
  const struct sockaddr* get() const {
    return reinterpret_cast<const struct sockaddr*>(&storage);
  }
  int family() const { return storage.ss_family; }
};

// getsockname(2).
absl::StatusOr<SockAddr> GetSockName(int fd);

// socket(2) with SOCK_CLOEXEC added.
absl::StatusOr<UniqueFd> Socket(int domain, int type, int protocol);

// setns(2). With a pidfd and CLONE_NEWNET: Linux >= 5.8. Needs CAP_SYS_ADMIN.
absl::Status Setns(int fd, int nstype);

// fcntl(fd, F_DUPFD_CLOEXEC, min_fd): a close-on-exec duplicate at >= min_fd.
absl::StatusOr<UniqueFd> DupCloexec(int fd, int min_fd = 3);

// send(2) of one message (a datagram or a netlink request), EINTR retried.
// Returns the number of bytes sent.
absl::StatusOr<size_t> Send(int fd, absl::string_view data, int flags);

// recv(2) into buf[0..size), EINTR retried. Returns the byte count; with MSG_TRUNC
// in `flags` on a datagram or netlink socket it is the message's full length, which
// exceeds `size` when the message did not fit (and was truncated).
absl::StatusOr<size_t> Recv(int fd, void* buf, size_t size, int flags);

// Writes all of `data` to fd, retrying short writes and EINTR.
absl::Status WriteAll(int fd, absl::string_view data);

// poll(2) on several fds until `deadline`, EINTR retried with the remaining time.
// Returns the number of entries with non-zero revents (0 at the deadline).
// absl::InfiniteFuture() waits forever.
absl::StatusOr<int> Poll(absl::Span<struct pollfd> fds, absl::Time deadline);

// getsockopt(SO_PEERCRED): pid/uid/gid of the peer of a connected AF_UNIX socket,
// as they were at connect() (client side: at the server's listen()).
absl::StatusOr<struct ucred> GetPeerCred(int fd);

// getsockopt(SO_PEERPIDFD), Linux >= 6.5: a close-on-exec pidfd for the peer
// process recorded at connect()/listen(). Errors: INVALID_ARGUMENT [ENOPROTOOPT]
// (kernel < 6.5: fall back to SO_PEERCRED + PidfdOpen), NOT_FOUND [ESRCH] (the
// peer process has exited).
absl::StatusOr<UniqueFd> GetPeerPidfd(int fd);
// fsync(2).
absl::Status Fsync(int fd);

// rename(2). Atomic within one filesystem.
absl::Status Rename(const std::string& from, const std::string& to);

// fstatfs(2).
absl::StatusOr<struct statfs> Fstatfs(int fd);

// pidfs (Linux >= 6.9): pidfds live on their own filesystem and
// fstat(pidfd).st_ino is a boot-unique id of the process. Defined here because
// <linux/magic.h> on the build machines predates it.
inline constexpr unsigned long kPidfsMagic = 0x50494446;  // "PIDF"

// True when `pidfd` is a pidfs pidfd (fstatfs f_type == kPidfsMagic).
absl::StatusOr<bool> IsPidfs(int pidfd);

// What ioctl(pidfd, PIDFD_GET_INFO) reports (Linux >= 6.13; the exit status,
// kPidfdInfoExit, since 6.15). Our own copy of the 64-byte first version of
// struct pidfd_info: the system headers are older than the ioctl.
struct PidfdInfo {
  uint64_t mask = 0;
  uint64_t cgroupid = 0;
  uint32_t pid = 0;
  uint32_t tgid = 0;
  uint32_t ppid = 0;
  uint32_t ruid = 0;
  uint32_t rgid = 0;
  uint32_t euid = 0;
  uint32_t egid = 0;
  uint32_t suid = 0;
  uint32_t sgid = 0;
  uint32_t fsuid = 0;
  uint32_t fsgid = 0;
  int32_t exit_code = 0;  // a wait(2) status, valid when mask has kPidfdInfoExit
};
inline constexpr uint64_t kPidfdInfoPid = 1u << 0;
inline constexpr uint64_t kPidfdInfoCreds = 1u << 1;
inline constexpr uint64_t kPidfdInfoCgroupid = 1u << 2;
inline constexpr uint64_t kPidfdInfoExit = 1u << 3;

// ioctl(pidfd, PIDFD_GET_INFO) asking for `mask`. The returned mask says what the
// kernel filled in: kPidfdInfoExit appears only once the process has been reaped.
// Errors: UNIMPLEMENTED (ENOTTY/EINVAL: kernel < 6.13), NOT_FOUND (ESRCH: reaped
// and kPidfdInfoExit not asked for, or outside our pid namespace).
absl::StatusOr<PidfdInfo> PidfdGetInfo(int pidfd, uint64_t mask);

// waitid(P_PIDFD, pidfd, WEXITED | WNOHANG | WNOWAIT), Linux >= 5.4: the wait(2)
// status of an exited CHILD of ours without reaping it. nullopt while it runs.
// Errors: FAILED_PRECONDITION (ECHILD: not our child, or already reaped).
absl::StatusOr<std::optional<int>> PeekChildExit(int pidfd);

// getresuid(2) / getresgid(2) of the calling thread.
struct ResIds {
  uint32_t real = 0;
  uint32_t effective = 0;
  uint32_t saved = 0;
};
ResIds GetResUid();
ResIds GetResGid();

// prctl(2) with integer arguments; `name` is the option name for the message.
absl::Status Prctl(int option, unsigned long arg2, absl::string_view name);

}  // namespace handover::sys

#endif  // HANDOVER_SYS_H_
