#include "handover/sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

#include "absl/strings/str_format.h"
#include "handover/status.h"

namespace handover::sys {

absl::StatusOr<UniqueFd> PidfdOpen(pid_t pid, unsigned int flags) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, flags)));
  if (!fd.valid()) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("pidfd_open(%d, %#x)", pid, flags));
  }
  return fd;
}

absl::StatusOr<UniqueFd> PidfdGetfd(int pidfd, int target_fd) {
  UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, target_fd, 0)));
  if (!fd.valid()) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("pidfd_getfd(pidfd %d, fd %d)", pidfd, target_fd));
  }
  return fd;
}

std::string SignalName(int sig) {
  const char* abbrev = sig == 0 ? nullptr : ::sigabbrev_np(sig);  // glibc >= 2.32
  return abbrev != nullptr ? absl::StrCat("SIG", abbrev) : absl::StrCat("signal ", sig);
}

absl::Status PidfdSendSignal(int pidfd, int sig) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("pidfd_send_signal(pidfd %d, %s)", pidfd,
                                           sig == 0 ? "0" : SignalName(sig)));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> WaitReadable(int fd, absl::Time deadline) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
  HANDOVER_ASSIGN_OR_RETURN(int ready, Poll(absl::MakeSpan(&pfd, 1), deadline));
  return ready > 0;
}

absl::StatusOr<UniqueFd> OpenAt(int dir_fd, const std::string& path, int flags) {
  return OpenAt(dir_fd, path, flags, 0);
}

absl::StatusOr<UniqueFd> OpenAt(int dir_fd, const std::string& path, int flags, mode_t mode) {
  UniqueFd fd;
  do {
    fd.Reset(::openat(dir_fd, path.c_str(), flags | O_CLOEXEC, mode));
  } while (!fd.valid() && errno == EINTR);
  if (!fd.valid()) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("openat(%s)", path));
  }
  return fd;
}

absl::StatusOr<std::string> ReadFileAt(int dir_fd, const std::string& path) {
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, OpenAt(dir_fd, path, O_RDONLY));
  return ReadAll(fd.get(), path);
}

absl::StatusOr<std::string> ReadAll(int fd, const std::string& what, size_t max_bytes) {
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return ErrnoError(err, absl::StrFormat("read(%s)", what));
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return absl::OutOfRangeError(absl::StrFormat("%s: more than %d bytes", what, max_bytes));
    }
  }
}

absl::StatusOr<std::string> ReadLinkAt(int dir_fd, const std::string& path) {
  std::string buf(256, '\0');
  for (;;) {
    const ssize_t n = ::readlinkat(dir_fd, path.c_str(), buf.data(), buf.size());
    if (n < 0) {
      const int err = errno;
      return ErrnoError(err, absl::StrFormat("readlinkat(%s)", path));
    }
    if (static_cast<size_t>(n) < buf.size()) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    buf.resize(buf.size() * 2);
  }
}

absl::StatusOr<std::vector<std::string>> ListDirAt(int dir_fd, const std::string& path) {
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd dir, OpenAt(dir_fd, path, O_RDONLY | O_DIRECTORY));
  std::vector<std::string> names;
  alignas(struct dirent64) char buf[8192];
  for (;;) {
    const ssize_t n = ::getdents64(dir.get(), buf, sizeof(buf));
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return ErrnoError(err, absl::StrFormat("getdents64(%s)", path));
    }
    if (n == 0) return names;
    for (ssize_t off = 0; off < n;) {
      const auto* d = reinterpret_cast<const struct dirent64*>(buf + off);
      const absl::string_view name(d->d_name);
      if (name != "." && name != "..") names.emplace_back(name);
      off += d->d_reclen;
    }
  }
}

absl::StatusOr<struct stat> Fstat(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("fstat(%d)", fd));
  }
  return st;
}

absl::StatusOr<struct stat> FstatAt(int dir_fd, const std::string& path, int flags) {
  struct stat st;
  if (::fstatat(dir_fd, path.c_str(), &st, flags) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("fstatat(%s)", path));
  }
  return st;
}

absl::StatusOr<int> GetSockOptInt(int fd, int level, int optname) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (::getsockopt(fd, level, optname, &value, &len) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("getsockopt(%d, %d, %d)", fd, level, optname));
  }
  return value;
}

absl::StatusOr<SockAddr> GetSockName(int fd) {
  SockAddr addr;
  addr.len = sizeof(addr.storage);
  if (::getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr.storage), &addr.len) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("getsockname(%d)", fd));
  }
  return addr;
}

absl::StatusOr<UniqueFd> Socket(int domain, int type, int protocol) {
  UniqueFd fd(::socket(domain, type | SOCK_CLOEXEC, protocol));
  if (!fd.valid()) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("socket(%d, %d, %d)", domain, type, protocol));
  }
  return fd;
}

absl::Status Setns(int fd, int nstype) {
  if (::setns(fd, nstype) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("setns(%d, %#x)", fd, nstype));
  }
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> DupCloexec(int fd, int min_fd) {
  UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, min_fd));
  if (!copy.valid()) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("fcntl(%d, F_DUPFD_CLOEXEC, %d)", fd, min_fd));
  }
  return copy;
}

absl::StatusOr<size_t> Send(int fd, absl::string_view data, int flags) {
  for (;;) {
    const ssize_t n = ::send(fd, data.data(), data.size(), flags);
    if (n >= 0) return static_cast<size_t>(n);
    const int err = errno;
    if (err == EINTR) continue;
    return ErrnoError(err, absl::StrFormat("send(%d, %d bytes, %#x)", fd, data.size(), flags));
  }
}

absl::StatusOr<size_t> Recv(int fd, void* buf, size_t size, int flags) {
  for (;;) {
    const ssize_t n = ::recv(fd, buf, size, flags);
    if (n >= 0) return static_cast<size_t>(n);
    const int err = errno;
    if (err == EINTR) continue;
    return ErrnoError(err, absl::StrFormat("recv(%d, %d bytes, %#x)", fd, size, flags));
  }
}

absl::Status WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return ErrnoError(err, absl::StrFormat("write(%d, %d bytes)", fd, data.size()));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Poll(absl::Span<struct pollfd> fds, absl::Time deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      timeout_ms = left <= absl::ZeroDuration()
                       ? 0
                       : static_cast<int>(std::min<int64_t>(
                             absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
                             INT32_MAX));
    }
    const int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return ErrnoError(err, absl::StrFormat("poll(%d fds)", fds.size()));
    }
    if (n > 0 || timeout_ms == 0 || absl::Now() >= deadline) return n;
  }
}

absl::StatusOr<struct ucred> GetPeerCred(int fd) {
  struct ucred cred = {};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("getsockopt(%d, SO_PEERCRED)", fd));
  }
  return cred;
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux >= 6.5; glibc 2.36 headers lack it
#endif

absl::StatusOr<UniqueFd> GetPeerPidfd(int fd) {
  int pidfd = -1;
  socklen_t len = sizeof(pidfd);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("getsockopt(%d, SO_PEERPIDFD)", fd));
  }
  return UniqueFd(pidfd);
}

absl::Status Fsync(int fd) {
  if (::fsync(fd) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("fsync(%d)", fd));
  }
  return absl::OkStatus();
}

absl::Status Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("rename(%s, %s)", from, to));
  }
  return absl::OkStatus();
}

absl::StatusOr<struct statfs> Fstatfs(int fd) {
  struct statfs st;
  if (::fstatfs(fd, &st) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("fstatfs(%d)", fd));
  }
  return st;
}

absl::StatusOr<bool> IsPidfs(int pidfd) {
  HANDOVER_ASSIGN_OR_RETURN(struct statfs st, Fstatfs(pidfd));
  return static_cast<unsigned long>(st.f_type) == kPidfsMagic;
}

namespace {
static_assert(sizeof(PidfdInfo) == 64, "PIDFD_INFO_SIZE_VER0");
// _IOWR(PIDFS_IOCTL_MAGIC 0xFF, 11, struct pidfd_info)
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);
}  // namespace

absl::StatusOr<PidfdInfo> PidfdGetInfo(int pidfd, uint64_t mask) {
  PidfdInfo info;
  info.mask = mask;
  if (::ioctl(pidfd, kPidfdGetInfo, &info) != 0) {
    const int err = errno;
    const std::string what = absl::StrFormat("ioctl(pidfd %d, PIDFD_GET_INFO, mask %#x)", pidfd,
                                             mask);
    if (err == ENOTTY || err == EINVAL) {
      return absl::UnimplementedError(
          absl::StrCat(ErrnoError(err, what).message(), "; needs Linux >= 6.13"));
    }
    return ErrnoError(err, what);
  }
  return info;
}

absl::StatusOr<std::optional<int>> PeekChildExit(int pidfd) {
  siginfo_t info = {};
  if (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info,
               WEXITED | WNOHANG | WNOWAIT) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("waitid(P_PIDFD, %d, WEXITED|WNOHANG|WNOWAIT)",
                                           pidfd));
  }
  if (info.si_pid == 0) return std::nullopt;  // still running
  switch (info.si_code) {
    case CLD_EXITED:
      return W_EXITCODE(info.si_status, 0);
    case CLD_KILLED:
      return W_EXITCODE(0, info.si_status);
    case CLD_DUMPED:
      return W_EXITCODE(0, info.si_status) | WCOREFLAG;
    default:
      return std::nullopt;
  }
}

ResIds GetResUid() {
  uid_t r, e, s;
  (void)::getresuid(&r, &e, &s);  // cannot fail with valid pointers
  return {r, e, s};
}

ResIds GetResGid() {
  gid_t r, e, s;
  (void)::getresgid(&r, &e, &s);
  return {r, e, s};
}

absl::Status Prctl(int option, unsigned long arg2, absl::string_view name) {
  if (::prctl(option, arg2, 0UL, 0UL, 0UL) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("prctl(%s, %#x)", name, arg2));
  }
  return absl::OkStatus();
}

}  // namespace handover::sys
