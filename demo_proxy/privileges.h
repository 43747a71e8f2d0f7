// DropPrivileges: --user=NAME|UID. A server that binds its ports as root and then
// switches user IN PLACE (setresgid + setgroups + setresuid, no exec), as nginx
// workers and many daemons do. The kernel then marks the process non-dumpable, which
// makes pidfd_getfd refuse even a same-uid caller (kernel-notes §2): the case the
// pidfd -> SCM_RIGHTS fallback exists for.
#ifndef HANDOVER_DEMO_PROXY_PRIVILEGES_H_
#define HANDOVER_DEMO_PROXY_PRIVILEGES_H_

#include <string>

#include "absl/status/status.h"

namespace handover::demo {

// `user` is a user name (its primary group is used) or a numeric uid (gid = uid).
// Empty: nothing to do. Errors: NOT_FOUND (unknown user), PERMISSION_DENIED (not root).
absl::Status DropPrivileges(const std::string& user);

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_PRIVILEGES_H_
