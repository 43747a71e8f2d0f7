#include "demo_proxy/loadgen/loadgen.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "demo_proxy/address.h"
#include "demo_proxy/event_loop.h"
#include "demo_proxy/loadgen/response_parser.h"
#include "demo_proxy/signals.h"
#include "handover/status.h"

namespace handover::demo {

const char* OutcomeName(Outcome o) {
  static constexpr const char* kNames[kOutcomes] = {"ok",      "refused",      "reset",
                                                    "timeout", "bad_response", "other"};
  return kNames[static_cast<int>(o)];
}

int64_t LoadgenResult::failures() const {
  int64_t n = 0;
  for (int i = 1; i < kOutcomes; ++i) n += counts[i];
  return n;
}

std::string LoadgenResult::Format(bool json) const {
  std::vector<int64_t> v = latencies_us;
  std::sort(v.begin(), v.end());
  const auto pct = [&v](double q) -> int64_t {
    if (v.empty()) return 0;
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
  };
  std::vector<std::pair<std::string, int64_t>> fields;
  for (int i = 0; i < kOutcomes; ++i) fields.emplace_back(OutcomeName(Outcome(i)), counts[i]);
  fields.emplace_back("p50_us", pct(0.5));
  fields.emplace_back("p99_us", pct(0.99));
  fields.emplace_back("p999_us", pct(0.999));
  fields.emplace_back("max_us", v.empty() ? 0 : v.back());
  const auto fmt = [json](std::string* out, const std::pair<std::string, int64_t>& f) {
    absl::StrAppend(out, json ? absl::StrFormat("\"%s\":%d", f.first, f.second)
                              : absl::StrFormat("%s=%d", f.first, f.second));
  };
  if (json) return absl::StrCat("{", absl::StrJoin(fields, ",", fmt), "}");
  return absl::StrJoin(fields, " ", fmt);
}

namespace {

Outcome Classify(int err) {
  switch (err) {
    case ECONNREFUSED: case ENOENT: return Outcome::kRefused;
    case ECONNRESET: case EPIPE: return Outcome::kReset;
    case ETIMEDOUT: return Outcome::kTimeout;
    default: return Outcome::kOther;
  }
}

class Loadgen {
 public:
  Loadgen(const LoadgenOptions& options, std::unique_ptr<EventLoop> loop)
      : o_(options), loop_(std::move(loop)), slots_(static_cast<size_t>(options.concurrency)) {
    request_ = absl::StrCat("GET / HTTP/1.1\r\nHost: demo\r\n",
                            o_.keepalive ? "" : "Connection: close\r\n", "\r\n");
  }
  ~Loadgen() {
    for (Slot& s : slots_) CloseFd(s);
  }

  absl::StatusOr<LoadgenResult> Run() {
    UniqueFd signals;
    if (o_.stop_on_signal) {
      HANDOVER_ASSIGN_OR_RETURN(signals, BlockedSignalFd({SIGTERM, SIGINT}));
      const int fd = signals.get();
      HANDOVER_RETURN_IF_ERROR(loop_->Add(fd, EPOLLIN, [this, fd](uint32_t) {
        while (ReadSignal(fd) != 0) {
        }
        end_ = std::min(end_, absl::Now());  // no new attempts; those in flight finish
      }));
    }
    const absl::Time now = absl::Now();
    end_ = now + o_.duration;
    next_start_ = now;
    for (Slot& s : slots_) ScheduleNext(s);
    if (busy_ > 0) HANDOVER_RETURN_IF_ERROR(loop_->Run());
    if (signals.valid()) (void)loop_->Remove(signals.get());
    return std::move(result_);
  }

 private:
  enum class State { kIdle, kWaitStart, kConnecting, kSending, kReceiving, kClosing };
  struct Slot {
    State state = State::kIdle;
    UniqueFd fd;
    absl::Time started;
    EventLoop::TimerId timer = 0;
    size_t sent = 0;
    ResponseParser parser;
  };

  void SetTimer(Slot& s, absl::Time when, std::function<void()> fn) {
    loop_->Cancel(s.timer);
    s.timer = loop_->RunAt(when, std::move(fn));
  }
  void CloseFd(Slot& s) {
    (void)loop_->Remove(s.fd.get());
    s.fd.Reset();
  }

  // Reserves the next start time for a free slot, or retires the slot.
  void ScheduleNext(Slot& s) {
    const bool was_busy = s.state != State::kIdle;
    absl::Time at = absl::Now();
    if (o_.rate > 0) {
      at = std::max(at, next_start_);
      next_start_ = at + absl::Seconds(1) / o_.rate;
    }
    if (at >= end_ || (o_.max_requests > 0 && started_ >= o_.max_requests)) {
      CloseFd(s);
      s.state = State::kIdle;
      if (was_busy && --busy_ == 0) loop_->Stop();
      return;
    }
    if (!was_busy) ++busy_;
    ++started_;
    s.state = State::kWaitStart;
    SetTimer(s, at, [this, &s] { Begin(s); });
  }

  void Begin(Slot& s) {
    s.started = absl::Now();
    s.sent = 0;
    s.parser.Reset();
    SetTimer(s, s.started + o_.timeout, [this, &s] { Finish(s, Outcome::kTimeout); });
    if (s.fd.valid()) return Send(s);  // keep-alive
    absl::StatusOr<ConnectAttempt> c = StartConnect(o_.target);
    if (!c.ok()) return Finish(s, Outcome::kOther);
    if (c->error != 0) return Finish(s, Classify(c->error));
    s.fd = std::move(c->fd);
    s.state = c->in_progress ? State::kConnecting : State::kSending;
    if (!loop_->Add(s.fd.get(), EPOLLOUT, [this, &s](uint32_t) { OnEvent(s); }).ok()) {
      return Finish(s, Outcome::kOther);
    }
  }

  void OnEvent(Slot& s) {
    switch (s.state) {
      case State::kConnecting:
        if (const int err = ConnectError(s.fd.get()); err != 0) return Finish(s, Classify(err));
        s.state = State::kSending;
        return Send(s);
      case State::kSending: return Send(s);
      case State::kReceiving: return Receive(s);
      case State::kClosing: return AwaitEof(s);
      default: return;
    }
  }

  void Send(Slot& s) {
    s.state = State::kSending;
    while (s.sent < request_.size()) {
      const ssize_t n = ::send(s.fd.get(), request_.data() + s.sent, request_.size() - s.sent,
                               MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        (void)loop_->Watch(s.fd.get(), EPOLLOUT);
        return;
      }
      if (n < 0) return Finish(s, Classify(errno));
      s.sent += static_cast<size_t>(n);
    }
    s.state = State::kReceiving;
    (void)loop_->Watch(s.fd.get(), EPOLLIN);
  }

  void Receive(Slot& s) {
    char buf[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(s.fd.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n < 0) return Finish(s, Classify(errno));
      if (n == 0) return Finish(s, Outcome::kBadResponse);  // closed before a full response
      const auto state = s.parser.Feed(absl::string_view(buf, static_cast<size_t>(n)));
      if (state == ResponseParser::State::kBad) return Finish(s, Outcome::kBadResponse);
      if (state == ResponseParser::State::kDone) return Finish(s, Outcome::kOk);
    }
  }

  // new_conn mode, after a full response: let the server close first, so TIME_WAIT
  // lands on its side and this client does not run out of ephemeral ports.
  void AwaitEof(Slot& s) {
    char buf[4096];
    ssize_t n;
    do {
      n = ::read(s.fd.get(), buf, sizeof(buf));
    } while (n > 0 || (n < 0 && errno == EINTR));
    if (n < 0 && errno == EAGAIN) return;
    CloseFd(s);
    ScheduleNext(s);
  }

  void Finish(Slot& s, Outcome outcome) {
    ++result_.counts[static_cast<int>(outcome)];
    if (o_.keep_samples) {
      result_.samples.push_back({.start_unix_us = absl::ToUnixMicros(s.started),
                                 .latency_us = absl::ToInt64Microseconds(absl::Now() - s.started),
                                 .outcome = outcome});
    }
    if (outcome != Outcome::kOk) {
      CloseFd(s);
      return ScheduleNext(s);
    }
    result_.latencies_us.push_back(absl::ToInt64Microseconds(absl::Now() - s.started));
    if (result_.latencies_us.size() == 1 && o_.on_first_ok) o_.on_first_ok();
    if (o_.keepalive) return ScheduleNext(s);
    s.state = State::kClosing;
    (void)loop_->Watch(s.fd.get(), EPOLLIN);
    SetTimer(s, absl::Now() + o_.timeout, [this, &s] {
      CloseFd(s);
      ScheduleNext(s);
    });
  }

  LoadgenOptions o_;
  std::unique_ptr<EventLoop> loop_;
  std::vector<Slot> slots_;
  std::string request_;
  absl::Time end_;
  absl::Time next_start_;
  int64_t started_ = 0;
  int busy_ = 0;
  LoadgenResult result_;
};

}  // namespace

absl::StatusOr<LoadgenResult> RunLoadgen(const LoadgenOptions& options) {
  if (options.concurrency <= 0) return absl::InvalidArgumentError("--concurrency must be > 0");
  HANDOVER_ASSIGN_OR_RETURN(std::unique_ptr<EventLoop> loop, EventLoop::Create());
  Loadgen gen(options, std::move(loop));
  return gen.Run();
}

absl::Status WriteSamplesCsv(const std::vector<Sample>& samples, const std::string& path) {
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, sys::OpenAt(AT_FDCWD, path,
                                                     O_WRONLY | O_CREAT | O_TRUNC, 0644));
  std::string buf = "start_unix_us,latency_us,outcome\n";
  const auto flush = [&buf, &fd, &path]() -> absl::Status {
    size_t done = 0;
    while (done < buf.size()) {
      const ssize_t n = ::write(fd.get(), buf.data() + done, buf.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        return ErrnoError(err, absl::StrFormat("write(%d) to %s", fd.get(), path));
      }
      done += static_cast<size_t>(n);
    }
    buf.clear();
    return absl::OkStatus();
  };
  for (const Sample& s : samples) {
    absl::StrAppend(&buf, s.start_unix_us, ",", s.latency_us, ",", OutcomeName(s.outcome), "\n");
    if (buf.size() >= (1 << 20)) HANDOVER_RETURN_IF_ERROR(flush());
  }
  return flush();
}

}  // namespace handover::demo
