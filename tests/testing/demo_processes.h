// Test support for the demo binaries: start demo_backend / demo_proxy as ChildProcess
// and wait for their readiness lines, connect to what they print, read HTTP
// responses and `key=value` counter lines. Every wait has a deadline.
//
//   ASSERT_OK_AND_ASSIGN(DemoProcess backend, StartBackend());
//   ASSERT_OK_AND_ASSIGN(DemoProcess proxy, StartProxy({"--backend=" + backend.address}));
//   ASSERT_OK_AND_ASSIGN(UniqueFd c, ConnectTo(proxy.address));
#ifndef HANDOVER_TESTS_TESTING_DEMO_PROCESSES_H_
#define HANDOVER_TESTS_TESTING_DEMO_PROCESSES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "handover/unique_fd.h"
#include "tests/testing/child_process.h"

namespace handover::testing {

struct DemoProcess {
  ChildProcess process;
  std::string address;        // the first listener: "127.0.0.1:PORT" or "unix:/path"
  int listener_fd = -1;       // demo_proxy only: that listener's fd number in the child
};

// demo_backend --listen=127.0.0.1:0 plus `args`.
absl::StatusOr<DemoProcess> StartBackend(std::vector<std::string> args = {});

// demo_proxy --print_ready plus `args` (give --listen unless inheriting). `base`
// supplies env and fds; its argv is prepended (e.g. the with_listen_pid wrapper).
absl::StatusOr<DemoProcess> StartProxy(std::vector<std::string> args, SpawnOptions base = {});

// A blocking, close-on-exec stream socket connected to "HOST:PORT" / "[V6]:PORT" /
// "unix:/path". Errors carry the errno name ("[ECONNREFUSED]"). A nonzero
// `rcvbuf_bytes` sets SO_RCVBUF before connecting (after, the window already
// advertised would shrink, which stalls loopback TCP).
absl::StatusOr<UniqueFd> ConnectTo(absl::string_view address, int rcvbuf_bytes = 0);

// Sends `request` and reads one HTTP response (headers + Content-Length body) from a
// blocking socket before `timeout`. Returns the body.
absl::StatusOr<std::string> HttpExchange(int fd, absl::string_view request,
                                         absl::Duration timeout = absl::Seconds(10));

// Reads until EOF (or an error such as ECONNRESET) before the deadline; returns the bytes.
absl::StatusOr<std::string> ReadToEof(int fd, absl::Duration timeout = absl::Seconds(10));

// Parses "word k1=v1 k2=v2" (a leading word without '=' is skipped).
std::map<std::string, int64_t> ParseCounters(absl::string_view line);

// Reads stdout lines of `child` until one starts with `prefix`; returns it.
absl::StatusOr<std::string> ReadLineStartingWith(ChildProcess& child, absl::string_view prefix,
                                                 absl::Duration timeout = absl::Seconds(10));

// utime + stime of a live or zombie (not yet reaped) process, in clock ticks.
absl::StatusOr<int64_t> CpuTicks(pid_t pid);

// A value from /proc/PID/status, e.g. "VmHWM" -> kB.
absl::StatusOr<int64_t> ProcStatusKb(pid_t pid, absl::string_view key);

}  // namespace handover::testing

#endif  // HANDOVER_TESTS_TESTING_DEMO_PROCESSES_H_
