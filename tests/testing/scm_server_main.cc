// scm_server: serves N TCP listeners with handover::ScmServer from a poll loop.
//
//   scm_server --socket=/tmp/x/ctl.sock --tcp=3
//   -> "fd=4 inode=123" x3, "ready"; then per client "served" or "error: <status>";
//      exits 0 on SIGTERM (the ScmServer unlinks its socket).
// Tests stop it with SIGSTOP to play an old instance that does not answer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gflags/gflags.h"
#include "handover/scm_rights.h"
#include "handover/unique_fd.h"

DEFINE_string(socket, "", "control socket path");
DEFINE_int32(tcp, 1, "TCP listeners on 127.0.0.1:0");
DEFINE_int32(client_timeout_ms, 1000, "ScmServerOptions::client_timeout");
DEFINE_bool(names, true, "name the listeners l0, l1, ...");
DEFINE_int32(busy_ms, 0,
             "play a loaded event loop: after each poll, compute for this long before "
             "looking at events again (0 = idle, answer at once)");

namespace {

[[noreturn]] void Die(const char* what) {
  ::fprintf(stderr, "scm_server: %s: %s\n", what, ::strerror(errno));
  ::exit(1);
}

// Keeps the CPU busy for `ms`, as a request handler that blocks the loop would.
void Compute(int ms) {
  const absl::Time until = absl::Now() + absl::Milliseconds(ms);
  while (absl::Now() < until) {
  }
}

handover::UniqueFd TcpListener() {
  handover::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) Die("socket");
  struct sockaddr_in in = {};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0) Die("bind");
  if (::listen(fd.get(), 16) != 0) Die("listen");
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  handover::UniqueFd sigfd(::signalfd(-1, &set, SFD_CLOEXEC));
  if (!sigfd.valid()) Die("signalfd");

  std::vector<handover::UniqueFd> listeners;
  std::vector<int> fds;
  std::vector<std::string> names;
  for (int i = 0; i < FLAGS_tcp; ++i) {
    listeners.push_back(TcpListener());
    fds.push_back(listeners.back().get());
    if (FLAGS_names) names.push_back(absl::StrCat("l", i));
    struct stat st;
    if (::fstat(fds.back(), &st) != 0) Die("fstat");
    ::printf("fd=%d inode=%lu\n", fds.back(), static_cast<unsigned long>(st.st_ino));
  }
  auto server = handover::ScmServer::Listen(
      FLAGS_socket, {.client_timeout = absl::Milliseconds(FLAGS_client_timeout_ms)});
  if (!server.ok()) {
    ::fprintf(stderr, "scm_server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  ::printf("ready\n");
  ::fflush(stdout);
  for (;;) {
    struct pollfd pfds[2] = {{.fd = server->fd(), .events = POLLIN, .revents = 0},
                             {.fd = sigfd.get(), .events = POLLIN, .revents = 0}};
    if (FLAGS_busy_ms > 0) Compute(FLAGS_busy_ms);
    if (::poll(pfds, 2, FLAGS_busy_ms > 0 ? 0 : -1) < 0) {
      if (errno == EINTR) continue;
      Die("poll");
    }
    if (pfds[1].revents != 0) return 0;
    if (pfds[0].revents == 0) continue;
    const absl::Status s = server->HandleReadable(fds, names);
    ::printf("%s\n", s.ok() ? "served" : ("error: " + s.ToString()).c_str());
    ::fflush(stdout);
  }
}
