// handover_bench --mode=loaded: takeover latency from a demo_proxy that is relaying
// real load, the measurement issue #5's target names ("takeover latency from a
// loaded demo_proxy").
//
//   handover_bench --mode=loaded --n=1,16,64 --reps=21 --out=loaded.csv
//                  --load_out=loaded_load.csv
//
// Per state and N: demo_proxy with N listeners on 127.0.0.1:0 and a --control_socket
// (its SCM_RIGHTS server, answered from its event loop) relays to one demo_backend;
// demo_loadgen (--concurrency, new connections for "loaded", keep-alive for
// "loaded_keepalive") loads its first listener for `load`. While the load runs
// (checked before and after every repetition), three methods run interleaved in rotating
// order, as --mode=takeover does, against the proxy:
//   pidfd  handover::TakeOver({.pid}): takes N + 1 sockets (the control socket too)
//   scm    handover::FetchListeners(control socket): N fds
//   getfd  floor: pidfd_getfd of the N listener fds (pidfd opened before)
// Copies are closed after the clock stops; taking copies changes nothing in the
// proxy, and a fetch only costs its loop one pass.
//
// Output rows (out): state,method,n,rep,us,outcome, as --mode=takeover.
// Load rows (load_out): state,n,reps,measure_ms,load_ms,requests_ok,requests_failed,
// requests_per_s,proxy_cpu_pct,proxy_runq_pct,loadgen_p99_us: what demo_loadgen
// reported, and the share of the measuring time the proxy's loop spent on a CPU and
// runnable waiting for one (/proc/PID/schedstat; their sum near 100%: it never idled).
#ifndef HANDOVER_TESTS_BENCH_LOADED_BENCH_H_
#define HANDOVER_TESTS_BENCH_LOADED_BENCH_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace handover::bench {

struct LoadedOptions {
  std::vector<int> ns = {1, 16, 64};
  std::vector<std::string> states = {"loaded", "loaded_keepalive"};
  int reps = 11;
  int concurrency = 16;                    // demo_loadgen requests in flight
  absl::Duration load = absl::Seconds(2);  // per point; the reps must end within it
  absl::Duration scm_timeout = absl::Seconds(2);
};

// Runs every (state, N) point; children are SIGKILLed and reaped on every exit path.
// A repetition is written only if the load ran from before it until after it; when
// the load ends first, the point keeps the repetitions done so far (a warning on
// stderr; load_out's reps column says how many).
// Errors: INVALID_ARGUMENT (unknown state), FAILED_PRECONDITION (the load ended before
// a single repetition did: raise `load`), INTERNAL (demo_proxy exited),
// DEADLINE_EXCEEDED (a child did not start or stop in time), and those of spawning
// the children. A failed measurement is a row, not an error.
absl::Status RunLoaded(const LoadedOptions& options, std::ostream& out, std::ostream* load_out);

}  // namespace handover::bench

#endif  // HANDOVER_TESTS_BENCH_LOADED_BENCH_H_
