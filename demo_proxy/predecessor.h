// The old instance a new demo_proxy replaces: getting its listeners (pidfd_getfd, or
// SCM_RIGHTS from its control socket, or pidfd first with SCM_RIGHTS as the fallback),
// then retiring it from inside the event loop.
//
//   HANDOVER_ASSIGN_OR_RETURN(std::optional<Predecessor> old,
//                             TakeFromPredecessor({.pid = 42, .scm_path = "/run/p.ctl"}));
//   ... adopt old->fds, start accepting on them ...
//   HANDOVER_ASSIGN_OR_RETURN(std::unique_ptr<Retirement> r,
//                             Retirement::Start(loop, &stats, *std::move(old), {}, n_claimed));
//
// Order (docs/demo_proxy.md): the new instance accepts on the sockets FIRST; only then
// does Retirement signal the old one through its pidfd (deferred to the loop's first
// round), and it watches the pidfd for exit as one more fd of the epoll loop, with a
// loop timer for the SIGKILL deadline. Nothing blocks the loop.
#ifndef HANDOVER_DEMO_PROXY_PREDECESSOR_H_
#define HANDOVER_DEMO_PROXY_PREDECESSOR_H_

#include <signal.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "demo_proxy/event_loop.h"
#include "demo_proxy/stats.h"
#include "handover/process.h"
#include "handover/unique_fd.h"

namespace handover::demo {

// Where the old instance is. Both a pidfd source (pid or pidfile) and scm_path may be
// given: pidfd_getfd is tried first, SCM_RIGHTS only when it is refused.
struct PredecessorSource {
  pid_t pid = 0;         // --takeover_pid
  std::string pidfile;   // --takeover_pidfile
  std::string select;    // --takeover_select (pidfd only; empty = every socket)
  std::string scm_path;  // --takeover_scm: the old instance's --control_socket
  absl::Duration scm_timeout = absl::Seconds(2);
};

struct Predecessor {
  std::string mode;             // "pidfd" or "scm"
  Process process;              // the proven old instance (its pidfd is held)
  std::vector<UniqueFd> fds;    // the sockets received, owned, close-on-exec
  size_t sockets = 0;           // fds.size() when received (fds is moved out later)
  absl::Duration takeover;      // from the first call to the last fd, proof included
  std::string fallback_reason;  // set when pidfd was refused and SCM_RIGHTS used
};

// Gets the listeners of the old instance, all or nothing, or nullopt when `source`
// names none. The old instance is never changed (nothing is signalled here).
// Blocks for at most source.scm_timeout in SCM_RIGHTS mode.
// Errors: those of OpenTarget / ListSockets / TakeSockets (PERMISSION_DENIED with
// the cause and fix, when no scm_path allows a fallback), of FetchListeners, and
// FAILED_PRECONDITION when the control socket is served by another process than
// the pidfd target.
absl::StatusOr<std::optional<Predecessor>> TakeFromPredecessor(const PredecessorSource& source);

struct RetireOptions {
  int signal = SIGTERM;                           // the drain request
  absl::Duration kill_after = absl::Seconds(35);  // then SIGKILL
  absl::Duration give_up_after_kill = absl::Seconds(5);
};

// Retires the old instance from inside `loop` (borrowed, like stats): on the loop's
// first round it sends options.signal through the pidfd, registers the pidfd for
// EPOLLIN (readable once the old instance has exited), sends SIGKILL at kill_after,
// and stops watching give_up_after_kill later. When it is over it prints the summary
// line (see SummaryLine) on stdout and logs it. Destroying it stops watching; if the
// old instance was signalled but had not exited yet (this instance is itself being
// drained first), the summary is printed then, with old_status=running.
class Retirement {
 public:
  static std::unique_ptr<Retirement> Start(EventLoop* loop, Stats* stats, Predecessor old,
                                           RetireOptions options, size_t claimed);
  ~Retirement();
  Retirement(const Retirement&) = delete;
  Retirement& operator=(const Retirement&) = delete;

  bool done() const { return done_; }

 private:
  Retirement(EventLoop* loop, Stats* stats, Predecessor old, RetireOptions options, size_t claimed);
  void SendDrainSignal();
  void OnKillDeadline();
  void Finish(const std::string& status);

  EventLoop* loop_;
  Stats* stats_;
  Predecessor old_;
  RetireOptions options_;
  size_t claimed_;
  bool watching_ = false;
  bool killed_ = false;
  bool done_ = false;
  absl::Time signalled_;
  EventLoop::TimerId kill_timer_ = 0;
  EventLoop::TimerId give_up_timer_ = 0;
};

// "handover mode=pidfd sockets=2 claimed=2 takeover_us=180 old_pid=42 old_exit_us=5230
//  old_status=exit_0 fallback=0": old_status is exit_N, signal_N, killed (we sent
// SIGKILL), exited (gone, status unknown: its parent has not reaped it yet) or
// running (still there after the SIGKILL grace, or when we stopped watching first;
// old_exit_us is -1 then).
std::string SummaryLine(const Predecessor& old, size_t claimed, absl::Duration old_exit,
                        const std::string& status);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_PREDECESSOR_H_
