// Readiness and identity announcements of demo_proxy.
#ifndef HANDOVER_DEMO_PROXY_NOTIFY_H_
#define HANDOVER_DEMO_PROXY_NOTIFY_H_

#include <string>

#include "absl/status/status.h"

namespace handover::demo {

// Sends "READY=1" to $NOTIFY_SOCKET (a unix datagram path, or "@name" for the abstract
// namespace) when it is set; OK and nothing sent when it is not.
// TODO(#3): replace with the library's NotifyReady() once it is merged.
absl::Status NotifyReady();

// TODO(#3) seam: publish our identity with handover::WritePidfile(path) (process.h,
// atomic, "PID STARTTIME PIDFS_INODE"). Returns UNIMPLEMENTED when `path` is set,
// OK when it is empty.
absl::Status PublishPidfile(const std::string& path);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_NOTIFY_H_
