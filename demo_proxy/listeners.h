// Where demo_proxy's listening sockets come from, and how it accepts on them.
//
//   HANDOVER_ASSIGN_OR_RETURN(std::vector<Listener> ls,
//                             OpenListeners({.listen = {"127.0.0.1:8080"}}));
//
// Sources, tried in this order:
//   1. Inherited by socket activation (LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES, fds from 3).
//   2. TODO(#3) taken over from a running process with pidfd_getfd (TakeOverListeners).
//   3. TODO(#3) fetched over SCM_RIGHTS from a running process (FetchListenersOverScm).
//   4. Bound fresh for every --listen address no adopted socket already has.
// With --listen empty every adopted socket is used; otherwise each --listen address
// claims the adopted socket bound to exactly that address, and unclaimed adopted
// sockets are closed (our copy only: the socket lives on in any other holder).
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
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "handover/unique_fd.h"

namespace handover::demo {

struct Listener {
  UniqueFd fd;
  std::string address;  // FormatAddress(getsockname): "127.0.0.1:8080", "unix:/run/x.sock"
  std::string origin;   // "bound", "inherited" (later also "taken", "scm")
};

struct ListenerOptions {
  std::vector<std::string> listen;     // addresses to serve (see address.h)
  int backlog = 1024;
  bool adopt_blocking_listeners = false;
  // TODO(#3): the lead fills these in after merging process/takeover/scm_rights.
  std::string takeover_pidfile;        // take listeners from the process in this pidfile
  pid_t takeover_pid = 0;              // ... or from this pid
  std::string scm_socket;              // fetch listeners over SCM_RIGHTS from this path
};

// Opens every listener (see the file comment). All-or-nothing: on error every fd
// opened so far is closed (a unix path bound here is not unlinked: it may already
// be in use by a client; the operator removes stale paths).
absl::StatusOr<std::vector<Listener>> OpenListeners(const ListenerOptions& options);

// TODO(#3) seam: pidfd_getfd every listening socket of the old instance
// (Process::Open/OpenPidfile + handover takeover). Returns UNIMPLEMENTED today.
absl::StatusOr<std::vector<UniqueFd>> TakeOverListeners(const ListenerOptions& options);

// TODO(#3) seam: fetch the old instance's listeners over SCM_RIGHTS from
// options.scm_socket (handover/scm_rights.h). Returns UNIMPLEMENTED today.
absl::StatusOr<std::vector<UniqueFd>> FetchListenersOverScm(const ListenerOptions& options);

// Accepts up to `max` connections from non-blocking listener `fd` with
// accept4(SOCK_NONBLOCK | SOCK_CLOEXEC), handing each to `on_accept`. Stops early at
// EAGAIN (another holder may have won the race: normal). Skips per-connection errors
// (ECONNABORTED, EPROTO, network errors). Returns RESOURCE_EXHAUSTED for
// EMFILE/ENFILE/ENOBUFS/ENOMEM: the caller stops watching the listener until a
// connection closes, or level-triggered epoll would spin on it.
absl::Status AcceptBatch(int fd, int max, const std::function<void(UniqueFd)>& on_accept);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_LISTENERS_H_
