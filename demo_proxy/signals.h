// Signals as events: BlockedSignalFd() blocks the given signals for the process and
// returns a signalfd (SFD_CLOEXEC | SFD_NONBLOCK) that reports them, so the event
// loop handles SIGTERM like any readable fd and no handler ever runs.
// Call it before starting threads (sigprocmask covers the calling thread only).
//
//   HANDOVER_ASSIGN_OR_RETURN(UniqueFd sfd, BlockedSignalFd({SIGTERM, SIGINT}));
//   loop->Add(sfd.get(), EPOLLIN, [&](uint32_t) { while (int sig = ReadSignal(sfd.get())) ...; });
#ifndef HANDOVER_DEMO_PROXY_SIGNALS_H_
#define HANDOVER_DEMO_PROXY_SIGNALS_H_

#include <initializer_list>

#include "absl/status/statusor.h"
#include "handover/unique_fd.h"

namespace handover::demo {

// Also ignores SIGPIPE: every socket write uses MSG_NOSIGNAL, this covers the rest.
absl::StatusOr<UniqueFd> BlockedSignalFd(std::initializer_list<int> signals);

// The next pending signal number from the signalfd, 0 when none is pending.
int ReadSignal(int signal_fd);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_SIGNALS_H_
