// dropped_target: a takeover target that drops root WITHOUT exec (which makes it
// non-dumpable) and, with --allow_takeover, then calls handover::AllowTakeoverBy
// to become takeable again by a same-uid process.
//
//   dropped_target --uid=65534 --allow_takeover
//   -> "fd=N" (a TCP listener on 127.0.0.1:0), "ready"; exits 0 on SIGTERM
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gflags/gflags.h"
#include "handover/permission.h"

DEFINE_int32(uid, 65534, "uid and gid to drop to after binding");
DEFINE_bool(allow_takeover, false, "call handover::AllowTakeoverBy(0, true) after dropping");

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);

  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in in = {};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0 ||
      ::listen(fd, 16) != 0) {
    ::perror("dropped_target: listener");
    return 1;
  }
  const uid_t id = static_cast<uid_t>(FLAGS_uid);
  if (::setgroups(0, nullptr) != 0 || ::setresgid(id, id, id) != 0 ||
      ::setresuid(id, id, id) != 0) {
    ::perror("dropped_target: drop privileges");
    return 1;
  }
  if (FLAGS_allow_takeover) {
    absl::Status s = handover::AllowTakeoverBy(0, /*make_dumpable=*/true);
    if (!s.ok()) {
      ::fprintf(stderr, "dropped_target: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  ::printf("fd=%d\nready\n", fd);
  ::fflush(stdout);
  int sig = 0;
  ::sigwait(&set, &sig);
  return 0;
}
