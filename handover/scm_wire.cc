#include "handover/scm_wire.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover::internal {

absl::StatusOr<UnixAddr> MakeUnixAddr(absl::string_view name) {
  UnixAddr a;
  a.addr.sun_family = AF_UNIX;
  const bool abstract = !name.empty() && name[0] == '@';
  // A filesystem path needs its NUL; an abstract name is its exact bytes.
  if (name.empty() || name.size() + (abstract ? 0 : 1) > sizeof(a.addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "AF_UNIX address '%s': must be 1 to %d bytes", name, sizeof(a.addr.sun_path) - 1));
  }
  std::memcpy(a.addr.sun_path, name.data(), name.size());
  if (abstract) a.addr.sun_path[0] = '\0';
  a.len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + name.size() +
                                 (abstract ? 0 : 1));
  return a;
}

absl::Status WaitFor(int fd, short events, absl::Time deadline, absl::string_view what) {
  struct pollfd pfd = {.fd = fd, .events = events, .revents = 0};
  HANDOVER_ASSIGN_OR_RETURN(int n, sys::Poll(absl::MakeSpan(&pfd, 1), deadline));
  if (n == 0) return absl::DeadlineExceededError(absl::StrFormat("timed out %s", what));
  return absl::OkStatus();
}

absl::Status SendAll(int fd, absl::string_view data, absl::Time deadline) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) {
        HANDOVER_RETURN_IF_ERROR(WaitFor(fd, POLLOUT, deadline, "sending to the peer"));
        continue;
      }
      return ErrnoError(err, absl::StrFormat("send(%d, %d bytes)", fd, data.size()));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

namespace {

// One sendmsg of 1 byte with fds.size() <= kMaxFdsPerMessage fds.
absl::Status SendBatch(int fd, absl::Span<const int> fds, absl::Time deadline) {
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage)] = {};
  char byte = '.';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  struct cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  for (;;) {
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return absl::OkStatus();
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN) {
      return ErrnoError(err, absl::StrFormat("sendmsg(%d, SCM_RIGHTS %d fds)", fd, fds.size()),
                        err == ETOOMANYREFS ? "the sender's in-flight fd limit (RLIMIT_NOFILE) "
                                              "was reached"
                                            : "");
    }
    HANDOVER_RETURN_IF_ERROR(WaitFor(fd, POLLOUT, deadline, "sending fds to the peer"));
  }
}

}  // namespace

absl::Status SendFds(int fd, absl::Span<const int> fds, absl::Time deadline) {
  while (!fds.empty()) {
    const size_t n = std::min<size_t>(fds.size(), kMaxFdsPerMessage);
    HANDOVER_RETURN_IF_ERROR(SendBatch(fd, fds.subspan(0, n), deadline));
    fds.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<RecvResult> RecvWithFds(int fd, std::string& data, std::vector<UniqueFd>& fds,
                                       absl::Time deadline) {
  // Room for a full batch plus credentials a peer might add: MSG_CTRUNC then
  // only ever means the kernel could not install fds (RLIMIT_NOFILE).
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerMessage) +
                                       CMSG_SPACE(sizeof(struct ucred)) + 64];
  char buf[4096];
  for (;;) {
    HANDOVER_RETURN_IF_ERROR(WaitFor(fd, POLLIN, deadline, "waiting for the peer's reply"));
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR || err == EAGAIN) continue;
      return ErrnoError(err, absl::StrFormat("recvmsg(%d)", fd));
    }
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int received;
        std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds.emplace_back(received);
      }
    }
    data.append(buf, static_cast<size_t>(n));
    return RecvResult{.bytes = static_cast<size_t>(n),
                      .truncated = (msg.msg_flags & MSG_CTRUNC) != 0};
  }
}

}  // namespace handover::internal
