#include "demo_proxy/run.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "demo_proxy/address.h"
#include "demo_proxy/control.h"
#include "demo_proxy/drain.h"
#include "demo_proxy/event_loop.h"
#include "demo_proxy/predecessor.h"
#include "demo_proxy/privileges.h"
#include "demo_proxy/stats.h"
#include "glog/logging.h"
#include "handover/notify.h"
#include "handover/process.h"
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

void Announce(const std::vector<Listener>& listeners) {
  for (const Listener& l : listeners) {
    LOG(INFO) << "listening on " << l.address << " (fd " << l.fd.get() << ", " << l.origin << ")";
  }
}

// "listening fd=N ADDRESS" per listener, then "ready": tests and scripts wait for it.
void PrintReady(const Proxy& proxy) {
  const std::vector<int> fds = proxy.listener_fds();
  const std::vector<std::string> addresses = proxy.listener_addresses();
  for (size_t i = 0; i < fds.size(); ++i) {
    PrintLine(absl::StrFormat("listening fd=%d %s", fds[i], addresses[i]));
  }
  PrintLine("ready");
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
  HANDOVER_ASSIGN_OR_RETURN(OpenedListeners opened, OpenListeners(options.listeners));
  stats.unclaimed_closed = opened.unclaimed_closed;
  HANDOVER_RETURN_IF_ERROR(WithContext(DropPrivileges(options.user), "--user"));
  Announce(opened.listeners);
  const size_t claimed = opened.listeners.size();
  HANDOVER_RETURN_IF_ERROR(proxy.Serve(std::move(opened.listeners)));
  std::unique_ptr<ControlSocket> control;
  if (!options.control_socket.empty()) {
    absl::StatusOr<std::unique_ptr<ControlSocket>> c =
        ControlSocket::Start(loop.get(), &stats, &proxy, options.control_socket);
    if (!c.ok()) return WithContext(c.status(), "--control_socket");
    control = *std::move(c);
  }
  drainer->set_on_stop([&control] { control.reset(); });
  if (!options.pidfile.empty()) {
    HANDOVER_RETURN_IF_ERROR(WithContext(WritePidfile(options.pidfile), "--pidfile"));
  }
  if (options.print_ready) PrintReady(proxy);
  HANDOVER_RETURN_IF_ERROR(WithContext(NotifyReady(), "NOTIFY_SOCKET"));
  std::unique_ptr<Retirement> retirement;
  if (opened.predecessor.has_value()) {
    retirement = Retirement::Start(loop.get(), &stats, *std::move(opened.predecessor),
                                   options.retire, claimed);
  }
  const absl::Status run = loop->Run();
  retirement.reset();
  control.reset();
  LOG(INFO) << (drainer->draining() ? "drained" : "stopped") << "; " << stats.Format();
  PrintLine(stats.Format());
  return run;
}

}  // namespace handover::demo
