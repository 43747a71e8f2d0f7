// activation_probe: the receiving side of socket activation, for tests. Calls
// handover::TakeInheritedFds and writes a report to --out:
//   listen_pid_env=<LISTEN_PID before> self_pid=<getpid()>
//   fd=3 name=http inode=123 cloexec=1      (one per inherited fd)
//   open=0,1,2,3                            (every fd open at the end, /proc/self/fd)
//   env_left=                               (activation vars still set afterwards)
//   error=<status>                          (instead, exit 3, if TakeInheritedFds failed)
// Then optionally sends STATUS=/READY=1 to $NOTIFY_SOCKET and waits for SIGTERM.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gflags/gflags.h"
#include "handover/activation.h"
#include "handover/notify.h"

DEFINE_string(out, "", "report file (required)");
DEFINE_string(status, "", "send STATUS=<this> first");
DEFINE_bool(ready, false, "send READY=1 after taking the fds");
DEFINE_bool(wait, false, "then wait for SIGTERM instead of exiting");

namespace {

std::string OpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return "?";
  std::string out;
  while (const struct dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.' || ::atoi(e->d_name) == ::dirfd(dir)) continue;
    absl::StrAppend(&out, out.empty() ? "" : ",", e->d_name);
  }
  ::closedir(dir);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  sigset_t set;
  ::sigemptyset(&set);
  ::sigaddset(&set, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  const char* pid_env = ::getenv("LISTEN_PID");
  std::string report = absl::StrCat("listen_pid_env=", pid_env ? pid_env : "unset",
                                    " self_pid=", ::getpid(), "\n");
  auto fds = handover::TakeInheritedFds();
  int code = 0;
  if (!fds.ok()) {
    absl::StrAppend(&report, "error=", fds.status().ToString(), "\n");
    code = 3;
  } else {
    for (const handover::InheritedFd& f : *fds) {
      struct stat st = {};
      ::fstat(f.fd.get(), &st);
      absl::StrAppend(&report, "fd=", f.fd.get(), " name=", f.name, " inode=", st.st_ino,
                      " cloexec=", (::fcntl(f.fd.get(), F_GETFD) & FD_CLOEXEC) ? 1 : 0, "\n");
    }
  }
  absl::StrAppend(&report, "open=", OpenFds(), "\nenv_left=");
  for (const char* var : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NGINX"}) {
    if (::getenv(var) != nullptr) absl::StrAppend(&report, var, ";");
  }
  report += "\n";
  FILE* f = ::fopen(FLAGS_out.c_str(), "we");
  if (f == nullptr) return 2;
  ::fputs(report.c_str(), f);
  ::fclose(f);
  if (!FLAGS_status.empty() && !handover::Notify("STATUS=" + FLAGS_status).ok()) return 4;
  if (FLAGS_ready && !handover::NotifyReady().ok()) return 4;
  if (FLAGS_wait) {
    int sig;
    ::sigwait(&set, &sig);
  }
  return code;
}
