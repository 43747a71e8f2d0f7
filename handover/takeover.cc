#include "handover/takeover.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "handover/permission.h"
#include "handover/fd_batch.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover {
namespace {

absl::StatusOr<TakenSocket> TakeOne(int pidfd, int proc_dir, const SocketInfo& info) {
  absl::StatusOr<UniqueFd> copy = sys::PidfdGetfd(pidfd, info.fd);
  if (!copy.ok()) {
    if (copy.status().code() == absl::StatusCode::kPermissionDenied) {
      return ExplainPermissionDenied(copy.status(), proc_dir);
    }
    if (copy.status().code() == absl::StatusCode::kFailedPrecondition) {
      return absl::AbortedError(absl::StrFormat(
          "%s; the fd was closed since it was listed: list and take again",
          copy.status().message()));
    }
    return copy.status();
  }
  HANDOVER_RETURN_IF_ERROR(VerifySocket(copy->get(), info));
  return TakenSocket{.info = info, .fd = *std::move(copy)};
}

}  // namespace

void ReadReuseport(absl::Span<TakenSocket> sockets) {
  std::vector<int> fds;
  fds.reserve(sockets.size());
  for (const TakenSocket& s : sockets) fds.push_back(s.fd.get());
  absl::StatusOr<std::vector<FdBatch::Answer>> reuseport =
      FdBatch(fds.size()).Read(fds, SO_REUSEPORT, sizeof(int));
  for (size_t i = 0; i < sockets.size(); ++i) {
    if (reuseport.ok() && (*reuseport)[i].error == 0) {
      sockets[i].info.reuseport = (*reuseport)[i].value != 0;
    }
  }
}

namespace internal {

void PreGrowFdTable(int any_fd, size_t count) {
  if (count < 64) return;
  absl::StatusOr<UniqueFd> probe = sys::DupCloexec(any_fd, static_cast<int>(count) + 64);
  (void)probe;  // closing the probe leaves the table grown
}

}  // namespace internal

absl::Status VerifySocket(int fd, const SocketInfo& expected) {
  HANDOVER_ASSIGN_OR_RETURN(struct stat st, sys::Fstat(fd));
  if (!S_ISSOCK(st.st_mode) || st.st_ino != expected.inode) {
    return absl::AbortedError(absl::StrFormat(
        "fd %d now refers to inode %d, not socket inode %d: it was closed and reused since "
        "listing; list and take again",
        expected.fd, st.st_ino, expected.inode));
  }
  // Same inode: the very socket the kernel listed (sock_diag or /proc/net by
  // inode), and a socket's type and family never change, so they need no second
  // look. Whether it still listens can change (the old process may shutdown()).
  if (expected.state == SocketState::kListen) {
    HANDOVER_ASSIGN_OR_RETURN(int listening, sys::GetSockOptInt(fd, SOL_SOCKET, SO_ACCEPTCONN));
    if (!listening) {
      return absl::AbortedError(
          absl::StrFormat("fd %d (%s) no longer listens", expected.fd, expected.address));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TakenSocket>> TakeSockets(int pidfd, int proc_dir,
                                                     absl::Span<const SocketInfo> selected) {
  internal::PreGrowFdTable(pidfd, selected.size());
  std::vector<TakenSocket> taken;
  taken.reserve(selected.size());
  for (const SocketInfo& info : selected) {
    absl::StatusOr<TakenSocket> one = TakeOne(pidfd, proc_dir, info);
    if (!one.ok()) {
      // Returning drops `taken`: every copy so far is closed; the old process
      // still holds all of its sockets, untouched.
      return WithContext(one.status(),
                         absl::StrFormat("taking fd %d (%s %s)", info.fd, ProtoName(info.proto),
                                         info.address));
    }
    taken.push_back(*std::move(one));
  }
  return taken;
}

}  // namespace handover
