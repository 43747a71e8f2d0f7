// demo_loadgen: HTTP load against demo_proxy or demo_backend; prints outcome counts and
// latency percentiles (µs), one line of key=value or, with --json, one JSON object.
// SIGTERM or SIGINT ends the load early, as --duration_ms would (in-flight attempts
// finish; the results are printed). With --samples_out, every attempt is also written to a CSV file at exit (start time,
// latency, outcome): scripts/bench/windows.awk splits those by handover window.
// Exit status: 0 when every request was ok, 1 when any failed (or the samples could not
// be written), 2 on bad flags.
//
//   demo_loadgen --target=127.0.0.1:8080 --duration_ms=2000 --concurrency=8 --mode=keepalive
#include <signal.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "demo_proxy/address.h"
#include "demo_proxy/loadgen/loadgen.h"
#include "demo_proxy/stats.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(target, "127.0.0.1:8080", "address to load: HOST:PORT, [V6]:PORT or unix:/path");
DEFINE_int64(duration_ms, 1000, "start requests for this long");
DEFINE_int32(concurrency, 4, "requests in flight at most");
DEFINE_string(mode, "new_conn", "new_conn (a connection per request) or keepalive");
DEFINE_double(rate, 0, "requests per second in total; 0: as fast as possible");
DEFINE_int64(max_requests, 0, "start at most this many requests; 0: no limit");
DEFINE_int64(timeout_ms, 2000, "per-request timeout");
DEFINE_bool(json, false, "print one JSON object instead of key=value");
DEFINE_bool(print_started, false, "print a line 'started' after the first OK response");
DEFINE_string(samples_out, "",
              "write every attempt to this CSV file at exit: start_unix_us,latency_us,outcome "
              "(kept in memory while the load runs)");

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  ::signal(SIGPIPE, SIG_IGN);

  handover::demo::LoadgenOptions options;
  absl::StatusOr<handover::sys::SockAddr> target = handover::demo::ParseAddress(FLAGS_target);
  if (!target.ok() || (FLAGS_mode != "new_conn" && FLAGS_mode != "keepalive")) {
    LOG(ERROR) << (target.ok() ? absl::StrCat("--mode=", FLAGS_mode, ": want new_conn or keepalive")
                               : target.status().ToString());
    return 2;
  }
  options.target = *target;
  options.duration = absl::Milliseconds(FLAGS_duration_ms);
  options.concurrency = FLAGS_concurrency;
  options.keepalive = FLAGS_mode == "keepalive";
  options.rate = FLAGS_rate;
  options.max_requests = FLAGS_max_requests;
  options.timeout = absl::Milliseconds(FLAGS_timeout_ms);
  if (FLAGS_print_started) options.on_first_ok = [] { handover::demo::PrintLine("started"); };
  options.keep_samples = !FLAGS_samples_out.empty();
  options.stop_on_signal = true;  // SIGTERM/SIGINT: stop early, still print the results

  absl::StatusOr<handover::demo::LoadgenResult> result = handover::demo::RunLoadgen(options);
  if (!result.ok()) {
    LOG(ERROR) << result.status();
    return result.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (!FLAGS_samples_out.empty()) {
    const absl::Status written = handover::demo::WriteSamplesCsv(result->samples, FLAGS_samples_out);
    if (!written.ok()) {
      LOG(ERROR) << "--samples_out: " << written;
      return 1;
    }
  }
  handover::demo::PrintLine(result->Format(FLAGS_json));
  return result->failures() == 0 ? 0 : 1;
}
