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

  // "stats accepted=3 active=0 ..." (no newline).
  std::string Format() const;
};

// Writes `line` and a newline to stdout (fd 1) unbuffered, so a test reading the
// pipe sees it at once. Errors are ignored: stdout is informational.
void PrintLine(absl::string_view line);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_STATS_H_
