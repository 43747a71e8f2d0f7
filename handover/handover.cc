#include "handover/handover.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "handover/status.h"

namespace handover {

absl::StatusOr<Process> OpenTarget(const Target& target) {
  const bool has_pid = target.pid != 0;
  const bool has_pidfile = !target.pidfile.empty();
  if (has_pid == has_pidfile) {
    return absl::InvalidArgumentError("name the old process with exactly one of pid or pidfile");
  }
  if (has_pidfile) return Process::OpenPidfile(target.pidfile);
  return Process::Open(target.pid);
}

absl::StatusOr<std::vector<SocketInfo>> ListSockets(const Process& process,
                                                    absl::string_view select,
                                                    const DiscoverOptions& options) {
  const std::string who = absl::StrFormat("pid %d (%s)", process.pid(), process.comm());
  absl::StatusOr<std::vector<SocketInfo>> found = DiscoverSockets(process, options);
  if (!found.ok()) {
    return WithContext(ExplainPermissionDenied(found.status(), process.fd_dir()),
                       "listing the sockets of " + who);
  }
  HANDOVER_ASSIGN_OR_RETURN(std::vector<SelectSpec> specs, ParseSelectSpecs(select));
  absl::StatusOr<std::vector<SocketInfo>> selected = ApplySelect(specs, *found);
  if (!selected.ok()) return WithContext(selected.status(), "selecting sockets of " + who);
  return selected;
}

absl::StatusOr<Takeover> TakeOver(const Target& target, const TakeoverOptions& options) {
  const absl::Time start = absl::Now();
  HANDOVER_ASSIGN_OR_RETURN(Process process, OpenTarget(target));
  // TakeSockets verifies and inspects each copy itself: no temporary copies here.
  DiscoverOptions discover = options.discover;
  discover.inspect_copies = false;
  const std::string who = absl::StrFormat("pid %d (%s)", process.pid(), process.comm());
  HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> selected,
                            ListSockets(process, options.select, discover));
  if (selected.empty()) {
    return absl::NotFoundError(absl::StrFormat(
        "%s holds no listening or bound sockets: nothing to take over", who));
  }
  absl::StatusOr<std::vector<TakenSocket>> taken =
      TakeSockets(process.fd_pidfd(), process.fd_dir(), selected);
  if (!taken.ok()) return WithContext(taken.status(), "taking over " + who);
  return Takeover{.process = std::move(process),
                  .sockets = *std::move(taken),
                  .elapsed = absl::Now() - start};
}

}  // namespace handover
