// Counters of one demo_proxy process, printed as one `stats key=value ...` line at
// exit and on SIGUSR1. Tests parse that line.
#ifndef HANDOVER_DEMO_PROXY_STATS_H_
#define HANDOVER_DEMO_PROXY_STATS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace handover::demo {

struct Stats {
  uint64_t accepted = 0;                 // client connections accepted
  uint64_t active = 0;                   // relayed connections open now
  uint64_t bytes_client_to_backend = 0;
  uint64_t bytes_backend_to_client = 0;
  uint64_t backend_connect_errors = 0;   // failed attempts, each retried on the next backend
  uint64_t backend_give_ups = 0;         // clients closed because every backend failed
  uint64_t relay_errors = 0;             // connections ended by a read/write error
  uint64_t drained_closed = 0;           // connections cut by --drain_timeout_ms
  // Handover, as the new instance (see predecessor.h).
  uint64_t takeover_pidfd = 0;           // 1 when our listeners came from the old instance by pidfd
  uint64_t takeover_scm = 0;             // 1 when they came over SCM_RIGHTS
  uint64_t takeover_fallbacks = 0;       // 1 when pidfd was refused and SCM_RIGHTS was used
  uint64_t taken_sockets = 0;            // sockets received from the old instance
  uint64_t unclaimed_closed = 0;         // adopted sockets no --listen claimed (our copy closed)
  uint64_t old_exited = 0;               // 1 once the old instance's pidfd became readable
  uint64_t old_killed = 0;               // 1 when it needed SIGKILL after --old_kill_after_ms
  // Handover, as the old instance (control.h).
  uint64_t scm_served = 0;               // listener sets sent over the control socket
  uint64_t scm_refused = 0;              // control-socket clients refused or failed

  // "stats accepted=3 active=0 ..." (no newline).
  std::string Format() const;
};

// Writes `line` and a newline to stdout (fd 1) unbuffered, so a test reading the
// pipe sees it at once. Errors are ignored: stdout is informational.
void PrintLine(absl::string_view line);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_STATS_H_
