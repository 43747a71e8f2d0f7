// Where demo_proxy's listening sockets come from, and how it accepts on them.
//
//   HANDOVER_ASSIGN_OR_RETURN(OpenedListeners opened,
//                             OpenListeners({.listen = {"127.0.0.1:8080"}}));
//
// Sources, in this order (docs/demo_proxy.md):
//   1. Inherited by socket activation (handover::TakeInheritedFds: LISTEN_PID/LISTEN_FDS/
//      LISTEN_FDNAMES or NGINX=, fds from 3), origin "inherited".
//   2. Taken from the old instance (predecessor.h): pidfd_getfd ("taken"), or
//      SCM_RIGHTS from its control socket ("scm"), or pidfd with SCM_RIGHTS as the
//      fallback when the kernel refuses pidfd_getfd.
//   3. Bound fresh for every --listen address no adopted socket already has ("bound").
// Every adopted socket is checked: a listening stream socket, non-blocking (below).
// With --listen empty every adopted socket is used, except the old instance's control
// socket (a unix listener at a control path, see ListenerOptions::control_paths);
// otherwise each --listen address claims the adopted socket bound to exactly that
// address, and unclaimed adopted sockets are closed and logged (our copy only: the
// socket lives on in any other holder), as tableflip and HAProxy do.
//
// Blocking mode (kernel-notes §2, §5): O_NONBLOCK lives in the open file description,
// which an inherited or taken socket SHARES with every other holder, so changing it
// changes the previous owner's accept() too. demo_proxy therefore never touches the
// status flags of a socket it did not create. It accepts only on non-blocking
// listeners: a blocking one could block the whole loop in accept4() whenever another
// holder won the race for the connection epoll reported. So an adopted socket that is
// in blocking mode is refused (FAILED_PRECONDITION) unless adopt_blocking_listeners is
// set, which sets O_NONBLOCK for every holder. That is safe when no other holder calls
// a blocking accept() on it: systemd socket units without NonBlocking=yes (systemd only
// polls), and every proxy in this project (they create listeners non-blocking, as nginx,
// HAProxy and Envoy do). Sockets bound here are created with SOCK_NONBLOCK.
#ifndef HANDOVER_DEMO_PROXY_LISTENERS_H_
#define HANDOVER_DEMO_PROXY_LISTENERS_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "demo_proxy/predecessor.h"
#include "handover/unique_fd.h"

namespace handover::demo {

struct Listener {
  UniqueFd fd;
  std::string address;  // FormatAddress(getsockname): "127.0.0.1:8080", "unix:/run/x.sock"
  std::string origin;   // "bound", "inherited", "taken" (pidfd) or "scm"
};

struct ListenerOptions {
  std::vector<std::string> listen;     // addresses to serve (see address.h)
  int backlog = 1024;
  bool adopt_blocking_listeners = false;
  // SO_REUSEPORT on the TCP listeners bound here (not on adopted ones): a successor
  // can then bind its own socket on the same address and overlap with this instance
  // (the SO_REUSEPORT handover that scripts/bench/macro.sh compares against).
  bool reuseport = false;
  PredecessorSource takeover;          // the old instance, if any
  // Control socket paths (--control_socket, --takeover_scm): a unix listener bound
  // at one of them, or at "PATH.tmp.*" (control.h binds there, then renames), is
  // the old instance's control socket and is never served as a proxy listener.
  std::vector<std::string> control_paths;
};

struct OpenedListeners {
  std::vector<Listener> listeners;
  std::optional<Predecessor> predecessor;  // set after a takeover; its fds moved out
  size_t unclaimed_closed = 0;             // adopted sockets closed as unclaimed
};

// Opens every listener (see the file comment). All-or-nothing: on error every fd
// opened so far is closed (a unix path bound here is not unlinked: it may already
// be in use by a client; the operator removes stale paths). Nothing is signalled.
// Errors: those of TakeInheritedFds and TakeFromPredecessor, FAILED_PRECONDITION for
// an adopted fd that is not a non-blocking listening stream socket, bind errors,
// INVALID_ARGUMENT when no listener results.
absl::StatusOr<OpenedListeners> OpenListeners(const ListenerOptions& options);

// Accepts up to `max` connections from non-blocking listener `fd` with
// accept4(SOCK_NONBLOCK | SOCK_CLOEXEC), handing each to `on_accept`. Stops early at
// EAGAIN (another holder may have won the race: normal). Skips per-connection errors
// (ECONNABORTED, EPROTO, network errors). Returns RESOURCE_EXHAUSTED for
// EMFILE/ENFILE/ENOBUFS/ENOMEM: the caller stops watching the listener until a
// connection closes, or level-triggered epoll would spin on it.
absl::Status AcceptBatch(int fd, int max, const std::function<void(UniqueFd)>& on_accept);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_LISTENERS_H_
