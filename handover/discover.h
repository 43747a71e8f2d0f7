// Discovery of a target process's listening and bound sockets, without any help
// from the target (kernel-notes §4):
//   1. /proc/PID/fd through the proven proc_dir fd: socket:[INODE] -> fd;
//   2. the sockets of the TARGET's network namespace: NETLINK_SOCK_DIAG dumps
//      (setns into its netns when it differs from ours), or the text of
//      /proc/PID/net/{tcp,tcp6,udp,udp6,unix} when setns is refused;
//   3. a join by inode, then (optionally) a pidfd_getfd copy of each socket to read
//      SO_REUSEPORT and confirm the socket type and inode.
//
//   HANDOVER_ASSIGN_OR_RETURN(Process old, Process::Open(pid));
//   HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> sockets, DiscoverSockets(old));
//   for (const SocketInfo& s : sockets) std::cout << FormatSocket(s) << "\n";
#ifndef HANDOVER_DISCOVER_H_
#define HANDOVER_DISCOVER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "handover/process.h"
#include "handover/socket_info.h"

namespace handover {

struct DiscoverOptions {
  enum class Method {
    kAuto,      // sock_diag; /proc/PID/net when entering the target's netns is refused
                // (EPERM: unprivileged), setns(pidfd) is unsupported (Linux < 5.8) or
                // the diag modules are missing (ENOENT)
    kSockDiag,  // sock_diag only: its errors are returned
    kProcNet,   // /proc/PID/net text only (slower on busy hosts: it lists every socket)
  };
  Method method = Method::kAuto;
  // pidfd_getfd a temporary copy of each found socket to read SO_REUSEPORT and to
  // confirm SO_TYPE and the inode. When that is refused (PERMISSION_DENIED),
  // reuseport stays nullopt and discovery carries on.
  bool inspect_copies = true;
};

// Lists the sockets a replacement would take over from the process behind `pidfd`
// and `proc_dir` (both borrowed; proc_dir is an O_DIRECTORY fd of /proc/PID that
// belongs to the same process, see Process): TCP/TCP6 listeners, bound unconnected
// UDP/UDP6 sockets with a nonzero port, unix stream/seqpacket listeners (named,
// abstract or unnamed). Established connections, unbound sockets, pipes and files
// are never listed. Each member of a SO_REUSEPORT group is its own entry. A socket
// present at several fds is listed once, at its lowest fd, with the others in
// duplicate_fds. Results are sorted by fd. Works on a SIGSTOPped target.
// Temporary copies (inspect_copies) are closed before returning. May briefly
// setns() the CALLING THREAD into the target's network namespace (always restored).
// Does not block.
// Errors: NOT_FOUND (the process has exited), PERMISSION_DENIED (no ptrace-read
// access to /proc/PID/fd), ABORTED (an fd changed between listing and inspecting:
// retry), others from the syscalls with context.
absl::StatusOr<std::vector<SocketInfo>> DiscoverSockets(int pidfd, int proc_dir,
                                                        const DiscoverOptions& options = {});

// Same, for a proven Process (forwards pidfd() and proc_dir()).
absl::StatusOr<std::vector<SocketInfo>> DiscoverSockets(const Process& process,
                                                        const DiscoverOptions& options = {});

}  // namespace handover

#endif  // HANDOVER_DISCOVER_H_
