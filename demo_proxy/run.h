// RunProxy: the whole demo_proxy process behind main(): open listeners (taking them
// from an old instance when told to), serve them, announce them, retire the old
// instance, relay until a signal ends it (see drain.h), print the counters.
#ifndef HANDOVER_DEMO_PROXY_RUN_H_
#define HANDOVER_DEMO_PROXY_RUN_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "demo_proxy/listeners.h"
#include "demo_proxy/predecessor.h"
#include "demo_proxy/proxy.h"

namespace handover::demo {

struct ProxyOptions {
  ListenerOptions listeners;
  std::string backends;                  // comma-separated addresses, round robin
  size_t max_connections = 10000;
  size_t buffer_bytes = 64 * 1024;
  absl::Duration drain_timeout = absl::Seconds(30);
  bool print_ready = false;              // "listening fd=N ADDRESS" lines, then "ready"
  std::string pidfile;                   // handover::WritePidfile here once serving
  std::string control_socket;            // serve our listeners over SCM_RIGHTS (control.h)
  std::string user;                      // switch to this user after opening listeners
  RetireOptions retire;                  // how the old instance is retired after a takeover
};

// Order: listeners (OpenListeners), --user, serve, control socket, pidfile, "ready"
// and READY=1, then the old instance is signalled (Retirement). Blocks until SIGTERM
// (drain) or SIGINT; OK then. Errors: bad options (INVALID_ARGUMENT), listener and
// takeover problems (from OpenListeners), privilege drop, control socket, pidfile,
// epoll failures. On any error before serving, the old instance was not signalled.
absl::Status RunProxy(const ProxyOptions& options);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_RUN_H_
