// ScmServer: the serving half of the SCM_RIGHTS baseline (protocol in scm_rights.h).
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "handover/scm_rights.h"
#include "handover/scm_wire.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover {
namespace {

constexpr size_t kMaxRequest = 64;
constexpr size_t kMaxName = 255;

// Called after bind() hit EADDRINUSE. Unlinks `path` only if it is a socket
// nobody listens on (connect() -> ECONNREFUSED). A small race remains: a new
// server may bind between our probe and the unlink (same as HAProxy and systemd).
absl::Status RemoveStaleSocket(const internal::UnixAddr& addr, const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) return absl::OkStatus();  // vanished meanwhile
    return ErrnoError(err, absl::StrFormat("lstat(%s)", path));
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::AlreadyExistsError(
        absl::StrFormat("%s exists and is not a socket; not replacing it", path));
  }
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd probe, sys::Socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
  if (::connect(probe.get(), addr.get(), addr.len) == 0 || errno == EAGAIN) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "a server is already listening on %s; stop it or pick another --control_socket", path));
  }
  const int err = errno;
  if (err == ENOENT) return absl::OkStatus();
  if (err != ECONNREFUSED) return ErrnoError(err, absl::StrFormat("connect(%s)", path));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    const int unlink_err = errno;
    return ErrnoError(unlink_err, absl::StrFormat("unlink(stale socket %s)", path));
  }
  return absl::OkStatus();
}

absl::Status BindUnix(int fd, const std::string& path) {
  HANDOVER_ASSIGN_OR_RETURN(internal::UnixAddr addr, internal::MakeUnixAddr(path));
  if (::bind(fd, addr.get(), addr.len) == 0) return absl::OkStatus();
  int err = errno;
  if (err != EADDRINUSE) return ErrnoError(err, absl::StrFormat("bind(%s)", path));
  HANDOVER_RETURN_IF_ERROR(RemoveStaleSocket(addr, path));
  if (::bind(fd, addr.get(), addr.len) == 0) return absl::OkStatus();
  err = errno;
  return ErrnoError(err, absl::StrFormat("bind(%s) after removing a stale socket", path));
}

// Reads the request line ("GET v1\n"), bounded by kMaxRequest and `deadline`.
absl::StatusOr<std::string> ReadRequest(int fd, absl::Time deadline) {
  std::string line;
  char buf[kMaxRequest];
  while (line.find('\n') == std::string::npos) {
    if (line.size() >= kMaxRequest) return absl::InvalidArgumentError("request line too long");
    HANDOVER_RETURN_IF_ERROR(internal::WaitFor(fd, POLLIN, deadline, "waiting for the request"));
    const ssize_t n = ::recv(fd, buf, kMaxRequest - line.size(), MSG_DONTWAIT);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR || err == EAGAIN) continue;
      return ErrnoError(err, absl::StrFormat("recv(%d)", fd));
    }
    if (n == 0) return absl::InvalidArgumentError("connection closed before a full request");
    line.append(buf, static_cast<size_t>(n));
  }
  line.resize(line.find('\n'));
  return line;
}

absl::Status CheckRequest(absl::string_view request) {
  if (request == "GET v1") return absl::OkStatus();
  if (absl::StartsWith(request, "GET ")) {
    return absl::UnimplementedError(absl::StrFormat(
        "unsupported protocol version '%s'; this server speaks v1", request.substr(4)));
  }
  return absl::InvalidArgumentError(absl::StrFormat("malformed request '%s'",
                                                    absl::CHexEscape(request)));
}

absl::StatusOr<std::string> OkHeader(size_t n_fds, absl::Span<const std::string> names) {
  if (!names.empty() && names.size() != n_fds) {
    return absl::InternalError(
        absl::StrFormat("server bug: %d names for %d listeners", names.size(), n_fds));
  }
  std::string header = absl::StrFormat("OK v1 %d\n", n_fds);
  for (size_t i = 0; i < n_fds; ++i) {
    const absl::string_view name = names.empty() ? "" : absl::string_view(names[i]);
    if (name.size() > kMaxName || name.find('\n') != absl::string_view::npos) {
      return absl::InternalError(absl::StrFormat("server bug: invalid listener name #%d", i));
    }
    absl::StrAppend(&header, name, "\n");
  }
  return header;
}

// Tells the client why it is refused (best effort) and returns `why`.
absl::Status Refuse(int fd, absl::Status why, absl::Time deadline) {
  (void)internal::SendAll(fd,
                          absl::StrFormat("ERR %s %s\n", absl::StatusCodeToString(why.code()),
                                          why.message()),
                          deadline);
  return why;
}

absl::Status Serve(int fd, const struct ucred& peer, absl::Span<const int> listener_fds,
                   absl::Span<const std::string> names, absl::Time deadline) {
  // Read the request first even from a client we refuse: closing with unread
  // data would turn its EOF into ECONNRESET and hide our ERR line.
  HANDOVER_ASSIGN_OR_RETURN(std::string request, ReadRequest(fd, deadline));
  const uid_t me = ::geteuid();
  if (peer.uid != me && peer.uid != 0) {
    return Refuse(fd,
                  absl::PermissionDeniedError(absl::StrFormat(
                      "peer uid %d is neither this server's uid %d nor root", peer.uid, me)),
                  deadline);
  }
  if (absl::Status s = CheckRequest(request); !s.ok()) return Refuse(fd, s, deadline);
  absl::StatusOr<std::string> header = OkHeader(listener_fds.size(), names);
  if (!header.ok()) return Refuse(fd, header.status(), deadline);
  HANDOVER_RETURN_IF_ERROR(internal::SendAll(fd, *header, deadline));
  return internal::SendFds(fd, listener_fds, deadline);
}

}  // namespace

absl::StatusOr<ScmServer> ScmServer::Listen(const std::string& path, ScmServerOptions options) {
  if (path.empty() || path[0] == '@') {
    return absl::InvalidArgumentError(absl::StrFormat(
        "control socket '%s': need a filesystem path (its mode 0600 is the first check)", path));
  }
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, sys::Socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
  // bind() creates the file with the socket inode's mode minus the umask, so a
  // mode set here applies from the first instant (no chmod race, no umask change).
  if (::fchmod(fd.get(), 0600) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("fchmod(socket %d, 0600)", fd.get()));
  }
  HANDOVER_RETURN_IF_ERROR(BindUnix(fd.get(), path));
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("lstat(%s)", path));
  }
  ScmServer server(std::move(fd), path, st.st_dev, st.st_ino, options);
  if (::listen(server.fd(), options.backlog) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("listen(%s, %d)", path, options.backlog));
  }
  return server;
}

ScmServer::ScmServer(ScmServer&& other) noexcept
    : fd_(std::move(other.fd_)),
      path_(std::exchange(other.path_, std::string())),
      dev_(other.dev_),
      ino_(other.ino_),
      options_(other.options_) {}

ScmServer& ScmServer::operator=(ScmServer&& other) noexcept {
  if (this != &other) {
    UnlinkIfOurs();
    fd_ = std::move(other.fd_);
    path_ = std::exchange(other.path_, std::string());
    dev_ = other.dev_;
    ino_ = other.ino_;
    options_ = other.options_;
  }
  return *this;
}

ScmServer::~ScmServer() { UnlinkIfOurs(); }

void ScmServer::UnlinkIfOurs() {
  if (path_.empty()) return;
  struct stat st;
  // A successor may have replaced the file with its own socket: leave that one.
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    (void)::unlink(path_.c_str());
  }
  path_.clear();
}

absl::Status ScmServer::HandleReadable(absl::Span<const int> listener_fds,
                                       absl::Span<const std::string> names) {
  UniqueFd client(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!client.valid()) {
    const int err = errno;
    if (err == EAGAIN || err == EINTR || err == ECONNABORTED) return absl::OkStatus();
    return ErrnoError(err, absl::StrFormat("accept4(%s)", path_));
  }
  const absl::Time deadline = absl::Now() + options_.client_timeout;
  HANDOVER_ASSIGN_OR_RETURN(struct ucred peer, sys::GetPeerCred(client.get()));
  return WithContext(Serve(client.get(), peer, listener_fds, names, deadline),
                     absl::StrFormat("control client pid %d uid %d on %s", peer.pid, peer.uid,
                                     path_));
}

}  // namespace handover
