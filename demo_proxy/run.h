// RunProxy: the whole demo_proxy process behind main(): open listeners, announce
// them, relay until a signal ends it (see drain.h), print the counters.
#ifndef HANDOVER_DEMO_PROXY_RUN_H_
#define HANDOVER_DEMO_PROXY_RUN_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "demo_proxy/listeners.h"
#include "demo_proxy/proxy.h"

namespace handover::demo {

struct ProxyOptions {
  ListenerOptions listeners;
  std::string backends;                  // comma-separated addresses, round robin
  size_t max_connections = 10000;
  size_t buffer_bytes = 64 * 1024;
  absl::Duration drain_timeout = absl::Seconds(30);
  bool print_ready = false;              // "listening fd=N ADDRESS" lines, then "ready"
  std::string pidfile;                   // TODO(#3)
};

// Blocks until SIGTERM (drain) or SIGINT; OK then. Errors: bad options
// (INVALID_ARGUMENT), listener problems (from OpenListeners), epoll failures.
absl::Status RunProxy(const ProxyOptions& options);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_RUN_H_
