// getfd_probe: tries to take one descriptor of another process with
// pidfd_getfd, the way the handover CLI does, and reports the outcome.
//
//   getfd_probe --pid=42 --fd=3
//   -> "ok" (exit 0), or the error with the permission diagnosis appended
//      (exit 3 for PERMISSION_DENIED, 1 otherwise)
//
// Tests run it under another uid to provoke and check the EPERM explanations.
#include <stdio.h>

#include <string>

#include "absl/status/status.h"
#include "gflags/gflags.h"
#include "handover/permission.h"
#include "handover/process.h"
#include "handover/sys.h"

DEFINE_int32(pid, 0, "target process");
DEFINE_int32(fd, -1, "descriptor number in the target");

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  absl::StatusOr<handover::Process> process = handover::Process::Open(FLAGS_pid);
  absl::Status result = process.status();
  if (process.ok()) {
    absl::StatusOr<handover::UniqueFd> copy = handover::sys::PidfdGetfd(process->pidfd(), FLAGS_fd);
    result = handover::ExplainPermissionDenied(copy.status(), process->proc_dir());
  }
  if (result.ok()) {
    ::printf("ok\n");
    return 0;
  }
  ::printf("%s\n", result.ToString().c_str());
  return absl::IsPermissionDenied(result) ? 3 : 1;
}
