// sd_notify readiness (systemd's NOTIFY_SOCKET protocol, sd_notify(3)).
//
// Supervisor side (handover exec): wait until the new instance says READY=1.
//   HANDOVER_ASSIGN_OR_RETURN(NotifySocket notify, NotifySocket::Create());
//   HANDOVER_ASSIGN_OR_RETURN(SpawnedChild child, SpawnWithFds({...,
//       .extra_env = {notify.EnvVar()}}));
//   HANDOVER_RETURN_IF_ERROR(notify.WaitReady(child.pid, child.pidfd.get(), deadline));
// Server side (demo_proxy), once its listeners accept:
//   HANDOVER_RETURN_IF_ERROR(NotifyReady());  // no-op without NOTIFY_SOCKET
#ifndef HANDOVER_NOTIFY_H_
#define HANDOVER_NOTIFY_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "handover/unique_fd.h"

namespace handover {

// An AF_UNIX SOCK_DGRAM socket (close-on-exec, SO_PASSCRED) on an autobound
// abstract address ("@" + 5 hex digits, chosen by the kernel: no file to clean
// up, no name clash). Abstract names are per network namespace: the child must
// share ours. Move-only.
class NotifySocket {
 public:
  static absl::StatusOr<NotifySocket> Create();

  int fd() const { return fd_.get(); }           // borrowed
  const std::string& address() const { return address_; }  // "@1a2b3"
  std::string EnvVar() const { return "NOTIFY_SOCKET=" + address_; }

  // Waits for a datagram from `pid` with a line "READY=1". Only datagrams whose
  // SCM_CREDENTIALS pid (filled in by the kernel) is `pid` count; others, also
  // from the child's own children, are ignored (systemd's NotifyAccess=main).
  // fds sent along (FDSTORE=1) are closed. `pidfd` (borrowed) is polled too:
  // a child that exits first is reported at once, not at the deadline.
  // Returns OK on READY=1. Errors: FAILED_PRECONDITION (the child exited without
  // READY=1; the message has its last STATUS= text), DEADLINE_EXCEEDED.
  absl::Status WaitReady(pid_t pid, int pidfd, absl::Time deadline);

 private:
  NotifySocket(UniqueFd fd, std::string address)
      : fd_(std::move(fd)), address_(std::move(address)) {}
  // Reads every queued datagram; true once `pid` has sent READY=1.
  absl::StatusOr<bool> Drain(pid_t pid);

  UniqueFd fd_;
  std::string address_;
  std::string last_status_;  // last STATUS= from the child, for error messages
};

// Sends `state` (e.g. "READY=1", "STATUS=draining", "STOPPING=1") to
// $NOTIFY_SOCKET ("/path" or "@abstract"). OK and nothing sent when it is unset.
// Errors: INVALID_ARGUMENT (malformed NOTIFY_SOCKET), errno codes of sendto.
absl::Status Notify(absl::string_view state);
inline absl::Status NotifyReady() { return Notify("READY=1"); }

}  // namespace handover

#endif  // HANDOVER_NOTIFY_H_
