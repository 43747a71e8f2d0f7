#include "tests/bench/loaded_bench.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "handover/handover.h"
#include "handover/scm_rights.h"
#include "handover/status.h"
#include "handover/sys.h"
#include "handover/unique_fd.h"
#include "tests/bench/bench_util.h"
#include "tests/bench/kill_on_signal.h"
#include "tests/testing/child_process.h"

namespace handover::bench {
namespace {

using testing::BinPath;
using testing::ChildProcess;

constexpr absl::Duration kStartTimeout = absl::Seconds(30);
constexpr absl::Duration kStopTimeout = absl::Seconds(10);
constexpr int kDrainTimeoutMs = 1000;  // demo_proxy: once the load has ended, nothing is left

// A child process, SIGKILLed if we die of a signal (kill_on_signal.h) and by
// ChildProcess's destructor on every other path.
class Child {
 public:
  static absl::StatusOr<std::unique_ptr<Child>> Spawn(std::vector<std::string> argv) {
    HANDOVER_ASSIGN_OR_RETURN(ChildProcess p, ChildProcess::Spawn({.argv = std::move(argv)}));
    return std::unique_ptr<Child>(new Child(std::move(p)));
  }
  ChildProcess& process() { return process_; }
  pid_t pid() const { return process_.pid(); }

  // Sends `sig` (0: none, the child is ending by itself) and reaps it (bounded).
  absl::StatusOr<int> Stop(int sig) {
    guard_.Release();  // before the reap: a reaped pid may be reused
    if (sig != 0) HANDOVER_RETURN_IF_ERROR(process_.Signal(sig));
    return process_.Wait(kStopTimeout);
  }

 private:
  explicit Child(ChildProcess p) : process_(std::move(p)), guard_(process_.pid()) {}
  ChildProcess process_;
  KillOnSignal guard_;  // declared after process_: released before it is reaped
};

// How long a live child's main thread ran on a CPU, and waited runnable for one:
// /proc/PID/schedstat (ns; CONFIG_SCHED_INFO). Tick-based utime/stime would be too
// coarse for a window of a few tens of ms.
struct SchedTimes {
  absl::Duration run;
  absl::Duration wait;
};
absl::StatusOr<SchedTimes> Sched(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/schedstat");
  std::ifstream in(path);
  int64_t run_ns = 0, wait_ns = 0;
  if (!(in >> run_ns >> wait_ns)) return absl::InternalError(absl::StrCat(path, ": unreadable"));
  return SchedTimes{.run = absl::Nanoseconds(run_ns), .wait = absl::Nanoseconds(wait_ns)};
}

// demo_loadgen's result line: "ok=N refused=N ... p99_us=N ..." -> {key: value}.
struct LoadResult {
  int64_t ok = 0;
  int64_t failed = 0;
  int64_t p99_us = 0;
};
LoadResult ParseLoadResult(absl::string_view line) {
  LoadResult r;
  for (absl::string_view kv : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    const std::pair<absl::string_view, absl::string_view> p = absl::StrSplit(kv, '=');
    int64_t v = 0;
    if (!absl::SimpleAtoi(p.second, &v)) continue;
    if (p.first == "ok") {
      r.ok = v;
    } else if (p.first == "p99_us") {
      r.p99_us = v;
    } else if (!absl::EndsWith(p.first, "_us")) {
      r.failed += v;  // refused, reset, timeout, bad_response, other
    }
  }
  return r;
}

// One (state, N) point: a demo_proxy with N listeners under demo_loadgen's load.
class LoadedPoint {
 public:
  LoadedPoint(const LoadedOptions& options, std::string state, int n, std::ostream& out)
      : options_(options), state_(std::move(state)), n_(n), out_(out) {}

  absl::Status Start(const std::string& backend, const std::string& control);
  absl::Status Measure();
  // Waits for the load's result, stops the proxy; returns the load row.
  absl::StatusOr<std::string> Finish();

 private:
  absl::StatusOr<bool> LoadRunning();
  absl::Status PidfdPath();
  absl::Status Scm();
  absl::Status GetfdLoop();

  const LoadedOptions& options_;
  const std::string state_;
  const int n_;
  std::ostream& out_;
  std::string control_;
  std::unique_ptr<Child> proxy_;
  std::unique_ptr<Child> loadgen_;
  std::vector<int> fds_;  // the proxy's listener fds, in its order
  UniqueFd pidfd_;
  std::vector<UniqueFd> copies_;
  std::optional<Takeover> taken_;
  int reps_done_ = 0;  // repetitions that ran entirely under load
  absl::Duration measure_;
  SchedTimes proxy_sched_;  // the proxy's, during measure_
};

absl::Status LoadedPoint::Start(const std::string& backend, const std::string& control) {
  control_ = control;
  const std::vector<std::string> listen(n_, "127.0.0.1:0");
  HANDOVER_ASSIGN_OR_RETURN(
      proxy_,
      Child::Spawn({BinPath("demo_proxy"), "--listen=" + absl::StrJoin(listen, ","),
                    "--backend=" + backend, "--control_socket=" + control,
                    absl::StrCat("--drain_timeout_ms=", kDrainTimeoutMs), "--print_ready"}));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<std::string> lines,
                            proxy_->process().ReadUntil("ready", kStartTimeout));
  std::string first;  // "listening fd=N ADDRESS"
  for (const std::string& line : lines) {
    const std::vector<std::string> f = absl::StrSplit(line, ' ');
    int fd = -1;
    if (f.size() == 3 && f[0] == "listening" &&
        absl::SimpleAtoi(absl::StripPrefix(f[1], "fd="), &fd)) {
      fds_.push_back(fd);
      if (first.empty()) first = f[2];
    }
  }
  if (static_cast<int>(fds_.size()) != n_) {
    return absl::InternalError("demo_proxy: listening lines");
  }
  HANDOVER_ASSIGN_OR_RETURN(pidfd_, sys::PidfdOpen(proxy_->pid()));
  HANDOVER_ASSIGN_OR_RETURN(
      loadgen_,
      Child::Spawn({BinPath("demo_loadgen"), "--target=" + first,
                    state_ == "loaded" ? "--mode=new_conn" : "--mode=keepalive",
                    absl::StrCat("--concurrency=", options_.concurrency),
                    absl::StrCat("--duration_ms=", absl::ToInt64Milliseconds(options_.load)),
                    "--print_started"}));
  return loadgen_->process().ReadUntil("started", kStartTimeout).status();
}

// True while demo_loadgen still runs, false once it has finished; INTERNAL if the
// proxy has exited. Polls both pidfds without waiting.
absl::StatusOr<bool> LoadedPoint::LoadRunning() {
  struct pollfd p[2] = {{.fd = loadgen_->process().pidfd(), .events = POLLIN, .revents = 0},
                        {.fd = proxy_->process().pidfd(), .events = POLLIN, .revents = 0}};
  HANDOVER_ASSIGN_OR_RETURN(int ready, sys::Poll(absl::MakeSpan(p), absl::InfinitePast()));
  if (p[1].revents != 0) return absl::InternalError("demo_proxy exited under load");
  return ready == 0;
}

absl::Status LoadedPoint::Measure() {
  const std::pair<const char*, std::function<absl::Status()>> methods[] = {
      {"pidfd", [this] { return PidfdPath(); }},
      {"scm", [this] { return Scm(); }},
      {"getfd", [this] { return GetfdLoop(); }}};
  constexpr size_t kMethods = std::size(methods);
  HANDOVER_ASSIGN_OR_RETURN(const SchedTimes before, Sched(proxy_->pid()));
  const absl::Time start = absl::Now();
  HANDOVER_ASSIGN_OR_RETURN(bool loaded, LoadRunning());
  for (int rep = 0; loaded && rep < options_.reps; ++rep) {
    std::string rows;
    for (size_t i = 0; i < kMethods; ++i) {
      const auto& [name, f] = methods[(static_cast<size_t>(rep) + i) % kMethods];
      auto [us, outcome] = Time(f);
      copies_.clear();  // close after the clock stopped
      taken_.reset();
      absl::StrAppendFormat(&rows, "%s,%s,%d,%d,%.1f,%s\n", state_, name, n_, rep, us, outcome);
    }
    // A repetition counts only if the load ran from before it until after it.
    HANDOVER_ASSIGN_OR_RETURN(loaded, LoadRunning());
    if (!loaded) break;
    out_ << rows;
    reps_done_ = rep + 1;
    measure_ = absl::Now() - start;
    HANDOVER_ASSIGN_OR_RETURN(const SchedTimes after, Sched(proxy_->pid()));
    proxy_sched_ = {.run = after.run - before.run, .wait = after.wait - before.wait};
  }
  out_.flush();
  if (reps_done_ == options_.reps) return absl::OkStatus();
  if (reps_done_ == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "demo_loadgen's %s of load ended before one repetition did: raise --load_ms",
        absl::FormatDuration(options_.load)));
  }
  ::fprintf(stderr, "loaded %s n=%d: only %d of %d repetitions ran under load: raise --load_ms\n",
            state_.c_str(), n_, reps_done_, options_.reps);
  return absl::OkStatus();
}

absl::StatusOr<std::string> LoadedPoint::Finish() {
  HANDOVER_ASSIGN_OR_RETURN(std::string line,
                            loadgen_->process().ReadLine(options_.load + kStopTimeout));
  HANDOVER_RETURN_IF_ERROR(loadgen_->Stop(0).status());  // exit 1 = some request failed
  const LoadResult r = ParseLoadResult(line);
  HANDOVER_ASSIGN_OR_RETURN(int status, proxy_->Stop(SIGTERM));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrFormat("demo_proxy: wait status %d", status));
  }
  return absl::StrFormat("%s,%d,%d,%.1f,%d,%d,%d,%.0f,%.1f,%.1f,%d\n", state_, n_, reps_done_,
                         absl::ToDoubleMilliseconds(measure_),
                         absl::ToInt64Milliseconds(options_.load), r.ok, r.failed,
                         static_cast<double>(r.ok) / absl::ToDoubleSeconds(options_.load),
                         100 * absl::FDivDuration(proxy_sched_.run, measure_),
                         100 * absl::FDivDuration(proxy_sched_.wait, measure_), r.p99_us);
}

absl::Status LoadedPoint::PidfdPath() {
  absl::StatusOr<Takeover> t = TakeOver({.pid = proxy_->pid()});
  if (!t.ok()) return t.status();
  const bool complete = static_cast<int>(t->sockets.size()) == n_ + 1;
  taken_ = *std::move(t);  // closed by Measure after the clock stopped
  return complete ? absl::OkStatus() : absl::InternalError("took an unexpected number of sockets");
}

absl::Status LoadedPoint::Scm() {
  absl::StatusOr<ScmFetchResult> r = FetchListeners(control_, options_.scm_timeout);
  if (!r.ok()) return r.status();
  for (UniqueFd& fd : r->fds) copies_.push_back(std::move(fd));
  return static_cast<int>(copies_.size()) == n_ ? absl::OkStatus()
                                                : absl::InternalError("short SCM reply");
}

absl::Status LoadedPoint::GetfdLoop() {
  copies_.reserve(fds_.size());
  for (int fd : fds_) {
    HANDOVER_ASSIGN_OR_RETURN(UniqueFd copy, sys::PidfdGetfd(pidfd_.get(), fd));
    copies_.push_back(std::move(copy));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Child>> StartBackend(std::string* address) {
  HANDOVER_ASSIGN_OR_RETURN(std::unique_ptr<Child> backend,
                            Child::Spawn({BinPath("demo_backend"), "--listen=127.0.0.1:0"}));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<std::string> lines,
                            backend->process().ReadUntil("ready", kStartTimeout));
  for (const std::string& line : lines) {
    absl::string_view v = line;
    if (absl::ConsumePrefix(&v, "listening ")) *address = std::string(v);
  }
  if (address->empty()) return absl::InternalError("demo_backend: no listening line");
  return backend;
}

}  // namespace

absl::Status RunLoaded(const LoadedOptions& options, std::ostream& out, std::ostream* load_out) {
  for (const std::string& state : options.states) {
    if (state != "loaded" && state != "loaded_keepalive") {
      return absl::InvalidArgumentError(
          absl::StrCat("loaded state '", state, "': want loaded or loaded_keepalive"));
    }
  }
  char dir[] = "/tmp/handover_bench.XXXXXX";  // the control sockets
  if (::mkdtemp(dir) == nullptr) return ErrnoError(errno, "mkdtemp(/tmp/handover_bench.XXXXXX)");
  absl::Cleanup remove_dir = [&dir] {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  };
  std::string backend_address;
  HANDOVER_ASSIGN_OR_RETURN(std::unique_ptr<Child> backend, StartBackend(&backend_address));
  out << "state,method,n,rep,us,outcome\n";
  if (load_out != nullptr) {
    *load_out << "state,n,reps,measure_ms,load_ms,requests_ok,requests_failed,requests_per_s,"
                 "proxy_cpu_pct,proxy_runq_pct,loadgen_p99_us\n";
  }
  for (const std::string& state : options.states) {
    for (int n : options.ns) {
      LoadedPoint point(options, state, n, out);
      absl::Status s =
          point.Start(backend_address, absl::StrFormat("%s/%s.%d.sock", dir, state, n));
      if (s.ok()) s = point.Measure();
      absl::StatusOr<std::string> row = s.ok() ? point.Finish() : s;
      if (!row.ok()) return WithContext(row.status(), absl::StrFormat("loaded %s n=%d", state, n));
      if (load_out != nullptr) *load_out << *row << std::flush;
      ::fprintf(stderr, "loaded %s n=%d: %s", state.c_str(), n, row->c_str());
    }
  }
  return backend->Stop(SIGTERM).status();
}

}  // namespace handover::bench
