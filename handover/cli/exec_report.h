// What `handover exec` prints when it is done: one line per phase with its
// duration, or one JSON object with --json.
#ifndef HANDOVER_CLI_EXEC_REPORT_H_
#define HANDOVER_CLI_EXEC_REPORT_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "handover/drain.h"
#include "handover/socket_info.h"

namespace handover::cli {

struct ExecReport {
  pid_t old_pid = 0;
  std::string old_comm;
  pid_t new_pid = 0;            // 0 when COMMAND never started
  std::string ready_mode;       // "notify", "accepting", "none"
  std::vector<SocketInfo> sockets;
  absl::Duration takeover;      // open + prove + discover + take
  absl::Duration spawn;         // fork + exec of COMMAND
  absl::Duration ready;         // exec until ready
  absl::Duration drain;         // old signalled until it exited (or gave up)
  absl::Duration total;
  std::optional<DrainResult> old_exit;
  std::string result;           // "ok", "rolled_back", "old_still_running"
  absl::Status error;
};

std::string FormatExecReportText(const ExecReport& r);
std::string FormatExecReportJson(const ExecReport& r);

}  // namespace handover::cli

#endif  // HANDOVER_CLI_EXEC_REPORT_H_
