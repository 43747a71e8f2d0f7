#include "demo_proxy/listeners.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "demo_proxy/address.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover::demo {
namespace {

constexpr int kListenFdsStart = 3;  // SD_LISTEN_FDS_START

// TODO(#3): replace with handover::TakeInheritedFds (handover/activation.h).
// Minimal sd_listen_fds(unset_environment=1): fds meant for another pid are left alone.
absl::StatusOr<std::vector<UniqueFd>> TakeListenFdsFromEnv() {
  std::vector<UniqueFd> out;
  const char* pid_text = ::getenv("LISTEN_PID");
  const char* fds_text = ::getenv("LISTEN_FDS");
  if (pid_text == nullptr || fds_text == nullptr) return out;
  int pid = 0, n = 0;
  const bool parsed = absl::SimpleAtoi(pid_text, &pid) && absl::SimpleAtoi(fds_text, &n);
  const bool for_us = parsed && pid == ::getpid();
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!parsed || n < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bad LISTEN_PID='%s' LISTEN_FDS='%s'", pid_text, fds_text));
  }
  if (!for_us) return out;
  for (int fd = kListenFdsStart; fd < kListenFdsStart + n; ++fd) {
    out.emplace_back(fd);  // owned from here on, so every return path closes it
    // FD_CLOEXEC is per descriptor, not shared with other holders: safe to set.
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
      const int err = errno;
      return ErrnoError(err, absl::StrFormat("fcntl(%d, F_SETFD, FD_CLOEXEC) (LISTEN_FDS)", fd));
    }
  }
  return out;
}

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

// Picks, for every --listen address, the adopted listener with that address or binds one.
absl::StatusOr<std::vector<Listener>> Claim(const ListenerOptions& options,
                                            std::vector<Listener> adopted) {
  if (options.listen.empty()) return adopted;
  std::vector<Listener> out;
  for (const std::string& text : options.listen) {
    HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr addr, ParseAddress(text));
    const std::string want = FormatAddress(addr);
    auto it = std::find_if(adopted.begin(), adopted.end(),
                           [&](const Listener& l) { return l.fd.valid() && l.address == want; });
    if (it != adopted.end()) {
      out.push_back(std::move(*it));
      continue;
    }
    absl::StatusOr<UniqueFd> fd = BindListener(addr, options.backlog);
    if (!fd.ok()) return WithContext(fd.status(), absl::StrCat("--listen=", text));
    HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr bound, sys::GetSockName(fd->get()));
    out.push_back({.fd = *std::move(fd), .address = FormatAddress(bound), .origin = "bound"});
  }
  return out;  // unclaimed adopted listeners close here
}

}  // namespace

absl::StatusOr<std::vector<UniqueFd>> TakeOverListeners(const ListenerOptions& options) {
  if (options.takeover_pid == 0 && options.takeover_pidfile.empty()) {
    return std::vector<UniqueFd>();
  }
  // TODO(#3): Process::OpenPidfile / Process::Open, discover listeners, pidfd_getfd each.
  return absl::UnimplementedError("taking over listeners by pidfd is not wired yet (TODO(#3))");
}

absl::StatusOr<std::vector<UniqueFd>> FetchListenersOverScm(const ListenerOptions& options) {
  if (options.scm_socket.empty()) return std::vector<UniqueFd>();
  // TODO(#3): handover scm_rights fetch from options.scm_socket.
  return absl::UnimplementedError("fetching listeners over SCM_RIGHTS is not wired yet (TODO(#3))");
}

absl::StatusOr<std::vector<Listener>> OpenListeners(const ListenerOptions& options) {
  std::vector<Listener> adopted;
  const bool blocking_ok = options.adopt_blocking_listeners;
  HANDOVER_ASSIGN_OR_RETURN(std::vector<UniqueFd> inherited, TakeListenFdsFromEnv());
  HANDOVER_RETURN_IF_ERROR(AdoptAll(std::move(inherited), "inherited", blocking_ok, adopted));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<UniqueFd> taken, TakeOverListeners(options));
  HANDOVER_RETURN_IF_ERROR(AdoptAll(std::move(taken), "taken", blocking_ok, adopted));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<UniqueFd> fetched, FetchListenersOverScm(options));
  HANDOVER_RETURN_IF_ERROR(AdoptAll(std::move(fetched), "scm", blocking_ok, adopted));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<Listener> out, Claim(options, std::move(adopted)));
  if (out.empty()) {
    return absl::InvalidArgumentError("no listeners: pass --listen or inherit sockets");
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
