// RunLoadgen: demo_loadgen's engine. `concurrency` slots each run one HTTP request at
// a time against `target` (a new connection per request, or one kept-alive connection
// per slot), optionally paced to `rate` requests/s in total, for `duration` or until
// `max_requests` have started (or, with stop_on_signal, until SIGTERM/SIGINT). Every
// attempt ends in exactly one Outcome; each has its own `timeout`, so the run always
// ends by about duration + timeout.
//
//   HANDOVER_ASSIGN_OR_RETURN(LoadgenResult r, RunLoadgen({.target = addr}));
//   std::cout << r.Format(/*json=*/true);
#ifndef HANDOVER_DEMO_PROXY_LOADGEN_LOADGEN_H_
#define HANDOVER_DEMO_PROXY_LOADGEN_LOADGEN_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "handover/sys.h"

namespace handover::demo {

struct LoadgenOptions {
  sys::SockAddr target;
  absl::Duration duration = absl::Seconds(1);
  int concurrency = 1;
  bool keepalive = false;
  double rate = 0;            // requests/s over all slots; 0: as fast as answers come
  int64_t max_requests = 0;   // 0: no limit
  absl::Duration timeout = absl::Seconds(2);  // per request
  // Called once, after the first OK response: lets a caller wait until load is
  // really flowing (demo_loadgen --print_started).
  std::function<void()> on_first_ok;
  // Keep one Sample per attempt in LoadgenResult::samples (24 bytes each, appended in
  // memory; nothing is written while the load runs).
  bool keep_samples = false;
  // SIGTERM or SIGINT ends the run early, as the duration would: no new attempt
  // starts, those in flight finish (blocks both signals for the process; see
  // demo_proxy/signals.h).
  bool stop_on_signal = false;
};

enum class Outcome {
  kOk,           // "200" status line, headers, exactly Content-Length body bytes
  kRefused,      // ECONNREFUSED (ENOENT for a unix path that does not exist)
  kReset,        // ECONNRESET or EPIPE
  kTimeout,      // no complete response within the timeout
  kBadResponse,  // not 200, malformed, no Content-Length, short or over-long body
  kOther,        // any other error
};
inline constexpr int kOutcomes = 6;
const char* OutcomeName(Outcome o);

// One attempt: when it started (wall clock, to line it up with events outside the
// load generator), how long until its outcome, and the outcome.
struct Sample {
  int64_t start_unix_us;
  int64_t latency_us;
  Outcome outcome;
};

struct LoadgenResult {
  std::array<int64_t, kOutcomes> counts = {};
  std::vector<int64_t> latencies_us;  // of ok requests
  std::vector<Sample> samples;        // every attempt, in completion order (keep_samples)

  int64_t count(Outcome o) const { return counts[static_cast<int>(o)]; }
  int64_t failures() const;
  // "ok=10 refused=0 ... p50_us=120 p99_us=300 p999_us=310 max_us=320", or one JSON object.
  std::string Format(bool json) const;
};

// Errors only for setup failures (epoll); request failures are counted, not returned.
absl::StatusOr<LoadgenResult> RunLoadgen(const LoadgenOptions& options);

// Writes `samples` to `path` (created or truncated) as CSV: a header line
// "start_unix_us,latency_us,outcome", then one line per sample, e.g.
// "1763856000123456,1834,ok". Errors: open/write failures (the errno's code).
absl::Status WriteSamplesCsv(const std::vector<Sample>& samples, const std::string& path);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_LOADGEN_LOADGEN_H_
