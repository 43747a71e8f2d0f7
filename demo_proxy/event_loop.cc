#include "demo_proxy/event_loop.h"

#include <errno.h>
#include <sys/epoll.h>

#include <algorithm>
#include <climits>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "handover/status.h"

namespace handover::demo {

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create() {
  UniqueFd fd(::epoll_create1(EPOLL_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    return ErrnoError(err, "epoll_create1(EPOLL_CLOEXEC)");
  }
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(fd)));
}

absl::Status EventLoop::Ctl(int op, int fd, const Registration& reg) {
  struct epoll_event ev = {};
  ev.events = reg.events;
  ev.data.u64 = reg.id;
  if (::epoll_ctl(epoll_fd_.get(), op, fd, &ev) != 0) {
    const int err = errno;
    const char* name = op == EPOLL_CTL_ADD ? "ADD" : op == EPOLL_CTL_MOD ? "MOD" : "DEL";
    return ErrnoError(err, absl::StrFormat("epoll_ctl(%d, EPOLL_CTL_%s, %d, %#x)",
                                           epoll_fd_.get(), name, fd, reg.events));
  }
  return absl::OkStatus();
}

absl::Status EventLoop::Add(int fd, uint32_t events, Callback callback) {
  if (by_fd_.contains(fd)) {
    return absl::AlreadyExistsError(absl::StrFormat("EventLoop::Add: fd %d already added", fd));
  }
  Registration reg{.id = next_id_++, .events = events, .in_kernel = events != 0,
                   .callback = std::make_shared<Callback>(std::move(callback))};
  if (reg.in_kernel) HANDOVER_RETURN_IF_ERROR(Ctl(EPOLL_CTL_ADD, fd, reg));
  fd_by_id_[reg.id] = fd;
  by_fd_[fd] = std::move(reg);
  return absl::OkStatus();
}

absl::Status EventLoop::Watch(int fd, uint32_t events) {
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) {
    return absl::NotFoundError(absl::StrFormat("EventLoop::Watch: fd %d not added", fd));
  }
  Registration& reg = it->second;
  if (reg.events == events) return absl::OkStatus();
  reg.events = events;
  if (events == 0) {
    reg.in_kernel = false;
    return Ctl(EPOLL_CTL_DEL, fd, reg);
  }
  const int op = reg.in_kernel ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  reg.in_kernel = true;
  return Ctl(op, fd, reg);
}

absl::Status EventLoop::Remove(int fd) {
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return absl::OkStatus();
  const Registration reg = std::move(it->second);
  by_fd_.erase(it);
  fd_by_id_.erase(reg.id);
  if (reg.in_kernel) return Ctl(EPOLL_CTL_DEL, fd, reg);
  return absl::OkStatus();
}

EventLoop::TimerId EventLoop::RunAt(absl::Time when, std::function<void()> fn) {
  const TimerId id = next_id_++;
  timers_.emplace(when, id);
  timer_fns_[id] = {when, std::move(fn)};
  return id;
}

void EventLoop::Cancel(TimerId id) {
  auto it = timer_fns_.find(id);
  if (it == timer_fns_.end()) return;
  timers_.erase({it->second.first, id});
  timer_fns_.erase(it);
}

void EventLoop::Defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }

int EventLoop::WaitTimeoutMs() const {
  if (!deferred_.empty()) return 0;
  if (timers_.empty()) return -1;
  const absl::Duration left = timers_.begin()->first - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), INT_MAX));
}

void EventLoop::Dispatch(uint64_t id, uint32_t events) {
  auto fd_it = fd_by_id_.find(id);
  if (fd_it == fd_by_id_.end()) return;  // removed earlier in this batch
  // Keep the callback alive even if it removes its own fd.
  std::shared_ptr<Callback> callback = by_fd_[fd_it->second].callback;
  (*callback)(events);
}

void EventLoop::RunDueTimers() {
  const absl::Time now = absl::Now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const TimerId id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    auto node = timer_fns_.extract(id);
    node.mapped().second();
  }
}

void EventLoop::RunDeferred() {
  while (!deferred_.empty()) {
    std::vector<std::function<void()>> batch;
    batch.swap(deferred_);
    for (auto& fn : batch) fn();
  }
}

absl::Status EventLoop::Run() {
  constexpr int kMaxEvents = 256;
  struct epoll_event events[kMaxEvents];
  stopped_ = false;
  while (!stopped_) {
    const int n = ::epoll_wait(epoll_fd_.get(), events, kMaxEvents, WaitTimeoutMs());
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return ErrnoError(err, absl::StrFormat("epoll_wait(%d)", epoll_fd_.get()));
    }
    for (int i = 0; i < n && !stopped_; ++i) Dispatch(events[i].data.u64, events[i].events);
    RunDueTimers();
    RunDeferred();
  }
  return absl::OkStatus();
}

}  // namespace handover::demo
