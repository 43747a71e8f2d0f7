// handover: take a running server's listening sockets into its replacement
// through pidfds (Linux >= 5.6), with no help from the old process.
//
// The one header users include. A new instance of a server takes over:
//
//   #include "handover/handover.h"
//
//   absl::StatusOr<handover::Takeover> t =
//       handover::TakeOver({.pidfile = "/run/proxy.pid"}, {.select = "tcp:*:443"});
//   if (!t.ok()) return t.status();         // the old instance was not touched
//   for (handover::TakenSocket& s : t->sockets) Serve(std::move(s.fd));
//   // ...accepting on the copies now; only then ask the old one to drain:
//   absl::StatusOr<handover::DrainResult> d =
//       handover::Drain(t->process, {.signal = SIGTERM, .timeout = absl::Seconds(30)});
//
// And the old instance, to be taken over by an unprivileged supervisor, writes
// its identity (handover::WritePidfile) and, under Yama, allows it with
// handover::AllowTakeoverBy (see permission.h).
//
// Steps: Process::Open proves the pidfd is the intended process (pid reuse);
// CopyListeners copies its fds and keeps its listening/bound sockets in ITS
// network namespace (or DiscoverSockets lists them and TakeSockets copies them);
// ApplySelect narrows them, all or nothing; Drain signals through the pidfd and
// polls it for exit.
#ifndef HANDOVER_HANDOVER_H_
#define HANDOVER_HANDOVER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "handover/copy_listeners.h"
#include "handover/discover.h"
#include "handover/drain.h"
#include "handover/permission.h"
#include "handover/process.h"
#include "handover/select.h"
#include "handover/socket_info.h"
#include "handover/takeover.h"
#include "handover/unique_fd.h"

namespace handover {

// Which process to take over: exactly one of pid (> 0) or pidfile.
struct Target {
  pid_t pid = 0;
  std::string pidfile;
};

// Opens and proves the target. INVALID_ARGUMENT when neither or both are given.
absl::StatusOr<Process> OpenTarget(const Target& target);

// Discovers the sockets of `process`, explains a permission error (cause and
// fix, see permission.h), and applies `select` (select.h; empty = all).
// Errors: those of DiscoverSockets and ApplySelect, with context.
absl::StatusOr<std::vector<SocketInfo>> ListSockets(const Process& process,
                                                    absl::string_view select,
                                                    const DiscoverOptions& options = {});

struct TakeoverOptions {
  std::string select;          // --select syntax (select.h); empty = every socket found
  DiscoverOptions discover;
  // How the sockets are found and copied:
  enum class Path {
    kAuto,       // copy first; list first when that is refused (EPERM from
                 // pidfd_getfd on any fd, setns, sock_diag missing) or when
                 // discover.method is kProcNet
    kCopyFirst,  // copy every fd, keep the sockets (copy_listeners.h): one syscall per
                 // target fd plus one batched read; needs sock_diag. Errors returned.
    kListFirst,  // read /proc/PID/fd, then copy only the selected sockets
                 // (discover.h, takeover.h): copies nothing else.
  };
  Path path = Path::kAuto;
};

struct Takeover {
  Process process;                  // the proven old instance (pidfd held)
  std::vector<TakenSocket> sockets; // in the old instance's fd order
  absl::Duration elapsed;           // open + prove + discover + take + verify
};

// Opens, discovers, selects and takes, all or nothing. On error nothing is held
// and the old process is untouched. Errors: those of OpenTarget, DiscoverSockets,
// ApplySelect (NOT_FOUND when a spec matches nothing, or nothing is listening)
// and TakeSockets.
absl::StatusOr<Takeover> TakeOver(const Target& target, const TakeoverOptions& options = {});

}  // namespace handover

#endif  // HANDOVER_HANDOVER_H_
