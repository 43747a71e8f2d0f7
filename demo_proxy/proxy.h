// Proxy: accepts on the listeners and gives every client a Relay to a backend chosen
// round robin. It owns the listeners and the relays; the EventLoop is borrowed.
//
//   Proxy proxy(loop, &stats, {.backends = ..., .max_connections = 1000});
//   HANDOVER_RETURN_IF_ERROR(proxy.Serve(std::move(listeners)));
//   ... proxy.StopListening();  // drain: EPOLL_CTL_DEL then close every listener
#ifndef HANDOVER_DEMO_PROXY_PROXY_H_
#define HANDOVER_DEMO_PROXY_PROXY_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "demo_proxy/event_loop.h"
#include "demo_proxy/listeners.h"
#include "demo_proxy/relay.h"
#include "demo_proxy/stats.h"
#include "handover/sys.h"

namespace handover::demo {

struct RelayOptions {
  std::vector<sys::SockAddr> backends;  // at least one
  size_t max_connections = 10000;       // accepting pauses at this many open relays
  size_t buffer_bytes = 64 * 1024;      // per direction and connection
};

class Proxy {
 public:
  Proxy(EventLoop* loop, Stats* stats, RelayOptions options);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Takes the listeners and starts accepting on them.
  absl::Status Serve(std::vector<Listener> listeners);

  // The drain step of kernel-notes §5: EPOLL_CTL_DEL every listener, then close our
  // copy. Never shutdown(): another process may hold the same socket and keep
  // accepting. Never unlink a unix path: the socket may have been handed on.
  void StopListening();

  // Closes every open relay now.
  void CloseAll();

  size_t active() const { return relays_.size(); }
  // The listeners being served (borrowed fds) and their addresses, in the same order:
  // what the control socket hands to a successor.
  std::vector<int> listener_fds() const;
  std::vector<std::string> listener_addresses() const;
  // Called (from the loop) each time the last open relay closes.
  void set_on_idle(std::function<void()> fn) { on_idle_ = std::move(fn); }

 private:
  void OnReadable(int listener_fd);
  void OnAccepted(UniqueFd client);
  void OnRelayClosed(Relay* relay);
  void SetAccepting(bool accepting);

  EventLoop* loop_;
  Stats* stats_;
  RelayOptions options_;
  std::vector<Listener> listeners_;
  bool accepting_ = false;
  size_t next_backend_ = 0;
  absl::flat_hash_map<Relay*, std::unique_ptr<Relay>> relays_;
  std::function<void()> on_idle_;
};

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_PROXY_H_
