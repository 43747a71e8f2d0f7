#include "demo_proxy/privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "handover/status.h"

namespace handover::demo {

absl::Status DropPrivileges(const std::string& user) {
  if (user.empty()) return absl::OkStatus();
  uid_t uid = 0;
  gid_t gid = 0;
  if (uint32_t numeric = 0; absl::SimpleAtoi(user, &numeric)) {
    uid = numeric;
    gid = numeric;
  } else {
    struct passwd pw;
    struct passwd* found = nullptr;
    std::vector<char> buf(16384);
    const int err = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (err != 0) return ErrnoError(err, absl::StrFormat("getpwnam_r(%s)", user));
    if (found == nullptr)
      return absl::NotFoundError(absl::StrFormat("--user=%s: no such user", user));
    uid = pw.pw_uid;
    gid = pw.pw_gid;
  }
  if (::setgroups(0, nullptr) != 0) {
    const int err = errno;
    return ErrnoError(err, "setgroups(0)");
  }
  if (::setresgid(gid, gid, gid) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("setresgid(%d)", gid));
  }
  if (::setresuid(uid, uid, uid) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("setresuid(%d)", uid));
  }
  return absl::OkStatus();
}

}  // namespace handover::demo
