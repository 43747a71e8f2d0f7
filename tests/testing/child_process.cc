#include "tests/testing/child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "handover/status.h"
#include "handover/sys.h"

extern char** environ;

namespace handover::testing {

std::string BinPath(absl::string_view name) { return absl::StrCat(HANDOVER_BIN_DIR, "/", name); }

namespace {

absl::StatusOr<std::pair<UniqueFd, UniqueFd>> Pipe() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    const int err = errno;
    return ErrnoError(err, "pipe2");
  }
  return std::make_pair(UniqueFd(p[0]), UniqueFd(p[1]));
}

// In the forked child: only async-signal-safe calls, then exec or _exit(127).
[[noreturn]] void ExecChild(const SpawnOptions& o, char* const* argv, char* const* envp,
                            int out_w, int err_w) {
  if (out_w >= 0 && ::dup2(out_w, 1) < 0) ::_exit(127);
  if (err_w >= 0 && ::dup2(err_w, 2) < 0) ::_exit(127);
  // Move every source above the highest target first, so dup2 cannot clobber one.
  constexpr int kHigh = 500;
  for (size_t i = 0; i < o.fds.size(); ++i) {
    const int want = kHigh + static_cast<int>(i);
    // Close-on-exec scratch copies: only the dup2 targets below survive exec.
    if (::fcntl(o.fds[i].first, F_DUPFD_CLOEXEC, want) != want) ::_exit(127);
  }
  for (size_t i = 0; i < o.fds.size(); ++i) {
    if (::dup2(kHigh + static_cast<int>(i), o.fds[i].second) < 0) ::_exit(127);
  }
  if (o.gid.has_value()) {
    if (::setgroups(0, nullptr) != 0 || ::setresgid(*o.gid, *o.gid, *o.gid) != 0) ::_exit(126);
  }
  if (o.uid.has_value() && ::setresuid(*o.uid, *o.uid, *o.uid) != 0) ::_exit(126);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(argv[0], argv, envp);
  ::_exit(127);
}

}  // namespace

absl::StatusOr<ChildProcess> ChildProcess::Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return absl::InvalidArgumentError("Spawn: empty argv");
  // Build argv and envp before fork: the child may not allocate.
  std::vector<char*> argv;
  for (const std::string& a : options.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const std::string& e : options.env) env_strings.push_back(e);
  std::vector<char*> envp;
  for (const std::string& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  ChildProcess child;
  UniqueFd out_w, err_w;
  if (options.capture_stdout) {
    HANDOVER_ASSIGN_OR_RETURN(auto p, Pipe());
    child.stdout_ = std::move(p.first);
    out_w = std::move(p.second);
  }
  if (options.capture_stderr) {
    HANDOVER_ASSIGN_OR_RETURN(auto p, Pipe());
    child.stderr_ = std::move(p.first);
    err_w = std::move(p.second);
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    return ErrnoError(err, "fork");
  }
  if (pid == 0) ExecChild(options, argv.data(), envp.data(), out_w.get(), err_w.get());
  child.pid_ = pid;
  absl::StatusOr<UniqueFd> pidfd = sys::PidfdOpen(pid);
  if (!pidfd.ok()) {
    child.KillAndReap();
    return pidfd.status();
  }
  child.pidfd_ = *std::move(pidfd);
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      reaped_(std::exchange(other.reaped_, false)),
      pidfd_(std::move(other.pidfd_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)),
      buffer_(std::move(other.buffer_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    reaped_ = std::exchange(other.reaped_, false);
    pidfd_ = std::move(other.pidfd_);
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { KillAndReap(); }

void ChildProcess::KillAndReap() {
  if (pid_ <= 0 || reaped_) return;
  ::kill(pid_, SIGKILL);  // pid cannot be reused: we have not reaped it yet
  ::kill(pid_, SIGCONT);
  int status;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
}

absl::StatusOr<std::string> ChildProcess::ReadLine(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (!stdout_.valid()) return absl::OutOfRangeError("child stdout closed");
    HANDOVER_ASSIGN_OR_RETURN(bool readable, sys::WaitReadable(stdout_.get(), deadline));
    if (!readable) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "no line from pid %d within %s (have: '%s')", pid_, absl::FormatDuration(timeout),
          buffer_));
    }
    char buf[4096];
    const ssize_t n = ::read(stdout_.get(), buf, sizeof(buf));
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return ErrnoError(err, "read(child stdout)");
    }
    if (n == 0) {
      stdout_.Reset();
      if (!buffer_.empty()) return std::exchange(buffer_, "");
      return absl::OutOfRangeError(absl::StrFormat("pid %d closed stdout", pid_));
    }
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

absl::StatusOr<std::vector<std::string>> ChildProcess::ReadUntil(absl::string_view marker,
                                                                 absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<std::string> lines;
  for (;;) {
    HANDOVER_ASSIGN_OR_RETURN(std::string line, ReadLine(deadline - absl::Now()));
    if (line == marker) return lines;
    lines.push_back(std::move(line));
  }
}

namespace {
// Reads fd to EOF before the deadline.
absl::Status Drain(UniqueFd& fd, std::string& out, absl::Time deadline) {
  while (fd.valid()) {
    HANDOVER_ASSIGN_OR_RETURN(bool readable, sys::WaitReadable(fd.get(), deadline));
    if (!readable) return absl::DeadlineExceededError("child output not closed in time");
    char buf[4096];
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fd.Reset();
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<std::string> ChildProcess::ReadAll(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string out = std::exchange(buffer_, "");
  HANDOVER_RETURN_IF_ERROR(Drain(stdout_, out, deadline));
  return out;
}

absl::StatusOr<std::string> ChildProcess::ReadStderr(absl::Duration timeout) {
  std::string out;
  HANDOVER_RETURN_IF_ERROR(Drain(stderr_, out, absl::Now() + timeout));
  return out;
}

absl::Status ChildProcess::Signal(int sig) {
  if (reaped_) return absl::FailedPreconditionError("child already reaped");
  return sys::PidfdSendSignal(pidfd_.get(), sig);
}

absl::StatusOr<int> ChildProcess::Wait(absl::Duration timeout) {
  if (reaped_) return absl::FailedPreconditionError("child already reaped");
  HANDOVER_ASSIGN_OR_RETURN(bool exited,
                            sys::WaitReadable(pidfd_.get(), absl::Now() + timeout));
  if (!exited) {
    return absl::DeadlineExceededError(absl::StrFormat(
        "pid %d did not exit within %s", pid_, absl::FormatDuration(timeout)));
  }
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  if (r < 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("waitpid(%d)", pid_));
  }
  reaped_ = true;
  return status;
}

absl::StatusOr<int> ChildProcess::WaitExitCode(absl::Duration timeout) {
  HANDOVER_ASSIGN_OR_RETURN(int status, Wait(timeout));
  if (!WIFEXITED(status)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("pid %d was killed by signal %d", pid_, WTERMSIG(status)));
  }
  return WEXITSTATUS(status);
}

absl::StatusOr<RunResult> Run(SpawnOptions options, absl::Duration timeout) {
  options.capture_stdout = true;
  options.capture_stderr = true;
  const absl::Time deadline = absl::Now() + timeout;
  HANDOVER_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn(options));
  RunResult result;
  // Read both pipes; a child that fills one while we block on the other is bounded
  // by the small outputs of the commands tests run.
  HANDOVER_ASSIGN_OR_RETURN(result.out, child.ReadAll(deadline - absl::Now()));
  HANDOVER_ASSIGN_OR_RETURN(result.err, child.ReadStderr(deadline - absl::Now()));
  HANDOVER_ASSIGN_OR_RETURN(int status, child.Wait(deadline - absl::Now()));
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace handover::testing
