#include "demo_proxy/proxy.h"

#include <sys/epoll.h>

#include <algorithm>
#include <utility>

#include "handover/status.h"

namespace handover::demo {

Proxy::Proxy(EventLoop* loop, Stats* stats, RelayOptions options)
    : loop_(loop), stats_(stats), options_(std::move(options)) {}

Proxy::~Proxy() {
  StopListening();
  CloseAll();
  // The erases CloseAll deferred never run (the loop is not run again): do them here.
  relays_.clear();
}

absl::Status Proxy::Serve(std::vector<Listener> listeners) {
  listeners_ = std::move(listeners);
  for (const Listener& l : listeners_) {
    const int fd = l.fd.get();
    HANDOVER_RETURN_IF_ERROR(loop_->Add(fd, EPOLLIN, [this, fd](uint32_t) { OnReadable(fd); }));
  }
  accepting_ = true;
  return absl::OkStatus();
}

void Proxy::StopListening() {
  for (const Listener& l : listeners_) (void)loop_->Remove(l.fd.get());  // EPOLL_CTL_DEL first
  listeners_.clear();                                                    // then close
  accepting_ = false;
}

std::vector<int> Proxy::listener_fds() const {
  std::vector<int> out;
  for (const Listener& l : listeners_) out.push_back(l.fd.get());
  return out;
}

std::vector<std::string> Proxy::listener_addresses() const {
  std::vector<std::string> out;
  for (const Listener& l : listeners_) out.push_back(l.address);
  return out;
}

void Proxy::CloseAll() {
  // Close() calls OnRelayClosed, which only defers the erase: iterate over a snapshot.
  std::vector<Relay*> open;
  for (auto& [relay, owned] : relays_) open.push_back(relay);
  for (Relay* relay : open) relay->Close();
}

void Proxy::SetAccepting(bool accepting) {
  if (accepting_ == accepting) return;
  accepting_ = accepting;
  // Interest 0 takes a listener out of the epoll set (EventLoop::Watch): with level
  // triggering, a full accept queue would otherwise wake us forever.
  for (const Listener& l : listeners_) (void)loop_->Watch(l.fd.get(), accepting ? uint32_t{EPOLLIN} : 0u);
}

void Proxy::OnReadable(int listener_fd) {
  constexpr int kBatch = 64;
  const size_t room = options_.max_connections - std::min(options_.max_connections, active());
  const absl::Status s = AcceptBatch(listener_fd, static_cast<int>(std::min<size_t>(kBatch, room)),
                                     [this](UniqueFd client) { OnAccepted(std::move(client)); });
  // Out of fds or memory, or at --max_connections: resume when a relay closes.
  if (!s.ok() || active() >= options_.max_connections) SetAccepting(false);
}

void Proxy::OnAccepted(UniqueFd client) {
  ++stats_->accepted;
  Relay::Env env{.loop = loop_,
                 .stats = stats_,
                 .backends = &options_.backends,
                 .buffer_bytes = options_.buffer_bytes,
                 .on_closed = [this](Relay* r) { OnRelayClosed(r); }};
  auto relay = std::make_unique<Relay>(std::move(env), std::move(client), next_backend_++);
  Relay* raw = relay.get();
  relays_[raw] = std::move(relay);
  raw->Start();
}

void Proxy::OnRelayClosed(Relay* relay) {
  // The relay is on the stack: destroy it after this batch of events.
  loop_->Defer([this, relay] {
    relays_.erase(relay);
    if (!listeners_.empty() && active() < options_.max_connections) SetAccepting(true);
    if (relays_.empty() && on_idle_) on_idle_();
  });
}

}  // namespace handover::demo
