// NETLINK_SOCK_DIAG dumps of the listening and bound sockets of ONE network
// namespace: the namespace the netlink socket was created in (kernel-notes §4).
// Unlike /proc/net/tcp, the state-filtered dumps never walk established sockets.
//
//   HANDOVER_ASSIGN_OR_RETURN(UniqueFd nl, internal::OpenSockDiag());
//   HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> found,
//                             internal::DumpListeningSockets(nl.get()));
#ifndef HANDOVER_SOCK_DIAG_H_
#define HANDOVER_SOCK_DIAG_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "handover/socket_info.h"
#include "handover/unique_fd.h"

namespace handover::internal {

inline constexpr Proto kAllProtos[] = {Proto::kTcp, Proto::kTcp6, Proto::kUdp, Proto::kUdp6,
                                       Proto::kUnix};

// socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG) in the calling
// thread's network namespace. The caller owns the returned fd.
absl::StatusOr<UniqueFd> OpenSockDiag();

// Dumps, through `netlink_fd` (borrowed, from OpenSockDiag), the sockets handover
// takes over, of the protocols in `protos` (one dump each; every inet dump walks
// a kernel hash table of up to 64k buckets, ~20 µs even when it finds nothing): TCP and TCP6 in LISTEN; UDP and UDP6 in TCP_CLOSE (not connected)
// with a nonzero local port; unix stream and seqpacket listeners with their names
// ("/path", "@abstract", "" when unnamed). Entries have fd = -1, reuseport unset,
// the socket cookie (= SO_COOKIE) set, and come in dump order (tcp, tcp6, udp, udp6, unix).
// Does not block beyond the kernel producing the dump (it answers synchronously).
// Errors: the kernel's error from NLMSG_ERROR, e.g. NOT_FOUND (ENOENT: the
// inet_diag/udp_diag/unix_diag module is missing); INTERNAL for a malformed reply.
absl::StatusOr<std::vector<SocketInfo>> DumpListeningSockets(
    int netlink_fd, absl::Span<const Proto> protos = kAllProtos);

}  // namespace handover::internal

#endif  // HANDOVER_SOCK_DIAG_H_
