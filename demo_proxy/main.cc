// demo_proxy: an epoll L4 TCP proxy that hands its listeners over without dropping
// connections. Flags are copied into ProxyOptions; everything else is in run.cc.
// See docs/demo_proxy.md.
//
//   demo_proxy --listen=127.0.0.1:8080 --backend=127.0.0.1:9000 --control_socket=/run/p.ctl
//   demo_proxy --listen=127.0.0.1:8080 --backend=127.0.0.1:9000 --takeover_pid=4242
//   demo_proxy --listen=127.0.0.1:8080 --backend=127.0.0.1:9000 --takeover_scm=/run/p.ctl
#include <signal.h>

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
DEFINE_bool(print_ready, false,
            "print 'listening fd=N ADDRESS' lines and 'ready' on stdout once serving");
DEFINE_bool(adopt_blocking_listeners, false,
            "set O_NONBLOCK on an inherited/taken listener in blocking mode; this changes it "
            "for every process holding the socket");
DEFINE_bool(reuseport, false,
            "set SO_REUSEPORT on the TCP listeners this instance binds itself, so that a "
            "successor may bind its own socket on the same address while this one runs");
DEFINE_int32(takeover_pid, 0, "take the listeners of this running instance with pidfd_getfd");
DEFINE_string(takeover_pidfile, "",
              "take the listeners of the instance named by this pidfile with pidfd_getfd");
DEFINE_string(takeover_select, "",
              "which of its sockets to take (handover --select syntax); default: all");
DEFINE_string(takeover_scm, "",
              "fetch the listeners over SCM_RIGHTS from this control socket; with "
              "--takeover_pid/--takeover_pidfile only when pidfd_getfd is refused");
DEFINE_int64(takeover_scm_timeout_ms, 2000, "bound on the whole SCM_RIGHTS fetch");
DEFINE_int64(old_kill_after_ms, 35000,
             "SIGKILL the old instance if it still runs this long after the drain signal");
DEFINE_string(control_socket, "",
              "serve our listeners over SCM_RIGHTS at this unix path (mode 0600), replacing "
              "the file atomically");
DEFINE_string(pidfile, "", "write 'PID STARTTIME PIDFS_INODE' here (atomically) once serving");
DEFINE_string(user, "", "after opening listeners, switch to this user (name or uid) in place");

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);

  handover::demo::ProxyOptions options;
  if (!FLAGS_listen.empty()) {
    options.listeners.listen = absl::StrSplit(FLAGS_listen, ',');
  }
  options.listeners.adopt_blocking_listeners = FLAGS_adopt_blocking_listeners;
  options.listeners.reuseport = FLAGS_reuseport;
  options.listeners.takeover = {
      .pid = FLAGS_takeover_pid,
      .pidfile = FLAGS_takeover_pidfile,
      .select = FLAGS_takeover_select,
      .scm_path = FLAGS_takeover_scm,
      .scm_timeout = absl::Milliseconds(FLAGS_takeover_scm_timeout_ms)};
  for (const std::string& path : {FLAGS_control_socket, FLAGS_takeover_scm}) {
    if (!path.empty()) options.listeners.control_paths.push_back(path);
  }
  options.backends = FLAGS_backend;
  options.max_connections = FLAGS_max_connections;
  options.buffer_bytes = FLAGS_buffer_bytes;
  options.drain_timeout = absl::Milliseconds(FLAGS_drain_timeout_ms);
  options.print_ready = FLAGS_print_ready;
  options.pidfile = FLAGS_pidfile;
  options.control_socket = FLAGS_control_socket;
  options.user = FLAGS_user;
  options.retire = {.signal = SIGTERM,
                    .kill_after = absl::Milliseconds(FLAGS_old_kill_after_ms)};

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
