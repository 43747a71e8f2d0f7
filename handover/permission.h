// Permission: why pidfd_getfd() on another process fails with EPERM, and the
// helper an old instance calls so that its successor may take its sockets.
//
// In the NEW process (or the CLI), after an EPERM:
//   absl::StatusOr<UniqueFd> fd = sys::PidfdGetfd(old.pidfd(), 7);
//   if (!fd.ok()) return ExplainPermissionDenied(fd.status(), old.proc_dir());
//   // "pidfd_getfd(pidfd 5, fd 7): Operation not permitted [EPERM]; cause: pid 42
//   //  is not dumpable (...); fix: ..."
//
// In the OLD process, once, after dropping privileges:
//   HANDOVER_RETURN_IF_ERROR(AllowTakeoverBy(supervisor_pid, /*make_dumpable=*/true));
//
// pidfd_getfd needs PTRACE_MODE_ATTACH_REALCREDS (kernel-notes §2). Without
// CAP_SYS_PTRACE the caller needs: its real uid/gid equal to the target's real,
// effective and saved uids/gids; a dumpable target; the target's permitted
// capabilities a subset of the caller's. Then Yama, other LSMs and seccomp may
// still refuse. DiagnosePtraceFacts() is that decision as a pure function.
#ifndef HANDOVER_PERMISSION_H_
#define HANDOVER_PERMISSION_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace handover {

// One reason access is refused, and what an operator can do about it.
struct PermissionFinding {
  std::string cause;
  std::string fix;
};

struct PermissionReport {
  // True when uids/gids, dumpability and capabilities allow access (or the
  // caller has CAP_SYS_PTRACE). Yama, LSMs and seccomp are not part of it.
  bool ptrace_allowed_by_creds = false;
  std::vector<PermissionFinding> findings;  // empty: no cause found
  // "cause: A; fix: B; cause: C; fix: D", or a sentence saying nothing was found.
  std::string Summary() const;
};

// The credential lines of /proc/PID/status (and its Pid/PPid).
struct ProcCreds {
  pid_t pid = 0;
  pid_t ppid = 0;
  uint32_t ruid = 0, euid = 0, suid = 0, fsuid = 0;
  uint32_t rgid = 0, egid = 0, sgid = 0, fsgid = 0;
  uint64_t cap_permitted = 0;  // CapPrm
  uint64_t cap_effective = 0;  // CapEff
  int seccomp = 0;             // 0 off, 1 strict, 2 filter
};

// Parses the text of /proc/PID/status. INVALID_ARGUMENT when a Pid, PPid, Uid,
// Gid, CapPrm or CapEff line is missing or malformed (Seccomp is optional).
absl::StatusOr<ProcCreds> ParseProcStatusCreds(absl::string_view status);

// Everything the access decision depends on.
struct PtraceFacts {
  ProcCreds target;
  ProcCreds caller;
  std::optional<bool> target_dumpable;  // nullopt: cannot tell (a root target)
  std::optional<int> yama_scope;        // nullopt: Yama not built in / not active
  bool caller_is_ancestor = false;      // caller is an ancestor of the target (Yama 1)
  std::vector<std::string> lsms;        // /sys/kernel/security/lsm; empty if unknown
};

// The kernel's ptrace access decision for PTRACE_MODE_ATTACH_REALCREDS as a pure
// function, naming every cause that applies (the kernel stops at the first).
PermissionReport DiagnosePtraceFacts(const PtraceFacts& facts);

// "CAP_NET_BIND_SERVICE" for 10; "cap 63" for numbers without a name.
std::string CapabilityName(int cap);

// Gathers PtraceFacts about the target behind `proc_dir` (a /proc/PID directory
// fd, borrowed, e.g. Process::proc_dir()) and the calling thread, and diagnoses.
// Target creds come from its status, read through proc_dir; dumpability from the
// owner of proc_dir's `stat` (the files of a non-dumpable process belong to root;
// the directory itself always shows the euid, so it cannot tell); caller
// ids from getresuid/getresgid and its capabilities and seccomp mode from
// /proc/thread-self/status; Yama from /proc/sys/kernel/yama/ptrace_scope; LSMs
// from /sys/kernel/security/lsm. Errors: NOT_FOUND (the target has exited) and
// whatever reading those files returns.
absl::StatusOr<PermissionReport> DiagnosePtraceAccess(int proc_dir);

// For a PERMISSION_DENIED `original` (an EPERM from pidfd_getfd): the same code
// and message followed by "; cause: ...; fix: ..." for each finding (or a note
// that none was found, or that diagnosing failed). Any other status, OK included,
// is returned unchanged.
absl::Status ExplainPermissionDenied(const absl::Status& original, int proc_dir);

// For the OLD process: lets a successor take its sockets with pidfd_getfd.
//  - prctl(PR_SET_PTRACER, supervisor), or PR_SET_PTRACER_ANY when supervisor is
//    0: under Yama ptrace_scope 1 only ancestors may attach otherwise. Without
//    Yama the call fails with EINVAL, which is ignored.
//  - when make_dumpable, prctl(PR_SET_DUMPABLE, 1): needed after changing uid
//    without exec (e.g. dropping root with setuid()), which makes a process
//    non-dumpable. Note this also allows core dumps and same-uid ptrace of it.
// Call it after the last privilege change (a uid change resets dumpability).
// Errors: INVALID_ARGUMENT (supervisor < 0, or under Yama no such pid).
absl::Status AllowTakeoverBy(pid_t supervisor, bool make_dumpable = false);

}  // namespace handover

#endif  // HANDOVER_PERMISSION_H_
