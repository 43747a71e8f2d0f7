#include "demo_proxy/relay.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "demo_proxy/address.h"

namespace handover::demo {

ssize_t ByteBuffer::ReadFrom(int fd) {
  if (data_.empty()) data_.resize(capacity_);
  if (begin_ == end_) begin_ = end_ = 0;
  if (end_ == capacity_ && begin_ > 0) {
    std::memmove(data_.data(), data_.data() + begin_, size());
    end_ -= begin_;
    begin_ = 0;
  }
  ssize_t n;
  do {
    n = ::read(fd, data_.data() + end_, capacity_ - end_);
  } while (n < 0 && errno == EINTR);
  if (n > 0) end_ += static_cast<size_t>(n);
  return n;
}

ssize_t ByteBuffer::WriteTo(int fd) {
  ssize_t n;
  do {
    n = ::send(fd, data_.data() + begin_, size(), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n > 0) begin_ += static_cast<size_t>(n);
  return n;
}

Relay::Relay(Env env, UniqueFd client, size_t first_backend)
    : env_(std::move(env)),
      client_(std::move(client)),
      next_backend_(first_backend),
      up_(env_.buffer_bytes),
      down_(env_.buffer_bytes) {
  ++env_.stats->active;
}

Relay::~Relay() {
  (void)env_.loop->Remove(client_.get());
  (void)env_.loop->Remove(backend_.get());
}

void Relay::Start() { TryNextBackend(); }

void Relay::Close() {
  if (closed_) return;
  closed_ = true;
  --env_.stats->active;
  // Deregister before closing (kernel-notes §5 rule, harmless for private sockets).
  (void)env_.loop->Remove(client_.get());
  (void)env_.loop->Remove(backend_.get());
  client_.Reset();
  backend_.Reset();
  env_.on_closed(this);
}

void Relay::TryNextBackend() {
  const std::vector<sys::SockAddr>& backends = *env_.backends;
  while (attempts_ < backends.size()) {
    const sys::SockAddr& addr = backends[next_backend_++ % backends.size()];
    ++attempts_;
    absl::StatusOr<ConnectAttempt> attempt = StartConnect(addr);
    if (!attempt.ok() || attempt->error != 0) {
      ++env_.stats->backend_connect_errors;
      continue;
    }
    backend_ = std::move(attempt->fd);
    const uint32_t interest = attempt->in_progress ? uint32_t{EPOLLOUT} : 0u;
    if (!env_.loop->Add(backend_.get(), interest, [this](uint32_t) { OnBackendEvent(); }).ok()) {
      break;
    }
    if (!attempt->in_progress) OnConnected();
    return;
  }
  ++env_.stats->backend_give_ups;
  Close();
}

void Relay::OnBackendEvent() {
  if (connected_) return PumpAll();
  if (ConnectError(backend_.get()) != 0) {
    ++env_.stats->backend_connect_errors;
    (void)env_.loop->Remove(backend_.get());
    backend_.Reset();
    return TryNextBackend();
  }
  OnConnected();
}

void Relay::OnConnected() {
  connected_ = true;
  // The backend's callback (OnBackendEvent) pumps from now on; PumpAll sets interests.
  if (!env_.loop->Add(client_.get(), 0, [this](uint32_t) { PumpAll(); }).ok()) return Close();
  PumpAll();
}

bool Relay::Pump(int src, int dst, Direction& d, uint64_t& counter) {
  // Bounded rounds keep one busy connection from starving the others; level-triggered
  // epoll brings us back for the rest.
  for (int round = 0; round < 8; ++round) {
    bool progress = false;
    if (!d.eof && d.buffer.space() > 0) {
      const ssize_t n = d.buffer.ReadFrom(src);
      if (n > 0) progress = true;
      else if (n == 0) d.eof = true;
      else if (errno != EAGAIN) return false;
    }
    if (d.buffer.size() > 0) {
      const ssize_t n = d.buffer.WriteTo(dst);
      if (n > 0) {
        counter += static_cast<uint64_t>(n);
        progress = true;
      } else if (errno != EAGAIN) {
        return false;
      }
    }
    if (d.eof && d.buffer.size() == 0 && !d.shut) {
      d.shut = true;
      // ENOTCONN if the peer is already gone: the read side will report that.
      (void)::shutdown(dst, SHUT_WR);
    }
    if (!progress) break;
  }
  return true;
}

void Relay::PumpAll() {
  if (closed_) return;
  Stats& s = *env_.stats;
  if (!Pump(client_.get(), backend_.get(), up_, s.bytes_client_to_backend) ||
      !Pump(backend_.get(), client_.get(), down_, s.bytes_backend_to_client)) {
    ++s.relay_errors;
    return Close();
  }
  if (up_.shut && down_.shut) return Close();
  UpdateInterest();
}

void Relay::UpdateInterest() {
  // Read a side while its outgoing buffer has room; write a side while data waits for it.
  const auto wants = [](const Direction& from, const Direction& to) {
    uint32_t ev = 0;
    if (!from.eof && from.buffer.space() > 0) ev |= EPOLLIN;
    if (to.buffer.size() > 0) ev |= EPOLLOUT;
    return ev;
  };
  if (!env_.loop->Watch(client_.get(), wants(up_, down_)).ok() ||
      !env_.loop->Watch(backend_.get(), wants(down_, up_)).ok()) {
    ++env_.stats->relay_errors;
    Close();
  }
}

}  // namespace handover::demo
