// conn_holder: makes the host "busy" for discovery benchmarks by holding N
// established loopback TCP connections (both ends, 2N fds; N is bounded by
// RLIMIT_NOFILE: start several for more) spread over P
// listener ports on 127.0.0.1 (connect() reuses source ports across
// destinations, so N may exceed the ephemeral range), prints "ready", waits
// for SIGTERM. Every socket has SO_LINGER {1, 0}: exit resets them instead of
// leaving N TIME_WAIT entries that would slow the next measurement.
//
//   conn_holder --connections=100000 --ports=8   -> "ready"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "gflags/gflags.h"

DEFINE_int32(connections, 10000, "established connections to hold");
DEFINE_int32(ports, 8, "listener ports to spread them over");

namespace {

[[noreturn]] void Die(const char* what) {
  ::fprintf(stderr, "conn_holder: %s: %s\n", what, ::strerror(errno));
  ::exit(1);
}

void NoLinger(int fd) {
  const struct linger no_linger = {.l_onoff = 1, .l_linger = 0};
  if (::setsockopt(fd, SOL_SOCKET, SO_LINGER, &no_linger, sizeof(no_linger)) != 0) {
    Die("SO_LINGER");
  }
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);

  // 2 fds per connection: raise the soft limit to the hard one (run several
  // holders when that is not enough).
  struct rlimit rl = {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) Die("getrlimit");
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) Die("setrlimit(RLIMIT_NOFILE)");

  std::vector<sockaddr_in> addrs;
  std::vector<int> listeners;
  for (int i = 0; i < FLAGS_ports; ++i) {
    const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0) Die("socket");
    sockaddr_in in = {};
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(l, reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0) Die("bind");
    if (::listen(l, 1024) != 0) Die("listen");
    socklen_t len = sizeof(in);
    ::getsockname(l, reinterpret_cast<sockaddr*>(&in), &len);
    addrs.push_back(in);
    listeners.push_back(l);
  }
  for (int i = 0; i < FLAGS_connections; ++i) {
    const int port = i % FLAGS_ports;
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0) Die("socket");
    NoLinger(c);
    if (::connect(c, reinterpret_cast<const sockaddr*>(&addrs[port]), sizeof(addrs[port])) != 0) {
      Die("connect");
    }
    const int a = ::accept4(listeners[port], nullptr, nullptr, SOCK_CLOEXEC);
    if (a < 0) Die("accept4");
    NoLinger(a);
  }
  // The listeners are closed: only established connections remain.
  for (int l : listeners) ::close(l);
  ::printf("ready\n");
  ::fflush(stdout);
  int sig = 0;
  ::sigwait(&set, &sig);
  return 0;
}
