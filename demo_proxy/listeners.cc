#include "demo_proxy/listeners.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "demo_proxy/address.h"
#include "glog/logging.h"
#include "handover/activation.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover::demo {
namespace {

// Checks an adopted fd is a listening stream socket in non-blocking mode (see the
// header for why blocking ones are refused or, on request, switched for every holder).
absl::StatusOr<Listener> Adopt(UniqueFd fd, const std::string& origin, bool adopt_blocking) {
  const int raw = fd.get();
  HANDOVER_ASSIGN_OR_RETURN(int listening, sys::GetSockOptInt(raw, SOL_SOCKET, SO_ACCEPTCONN));
  HANDOVER_ASSIGN_OR_RETURN(int type, sys::GetSockOptInt(raw, SOL_SOCKET, SO_TYPE));
  if (listening != 1 || type != SOCK_STREAM) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s fd %d is not a listening stream socket", origin, raw));
  }
  const int flags = ::fcntl(raw, F_GETFL);
  if (flags < 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("fcntl(%d, F_GETFL)", raw));
  }
  if ((flags & O_NONBLOCK) == 0) {
    if (!adopt_blocking) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s listener fd %d is in blocking mode; demo_proxy does not change the status flags "
          "of a socket it shares with another process. Have its creator make it non-blocking "
          "(systemd: NonBlocking=yes) or pass --adopt_blocking_listeners if no other holder "
          "calls a blocking accept() on it",
          origin, raw));
    }
    if (::fcntl(raw, F_SETFL, flags | O_NONBLOCK) != 0) {
      const int err = errno;
      return ErrnoError(err, absl::StrFormat("fcntl(%d, F_SETFL, O_NONBLOCK)", raw));
    }
  }
  HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr addr, sys::GetSockName(raw));
  return Listener{.fd = std::move(fd), .address = FormatAddress(addr), .origin = origin};
}

absl::Status AdoptAll(std::vector<UniqueFd> fds, const std::string& origin, bool adopt_blocking,
                      std::vector<Listener>& out) {
  for (UniqueFd& fd : fds) {
    HANDOVER_ASSIGN_OR_RETURN(Listener l, Adopt(std::move(fd), origin, adopt_blocking));
    out.push_back(std::move(l));
  }
  return absl::OkStatus();
}

bool IsControlSocket(const Listener& l, const std::vector<std::string>& control_paths) {
  for (const std::string& path : control_paths) {
    const std::string name = absl::StrCat("unix:", path);
    if (l.address == name || absl::StartsWith(l.address, name + ".tmp.")) return true;
  }
  return false;
}

// Closes an adopted listener nobody claims (our copy only) and says so.
void CloseUnclaimed(Listener& l, const char* why, OpenedListeners& out) {
  if (!l.fd.valid()) return;
  LOG(INFO) << "closing " << l.origin << " socket " << l.address << " (fd " << l.fd.get()
            << "): " << why;
  l.fd.Reset();
  ++out.unclaimed_closed;
}

// Picks, for every --listen address, the adopted listener with that address or binds one.
absl::Status Claim(const ListenerOptions& options, std::vector<Listener> adopted,
                   OpenedListeners& out) {
  for (Listener& l : adopted) {
    if (IsControlSocket(l, options.control_paths)) {
      CloseUnclaimed(l, "the old instance's control socket", out);
    }
  }
  if (options.listen.empty()) {
    for (Listener& l : adopted) {
      if (l.fd.valid()) out.listeners.push_back(std::move(l));
    }
    return absl::OkStatus();
  }
  for (const std::string& text : options.listen) {
    HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr addr, ParseAddress(text));
    const std::string want = FormatAddress(addr);
    auto it = std::find_if(adopted.begin(), adopted.end(),
                           [&](const Listener& l) { return l.fd.valid() && l.address == want; });
    if (it != adopted.end()) {
      out.listeners.push_back(std::move(*it));
      continue;
    }
    absl::StatusOr<UniqueFd> fd = BindListener(addr, options.backlog, options.reuseport);
    if (!fd.ok()) return WithContext(fd.status(), absl::StrCat("--listen=", text));
    HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr bound, sys::GetSockName(fd->get()));
    out.listeners.push_back(
        {.fd = *std::move(fd), .address = FormatAddress(bound), .origin = "bound"});
  }
  for (Listener& l : adopted) CloseUnclaimed(l, "not claimed by --listen", out);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OpenedListeners> OpenListeners(const ListenerOptions& options) {
  OpenedListeners out;
  std::vector<Listener> adopted;
  const bool blocking_ok = options.adopt_blocking_listeners;
  HANDOVER_ASSIGN_OR_RETURN(std::vector<InheritedFd> inherited, TakeInheritedFds());
  std::vector<UniqueFd> inherited_fds;
  for (InheritedFd& f : inherited) inherited_fds.push_back(std::move(f.fd));
  HANDOVER_RETURN_IF_ERROR(AdoptAll(std::move(inherited_fds), "inherited", blocking_ok, adopted));
  HANDOVER_ASSIGN_OR_RETURN(out.predecessor, TakeFromPredecessor(options.takeover));
  if (out.predecessor.has_value()) {
    const char* origin = out.predecessor->mode == "pidfd" ? "taken" : "scm";
    HANDOVER_RETURN_IF_ERROR(
        AdoptAll(std::move(out.predecessor->fds), origin, blocking_ok, adopted));
    out.predecessor->fds.clear();
  }
  HANDOVER_RETURN_IF_ERROR(Claim(options, std::move(adopted), out));
  if (out.listeners.empty()) {
    return absl::InvalidArgumentError("no listeners: pass --listen, inherit or take over sockets");
  }
  return out;
}

absl::Status AcceptBatch(int fd, int max, const std::function<void(UniqueFd)>& on_accept) {
  for (int i = 0; i < max; ++i) {
    UniqueFd conn(::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (conn.valid()) {
      on_accept(std::move(conn));
      continue;
    }
    const int err = errno;
    switch (err) {
      case EAGAIN:
        return absl::OkStatus();
      case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
        return ErrnoError(err, absl::StrFormat("accept4(%d)", fd));
      case EINTR: case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT:
      case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
        continue;  // this connection is gone; others may be queued
      default:
        return ErrnoError(err, absl::StrFormat("accept4(%d)", fd));
    }
  }
  return absl::OkStatus();
}

}  // namespace handover::demo
