// EventLoop: one level-triggered epoll set (an EPOLL_CLOEXEC UniqueFd), one callback
// per registered fd, one-shot deadline timers served through epoll_wait's timeout
// (the loop never sleeps), and deferred tasks that run after each batch of events.
//
//   HANDOVER_ASSIGN_OR_RETURN(std::unique_ptr<EventLoop> loop, EventLoop::Create());
//   HANDOVER_RETURN_IF_ERROR(loop->Add(fd, EPOLLIN, [&](uint32_t events) { ... }));
//   loop->RunAt(absl::Now() + absl::Seconds(1), [&] { loop->Stop(); });
//   HANDOVER_RETURN_IF_ERROR(loop->Run());
//
// The loop borrows every fd: callers Remove() an fd before closing it. Remove() and
// Watch() are safe from inside any callback, including the fd's own: a callback is
// kept alive while it runs, and events already fetched for a removed fd are dropped
// (registrations carry a unique id, so a reused fd number never gets stale events).
#ifndef HANDOVER_DEMO_PROXY_EVENT_LOOP_H_
#define HANDOVER_DEMO_PROXY_EVENT_LOOP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "handover/unique_fd.h"

namespace handover::demo {

class EventLoop {
 public:
  using Callback = std::function<void(uint32_t events)>;
  using TimerId = uint64_t;

  static absl::StatusOr<std::unique_ptr<EventLoop>> Create();

  // Registers `fd` (borrowed) with interest `events` (EPOLLIN/EPOLLOUT). Errors come
  // from epoll_ctl (e.g. ALREADY_EXISTS for EEXIST).
  absl::Status Add(int fd, uint32_t events, Callback callback);

  // Changes the interest of a registered fd; a no-op when unchanged. Interest 0
  // takes the fd out of the kernel set (EPOLL_CTL_DEL) while keeping its callback:
  // epoll reports EPOLLHUP/EPOLLERR even to an fd that asks for nothing, which
  // would spin a level-triggered loop.
  absl::Status Watch(int fd, uint32_t events);

  // EPOLL_CTL_DEL and drop the callback. Unknown fds are ignored.
  absl::Status Remove(int fd);

  // Runs `fn` once at or after `when` (from the loop). Cancel() before it fires.
  TimerId RunAt(absl::Time when, std::function<void()> fn);
  void Cancel(TimerId id);

  // Runs `fn` after the current batch of events: the place to destroy objects
  // whose callbacks are on the stack.
  void Defer(std::function<void()> fn);

  // Dispatches until Stop(). Errors only from epoll_wait itself.
  absl::Status Run();
  void Stop() { stopped_ = true; }

 private:
  struct Registration {
    uint64_t id = 0;
    uint32_t events = 0;
    bool in_kernel = false;
    std::shared_ptr<Callback> callback;
  };

  explicit EventLoop(UniqueFd epoll_fd) : epoll_fd_(std::move(epoll_fd)) {}
  absl::Status Ctl(int op, int fd, const Registration& reg);
  int WaitTimeoutMs() const;
  void Dispatch(uint64_t id, uint32_t events);
  void RunDueTimers();
  void RunDeferred();

  UniqueFd epoll_fd_;
  bool stopped_ = false;
  uint64_t next_id_ = 1;
  absl::flat_hash_map<int, Registration> by_fd_;
  absl::flat_hash_map<uint64_t, int> fd_by_id_;
  std::set<std::pair<absl::Time, TimerId>> timers_;
  absl::flat_hash_map<TimerId, std::pair<absl::Time, std::function<void()>>> timer_fns_;
  std::vector<std::function<void()>> deferred_;
};

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_EVENT_LOOP_H_
