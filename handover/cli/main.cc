// handover: move a running server's listening sockets into its replacement.
// Thin main: parse flags into CliOptions, run one subcommand, map its Status to
// an exit code (docs/operations.md). Only this file reads FLAGS_*.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "handover/cli/cli.h"

DEFINE_string(pid, "", "pid of the old process");
DEFINE_string(pidfile, "", "pidfile of the old process: 'PID [STARTTIME [PIDFS_INODE]]'");
DEFINE_string(select, "",
              "which sockets, comma-separated: tcp:ADDR:PORT, tcp:*:PORT, tcp6:[ADDR]:PORT, "
              "udp:..., udp6:..., unix:PATH, unix:@NAME, fd:N (default: all)");
DEFINE_bool(json, false, "list: print one JSON array");
DEFINE_string(signal, "SIGTERM", "drain: the signal asking the old process to drain");
DEFINE_int64(timeout_ms, 30000, "drain: how long to wait for the old process to exit");
DEFINE_bool(kill_after_timeout, false, "drain: SIGKILL the old process after --timeout_ms");
DEFINE_int64(kill_wait_ms, 5000, "drain, exec: how long to wait for exit after SIGKILL");
DEFINE_string(fd_env, "systemd",
              "exec: how COMMAND learns its sockets: systemd (LISTEN_FDS, LISTEN_PID, "
              "LISTEN_FDNAMES) or nginx (NGINX=\"3;4;\")");
DEFINE_string(ready, "notify",
              "exec: when COMMAND counts as ready: notify (sd_notify READY=1 on NOTIFY_SOCKET), "
              "accepting (its listeners are in an epoll set or accept()), none");
DEFINE_int64(ready_timeout_ms, 10000, "exec: how long COMMAND may take to become ready");
DEFINE_string(drain_signal, "SIGTERM", "exec: the signal asking the old process to drain");
DEFINE_int64(drain_timeout_ms, 30000, "exec: how long to wait for the old process to exit");
DEFINE_string(new_pidfile, "", "exec: write COMMAND's pidfile here (atomic, identity format)");
DEFINE_string(report_json, "", "exec: also write the JSON report to this file (for scripts)");
DEFINE_string(command_output, "",
              "exec: append COMMAND's stdout and stderr to this file (default: inherit ours)");

// gflags reports a bad flag and calls this hook; its default is exit(1). Flag
// errors are usage errors (exit 2); --help and --version keep their 0.
namespace google {
extern void (*gflags_exitfunc)(int);
}  // namespace google

namespace {

constexpr char kUsage[] =
    R"(usage: handover COMMAND --pid=N | --pidfile=PATH [flags]

Commands:
  list    list the target's listening and bound sockets      [--select] [--json]
  check   say whether this caller may take them, and if not, why and how to fix it
  drain   signal the target through its pidfd and wait for it to exit
          [--signal=SIGTERM] [--timeout_ms=30000] [--kill_after_timeout]
  exec    take the sockets, start COMMAND with them (socket activation), wait until
          it is ready, then drain the old process; roll back if COMMAND fails
          [--select] [--fd_env=systemd|nginx] [--ready=notify|accepting|none]
          [--ready_timeout_ms=10000] [--drain_signal=SIGTERM] [--drain_timeout_ms=30000]
          [--kill_after_timeout] [--new_pidfile=PATH] [--json] [--report_json=PATH]
          [--command_output=PATH] -- COMMAND [ARGS...]

Exit codes: 0 ok, 1 failure, 2 usage, 3 permission denied, 4 not found,
            5 timed out (the old process still runs), 6 exec: COMMAND failed,
            7 exec: COMMAND not ready in time (6 and 7: rolled back, old untouched).
Flags: handover --helpfull. Documentation: docs/operations.md.
)";

void UsageExit(int code) { std::_Exit(code == 0 ? 0 : handover::cli::kExitUsage); }

absl::Status ParseExecFlags(handover::cli::CliOptions& o) {
  using handover::cli::ReadyMode;
  if (FLAGS_fd_env == "systemd") o.fd_env = handover::FdEnvStyle::kSystemd;
  else if (FLAGS_fd_env == "nginx") o.fd_env = handover::FdEnvStyle::kNginx;
  else return absl::InvalidArgumentError("--fd_env must be systemd or nginx, got " + FLAGS_fd_env);
  if (FLAGS_ready == "notify") o.ready = ReadyMode::kNotify;
  else if (FLAGS_ready == "accepting") o.ready = ReadyMode::kAccepting;
  else if (FLAGS_ready == "none") o.ready = ReadyMode::kNone;
  else return absl::InvalidArgumentError("--ready must be notify, accepting or none, got " + FLAGS_ready);
  if (FLAGS_ready_timeout_ms < 0 || FLAGS_drain_timeout_ms < 0) {
    return absl::InvalidArgumentError("--ready_timeout_ms and --drain_timeout_ms must not be negative");
  }
  o.ready_timeout = absl::Milliseconds(FLAGS_ready_timeout_ms);
  o.timeout = absl::Milliseconds(FLAGS_drain_timeout_ms);
  absl::StatusOr<int> sig = handover::cli::ParseSignal(FLAGS_drain_signal);
  if (!sig.ok()) return sig.status();
  o.signal = *sig;
  o.new_pidfile = FLAGS_new_pidfile;
  o.report_json = FLAGS_report_json;
  o.command_output = FLAGS_command_output;
  return absl::OkStatus();
}

absl::StatusOr<handover::cli::CliOptions> OptionsFromFlags(const std::string& command) {
  handover::cli::CliOptions o;
  if (!FLAGS_pid.empty()) {
    absl::StatusOr<pid_t> pid = handover::cli::ParsePid(FLAGS_pid);
    if (!pid.ok()) return pid.status();
    o.target.pid = *pid;
  }
  o.target.pidfile = FLAGS_pidfile;
  if ((o.target.pid != 0) == !o.target.pidfile.empty()) {
    return absl::InvalidArgumentError("name the old process with exactly one of --pid or --pidfile");
  }
  o.select = FLAGS_select;
  o.json = FLAGS_json;
  absl::StatusOr<int> sig = handover::cli::ParseSignal(FLAGS_signal);
  if (!sig.ok()) return sig.status();
  o.signal = *sig;
  if (FLAGS_timeout_ms < 0 || FLAGS_kill_wait_ms < 0) {
    return absl::InvalidArgumentError("--timeout_ms and --kill_wait_ms must not be negative");
  }
  o.timeout = absl::Milliseconds(FLAGS_timeout_ms);
  o.kill_after_timeout = FLAGS_kill_after_timeout;
  o.kill_wait = absl::Milliseconds(FLAGS_kill_wait_ms);
  if (command == "exec") {
    absl::Status s = ParseExecFlags(o);
    if (!s.ok()) return s;
  }
  return o;
}

using Command = absl::Status (*)(const handover::cli::CliOptions&);

absl::StatusOr<Command> FindCommand(const std::string& name) {
  if (name == "list") return &handover::cli::RunList;
  if (name == "check") return &handover::cli::RunCheck;
  if (name == "drain") return &handover::cli::RunDrain;
  if (name == "exec") return &handover::cli::RunExec;
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown command '%s': use list, check, drain or exec (handover --help)", name));
}

// A takeover holds a copy of every listener, and copy-first briefly up to 1024
// more: the common soft limit of 1024 (systemd's default) would fail a server
// with a thousand listeners while its hard limit allows far more. Raised to the
// hard limit, as servers do; returns the soft limit to give COMMAND back.
std::optional<rlim_t> RaiseNofileSoftLimit() {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max) return std::nullopt;
  const rlim_t original = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return std::nullopt;
  return original;
}

absl::Status Run(const std::string& name, std::vector<std::string> new_command) {
  absl::StatusOr<Command> command = FindCommand(name);
  if (!command.ok()) return command.status();
  if (!new_command.empty() && name != "exec") {
    return absl::InvalidArgumentError("only exec takes a command after --");
  }
  absl::StatusOr<handover::cli::CliOptions> options = OptionsFromFlags(name);
  if (!options.ok()) return options.status();
  options->command = std::move(new_command);
  options->original_nofile_soft = RaiseNofileSoftLimit();
  return (*command)(*options);
}

}  // namespace

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);
  // Everything after the first "--" is exec's COMMAND: gflags must not see it
  // (it would parse COMMAND's flags and reorder the arguments).
  std::vector<std::string> new_command;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      new_command.assign(argv + i + 1, argv + argc);
      argc = i;
      break;
    }
    if (arg == "--help" || arg == "-h" || arg == "help") {
      std::cout << kUsage;
      return handover::cli::kExitOk;
    }
  }
  gflags::SetUsageMessage(kUsage);
  google::gflags_exitfunc = &UsageExit;
  gflags::ParseCommandLineFlags(&argc, &argv, /*remove_flags=*/true);
  if (argc < 2) {
    std::cerr << kUsage;
    return handover::cli::kExitUsage;
  }
  const std::string command = argv[1];
  if (argc > 2) {
    std::cerr << absl::StreamFormat("handover %s: unexpected argument '%s' (flags are --name=value)\n",
                                    command, argv[2]);
    return handover::cli::kExitUsage;
  }
  const absl::Status status = Run(command, std::move(new_command));
  if (!status.ok()) {
    std::cerr << "handover " << command << ": " << status.message() << "\n";
  }
  return handover::cli::ExitCodeFor(status);
}
