// Drainer: turns signals into the proxy's shutdown modes (signalfd, SFD_CLOEXEC).
//   SIGTERM  graceful drain: Proxy::StopListening() (EPOLL_CTL_DEL, then close every
//            listener; never shutdown(), never unlink), prints "draining", keeps
//            relaying open connections until they end or `drain_timeout` passes, then
//            closes the rest (counted as drained_closed) and stops the loop.
//   SIGINT   stops at once: closes listeners and every connection, stops the loop.
//   SIGUSR1  prints the counters line.
// Create() blocks those signals; call it before any thread starts.
#ifndef HANDOVER_DEMO_PROXY_DRAIN_H_
#define HANDOVER_DEMO_PROXY_DRAIN_H_

#include <memory>

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
};

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_DRAIN_H_
