#include "demo_proxy/drain.h"

#include <signal.h>
#include <sys/epoll.h>

#include <utility>

#include "absl/time/clock.h"
#include "demo_proxy/signals.h"
#include "handover/status.h"

namespace handover::demo {

absl::StatusOr<std::unique_ptr<Drainer>> Drainer::Create(EventLoop* loop, Proxy* proxy,
                                                         Stats* stats,
                                                         absl::Duration drain_timeout) {
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd sfd, BlockedSignalFd({SIGTERM, SIGINT, SIGUSR1}));
  std::unique_ptr<Drainer> d(new Drainer(loop, proxy, stats, drain_timeout, std::move(sfd)));
  Drainer* raw = d.get();
  HANDOVER_RETURN_IF_ERROR(
      loop->Add(raw->signal_fd_.get(), EPOLLIN, [raw](uint32_t) { raw->OnSignals(); }));
  return d;
}

Drainer::Drainer(EventLoop* loop, Proxy* proxy, Stats* stats, absl::Duration drain_timeout,
                 UniqueFd signal_fd)
    : loop_(loop),
      proxy_(proxy),
      stats_(stats),
      drain_timeout_(drain_timeout),
      signal_fd_(std::move(signal_fd)) {}

Drainer::~Drainer() { (void)loop_->Remove(signal_fd_.get()); }

void Drainer::OnSignals() {
  while (const int sig = ReadSignal(signal_fd_.get())) {
    switch (sig) {
      case SIGTERM:
        BeginDrain();
        break;
      case SIGINT:
        StopNow();
        break;
      case SIGUSR1:
        PrintLine(stats_->Format());
        break;
      default:
        break;
    }
  }
}

void Drainer::BeginDrain() {
  if (draining_) return;
  draining_ = true;
  if (on_stop_) std::exchange(on_stop_, nullptr)();
  proxy_->StopListening();
  PrintLine("draining");
  if (proxy_->active() == 0) return loop_->Stop();
  proxy_->set_on_idle([this] { loop_->Stop(); });
  // No cancel needed: the loop stops at the deadline or earlier, and is not run again.
  loop_->RunAt(absl::Now() + drain_timeout_, [this] {
    stats_->drained_closed += proxy_->active();
    proxy_->CloseAll();
    loop_->Stop();
  });
}

void Drainer::StopNow() {
  if (on_stop_) std::exchange(on_stop_, nullptr)();
  proxy_->StopListening();
  proxy_->CloseAll();
  loop_->Stop();
}

}  // namespace handover::demo
