// acceptor: a test server for readiness detection. It holds a listener at fd 3
// (inherited), prints "waiting", waits for SIGUSR1, then, by --mode:
//   epoll       registers fd 3 in an epoll set and waits for SIGTERM
//   accept      blocks in accept4() on fd 3
//   fork_epoll  forks a worker that registers fd 3 in epoll; the parent waits
//   exit        exits 3 at once
//   none        does nothing with fd 3 and waits for SIGTERM
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

void WaitFor(int sig) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  int got = 0;
  sigwait(&set, &got);
}

void RegisterAndWait() {
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = 3;
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 3, &ev) != 0) _exit(1);
  WaitFor(SIGTERM);
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "none";
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  printf("waiting\n");
  fflush(stdout);
  WaitFor(SIGUSR1);
  if (strcmp(mode, "epoll") == 0) RegisterAndWait();
  if (strcmp(mode, "accept") == 0) accept4(3, nullptr, nullptr, SOCK_CLOEXEC);
  if (strcmp(mode, "exit") == 0) return 3;
  if (strcmp(mode, "fork_epoll") == 0) {
    const pid_t worker = fork();
    if (worker == 0) {
      RegisterAndWait();
      _exit(0);
    }
    WaitFor(SIGTERM);
    kill(worker, SIGTERM);
    waitpid(worker, nullptr, 0);
  }
  if (strcmp(mode, "none") == 0) WaitFor(SIGTERM);
  return 0;
}
