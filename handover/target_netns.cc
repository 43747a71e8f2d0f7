#include "handover/target_netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "handover/sock_diag.h"
#include "handover/status.h"
#include "handover/sys.h"
#include "handover/unique_fd.h"

namespace handover::internal {
namespace {

absl::StatusOr<bool> InOurNetns(int proc_dir) {
  HANDOVER_ASSIGN_OR_RETURN(struct stat theirs, sys::FstatAt(proc_dir, "ns/net", 0));
  // thread-self: setns() is per thread, and this thread is the one that matters.
  HANDOVER_ASSIGN_OR_RETURN(struct stat ours,
                            sys::FstatAt(AT_FDCWD, "/proc/thread-self/ns/net", 0));
  return theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
}

// setns(pidfd, CLONE_NEWNET) for the calling thread, with a hint on EPERM.
absl::Status EnterNetns(int pidfd) {
  absl::Status entered = sys::Setns(pidfd, CLONE_NEWNET);
  if (absl::IsPermissionDenied(entered)) {
    entered = absl::PermissionDeniedError(
        absl::StrCat(entered.message(),
                     "; entering another network namespace needs CAP_SYS_ADMIN "
                     "(method auto falls back to /proc/PID/net)"));
  }
  return WithContext(entered, "entering the target's network namespace");
}

// A NETLINK_SOCK_DIAG socket created inside the target's network namespace.
// setns() moves only the calling thread, and it is moved back before returning.
absl::StatusOr<UniqueFd> OpenSockDiagInNetns(int pidfd, int proc_dir) {
  HANDOVER_ASSIGN_OR_RETURN(bool same, InOurNetns(proc_dir));
  if (same) return OpenSockDiag();
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd own_netns,
                            sys::OpenAt(AT_FDCWD, "/proc/thread-self/ns/net", O_RDONLY));
  HANDOVER_RETURN_IF_ERROR(EnterNetns(pidfd));
  absl::StatusOr<UniqueFd> netlink;
  absl::Status restored;
  {
    absl::Cleanup restore = [&] { restored = sys::Setns(own_netns.get(), CLONE_NEWNET); };
    netlink = OpenSockDiag();
  }
  if (!restored.ok()) {
    return absl::InternalError(absl::StrCat(
        "could not return to our own network namespace after setns: ", restored.message()));
  }
  return netlink;
}

}  // namespace

absl::Status CheckAlive(int pidfd) {
  HANDOVER_ASSIGN_OR_RETURN(bool exited, sys::WaitReadable(pidfd, absl::InfinitePast()));
  if (exited) return absl::NotFoundError("the target process has exited");
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> OpenSockDiagOf(int pidfd, int proc_dir) {
  return OpenSockDiagInNetns(pidfd, proc_dir);
}

absl::StatusOr<std::vector<SocketInfo>> SockDiagSocketsOf(int pidfd, int proc_dir) {
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd netlink, OpenSockDiagInNetns(pidfd, proc_dir));
  return DumpListeningSockets(netlink.get());
}


}  // namespace handover::internal
