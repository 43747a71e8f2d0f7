#include "handover/cli/exec_report.h"

#include <string.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace handover::cli {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

std::string ExitText(const DrainResult& d) {
  if (!d.exited) return "still running";
  std::string how = d.killed ? "killed with SIGKILL after the drain timeout" : "exited";
  if (d.exit_code.has_value()) absl::StrAppend(&how, ", exit code ", *d.exit_code);
  if (d.exit_signal.has_value()) absl::StrAppend(&how, ", by SIG", ::sigabbrev_np(*d.exit_signal));
  return how;
}

std::string OptionalInt(const std::optional<int>& v) {
  return v.has_value() ? absl::StrCat(*v) : "null";
}

}  // namespace

std::string FormatExecReportText(const ExecReport& r) {
  std::string out = absl::StrFormat("took %d socket(s) from pid %d (%s) in %.3f ms\n",
                                    r.sockets.size(), r.old_pid, r.old_comm, Ms(r.takeover));
  for (size_t i = 0; i < r.sockets.size(); ++i) {
    absl::StrAppendFormat(&out, "  %s  -> fd %d of the new command\n",
                          FormatSocket(r.sockets[i]), 3 + i);
  }
  if (r.new_pid != 0) {
    absl::StrAppendFormat(&out, "started pid %d in %.3f ms; ready (%s) after %.3f ms\n",
                          r.new_pid, Ms(r.spawn), r.ready_mode, Ms(r.ready));
  }
  if (r.old_exit.has_value()) {
    absl::StrAppendFormat(&out, "old pid %d: %s, %.3f ms after the drain signal\n", r.old_pid,
                          ExitText(*r.old_exit), Ms(r.drain));
  }
  absl::StrAppendFormat(&out, "result: %s in %.3f ms\n", r.result, Ms(r.total));
  return out;
}

std::string FormatExecReportJson(const ExecReport& r) {
  std::string old_exit = "null";
  if (r.old_exit.has_value()) {
    old_exit = absl::StrFormat(
        R"({"exited":%s,"killed":%s,"exit_code":%s,"exit_signal":%s})",
        r.old_exit->exited ? "true" : "false", r.old_exit->killed ? "true" : "false",
        OptionalInt(r.old_exit->exit_code), OptionalInt(r.old_exit->exit_signal));
  }
  return absl::StrFormat(
      R"({"result":%s,"old_pid":%d,"new_pid":%d,"ready_mode":%s,"sockets":%s,)"
      R"("phases_ms":{"takeover":%.3f,"spawn":%.3f,"ready":%.3f,"drain":%.3f},)"
      R"("total_ms":%.3f,"old_exit":%s,"error":%s})",
      JsonString(r.result), r.old_pid, r.new_pid, JsonString(r.ready_mode),
      SocketsToJson(r.sockets), Ms(r.takeover), Ms(r.spawn), Ms(r.ready), Ms(r.drain),
      Ms(r.total), old_exit, r.error.ok() ? "null" : JsonString(r.error.message()));
}

}  // namespace handover::cli
