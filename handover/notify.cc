#include "handover/notify.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "handover/scm_wire.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover {

absl::StatusOr<NotifySocket> NotifySocket::Create() {
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, sys::Socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0));
  const int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0) {
    const int err = errno;
    return ErrnoError(err, "setsockopt(SO_PASSCRED)");
  }
  // Autobind: an address of only sun_family makes the kernel pick an abstract name.
  const sa_family_t family = AF_UNIX;
  if (::bind(fd.get(), reinterpret_cast<const struct sockaddr*>(&family), sizeof(family)) != 0) {
    const int err = errno;
    return ErrnoError(err, "bind(AF_UNIX, autobind)");
  }
  HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr addr, sys::GetSockName(fd.get()));
  const auto* un = reinterpret_cast<const struct sockaddr_un*>(&addr.storage);
  const size_t name_len = addr.len - offsetof(struct sockaddr_un, sun_path);
  if (name_len < 2 || un->sun_path[0] != '\0') {
    return absl::InternalError("autobind gave no abstract address");
  }
  return NotifySocket(std::move(fd), "@" + std::string(un->sun_path + 1, name_len - 1));
}

absl::StatusOr<bool> NotifySocket::Drain(pid_t pid) {
  bool ready = false;
  for (;;) {
    std::string data;
    std::vector<UniqueFd> fds;  // FDSTORE=1 fds: not supported, closed here
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred)) +
                                         CMSG_SPACE(sizeof(int) * 253)];
    char buf[4096];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) return ready;
      return ErrnoError(err, absl::StrFormat("recvmsg(%s)", address_));
    }
    pid_t sender = -1;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_CREDENTIALS) {
        struct ucred cred;
        std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
        sender = cred.pid;
      } else if (c->cmsg_type == SCM_RIGHTS) {
        for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
          int received;
          std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          fds.emplace_back(received);
        }
      }
    }
    if (sender != pid) continue;
    for (absl::string_view line : absl::StrSplit(absl::string_view(buf, n), '\n')) {
      if (line == "READY=1") ready = true;
      if (absl::ConsumePrefix(&line, "STATUS=")) last_status_ = std::string(line);
    }
  }
}

absl::Status NotifySocket::WaitReady(pid_t pid, int pidfd, absl::Time deadline) {
  const absl::Time start = absl::Now();
  for (;;) {
    struct pollfd pfds[2] = {{.fd = fd_.get(), .events = POLLIN, .revents = 0},
                             {.fd = pidfd, .events = POLLIN, .revents = 0}};
    HANDOVER_ASSIGN_OR_RETURN(int n, sys::Poll(absl::MakeSpan(pfds), deadline));
    // Datagrams first: a child that sent READY=1 and then exited still counts.
    HANDOVER_ASSIGN_OR_RETURN(bool ready, Drain(pid));
    if (ready) return absl::OkStatus();
    const std::string status =
        last_status_.empty() ? "" : absl::StrFormat(" (last STATUS=%s)", last_status_);
    if (pfds[1].revents != 0) {
      return absl::FailedPreconditionError(
          absl::StrFormat("pid %d exited before sending READY=1%s", pid, status));
    }
    if (n == 0) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "pid %d sent no READY=1 to %s within %s%s", pid, address_,
          absl::FormatDuration(absl::Now() - start), status));
    }
  }
}

absl::Status Notify(absl::string_view state) {
  const char* target = ::getenv("NOTIFY_SOCKET");
  if (target == nullptr || *target == '\0') return absl::OkStatus();
  absl::StatusOr<internal::UnixAddr> addr = internal::MakeUnixAddr(target);
  if (!addr.ok() || (target[0] != '/' && target[0] != '@')) {
    return absl::InvalidArgumentError(
        absl::StrFormat("NOTIFY_SOCKET='%s': want an absolute path or @abstract name", target));
  }
  // Non-blocking: a supervisor with a full queue must not stall this server.
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, sys::Socket(AF_UNIX, SOCK_DGRAM, 0));
  while (::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT, addr->get(), addr->len) <
         0) {
    const int err = errno;
    if (err == EINTR) continue;
    return ErrnoError(err, absl::StrFormat("sendto(NOTIFY_SOCKET=%s, \"%s\")", target, state));
  }
  return absl::OkStatus();
}

}  // namespace handover
