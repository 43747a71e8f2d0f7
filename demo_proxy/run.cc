#include "demo_proxy/run.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "demo_proxy/address.h"
#include "demo_proxy/drain.h"
#include "demo_proxy/event_loop.h"
#include "demo_proxy/notify.h"
#include "demo_proxy/stats.h"
#include "glog/logging.h"
#include "handover/status.h"

namespace handover::demo {
namespace {

absl::StatusOr<RelayOptions> MakeRelayOptions(const ProxyOptions& options) {
  RelayOptions out{.max_connections = options.max_connections,
                   .buffer_bytes = options.buffer_bytes};
  absl::StatusOr<std::vector<sys::SockAddr>> backends = ParseAddressList(options.backends);
  if (!backends.ok()) return WithContext(backends.status(), "--backend");
  out.backends = *std::move(backends);
  if (out.backends.empty()) return absl::InvalidArgumentError("--backend: need at least one");
  if (out.max_connections == 0 || out.buffer_bytes == 0) {
    return absl::InvalidArgumentError("--max_connections and --buffer_bytes must be > 0");
  }
  return out;
}

void Announce(const std::vector<Listener>& listeners, bool print_ready) {
  for (const Listener& l : listeners) {
    LOG(INFO) << "listening on " << l.address << " (fd " << l.fd.get() << ", " << l.origin << ")";
    if (print_ready) PrintLine(absl::StrFormat("listening fd=%d %s", l.fd.get(), l.address));
  }
  if (print_ready) PrintLine("ready");
}

}  // namespace

absl::Status RunProxy(const ProxyOptions& options) {
  HANDOVER_ASSIGN_OR_RETURN(RelayOptions relay_options, MakeRelayOptions(options));
  HANDOVER_ASSIGN_OR_RETURN(std::unique_ptr<EventLoop> loop, EventLoop::Create());
  Stats stats;
  Proxy proxy(loop.get(), &stats, std::move(relay_options));
  // Signals are blocked before listeners exist: a SIGTERM sent as soon as we are
  // ready is queued for the loop, never fatal.
  HANDOVER_ASSIGN_OR_RETURN(std::unique_ptr<Drainer> drainer,
                            Drainer::Create(loop.get(), &proxy, &stats, options.drain_timeout));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<Listener> listeners, OpenListeners(options.listeners));
  HANDOVER_RETURN_IF_ERROR(PublishPidfile(options.pidfile));
  Announce(listeners, options.print_ready);
  HANDOVER_RETURN_IF_ERROR(proxy.Serve(std::move(listeners)));
  HANDOVER_RETURN_IF_ERROR(WithContext(NotifyReady(), "NOTIFY_SOCKET"));
  const absl::Status run = loop->Run();
  LOG(INFO) << (drainer->draining() ? "drained" : "stopped") << "; " << stats.Format();
  PrintLine(stats.Format());
  return run;
}

}  // namespace handover::demo
