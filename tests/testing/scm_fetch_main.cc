// scm_fetch: runs handover::FetchListeners in its own process, optionally under
// a lowered RLIMIT_NOFILE, and reports what it got and whether fds leaked.
//
//   scm_fetch --socket=/tmp/x/ctl.sock --nofile=100
//   -> "ok n=2 peer_pid=.. peer_uid=.." + "fd=.. inode=.. name=.. cloexec=1" lines, exit 0
//   -> "error code=RESOURCE_EXHAUSTED <message>" + "leaked=0", exit 1
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gflags/gflags.h"
#include "handover/scm_rights.h"

DEFINE_string(socket, "", "control socket path");
DEFINE_int32(timeout_ms, 5000, "FetchListeners timeout");
DEFINE_int32(nofile, 0, "if > 0, set the soft RLIMIT_NOFILE to this first");

namespace {

int OpenFdCount() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (const struct dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n - 1;  // the directory's own fd
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (FLAGS_nofile > 0) {
    struct rlimit rl = {};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = static_cast<rlim_t>(FLAGS_nofile);
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
      ::perror("setrlimit");
      return 2;
    }
  }
  const int before = OpenFdCount();
  auto r = handover::FetchListeners(FLAGS_socket, absl::Milliseconds(FLAGS_timeout_ms));
  if (!r.ok()) {
    ::printf("error code=%s %s\n", absl::StatusCodeToString(r.status().code()).c_str(),
             std::string(r.status().message()).c_str());
    ::printf("leaked=%d\n", OpenFdCount() - before);
    return 1;
  }
  ::printf("ok n=%zu peer_pid=%d peer_uid=%u\n", r->fds.size(), r->peer_pid, r->peer_uid);
  for (size_t i = 0; i < r->fds.size(); ++i) {
    struct stat st = {};
    ::fstat(r->fds[i].get(), &st);
    ::printf("fd=%d inode=%lu name=%s cloexec=%d\n", r->fds[i].get(),
             static_cast<unsigned long>(st.st_ino), r->names[i].c_str(),
             (::fcntl(r->fds[i].get(), F_GETFD) & FD_CLOEXEC) ? 1 : 0);
  }
  return 0;
}
