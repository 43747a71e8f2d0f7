// What the kernel says about the TARGET's network namespace and liveness, shared
// by the two ways of finding its sockets (discover.h lists /proc/PID/fd first;
// copy_listeners.h copies every fd first).
//
//   HANDOVER_RETURN_IF_ERROR(internal::CheckAlive(pidfd));
//   HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> all,
//                             internal::SockDiagSocketsOf(pidfd, proc_dir));
#ifndef HANDOVER_TARGET_NETNS_H_
#define HANDOVER_TARGET_NETNS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "handover/socket_info.h"
#include "handover/unique_fd.h"

namespace handover::internal {

// NOT_FOUND once the process behind `pidfd` has exited (a zombie is enough: pidfd
// POLLIN, Linux >= 5.3). A zombie's /proc/PID/fd is empty, not missing, so a
// listing is only trusted when the process was alive before and after it.
absl::Status CheckAlive(int pidfd);

// The listening/bound sockets of the target's network namespace from
// NETLINK_SOCK_DIAG dumps (sock_diag.h), with their cookies. When the namespace
// differs from ours the CALLING THREAD briefly setns()es into it (restored before
// returning). Errors: PERMISSION_DENIED (setns needs CAP_SYS_ADMIN), INVALID_ARGUMENT
// (setns(pidfd) unsupported, Linux < 5.8), NOT_FOUND (diag module missing), INTERNAL.
absl::StatusOr<std::vector<SocketInfo>> SockDiagSocketsOf(int pidfd, int proc_dir);

// Just the first half of that: a NETLINK_SOCK_DIAG socket in the target's network
// namespace, for internal::DumpListeningSockets (sock_diag.h) later. Same errors.
absl::StatusOr<UniqueFd> OpenSockDiagOf(int pidfd, int proc_dir);

}  // namespace handover::internal

#endif  // HANDOVER_TARGET_NETNS_H_
