#include "demo_proxy/notify.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "demo_proxy/address.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover::demo {

absl::Status NotifyReady() {
  const char* where = ::getenv("NOTIFY_SOCKET");
  if (where == nullptr || where[0] == '\0') return absl::OkStatus();
  HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr addr, ParseAddress(absl::StrCat("unix:", where)));
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, sys::Socket(AF_UNIX, SOCK_DGRAM, 0));
  static constexpr char kReady[] = "READY=1";
  if (::sendto(fd.get(), kReady, sizeof(kReady) - 1, MSG_NOSIGNAL, addr.get(), addr.len) < 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("sendto(NOTIFY_SOCKET=%s, READY=1)", where));
  }
  return absl::OkStatus();
}

absl::Status PublishPidfile(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  // TODO(#3): return handover::WritePidfile(path) (handover/process.h).
  return absl::UnimplementedError(
      absl::StrCat("--pidfile=", path, ": writing pidfiles is not wired yet (TODO(#3))"));
}

}  // namespace handover::demo
