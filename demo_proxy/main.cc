// demo_proxy: an epoll L4 TCP proxy that hands its listeners over without dropping
// connections. Flags are copied into ProxyOptions; everything else is in run.cc.
//
//   demo_proxy --listen=127.0.0.1:8080,unix:/run/demo.sock --backend=127.0.0.1:9000
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "demo_proxy/run.h"
#include "gflags/gflags.h"
#include "glog/logging.h"

DEFINE_string(listen, "", "comma-separated listen addresses: 127.0.0.1:8080,[::1]:8080,unix:/p");
DEFINE_string(backend, "", "comma-separated backend addresses, used round robin");
DEFINE_uint64(max_connections, 10000, "open client connections at most; accepting pauses there");
DEFINE_uint64(buffer_bytes, 64 * 1024, "buffer per direction and connection (backpressure bound)");
DEFINE_int64(drain_timeout_ms, 30000, "after SIGTERM, close connections still open after this");
DEFINE_bool(print_ready, false, "print 'listening fd=N ADDRESS' lines and 'ready' on stdout");
DEFINE_bool(adopt_blocking_listeners, false,
            "set O_NONBLOCK on an inherited/taken listener in blocking mode; this changes it "
            "for every process holding the socket");
DEFINE_string(takeover_pidfile, "", "take listeners from the process in this pidfile (TODO #3)");
DEFINE_int32(takeover_pid, 0, "take listeners from this process (TODO #3)");
DEFINE_string(scm_socket, "", "fetch listeners over SCM_RIGHTS from this socket (TODO #3)");
DEFINE_string(pidfile, "", "write our pid and identity here once listening (TODO #3)");

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);

  handover::demo::ProxyOptions options;
  if (!FLAGS_listen.empty()) {
    options.listeners.listen = absl::StrSplit(FLAGS_listen, ',');
  }
  options.listeners.adopt_blocking_listeners = FLAGS_adopt_blocking_listeners;
  options.listeners.takeover_pidfile = FLAGS_takeover_pidfile;
  options.listeners.takeover_pid = FLAGS_takeover_pid;
  options.listeners.scm_socket = FLAGS_scm_socket;
  options.backends = FLAGS_backend;
  options.max_connections = FLAGS_max_connections;
  options.buffer_bytes = FLAGS_buffer_bytes;
  options.drain_timeout = absl::Milliseconds(FLAGS_drain_timeout_ms);
  options.print_ready = FLAGS_print_ready;
  options.pidfile = FLAGS_pidfile;

  const absl::Status status = handover::demo::RunProxy(options);
  if (status.ok()) return 0;
  LOG(ERROR) << status;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument: return 2;
    case absl::StatusCode::kPermissionDenied: return 3;
    case absl::StatusCode::kNotFound: return 4;
    default: return 1;
  }
}
