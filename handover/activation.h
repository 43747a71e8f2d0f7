// Socket activation: hand listening sockets to a new command the way systemd
// does (fds from 3, LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES, see
// sd_listen_fds(3)) or the way nginx's binary upgrade does (NGINX="3;4;"), and
// take them back on the receiving side.
//
// Supervisor (handover exec):
//   HANDOVER_ASSIGN_OR_RETURN(SpawnedChild child, SpawnWithFds({
//       .argv = {"/usr/sbin/proxy", "--port=8080"}, .fds = {fd_a, fd_b},
//       .names = {"http", "https"}}));
// New server (demo_proxy main):
//   HANDOVER_ASSIGN_OR_RETURN(std::vector<InheritedFd> fds, TakeInheritedFds());
//   // fds[i].fd is fd 3+i, close-on-exec now; fds[i].name is "http", ...
//
// Not thread-safe where the environment is involved: TakeInheritedFds calls
// getenv/unsetenv, so call it from main() before starting threads.
#ifndef HANDOVER_ACTIVATION_H_
#define HANDOVER_ACTIVATION_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "handover/unique_fd.h"

namespace handover {

enum class FdEnvStyle {
  kSystemd,  // LISTEN_FDS=n, LISTEN_PID=<child pid>, LISTEN_FDNAMES=a:b
  kNginx,    // NGINX=3;4;  (no names, no pid check)
};

// The activation variables for a child that gets n_fds fds at 3..3+n_fds-1.
struct ActivationEnv {
  // Complete "KEY=VALUE" entries. kSystemd: LISTEN_FDS, plus LISTEN_FDNAMES when
  // names were given. kNginx: NGINX.
  std::vector<std::string> vars;
  // kSystemd: LISTEN_PID=<the child's own pid> must be added after fork(), in
  // the child; SpawnWithFds does that without allocating.
  bool needs_listen_pid = false;
};

// `names` is empty or has n_fds entries; each is passed through SanitizeFdName.
// Errors: INVALID_ARGUMENT (n_fds < 0, names count mismatch).
absl::StatusOr<ActivationEnv> BuildActivationEnv(int n_fds, absl::Span<const std::string> names,
                                                 FdEnvStyle style);

// What systemd accepts in LISTEN_FDNAMES: printable ASCII without ':', at most
// 255 bytes. Other bytes become '_', longer names are cut, "" becomes "unknown".
std::string SanitizeFdName(absl::string_view name);

// One fd received by socket activation.
struct InheritedFd {
  UniqueFd fd;       // owned, FD_CLOEXEC set
  std::string name;  // from LISTEN_FDNAMES, else "unknown"
};

// The receiving side (sd_listen_fds_with_names). Reads LISTEN_PID, LISTEN_FDS
// and LISTEN_FDNAMES; when LISTEN_FDS is absent, NGINX="3;4;". Returns nothing
// when no variable is set, or when LISTEN_PID is missing or is not our pid (the
// variables were meant for another process). Otherwise takes ownership of the
// listed fds, sets FD_CLOEXEC on them and checks each is a socket. All or
// nothing: on error no fd is closed or changed. With unset_env the variables
// are removed in every case, so children do not inherit them.
// Errors: INVALID_ARGUMENT (malformed value, names count mismatch, an fd that
// is not a socket), FAILED_PRECONDITION (a listed fd is not open).
absl::StatusOr<std::vector<InheritedFd>> TakeInheritedFds(bool unset_env = true);

struct SpawnRequest {
  // argv[0] is the path passed to execve(2): no PATH search.
  std::vector<std::string> argv;
  // Borrowed fds, left open and unchanged in the caller; fds[i] becomes fd 3+i
  // in the child, without FD_CLOEXEC. Any fd may already be in 3..3+n-1.
  std::vector<int> fds;
  std::vector<std::string> names;  // empty or one per fd (kSystemd only)
  FdEnvStyle style = FdEnvStyle::kSystemd;
  // "KEY=VALUE" added to the environment (e.g. NotifySocket::EnvVar()).
  // May not set LISTEN_* or NGINX.
  std::vector<std::string> extra_env;
  // Start from this process's environment (minus LISTEN_*, NGINX and keys
  // that extra_env sets). Else the child gets only activation vars + extra_env.
  bool inherit_env = true;
  // setsid(2) in the child: the new server leads its own session and process
  // group, so a terminal's Ctrl-C or hang-up aimed at the supervisor spares it.
  bool new_session = false;
  // When >= 0 (borrowed): becomes the child's stdout and stderr, so the new
  // server does not hold the caller's pipes open (a deploy pipeline reading
  // the supervisor's output would otherwise wait as long as the server lives).
  int output_fd = -1;
  // When set: the child's soft RLIMIT_NOFILE before exec, but never below
  // 3 + fds.size() + 64 (COMMAND must be able to open a file), nor above the
  // hard limit. A supervisor that raised its own soft limit (to copy thousands
  // of fds) gives COMMAND the limit it would have had without it
  // (select(2)-era code breaks past 1024).
  std::optional<rlim_t> nofile_soft;
};

struct SpawnedChild {
  pid_t pid = -1;
  UniqueFd pidfd;  // close-on-exec; poll it for exit. The caller reaps the child.
};

// fork + execve with `fds` at 3.., every other fd >= 3 closed (close_range,
// Linux >= 5.9; FD_CLOEXEC is irrelevant), the signal mask emptied and SIGPIPE
// at its default. Between fork and exec the child only makes async-signal-safe
// calls and does not allocate. Blocks until the child has called execve: an exec
// failure is reported through a close-on-exec pipe and the child is reaped.
// Errors: the errno of execve (NOT_FOUND "execve(/x): No such file or
// directory [ENOENT]", PERMISSION_DENIED [EACCES]...), FAILED_PRECONDITION (an fd
// in `fds` is not open), INVALID_ARGUMENT (empty argv, bad names/env).
absl::StatusOr<SpawnedChild> SpawnWithFds(const SpawnRequest& request);

}  // namespace handover

#endif  // HANDOVER_ACTIVATION_H_
