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

namespace {

std::string Who(const Process& process) {
  return absl::StrFormat("pid %d (%s)", process.pid(), process.comm());
}

// The list-first path: DiscoverSockets, ApplySelect, TakeSockets.
absl::StatusOr<std::vector<TakenSocket>> ListThenTake(const Process& process,
                                                      const TakeoverOptions& options) {
  // TakeSockets verifies each copy itself: no temporary copies while listing.
  DiscoverOptions discover = options.discover;
  discover.inspect_copies = false;
  HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> selected,
                            ListSockets(process, options.select, discover));
  if (selected.empty()) {
    return absl::NotFoundError(absl::StrFormat(
        "%s holds no listening or bound sockets: nothing to take over", Who(process)));
  }
  absl::StatusOr<std::vector<TakenSocket>> taken =
      TakeSockets(process.fd_pidfd(), process.fd_dir(), selected);
  if (!taken.ok()) return WithContext(taken.status(), "taking over " + Who(process));
  return taken;
}

// ApplySelect on what CopyListeners copied; the copies not selected are closed.
absl::StatusOr<std::vector<TakenSocket>> SelectCopies(const Process& process,
                                                      absl::string_view select,
                                                      std::vector<TakenSocket> all) {
  if (all.empty()) {
    return absl::NotFoundError(absl::StrFormat(
        "%s holds no listening or bound sockets: nothing to take over", Who(process)));
  }
  std::vector<SocketInfo> found;
  found.reserve(all.size());
  for (const TakenSocket& t : all) found.push_back(t.info);
  HANDOVER_ASSIGN_OR_RETURN(std::vector<SelectSpec> specs, ParseSelectSpecs(select));
  absl::StatusOr<std::vector<SocketInfo>> selected = ApplySelect(specs, found);
  if (!selected.ok()) {
    return WithContext(selected.status(), "selecting sockets of " + Who(process));
  }
  // Both are in fd order: keep the copies whose fd was selected.
  std::vector<TakenSocket> kept;
  kept.reserve(selected->size());
  size_t next = 0;
  for (TakenSocket& t : all) {
    if (next < selected->size() && (*selected)[next].fd == t.info.fd) {
      kept.push_back(std::move(t));
      ++next;
    }
  }
  return kept;
}

// After these errors of the copy-first path, kAuto takes the list-first path: it
// copies sockets only (an LSM may refuse some other file: PERMISSION_DENIED),
// reads /proc/PID/net where sock_diag cannot be used (setns refused or
// unsupported, diag module missing: PERMISSION_DENIED, INVALID_ARGUMENT,
// NOT_FOUND), and explains a refusal in its own terms. A target that exited
// (NOT_FOUND too) fails again there, quickly.
bool WorthListingInstead(const absl::Status& s) {
  return absl::IsPermissionDenied(s) || absl::IsInvalidArgument(s) || absl::IsNotFound(s) ||
         absl::IsUnimplemented(s);
}

}  // namespace

absl::StatusOr<Takeover> TakeOver(const Target& target, const TakeoverOptions& options) {
  using Path = TakeoverOptions::Path;
  const absl::Time start = absl::Now();
  HANDOVER_ASSIGN_OR_RETURN(Process process, OpenTarget(target));
  const bool copy_first =
      options.path == Path::kCopyFirst ||
      (options.path == Path::kAuto &&
       options.discover.method != DiscoverOptions::Method::kProcNet);
  absl::StatusOr<std::vector<TakenSocket>> taken;
  if (copy_first) {
    absl::StatusOr<std::vector<TakenSocket>> all =
        CopyListeners(process.fd_pidfd(), process.fd_dir());
    if (all.ok()) {
      taken = SelectCopies(process, options.select, *std::move(all));
    } else if (options.path == Path::kAuto && WorthListingInstead(all.status())) {
      taken = ListThenTake(process, options);
    } else {
      taken = WithContext(ExplainPermissionDenied(all.status(), process.fd_dir()),
                          "copying the sockets of " + Who(process));
    }
  } else {
    taken = ListThenTake(process, options);
  }
  if (!taken.ok()) return taken.status();
  return Takeover{.process = std::move(process),
                  .sockets = *std::move(taken),
                  .elapsed = absl::Now() - start};
}

}  // namespace handover
