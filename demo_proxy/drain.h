// Drainer: turns signals into the proxy's shutdown modes (signalfd, SFD_CLOEXEC).
//   SIGTERM  graceful drain: on_stop (the control socket closes), then
//            Proxy::StopListening() (EPOLL_CTL_DEL, then close every listener;
//            never shutdown(), never unlink), prints "draining", keeps
//            relaying open connections until they end or `drain_timeout` passes, then
//            closes the rest (counted as drained_closed) and stops the loop.
//   SIGINT   stops at once: closes listeners and every connection, stops the loop.
//   SIGUSR1  prints the counters line.
// Create() blocks those signals; call it before any thread starts.
#ifndef HANDOVER_DEMO_PROXY_DRAIN_H_
#define HANDOVER_DEMO_PROXY_DRAIN_H_

#include <functional>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "demo_proxy/event_loop.h"
#include "demo_proxy/proxy.h"
#include "demo_proxy/stats.h"
#include "handover/unique_fd.h"

namespace handover::demo {

class Drainer {
 public:
  // Borrows loop, proxy and stats; all must outlive the Drainer.
  static absl::StatusOr<std::unique_ptr<Drainer>> Create(EventLoop* loop, Proxy* proxy,
                                                         Stats* stats,
                                                         absl::Duration drain_timeout);
  ~Drainer();
  Drainer(const Drainer&) = delete;
  Drainer& operator=(const Drainer&) = delete;

  bool draining() const { return draining_; }
  // Runs first when a drain (SIGTERM) or stop (SIGINT) begins, before the listeners
  // close: RunProxy closes the control socket here, so no successor fetches from an
  // instance that is going away.
  void set_on_stop(std::function<void()> fn) { on_stop_ = std::move(fn); }

 private:
  Drainer(EventLoop* loop, Proxy* proxy, Stats* stats, absl::Duration drain_timeout,
          UniqueFd signal_fd);
  void OnSignals();
  void BeginDrain();
  void StopNow();

  EventLoop* loop_;
  Proxy* proxy_;
  Stats* stats_;
  absl::Duration drain_timeout_;
  UniqueFd signal_fd_;
  bool draining_ = false;
  std::function<void()> on_stop_;
};

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_DRAIN_H_
