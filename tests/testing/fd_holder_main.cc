// fd_holder: a test target that holds sockets of every kind handover discovers,
// prints one line per socket and then "ready", and waits for SIGTERM (exit 0).
//
//   fd_holder --tcp=2 --udp=1 --unix=/tmp/x.sock --abstract=name
//   -> "fd=3 inode=123 proto=tcp address=127.0.0.1:41234" ... "ready"
//
// It also holds things that must never be listed (an established TCP pair, a
// pipe, a plain file, an unbound socket) so tests can check they are skipped.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>

#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "gflags/gflags.h"

DEFINE_int32(tcp, 0, "TCP listeners on 127.0.0.1:0");
DEFINE_int32(tcp6, 0, "TCP listeners on [::1]:0");
DEFINE_int32(udp, 0, "UDP sockets bound to 127.0.0.1:0");
DEFINE_int32(udp6, 0, "UDP sockets bound to [::1]:0");
DEFINE_int32(reuseport, 0, "TCP listeners sharing one 127.0.0.1 port with SO_REUSEPORT");
DEFINE_string(unix, "", "comma-separated paths of unix stream listeners");
DEFINE_string(seqpacket, "", "comma-separated paths of unix seqpacket listeners");
DEFINE_string(abstract, "", "comma-separated abstract names of unix stream listeners");
DEFINE_bool(noise, true, "also hold an established TCP pair, a pipe, a file, an unbound socket");
DEFINE_bool(any_addr, false, "bind TCP/UDP to 0.0.0.0 instead of 127.0.0.1");
DEFINE_bool(netns, false, "unshare a new network namespace first (needs root)");
DEFINE_bool(nondumpable, false, "prctl(PR_SET_DUMPABLE, 0) after binding");
DEFINE_int32(drop_to_uid, -1, "after binding, setresuid/setresgid to this id WITHOUT exec");
DEFINE_string(pidfile, "", "write 'PID' to this path before 'ready'");
DEFINE_int32(listen_backlog, 128, "listen() backlog");
DEFINE_int32(port, 0, "port for the --tcp/--tcp6/--udp/--udp6 sockets (0: any free one)");
DEFINE_bool(exit_main_thread, false,
            "after binding, the main thread exits (pthread_exit) and a second thread prints "
            "'ready' once it is gone (needs PIDFD_THREAD, Linux >= 6.9) and waits for SIGTERM");
DEFINE_int32(established, 0,
             "also hold N established loopback TCP connections, both ends (2N fds; the "
             "listener they came from is closed, so they are never listed)");

namespace {

[[noreturn]] void Die(const char* what) {
  ::fprintf(stderr, "fd_holder: %s: %s\n", what, ::strerror(errno));
  ::exit(1);
}

unsigned long Inode(int fd) {
  struct stat st;
  if (::fstat(fd, &st) != 0) Die("fstat");
  return st.st_ino;
}

std::string Address(int fd) {
  struct sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) Die("getsockname");
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    return absl::StrFormat("%s:%d", buf, ntohs(in->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    return absl::StrFormat("[%s]:%d", buf, ntohs(in6->sin6_port));
  }
  auto* un = reinterpret_cast<sockaddr_un*>(&ss);
  if (len > sizeof(sa_family_t) && un->sun_path[0] == '\0') {
    return "@" + std::string(un->sun_path + 1, len - sizeof(sa_family_t) - 1);
  }
  return un->sun_path;
}

void Print(int fd, const char* proto) {
  ::printf("fd=%d inode=%lu proto=%s address=%s\n", fd, Inode(fd), proto, Address(fd).c_str());
}

int Inet(int family, int type, bool reuseport, uint16_t port) {
  const int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  const int one = 1;
  if (reuseport && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    Die("SO_REUSEPORT");
  }
  struct sockaddr_storage ss = {};
  socklen_t len;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(FLAGS_any_addr ? INADDR_ANY : INADDR_LOOPBACK);
    len = sizeof(*in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    in6->sin6_addr = FLAGS_any_addr ? in6addr_any : in6addr_loopback;
    len = sizeof(*in6);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) Die("bind");
  if (type == SOCK_STREAM && ::listen(fd, FLAGS_listen_backlog) != 0) Die("listen");
  return fd;
}

int Unix(int type, const std::string& name, bool abstract) {
  const int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket(AF_UNIX)");
  struct sockaddr_un un = {};
  un.sun_family = AF_UNIX;
  if (name.size() + 2 > sizeof(un.sun_path)) Die("unix name too long");
  socklen_t len;
  if (abstract) {
    std::memcpy(un.sun_path + 1, name.data(), name.size());
    len = static_cast<socklen_t>(sizeof(sa_family_t) + 1 + name.size());
  } else {
    std::memcpy(un.sun_path, name.data(), name.size());
    len = sizeof(un);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&un), len) != 0) Die("bind(AF_UNIX)");
  if (::listen(fd, FLAGS_listen_backlog) != 0) Die("listen(AF_UNIX)");
  return fd;
}

void BringLoopbackUp() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = {};
  std::strcpy(ifr.ifr_name, "lo");
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) Die("SIOCGIFFLAGS");
  ifr.ifr_flags |= IFF_UP;
  if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) Die("SIOCSIFFLAGS");
  ::close(fd);
}

void HoldNoise() {
  // An established loopback pair (both ends), a pipe, a file, an unbound socket.
  const int l = Inet(AF_INET, SOCK_STREAM, false, 0);
  struct sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  ::getsockname(l, reinterpret_cast<sockaddr*>(&ss), &len);
  const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(c, reinterpret_cast<sockaddr*>(&ss), len) != 0) Die("connect");
  if (::accept4(l, nullptr, nullptr, SOCK_CLOEXEC) < 0) Die("accept4");
  ::close(l);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) Die("pipe2");
  if (::open("/proc/self/status", O_RDONLY | O_CLOEXEC) < 0) Die("open");
  if (::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) < 0) Die("socket");
}

// The main thread leaves; a second thread waits until it is gone, says "ready"
// and waits for SIGTERM. pthread_join wakes when the main thread clears its tid
// (a futex wake early in exit); the leader turns into a zombie a few steps
// later, and no event marks that, so the thread yields until /proc shows 'Z'.
[[noreturn]] void ExitMainThread() {
  static pthread_t main_thread = ::pthread_self();
  pthread_t t;
  ::pthread_create(&t, nullptr, [](void*) -> void* {
    ::pthread_join(main_thread, nullptr);
    for (;;) {
      char buf[512] = {};
      const int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
      const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
      ::close(fd);
      const char* end = n > 0 ? ::strrchr(buf, ')') : nullptr;
      if (end != nullptr && end[1] == ' ' && end[2] == 'Z') break;
      ::sched_yield();
    }
    ::printf("ready\n");
    ::fflush(stdout);
    sigset_t wait_set;
    ::sigemptyset(&wait_set);
    ::sigaddset(&wait_set, SIGTERM);
    int sig = 0;
    ::sigwait(&wait_set, &sig);
    ::exit(0);
  }, nullptr);
  ::pthread_exit(nullptr);
}

void HoldEstablished(int count) {
  const int l = Inet(AF_INET, SOCK_STREAM, false, 0);
  struct sockaddr_storage ss = {};
  socklen_t len = sizeof(ss);
  ::getsockname(l, reinterpret_cast<sockaddr*>(&ss), &len);
  for (int i = 0; i < count; ++i) {
    const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0) Die("socket");
    if (::connect(c, reinterpret_cast<sockaddr*>(&ss), len) != 0) Die("connect");
    const int a = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (a < 0) Die("accept4");
    // Reset on exit instead of leaving TIME_WAIT entries that slow later runs.
    const struct linger no_linger = {.l_onoff = 1, .l_linger = 0};
    ::setsockopt(c, SOL_SOCKET, SO_LINGER, &no_linger, sizeof(no_linger));
    ::setsockopt(a, SOL_SOCKET, SO_LINGER, &no_linger, sizeof(no_linger));
  }
  ::close(l);
}

std::vector<std::string> List(const std::string& flag) {
  if (flag.empty()) return {};
  return absl::StrSplit(flag, ',');
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  // Block SIGTERM so it can be awaited with sigwait: no handler races.
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGTERM);
  ::sigaddset(&set, SIGQUIT);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);

  if (FLAGS_netns) {
    if (::unshare(CLONE_NEWNET) != 0) Die("unshare(CLONE_NEWNET)");
    BringLoopbackUp();
  }
  if (FLAGS_noise) HoldNoise();
  const auto port = static_cast<uint16_t>(FLAGS_port);
  for (int i = 0; i < FLAGS_tcp; ++i) Print(Inet(AF_INET, SOCK_STREAM, false, port), "tcp");
  for (int i = 0; i < FLAGS_tcp6; ++i) Print(Inet(AF_INET6, SOCK_STREAM, false, port), "tcp6");
  for (int i = 0; i < FLAGS_udp; ++i) Print(Inet(AF_INET, SOCK_DGRAM, false, port), "udp");
  for (int i = 0; i < FLAGS_udp6; ++i) Print(Inet(AF_INET6, SOCK_DGRAM, false, port), "udp6");
  if (FLAGS_established > 0) HoldEstablished(FLAGS_established);
  uint16_t group_port = 0;
  for (int i = 0; i < FLAGS_reuseport; ++i) {
    const int fd = Inet(AF_INET, SOCK_STREAM, true, group_port);
    struct sockaddr_in in = {};
    socklen_t len = sizeof(in);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len);
    group_port = ntohs(in.sin_port);
    Print(fd, "tcp");
  }
  for (const std::string& p : List(FLAGS_unix)) Print(Unix(SOCK_STREAM, p, false), "unix");
  for (const std::string& p : List(FLAGS_seqpacket)) {
    Print(Unix(SOCK_SEQPACKET, p, false), "unix");
  }
  for (const std::string& n : List(FLAGS_abstract)) Print(Unix(SOCK_STREAM, n, true), "unix");

  if (FLAGS_drop_to_uid >= 0) {
    const uid_t id = static_cast<uid_t>(FLAGS_drop_to_uid);
    if (::setgroups(0, nullptr) != 0 || ::setresgid(id, id, id) != 0 ||
        ::setresuid(id, id, id) != 0) {
      Die("drop privileges");
    }
  }
  if (FLAGS_nondumpable && ::prctl(PR_SET_DUMPABLE, 0) != 0) Die("PR_SET_DUMPABLE");
  if (!FLAGS_pidfile.empty()) {
    FILE* f = ::fopen(FLAGS_pidfile.c_str(), "we");
    if (f == nullptr) Die("fopen(pidfile)");
    ::fprintf(f, "%d\n", ::getpid());
    ::fclose(f);
  }
  if (FLAGS_exit_main_thread) ExitMainThread();
  ::printf("ready\n");
  ::fflush(stdout);
  int sig = 0;
  ::sigwait(&set, &sig);
  return 0;
}
