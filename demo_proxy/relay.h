// Relay: one client connection and its backend connection, moving bytes both ways
// through two bounded buffers.
//
// Backend choice: attempts start at backend `first` and go round the list; a connect
// that fails (at once, or later as SO_ERROR after EPOLLOUT) is counted and retried on
// the next backend. After every backend failed once the client is closed.
// Backpressure: a side is read only while the buffer towards the other side has room,
// so memory per connection is bounded by 2 * buffer_bytes.
// Half-close: EOF from one side is passed on as shutdown(SHUT_WR) to the other side
// once its buffer is flushed; the relay ends when both directions have ended, or at
// once on a read/write error or Close().
#ifndef HANDOVER_DEMO_PROXY_RELAY_H_
#define HANDOVER_DEMO_PROXY_RELAY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "demo_proxy/event_loop.h"
#include "demo_proxy/stats.h"
#include "handover/sys.h"
#include "handover/unique_fd.h"

namespace handover::demo {

// A fixed-capacity byte queue (allocated on first use).
class ByteBuffer {
 public:
  explicit ByteBuffer(size_t capacity) : capacity_(capacity) {}
  size_t size() const { return end_ - begin_; }
  size_t space() const { return capacity_ - size(); }
  // Reads from `fd` into free space: >0 bytes, 0 at EOF, -1 with errno set.
  ssize_t ReadFrom(int fd);
  // Sends queued bytes to `fd` (MSG_NOSIGNAL): >0 bytes, -1 with errno set.
  ssize_t WriteTo(int fd);

 private:
  size_t capacity_;
  std::vector<char> data_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

class Relay {
 public:
  struct Env {
    EventLoop* loop = nullptr;
    Stats* stats = nullptr;
    const std::vector<sys::SockAddr>* backends = nullptr;
    size_t buffer_bytes = 64 * 1024;
    std::function<void(Relay*)> on_closed;  // called once, from inside the relay
  };

  // Takes ownership of the accepted client socket (non-blocking).
  Relay(Env env, UniqueFd client, size_t first_backend);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Starts connecting to a backend. Ends in on_closed if no backend accepts.
  void Start();
  // Closes both sides now (drain timeout, SIGINT). Calls on_closed.
  void Close();

 private:
  struct Direction {
    explicit Direction(size_t capacity) : buffer(capacity) {}
    ByteBuffer buffer;
    bool eof = false;   // the source said EOF
    bool shut = false;  // we sent shutdown(SHUT_WR) to the sink: this direction is over
  };

  void TryNextBackend();
  void OnBackendEvent();
  void OnConnected();
  // Moves bytes src -> dst as far as possible now. False on a hard error.
  bool Pump(int src, int dst, Direction& d, uint64_t& counter);
  void PumpAll();
  void UpdateInterest();

  Env env_;
  UniqueFd client_;
  UniqueFd backend_;
  size_t next_backend_;
  size_t attempts_ = 0;
  bool connected_ = false;
  bool closed_ = false;
  Direction up_;    // client -> backend
  Direction down_;  // backend -> client
};

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_RELAY_H_
