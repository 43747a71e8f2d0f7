// SpawnWithFds: fork + execve a command with listening sockets at fd 3.. and the
// socket-activation environment (declared in activation.h).
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "handover/activation.h"
#include "handover/status.h"
#include "handover/sys.h"

extern char** environ;

namespace handover {
namespace {

constexpr const char* kReservedKeys[] = {"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=",
                                         "NGINX="};
constexpr char kListenPidPrefix[] = "LISTEN_PID=";

// Everything the child needs, prepared before fork(): the child may not allocate.
// Not movable: envp points into listen_pid.
// Descriptors COMMAND may open beyond the sockets it gets, at least.
constexpr rlim_t kNofileHeadroom = 64;

struct ChildPlan {
  ChildPlan() = default;
  ChildPlan(const ChildPlan&) = delete;
  ChildPlan& operator=(const ChildPlan&) = delete;

  std::vector<std::string> env;     // owns the strings envp points to
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::array<char, 32> listen_pid = {};  // "LISTEN_PID=<pid>", formatted in the child
  std::vector<int> sources;
  std::vector<int> scratch;              // the child's high copies of `sources`
  int close_max = 0;                     // close() loop bound if close_range is missing
  bool new_session = false;              // setsid() before exec
  int output_fd = -1;                    // becomes stdout + stderr when >= 0
  bool set_nofile = false;               // setrlimit(RLIMIT_NOFILE, nofile) before exec
  struct rlimit nofile = {};
};

// Written by the child to the error pipe when a step fails.
struct ChildError {
  enum Step : int { kMoveHigh = 1, kPlace, kCloseRange, kSetsid, kRlimit, kExec } step;
  int fd;
  int err;
};

bool HasKey(absl::string_view entry, absl::string_view key_eq) {
  return absl::StartsWith(entry, key_eq);
}

absl::Status BuildEnv(const SpawnRequest& r, const ActivationEnv& act, ChildPlan& plan) {
  std::vector<std::string> extra_keys;
  for (const std::string& e : r.extra_env) {
    const size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrFormat("extra_env '%s': want KEY=VALUE", e));
    }
    for (const char* k : kReservedKeys) {
      if (HasKey(e, k)) return absl::InvalidArgumentError("extra_env may not set " + e);
    }
    extra_keys.push_back(e.substr(0, eq + 1));
  }
  for (char** e = r.inherit_env ? environ : nullptr; e != nullptr && *e != nullptr; ++e) {
    bool drop = false;
    for (const char* k : kReservedKeys) drop = drop || HasKey(*e, k);
    for (const std::string& k : extra_keys) drop = drop || HasKey(*e, k);
    if (!drop) plan.env.emplace_back(*e);
  }
  plan.env.insert(plan.env.end(), act.vars.begin(), act.vars.end());
  plan.env.insert(plan.env.end(), r.extra_env.begin(), r.extra_env.end());
  for (std::string& e : plan.env) plan.envp.push_back(e.data());
  if (act.needs_listen_pid) plan.envp.push_back(plan.listen_pid.data());
  plan.envp.push_back(nullptr);
  return absl::OkStatus();
}

absl::Status Prepare(const SpawnRequest& r, ChildPlan& plan) {
  if (r.argv.empty()) return absl::InvalidArgumentError("SpawnWithFds: empty argv");
  plan.new_session = r.new_session;
  plan.output_fd = r.output_fd;
  if (r.style == FdEnvStyle::kNginx && !r.names.empty()) {
    return absl::InvalidArgumentError("SpawnWithFds: the nginx style carries no names");
  }
  for (int fd : r.fds) {
    if (::fcntl(fd, F_GETFD) < 0) {
      const int err = errno;
      return ErrnoError(err, absl::StrFormat("fcntl(%d, F_GETFD): fd to pass", fd));
    }
  }
  HANDOVER_ASSIGN_OR_RETURN(
      ActivationEnv act, BuildActivationEnv(static_cast<int>(r.fds.size()), r.names, r.style));
  for (const std::string& a : r.argv) plan.argv.push_back(const_cast<char*>(a.c_str()));
  plan.argv.push_back(nullptr);
  HANDOVER_RETURN_IF_ERROR(BuildEnv(r, act, plan));
  plan.sources = r.fds;
  plan.scratch.resize(r.fds.size());
  struct rlimit rl = {};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  plan.close_max = rl.rlim_cur == RLIM_INFINITY ? INT_MAX : static_cast<int>(rl.rlim_cur);
  if (r.nofile_soft.has_value()) {
    plan.set_nofile = true;
    // Never below what the sockets at 3.. take plus room to start (the loader
    // opens libraries: with every fd below the limit taken it cannot).
    const rlim_t needed = 3 + r.fds.size() + kNofileHeadroom;
    plan.nofile = {.rlim_cur = std::min(std::max(*r.nofile_soft, needed), rl.rlim_max),
                   .rlim_max = rl.rlim_max};
  }
  return absl::OkStatus();
}

// Async-signal-safe: reports a failed step to the parent and exits.
[[noreturn]] void Fail(int pipe_fd, ChildError::Step step, int fd) {
  const ChildError e = {step, fd, errno};
  (void)!::write(pipe_fd, &e, sizeof(e));
  ::_exit(127);
}

// Async-signal-safe: "LISTEN_PID=" + decimal pid into the preallocated buffer.
void FormatListenPid(std::array<char, 32>& buf, pid_t pid) {
  char digits[16];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + pid % 10);
    pid /= 10;
  } while (pid > 0);
  size_t pos = sizeof(kListenPidPrefix) - 1;
  for (size_t i = 0; i < pos; ++i) buf[i] = kListenPidPrefix[i];
  while (n > 0) buf[pos++] = digits[--n];
  buf[pos] = '\0';
}

// In the child, with every signal blocked since before fork(): drop the
// parent's handlers (none may run in the child), then unblock everything.
// SIGPIPE goes back to default too: an ignored signal survives execve.
void ResetSignals() {
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction old = {};
    if (::sigaction(sig, nullptr, &old) != 0) continue;  // SIGKILL, SIGSTOP, glibc-internal
    if (old.sa_handler != SIG_DFL && (old.sa_handler != SIG_IGN || sig == SIGPIPE)) {
      (void)::sigaction(sig, &dfl, nullptr);
    }
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// In the child after fork(): only async-signal-safe calls, no allocation.
[[noreturn]] void RunChild(ChildPlan& plan, int pipe_fd) {
  const int n = static_cast<int>(plan.sources.size());
  const int high = 3 + n + 1;  // above the targets 3..3+n-1 and the pipe's slot 3+n
  // 1. Move the pipe and every source above the target range, so no dup2 below
  //    can overwrite a source that is still needed.
  const int hi_pipe = ::fcntl(pipe_fd, F_DUPFD_CLOEXEC, high);
  if (hi_pipe < 0) Fail(pipe_fd, ChildError::kMoveHigh, pipe_fd);
  for (int i = 0; i < n; ++i) {
    plan.scratch[i] = ::fcntl(plan.sources[i], F_DUPFD, high);
    if (plan.scratch[i] < 0) Fail(hi_pipe, ChildError::kMoveHigh, plan.sources[i]);
  }
  int hi_output = -1;
  if (plan.output_fd >= 0) {
    hi_output = ::fcntl(plan.output_fd, F_DUPFD_CLOEXEC, high);
    if (hi_output < 0) Fail(hi_pipe, ChildError::kMoveHigh, plan.output_fd);
  }
  // 2. Place them; dup2 leaves the new fd without FD_CLOEXEC.
  for (int i = 0; i < n; ++i) {
    if (::dup2(plan.scratch[i], 3 + i) < 0) Fail(hi_pipe, ChildError::kPlace, 3 + i);
  }
  if (hi_output >= 0 && (::dup2(hi_output, 1) < 0 || ::dup2(hi_output, 2) < 0)) {
    Fail(hi_pipe, ChildError::kPlace, 1);
  }
  if (::dup3(hi_pipe, 3 + n, O_CLOEXEC) < 0) Fail(hi_pipe, ChildError::kPlace, 3 + n);
  pipe_fd = 3 + n;
  // 3. Close everything else (Linux >= 5.9; else a close() loop).
  if (::syscall(SYS_close_range, 3 + n + 1, ~0U, 0) != 0) {
    if (errno != ENOSYS) Fail(pipe_fd, ChildError::kCloseRange, 3 + n + 1);
    for (int fd = 3 + n + 1; fd < plan.close_max; ++fd) (void)::close(fd);
  }
  if (plan.new_session && ::setsid() < 0) Fail(pipe_fd, ChildError::kSetsid, -1);
  if (plan.set_nofile && ::setrlimit(RLIMIT_NOFILE, &plan.nofile) != 0) {
    Fail(pipe_fd, ChildError::kRlimit, -1);
  }
  ResetSignals();
  FormatListenPid(plan.listen_pid, ::getpid());
  ::execve(plan.argv[0], plan.argv.data(), plan.envp.data());
  Fail(pipe_fd, ChildError::kExec, -1);
}

absl::Status ChildErrorStatus(const ChildError& e, const SpawnRequest& r) {
  switch (e.step) {
    case ChildError::kExec:
      return ErrnoError(e.err, absl::StrFormat("execve(%s)", r.argv[0]));
    case ChildError::kMoveHigh:
      return ErrnoError(e.err, absl::StrFormat("in the child: fcntl(%d, F_DUPFD)", e.fd));
    case ChildError::kPlace:
      return ErrnoError(e.err, absl::StrFormat("in the child: dup2(.., %d)", e.fd));
    case ChildError::kSetsid:
      return ErrnoError(e.err, "in the child: setsid()");
    case ChildError::kRlimit:
      return ErrnoError(e.err, "in the child: setrlimit(RLIMIT_NOFILE)");
    case ChildError::kCloseRange:
      return ErrnoError(e.err, absl::StrFormat("in the child: close_range(%d, ~0U)", e.fd));
  }
  return absl::InternalError("child reported an unknown step");
}

}  // namespace

absl::StatusOr<SpawnedChild> SpawnWithFds(const SpawnRequest& request) {
  ChildPlan plan;
  HANDOVER_RETURN_IF_ERROR(Prepare(request, plan));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    const int err = errno;
    return ErrnoError(err, "pipe2(O_CLOEXEC)");
  }
  UniqueFd read_end(p[0]);
  UniqueFd write_end(p[1]);
  // Block every signal across fork() so no handler of ours runs in the child.
  sigset_t all, saved;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &saved);
  const pid_t pid = ::fork();
  if (pid == 0) RunChild(plan, write_end.get());
  const int fork_err = errno;
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0) return ErrnoError(fork_err, "fork");
  write_end.Reset();
  // Our unreaped child cannot be replaced by another process: this pidfd is its.
  absl::StatusOr<UniqueFd> pidfd = sys::PidfdOpen(pid);
  ChildError e = {};
  ssize_t got;
  do {
    got = ::read(read_end.get(), &e, sizeof(e));  // EOF: execve succeeded
  } while (got < 0 && errno == EINTR);
  if (got == 0 && pidfd.ok()) return SpawnedChild{pid, *std::move(pidfd)};
  ::kill(pid, SIGKILL);  // failed: make sure it is gone (a no-op if it already exited)
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got == static_cast<ssize_t>(sizeof(e))) return ChildErrorStatus(e, request);
  if (!pidfd.ok()) return pidfd.status();
  return absl::InternalError("SpawnWithFds: short read from the child's error pipe");
}

}  // namespace handover
