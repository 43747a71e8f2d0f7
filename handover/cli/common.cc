#include <signal.h>
#include <string.h>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "handover/cli/cli.h"

namespace handover::cli {

namespace {
constexpr char kExitCodePayload[] = "handover.exit_code";
}  // namespace

absl::Status WithExitCode(absl::Status status, int exit_code) {
  status.SetPayload(kExitCodePayload, absl::Cord(absl::StrCat(exit_code)));
  return status;
}

int ExitCodeFor(const absl::Status& status) {
  if (auto payload = status.GetPayload(kExitCodePayload)) {
    int code = 0;
    if (absl::SimpleAtoi(std::string(*payload), &code)) return code;
  }
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kPermissionDenied:
      return kExitPermission;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kDeadlineExceeded:
      return kExitDeadline;
    default:
      return kExitFailure;
  }
}

absl::StatusOr<int> ParseSignal(const std::string& text) {
  int number = 0;
  if (absl::SimpleAtoi(text, &number)) {
    if (number > 0 && number < NSIG) return number;
  } else {
    absl::string_view name = text;
    std::string upper = absl::AsciiStrToUpper(name);
    absl::string_view bare = absl::StripPrefix(upper, "SIG");
    for (int sig = 1; sig < NSIG; ++sig) {
      const char* abbrev = ::sigabbrev_np(sig);
      if (abbrev != nullptr && bare == abbrev) return sig;
    }
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "--signal=%s is not a signal: use a name like SIGTERM, SIGQUIT, SIGUSR1 or a number", text));
}

absl::StatusOr<pid_t> ParsePid(const std::string& text) {
  int64_t pid = 0;
  if (!absl::SimpleAtoi(text, &pid) || pid <= 0 || pid > INT32_MAX) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--pid=%s is not a process id: give a positive number such as --pid=1234, or use "
        "--pidfile=PATH",
        text));
  }
  return static_cast<pid_t>(pid);
}

}  // namespace handover::cli
