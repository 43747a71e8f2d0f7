// `handover exec`: take the old server's sockets, start COMMAND with them by
// socket activation, wait until it is ready, and only then drain the old server.
// If COMMAND fails or is not ready in time it is killed and the old server never
// sees a signal: it keeps serving on the same sockets throughout.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "glog/logging.h"
#include "handover/cli/cli.h"
#include "handover/cli/exec_report.h"
#include "handover/notify.h"
#include "handover/readiness.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover::cli {
namespace {

const char* ReadyName(ReadyMode mode) {
  switch (mode) {
    case ReadyMode::kNotify:
      return "notify";
    case ReadyMode::kAccepting:
      return "accepting";
    case ReadyMode::kNone:
      return "none";
  }
  return "?";
}

// LISTEN_FDNAMES entry for a socket: "tcp-127.0.0.1_8080", "unix-/run/x.sock".
std::string FdName(const SocketInfo& s) {
  return SanitizeFdName(absl::StrCat(ProtoName(s.proto), "-", s.address));
}

absl::Status WaitReady(const CliOptions& o, NotifySocket* notify, const SpawnedChild& child,
                       const std::vector<TakenSocket>& sockets) {
  const absl::Time deadline = absl::Now() + o.ready_timeout;
  switch (o.ready) {
    case ReadyMode::kNone:
      return absl::OkStatus();
    case ReadyMode::kNotify:
      return notify->WaitReady(child.pid, child.pidfd.get(), deadline);
    case ReadyMode::kAccepting:
      break;
  }
  std::vector<uint64_t> inodes;
  for (const TakenSocket& s : sockets) inodes.push_back(s.info.inode);
  HANDOVER_ASSIGN_OR_RETURN(bool ready,
                            WaitUntilAccepting(child.pidfd.get(), child.pid, inodes, deadline));
  if (ready) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrFormat(
      "was not accepting on all %d socket(s) within %s (it must add them to an epoll set or "
      "block in accept)",
      inodes.size(), absl::FormatDuration(o.ready_timeout)));
}

// Kills and reaps COMMAND after it failed to become ready. The old process was
// never signalled and keeps serving.
absl::Status RollBack(const SpawnedChild& child, const absl::Status& why, pid_t old_pid) {
  (void)sys::PidfdSendSignal(child.pidfd.get(), SIGKILL);
  int wstatus = 0;
  while (::waitpid(child.pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  const int code = why.code() == absl::StatusCode::kDeadlineExceeded ? kExitNotReady
                                                                      : kExitCommandFailed;
  return WithExitCode(
      absl::Status(why.code(), absl::StrFormat("new command (pid %d) %s; it was killed, and the "
                                               "old process (pid %d) was not signalled and "
                                               "keeps serving",
                                               child.pid, why.message(), old_pid)),
      code);
}

// Under systemd (NotifyAccess=all), tell it which process is the service now.
void TellSystemdMainPid(pid_t pid) {
  absl::Status s = Notify(absl::StrCat("MAINPID=", pid));
  if (!s.ok()) LOG(WARNING) << "could not tell systemd the new MAINPID: " << s;
}

absl::Status WriteNewPidfile(const std::string& path, pid_t pid) {
  if (path.empty()) return absl::OkStatus();
  HANDOVER_ASSIGN_OR_RETURN(Process p, Process::Open(pid));
  return WithContext(WritePidfile(path, p.identity()), "writing --new_pidfile");
}

// Starts COMMAND with the sockets at fd 3.. and waits until it is ready.
absl::StatusOr<SpawnedChild> StartNew(const CliOptions& o, const Takeover& t, ExecReport& r) {
  std::optional<NotifySocket> notify;
  SpawnRequest req = {.argv = o.command,
                      .style = o.fd_env,
                      .new_session = true,
                      .nofile_soft = o.original_nofile_soft};
  if (o.ready == ReadyMode::kNotify) {
    HANDOVER_ASSIGN_OR_RETURN(notify, NotifySocket::Create());
    req.extra_env.push_back(notify->EnvVar());
  }
  UniqueFd output;
  if (!o.command_output.empty()) {
    HANDOVER_ASSIGN_OR_RETURN(output, sys::OpenAt(AT_FDCWD, o.command_output,
                                                  O_WRONLY | O_CREAT | O_APPEND, 0640));
    req.output_fd = output.get();
  }
  for (const TakenSocket& s : t.sockets) {
    req.fds.push_back(s.fd.get());
    if (o.fd_env == FdEnvStyle::kSystemd) req.names.push_back(FdName(s.info));
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<SpawnedChild> child = SpawnWithFds(req);
  if (!child.ok()) {
    return WithExitCode(WithContext(child.status(), "starting the new command (the old process "
                                                    "was not signalled and keeps serving)"),
                        kExitCommandFailed);
  }
  r.new_pid = child->pid;
  r.spawn = absl::Now() - start;
  LOG(INFO) << "started pid " << child->pid << " (" << o.command[0]
            << "); waiting until it is ready (" << ReadyName(o.ready) << ", up to "
            << absl::FormatDuration(o.ready_timeout) << ")";
  const absl::Time spawned = absl::Now();
  absl::Status ready = WaitReady(o, notify ? &*notify : nullptr, *child, t.sockets);
  r.ready = absl::Now() - spawned;
  if (!ready.ok()) return RollBack(*child, ready, t.process.pid());
  return child;
}

void Print(const CliOptions& o, const ExecReport& r) {
  if (o.json) std::cout << FormatExecReportJson(r) << std::endl;
  else std::cout << FormatExecReportText(r) << std::flush;
  if (o.report_json.empty()) return;
  // For scripts: COMMAND inherits our stdout, so a pipe on it would stay open as
  // long as the new server runs; a file is read once handover has exited.
  std::ofstream(o.report_json) << FormatExecReportJson(r) << "\n";
}

}  // namespace

absl::Status RunExec(const CliOptions& o) {
  if (o.command.empty()) {
    return absl::InvalidArgumentError(
        "exec needs the new command after --, e.g. handover exec --pid=N -- /usr/sbin/server");
  }
  const absl::Time start = absl::Now();
  ExecReport r = {.ready_mode = ReadyName(o.ready), .result = "rolled_back"};
  HANDOVER_ASSIGN_OR_RETURN(Takeover t, TakeOver(o.target, {.select = o.select}));
  r.old_pid = t.process.pid();
  r.old_comm = t.process.comm();
  r.takeover = t.elapsed;
  ReadReuseport(absl::MakeSpan(t.sockets));  // for the report only: a few µs per socket
  for (const TakenSocket& s : t.sockets) r.sockets.push_back(s.info);
  LOG(INFO) << "took " << t.sockets.size() << " socket(s) from pid " << r.old_pid;
  absl::StatusOr<SpawnedChild> child = StartNew(o, t, r);
  if (!child.ok()) {
    r.error = child.status();
    r.total = absl::Now() - start;
    if (o.json || !o.report_json.empty()) Print(o, r);
    return child.status();
  }
  t.sockets.clear();  // COMMAND holds them now; our copies are not needed
  TellSystemdMainPid(child->pid);
  const DrainOptions drain = {.signal = o.signal, .timeout = o.timeout,
                              .kill_after_timeout = o.kill_after_timeout,
                              .kill_wait = o.kill_wait};
  const absl::Time drain_start = absl::Now();
  absl::StatusOr<DrainResult> d = Drain(t.process, drain);
  r.drain = absl::Now() - drain_start;
  // After the drain: many servers (nginx among them) delete their pidfile when
  // they exit, which would remove ours when both use the same path.
  absl::Status pidfile = WriteNewPidfile(o.new_pidfile, child->pid);
  if (!pidfile.ok()) LOG(ERROR) << pidfile;  // the new server runs; report, go on
  r.total = absl::Now() - start;
  if (d.ok()) r.old_exit = *d;
  r.result = d.ok() ? "ok" : "old_still_running";
  r.error = d.ok() ? pidfile : d.status();
  Print(o, r);
  return d.ok() ? pidfile : d.status();
}

}  // namespace handover::cli
