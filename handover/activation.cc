// Socket activation, the environment half: building the variables for a child
// and taking inherited fds back (SpawnWithFds lives in spawn.cc).
#include "handover/activation.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <optional>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "handover/status.h"

namespace handover {
namespace {

constexpr size_t kMaxFdName = 255;      // systemd FDNAME_MAX
constexpr int64_t kMaxInherited = 65536;  // sanity bound on LISTEN_FDS
constexpr const char* kActivationVars[] = {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NGINX"};

// A non-negative decimal with no sign, space or leading junk, at most `max`.
std::optional<int64_t> ParseCount(absl::string_view s, int64_t max) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

struct Plan {
  std::vector<int> fds;
  std::vector<std::string> names;
};

absl::StatusOr<Plan> PlanFromSystemd(const char* fds_env) {
  Plan plan;
  const char* pid_env = ::getenv("LISTEN_PID");
  if (pid_env == nullptr) return plan;  // sd_listen_fds: no LISTEN_PID, not for us
  const std::optional<int64_t> pid = ParseCount(pid_env, INT32_MAX);
  if (!pid.has_value() || *pid == 0) {
    return absl::InvalidArgumentError(absl::StrFormat("LISTEN_PID='%s': not a pid", pid_env));
  }
  if (*pid != ::getpid()) return plan;  // meant for another process (e.g. our parent)
  const std::optional<int64_t> n = ParseCount(fds_env, kMaxInherited);
  if (!n.has_value()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "LISTEN_FDS='%s': want a count from 0 to %d", fds_env, kMaxInherited));
  }
  for (int i = 0; i < *n; ++i) plan.fds.push_back(3 + i);
  if (const char* names = ::getenv("LISTEN_FDNAMES"); names != nullptr) {
    plan.names = absl::StrSplit(names, ':');
    if (plan.names.size() != plan.fds.size()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "LISTEN_FDNAMES has %d names for LISTEN_FDS=%d", plan.names.size(), *n));
    }
  } else {
    plan.names.assign(plan.fds.size(), "unknown");
  }
  return plan;
}

// nginx writes "3;4;" (older versions also ':' as separator).
absl::StatusOr<Plan> PlanFromNginx(absl::string_view value) {
  Plan plan;
  for (absl::string_view part : absl::StrSplit(value, absl::ByAnyChar(";:"), absl::SkipEmpty())) {
    const std::optional<int64_t> fd = ParseCount(part, INT32_MAX);
    if (!fd.has_value() || *fd < 3 ||
        std::find(plan.fds.begin(), plan.fds.end(), *fd) != plan.fds.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "NGINX='%s': '%s' is not a distinct fd number >= 3", value, part));
    }
    plan.fds.push_back(static_cast<int>(*fd));
  }
  plan.names.assign(plan.fds.size(), "unknown");
  return plan;
}

absl::Status CheckIsSocket(int fd, absl::string_view var) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("fstat(fd %d from %s)", fd, var),
                      "the variable names an fd this process did not inherit");
  }
  if (!S_ISSOCK(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "fd %d from %s is not a socket (file type %#o)", fd, var, st.st_mode & S_IFMT));
  }
  return absl::OkStatus();
}

}  // namespace

std::string SanitizeFdName(absl::string_view name) {
  if (name.empty()) return "unknown";
  std::string out(name.substr(0, kMaxFdName));
  for (char& c : out) {
    if (c < ' ' || c >= 127 || c == ':') c = '_';
  }
  return out;
}

absl::StatusOr<ActivationEnv> BuildActivationEnv(int n_fds, absl::Span<const std::string> names,
                                                 FdEnvStyle style) {
  if (n_fds < 0 || (!names.empty() && names.size() != static_cast<size_t>(n_fds))) {
    return absl::InvalidArgumentError(
        absl::StrFormat("activation env: %d fds with %d names", n_fds, names.size()));
  }
  ActivationEnv env;
  if (style == FdEnvStyle::kNginx) {
    std::string value;
    for (int i = 0; i < n_fds; ++i) absl::StrAppend(&value, 3 + i, ";");
    env.vars.push_back(absl::StrCat("NGINX=", value));
    return env;
  }
  env.vars.push_back(absl::StrCat("LISTEN_FDS=", n_fds));
  if (!names.empty()) {
    env.vars.push_back(absl::StrCat(
        "LISTEN_FDNAMES=", absl::StrJoin(names, ":", [](std::string* out, const std::string& n) {
          out->append(SanitizeFdName(n));
        })));
  }
  env.needs_listen_pid = true;
  return env;
}

absl::StatusOr<std::vector<InheritedFd>> TakeInheritedFds(bool unset_env) {
  absl::Cleanup unset = [unset_env] {
    if (!unset_env) return;
    for (const char* var : kActivationVars) ::unsetenv(var);
  };
  Plan plan;
  const char* var = "LISTEN_FDS";
  if (const char* fds_env = ::getenv("LISTEN_FDS"); fds_env != nullptr) {
    HANDOVER_ASSIGN_OR_RETURN(plan, PlanFromSystemd(fds_env));
  } else if (const char* nginx = ::getenv("NGINX"); nginx != nullptr) {
    var = "NGINX";
    HANDOVER_ASSIGN_OR_RETURN(plan, PlanFromNginx(nginx));
  }
  // Check everything before touching anything: all or nothing.
  for (int fd : plan.fds) HANDOVER_RETURN_IF_ERROR(CheckIsSocket(fd, var));
  std::vector<InheritedFd> out;
  for (size_t i = 0; i < plan.fds.size(); ++i) {
    const int fd = plan.fds[i];
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) {
      const int err = errno;
      for (InheritedFd& taken : out) (void)taken.fd.Release();  // leave them as they were
      return ErrnoError(err, absl::StrFormat("fcntl(%d, F_SETFD, FD_CLOEXEC)", fd));
    }
    out.push_back({UniqueFd(fd), std::move(plan.names[i])});
  }
  return out;
}

}  // namespace handover
