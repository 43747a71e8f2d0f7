// The SCM_RIGHTS baseline, as HAProxy (`expose-fd listeners`) and Envoy hot
// restart do it: the old instance serves its listeners on an AF_UNIX control
// socket, the new instance connects and receives them. It needs the old process
// to answer (compare pidfd_getfd, which does not) and is the comparison baseline.
//
// Old instance, inside its epoll loop:
//   HANDOVER_ASSIGN_OR_RETURN(ScmServer server, ScmServer::Listen("/run/proxy.sock"));
//   loop.Add(server.fd(), [&] {
//     absl::Status s = server.HandleReadable(listener_fds, names);
//     if (!s.ok()) LOG(WARNING) << s;  // one bad client never stops the server
//   });
// New instance:
//   HANDOVER_ASSIGN_OR_RETURN(ScmFetchResult r,
//                             FetchListeners("/run/proxy.sock", absl::Seconds(2)));
//
// Wire protocol v1 (one client per connection, SOCK_STREAM):
//   client -> server   "GET v1\n"
//   server -> client   "OK v1 <n>\n", then n lines "<name>\n" (names may be empty,
//                      never contain '\n', at most 255 bytes), then ceil(n / 253)
//                      messages of one data byte '.' each carrying up to 253 fds
//                      (SCM_RIGHTS, in listener order), then the server closes.
//   or on refusal      "ERR <CODE> <text>\n" and close, CODE one of
//                      PERMISSION_DENIED, UNIMPLEMENTED (unknown version),
//                      INVALID_ARGUMENT (malformed request), INTERNAL.
// 253 is the kernel's SCM_MAX_FD; stream sockets need >= 1 data byte per message.
#ifndef HANDOVER_SCM_RIGHTS_H_
#define HANDOVER_SCM_RIGHTS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "handover/unique_fd.h"

namespace handover {

struct ScmServerOptions {
  // Bound on one client's whole exchange (request + reply). HandleReadable
  // serves a client synchronously, so this is also the longest time it can hold
  // up the caller's event loop; a client that has not sent its request by then
  // is dropped.
  absl::Duration client_timeout = absl::Seconds(1);
  int backlog = 16;
};

// Serves a listener set on an AF_UNIX SOCK_STREAM socket bound at a path.
// Move-only. The listening socket is non-blocking and close-on-exec; the
// socket file is created with mode 0600 (fchmod of the socket before bind(), so
// no window with a wider mode and no process-wide umask change). On destruction
// the path is unlinked if it still names the socket this server created.
class ScmServer {
 public:
  // Binds and listens at `path`. A stale socket file at `path` (connect() gives
  // ECONNREFUSED) is replaced. Errors: ALREADY_EXISTS (a live server answers at
  // `path`, or `path` is not a socket), INVALID_ARGUMENT (path too long),
  // plus errno-derived codes from socket/bind/listen.
  static absl::StatusOr<ScmServer> Listen(const std::string& path,
                                          ScmServerOptions options = {});

  ScmServer(ScmServer&& other) noexcept;
  ScmServer& operator=(ScmServer&& other) noexcept;
  ~ScmServer();

  // The listening socket (borrowed): register it for EPOLLIN/POLLIN.
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

  // Accepts at most one pending client and serves it: checks its SO_PEERCRED
  // (same uid as this process or uid 0), reads its request, sends `listener_fds`
  // (borrowed, unchanged) with `names` (empty, or one per fd), closes it.
  // Blocks for at most options.client_timeout. Returns OK when no client was
  // pending (spurious wake-up). Errors concern that one client only, and name its
  // uid and pid: PERMISSION_DENIED (other uid), DEADLINE_EXCEEDED (no request in
  // time), UNIMPLEMENTED / INVALID_ARGUMENT (bad request), errno codes (peer gone).
  absl::Status HandleReadable(absl::Span<const int> listener_fds,
                              absl::Span<const std::string> names);

 private:
  ScmServer(UniqueFd fd, std::string path, dev_t dev, ino_t ino, ScmServerOptions options)
      : fd_(std::move(fd)), path_(std::move(path)), dev_(dev), ino_(ino), options_(options) {}
  void UnlinkIfOurs();

  UniqueFd fd_;
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  ScmServerOptions options_;
};

struct ScmFetchResult {
  std::vector<UniqueFd> fds;        // owned, close-on-exec, in the server's order
  std::vector<std::string> names;   // one per fd
  pid_t peer_pid = -1;              // the server, from SO_PEERCRED
  uid_t peer_uid = static_cast<uid_t>(-1);
  // pidfd of the server: SO_PEERPIDFD (Linux >= 6.5) pins the very process that
  // called listen(). On older kernels it comes from pidfd_open(peer_pid), which
  // can race with pid reuse: the caller should prove identity (handover Process).
  UniqueFd peer_pidfd;
};

// Connects to the ScmServer at `path` and receives its listeners. All or
// nothing: on any error every fd received so far is closed. `timeout` covers
// connect and the whole exchange; the call never blocks longer.
// Errors: NOT_FOUND (no socket at path), PERMISSION_DENIED (EACCES on the path,
// or the server refused our uid), UNAVAILABLE (stale socket, nobody listening),
// DEADLINE_EXCEEDED (the server does not answer, e.g. SIGSTOPped),
// RESOURCE_EXHAUSTED (MSG_CTRUNC: our RLIMIT_NOFILE is too low),
// DATA_LOSS (the server closed early or sent a malformed reply).
absl::StatusOr<ScmFetchResult> FetchListeners(const std::string& path, absl::Duration timeout);

}  // namespace handover

#endif  // HANDOVER_SCM_RIGHTS_H_
