#include "demo_proxy/signals.h"

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "handover/status.h"

namespace handover::demo {

absl::StatusOr<UniqueFd> BlockedSignalFd(std::initializer_list<int> signals) {
  sigset_t set;
  ::sigemptyset(&set);
  for (int sig : signals) ::sigaddset(&set, sig);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
    const int err = errno;
    return ErrnoError(err, "sigprocmask(SIG_BLOCK)");
  }
  ::signal(SIGPIPE, SIG_IGN);
  UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd.valid()) {
    const int err = errno;
    return ErrnoError(err, "signalfd(-1, SFD_CLOEXEC | SFD_NONBLOCK)");
  }
  return fd;
}

int ReadSignal(int signal_fd) {
  struct signalfd_siginfo info;
  for (;;) {
    const ssize_t n = ::read(signal_fd, &info, sizeof(info));
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof(info))) return 0;
    return static_cast<int>(info.ssi_signo);
  }
}

}  // namespace handover::demo
