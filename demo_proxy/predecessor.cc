#include "demo_proxy/predecessor.h"

#include <sys/epoll.h>
#include <sys/wait.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "handover/handover.h"
#include "handover/scm_rights.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover::demo {
namespace {

absl::StatusOr<Predecessor> TakeByPidfd(Process process, const std::string& select,
                                        absl::Time start) {
  // TakeSockets verifies and inspects each copy itself: no temporary copies in discovery.
  HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> selected,
                            ListSockets(process, select, {.inspect_copies = false}));
  const std::string who = absl::StrFormat("pid %d (%s)", process.pid(), process.comm());
  if (selected.empty()) {
    return absl::NotFoundError(absl::StrCat(who, " holds no listening sockets to take over"));
  }
  absl::StatusOr<std::vector<TakenSocket>> taken =
      TakeSockets(process.pidfd(), process.proc_dir(), selected);
  if (!taken.ok()) return WithContext(taken.status(), "taking over " + who);
  Predecessor out{.mode = "pidfd", .process = std::move(process)};
  for (TakenSocket& s : *taken) out.fds.push_back(std::move(s.fd));
  out.sockets = out.fds.size();
  out.takeover = absl::Now() - start;
  return out;
}

// The server behind the control socket must be `expected` when one is known (the
// pidfd target we fell back from); otherwise it is proven here. SO_PEERPIDFD pins
// the server; Process::Open(peer_pid) opens the pid again, so it is the same process
// only if the pinned one is still alive AFTER that open (then nobody reused the pid).
absl::StatusOr<Process> ProveServer(const ScmFetchResult& r, std::optional<Process> expected,
                                    const std::string& path) {
  if (expected.has_value() && r.peer_pid != expected->pid()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("control socket %s is served by pid %d, not by the old instance pid %d",
                        path, r.peer_pid, expected->pid()));
  }
  std::optional<Process> process = std::move(expected);
  if (!process.has_value()) {
    absl::StatusOr<Process> opened = Process::Open(r.peer_pid);
    if (!opened.ok()) return WithContext(opened.status(), "control socket " + path + " server");
    process.emplace(*std::move(opened));
  }
  HANDOVER_ASSIGN_OR_RETURN(bool exited,
                            sys::WaitReadable(r.peer_pidfd.get(), absl::InfinitePast()));
  if (exited) {
    return absl::NotFoundError(absl::StrFormat(
        "the server of control socket %s (pid %d) exited during the handover", path, r.peer_pid));
  }
  return *std::move(process);
}

absl::StatusOr<Predecessor> FetchByScm(const PredecessorSource& source,
                                       std::optional<Process> expected, absl::Time start) {
  absl::StatusOr<ScmFetchResult> r = FetchListeners(source.scm_path, source.scm_timeout);
  if (!r.ok()) return WithContext(r.status(), "--takeover_scm=" + source.scm_path);
  HANDOVER_ASSIGN_OR_RETURN(Process process, ProveServer(*r, std::move(expected), source.scm_path));
  Predecessor out{.mode = "scm", .process = std::move(process), .fds = std::move(r->fds)};
  out.sockets = out.fds.size();
  out.takeover = absl::Now() - start;
  return out;
}

std::string ExitStatusText(int pidfd, bool killed) {
  const std::optional<int> status = ExitWaitStatus(pidfd);
  if (status.has_value() && WIFEXITED(*status)) return absl::StrCat("exit_", WEXITSTATUS(*status));
  if (status.has_value() && WIFSIGNALED(*status)) {
    return WTERMSIG(*status) == SIGKILL && killed ? "killed"
                                                  : absl::StrCat("signal_", WTERMSIG(*status));
  }
  return killed ? "killed" : "exited";
}

}  // namespace

absl::StatusOr<std::optional<Predecessor>> TakeFromPredecessor(const PredecessorSource& source) {
  const absl::Time start = absl::Now();
  const bool by_pidfd = source.pid != 0 || !source.pidfile.empty();
  if (!by_pidfd) {
    if (source.scm_path.empty()) return std::nullopt;
    HANDOVER_ASSIGN_OR_RETURN(Predecessor p, FetchByScm(source, std::nullopt, start));
    return p;
  }
  HANDOVER_ASSIGN_OR_RETURN(Process process,
                            OpenTarget({.pid = source.pid, .pidfile = source.pidfile}));
  // Opening and proving needs no privilege; taking may be refused.
  const ProcessIdentity proven = process.identity();
  absl::StatusOr<Predecessor> taken = TakeByPidfd(std::move(process), source.select, start);
  if (taken.ok()) return std::optional<Predecessor>(*std::move(taken));
  if (taken.status().code() != absl::StatusCode::kPermissionDenied || source.scm_path.empty()) {
    return taken.status();
  }
  const std::string reason(taken.status().message());
  LOG(WARNING) << "pidfd takeover refused; falling back to SCM_RIGHTS at " << source.scm_path
               << ": " << reason;
  // The same process again (start time checked), to hold the SCM_RIGHTS server to it.
  absl::StatusOr<Process> again =
      Process::Open(proven.pid, {.pid = proven.pid, .start_time = proven.start_time});
  if (!again.ok()) return WithContext(again.status(), "after the pidfd takeover was refused");
  HANDOVER_ASSIGN_OR_RETURN(Predecessor p, FetchByScm(source, *std::move(again), start));
  p.fallback_reason = reason;
  return std::optional<Predecessor>(std::move(p));
}

std::string SummaryLine(const Predecessor& old, size_t claimed, absl::Duration old_exit,
                        const std::string& status) {
  const int64_t exit_us = status == "running" ? -1 : absl::ToInt64Microseconds(old_exit);
  return absl::StrFormat(
      "handover mode=%s sockets=%d claimed=%d takeover_us=%d old_pid=%d old_exit_us=%d "
      "old_status=%s fallback=%d",
      old.mode, old.sockets, claimed, absl::ToInt64Microseconds(old.takeover), old.process.pid(),
      exit_us, status, old.fallback_reason.empty() ? 0 : 1);
}

std::unique_ptr<Retirement> Retirement::Start(EventLoop* loop, Stats* stats, Predecessor old,
                                              RetireOptions options, size_t claimed) {
  std::unique_ptr<Retirement> r(new Retirement(loop, stats, std::move(old), options, claimed));
  Retirement* raw = r.get();
  // After the loop's first round: by then it has been accepting on the sockets.
  loop->Defer([raw] { raw->SendDrainSignal(); });
  return r;
}

Retirement::Retirement(EventLoop* loop, Stats* stats, Predecessor old, RetireOptions options,
                       size_t claimed)
    : loop_(loop), stats_(stats), old_(std::move(old)), options_(options), claimed_(claimed) {
  ++(old_.mode == "pidfd" ? stats_->takeover_pidfd : stats_->takeover_scm);
  if (!old_.fallback_reason.empty()) ++stats_->takeover_fallbacks;
  stats_->taken_sockets += old_.sockets;
}

Retirement::~Retirement() {
  // We stop first (drained or stopped ourselves): report the old one as still there.
  if (!done_ && watching_) Finish("running");
  loop_->Cancel(kill_timer_);
  loop_->Cancel(give_up_timer_);
}

void Retirement::SendDrainSignal() {
  signalled_ = absl::Now();
  const int pidfd = old_.process.pidfd();
  const absl::Status sent = sys::PidfdSendSignal(pidfd, options_.signal);
  if (!sent.ok() && sent.code() != absl::StatusCode::kNotFound) {
    // Not allowed to signal it (kill(2) rules): it keeps running; say so once.
    LOG(WARNING) << "cannot ask the old instance pid " << old_.process.pid()
                 << " to drain: " << sent;
  }
  // Level-triggered EPOLLIN on a pidfd: readable once the whole thread group has
  // exited (Linux >= 5.3), also for a process that is not our child. An already
  // exited process is readable at once.
  const absl::Status added = loop_->Add(
      pidfd, EPOLLIN, [this](uint32_t) { Finish(ExitStatusText(old_.process.pidfd(), killed_)); });
  if (!added.ok()) {
    LOG(WARNING) << "cannot watch the old instance's pidfd: " << added;
    return Finish("running");
  }
  watching_ = true;
  kill_timer_ = loop_->RunAt(signalled_ + options_.kill_after, [this] { OnKillDeadline(); });
}

void Retirement::OnKillDeadline() {
  kill_timer_ = 0;
  LOG(WARNING) << "old instance pid " << old_.process.pid() << " still running "
               << options_.kill_after << " after " << sys::SignalName(options_.signal)
               << ": sending SIGKILL";
  killed_ = true;
  ++stats_->old_killed;
  const absl::Status sent = sys::PidfdSendSignal(old_.process.pidfd(), SIGKILL);
  if (!sent.ok()) LOG(WARNING) << sent;
  give_up_timer_ = loop_->RunAt(absl::Now() + options_.give_up_after_kill, [this] {
    give_up_timer_ = 0;
    Finish("running");
  });
}

void Retirement::Finish(const std::string& status) {
  if (done_) return;
  done_ = true;
  if (watching_) (void)loop_->Remove(old_.process.pidfd());
  watching_ = false;
  loop_->Cancel(kill_timer_);
  loop_->Cancel(give_up_timer_);
  if (status != "running") ++stats_->old_exited;
  const std::string line = SummaryLine(old_, claimed_, absl::Now() - signalled_, status);
  LOG(INFO) << line;
  PrintLine(line);
}

}  // namespace handover::demo
