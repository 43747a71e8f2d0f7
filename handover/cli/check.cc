// `handover check`: may this caller take the target's sockets? It really takes a
// copy of each selected socket (and closes it again), so "yes" is a fact, not a
// guess; a "no" comes with the cause and the fix.
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "handover/cli/cli.h"
#include "handover/status.h"

namespace handover::cli {

absl::Status RunCheck(const CliOptions& options) {
  HANDOVER_ASSIGN_OR_RETURN(Takeover t, TakeOver(options.target, {.select = options.select}));
  ReadReuseport(absl::MakeSpan(t.sockets));
  std::cout << absl::StreamFormat("ok: this caller may take %d socket(s) of pid %d (%s):\n",
                                  t.sockets.size(), t.process.pid(), t.process.comm());
  for (const TakenSocket& s : t.sockets) std::cout << "  " << FormatSocket(s.info) << "\n";
  // The copies close here; the old process keeps serving, untouched.
  return absl::OkStatus();
}

}  // namespace handover::cli
