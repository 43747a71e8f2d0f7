#include "handover/permission.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover {
namespace {

constexpr int kCapSysPtrace = 19;

// Indexed by capability number (linux/capability.h, up to Linux 5.9's 40).
// clang-format off
constexpr const char* kCapNames[] = {
    "CAP_CHOWN",         "CAP_DAC_OVERRIDE",    "CAP_DAC_READ_SEARCH",  "CAP_FOWNER",
    "CAP_FSETID",        "CAP_KILL",            "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETPCAP",       "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",     "CAP_NET_RAW",         "CAP_IPC_LOCK",         "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",    "CAP_SYS_RAWIO",       "CAP_SYS_CHROOT",       "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",     "CAP_SYS_ADMIN",       "CAP_SYS_BOOT",         "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",  "CAP_SYS_TIME",        "CAP_SYS_TTY_CONFIG",   "CAP_MKNOD",
    "CAP_LEASE",         "CAP_AUDIT_WRITE",     "CAP_AUDIT_CONTROL",    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",  "CAP_MAC_ADMIN",       "CAP_SYSLOG",           "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",      "CAP_PERFMON",          "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
// clang-format on

constexpr absl::string_view kGrantPtrace =
    "grant the caller CAP_SYS_PTRACE (setcap cap_sys_ptrace+ep /path/to/handover, or systemd "
    "AmbientCapabilities=CAP_SYS_PTRACE)";

// Names of the set bits of `caps`.
std::vector<std::string> CapNames(uint64_t caps) {
  std::vector<std::string> names;
  for (int cap = 0; cap < 64; ++cap) {
    if ((caps >> cap) & 1) names.push_back(CapabilityName(cap));
  }
  return names;
}

// "CAP_A, CAP_B", at most `max` names and then "and N more".
std::string CapList(std::vector<std::string> names, size_t max = 6) {
  if (names.size() <= max) return absl::StrJoin(names, ", ");
  const size_t more = names.size() - max;
  names.resize(max);
  return absl::StrCat(absl::StrJoin(names, ", "), " and ", more, " more");
}

// Appends the uid/gid, dumpability and capability findings (kernel
// __ptrace_may_access and cap_ptrace_access_check), which CAP_SYS_PTRACE overrides.
void CredentialFindings(const PtraceFacts& f, std::vector<PermissionFinding>& out) {
  const ProcCreds& t = f.target;
  const ProcCreds& c = f.caller;
  const bool uids_match = c.ruid == t.ruid && c.ruid == t.euid && c.ruid == t.suid;
  const bool gids_match = c.rgid == t.rgid && c.rgid == t.egid && c.rgid == t.sgid;
  if (!uids_match || !gids_match) {
    const bool target_consistent =
        t.ruid == t.euid && t.ruid == t.suid && t.rgid == t.egid && t.rgid == t.sgid;
    out.push_back(
        {absl::StrFormat("the caller's real uid/gid %d/%d does not match pid %d's uids %d/%d/%d "
                         "and gids %d/%d/%d (real/effective/saved), and the caller lacks "
                         "CAP_SYS_PTRACE",
                         c.ruid, c.rgid, t.pid, t.ruid, t.euid, t.suid, t.rgid, t.egid, t.sgid),
         target_consistent
             ? absl::StrFormat("run handover as uid %d gid %d (e.g. sudo -u '#%d' -g '#%d'), or %s",
                               t.ruid, t.rgid, t.ruid, t.rgid, kGrantPtrace)
             : absl::StrFormat("pid %d's ids differ among themselves, so no single uid "
                               "matches them all: %s",
                               t.pid, kGrantPtrace)});
  }
  if (f.target_dumpable == false) {
    out.push_back({absl::StrFormat("pid %d is not dumpable (it changed uid without exec, e.g. "
                                   "dropped root with setuid(), or called "
                                   "prctl(PR_SET_DUMPABLE, 0))",
                                   t.pid),
                   absl::StrCat("make the target call prctl(PR_SET_DUMPABLE, 1) after dropping "
                                "privileges (handover::AllowTakeoverBy(pid, true)), or ",
                                kGrantPtrace)});
  }
  // ATTACH_REALCREDS compares with the caller's PERMITTED set. For a root target
  // whose uid already mismatches, "run as uid 0" covers this too: say it once.
  const uint64_t missing = t.cap_permitted & ~c.cap_permitted;
  const bool root_target = t.ruid == 0 && t.euid == 0 && t.suid == 0;
  if (missing != 0 && !(root_target && !out.empty())) {
    const std::vector<std::string> names = CapNames(missing);
    const std::string give =
        names.size() <= 6
            ? absl::StrFormat(
                  "give the caller those capabilities too (systemd "
                  "AmbientCapabilities=%s, or setcap %s+ep)",
                  absl::StrJoin(names, " "), absl::AsciiStrToLower(absl::StrJoin(names, ",")))
            : absl::StrFormat("run the caller with pid %d's capabilities", t.pid);
    out.push_back({absl::StrFormat("pid %d has capabilities the caller lacks: %s (its permitted "
                                   "set must be a subset of the caller's)",
                                   t.pid, CapList(names)),
                   absl::StrFormat("%s, let the target drop them once its sockets are bound, or %s",
                                   give, kGrantPtrace)});
  }
}

void YamaFindings(const PtraceFacts& f, bool has_ptrace, std::vector<PermissionFinding>& out) {
  if (!f.yama_scope.has_value()) return;
  const int scope = *f.yama_scope;
  const pid_t pid = f.target.pid;
  if (scope == 1 && !has_ptrace && !f.caller_is_ancestor) {
    out.push_back(
        {absl::StrFormat("Yama ptrace_scope is 1: only an ancestor of pid %d may attach, and the "
                         "caller is not one (unless pid %d named it with PR_SET_PTRACER)",
                         pid, pid),
         absl::StrFormat("make pid %d call prctl(PR_SET_PTRACER, <supervisor pid or "
                         "PR_SET_PTRACER_ANY>) (handover::AllowTakeoverBy), run handover from "
                         "the process that started it, or %s",
                         pid, kGrantPtrace)});
  } else if (scope == 2 && !has_ptrace) {
    out.push_back({"Yama ptrace_scope is 2: only callers with CAP_SYS_PTRACE may attach",
                   absl::StrCat(kGrantPtrace, ", or lower kernel.yama.ptrace_scope to 1")});
  } else if (scope >= 3) {
    out.push_back(
        {"Yama ptrace_scope is 3: no process may attach, not even root",
         "the setting cannot be lowered without a reboot: set kernel.yama.ptrace_scope=1 in "
         "/etc/sysctl.d and reboot, or hand the sockets over with SCM_RIGHTS instead"});
  }
}

absl::StatusOr<std::vector<uint32_t>> Ids(absl::string_view value) {
  std::vector<uint32_t> ids;
  for (absl::string_view part : absl::StrSplit(value, absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
    uint32_t id;
    if (!absl::SimpleAtoi(part, &id)) return absl::InvalidArgumentError("bad id");
    ids.push_back(id);
  }
  if (ids.size() != 4) return absl::InvalidArgumentError("want 4 ids");
  return ids;
}

// Walks the target's parents through /proc (diagnostic only: pid reuse along
// the chain could mislead it, never grant anything).
bool IsAncestorOf(pid_t ancestor, pid_t ppid) {
  for (int depth = 0; ppid > 1 && depth < 4096; ++depth) {
    if (ppid == ancestor) return true;
    absl::StatusOr<std::string> status =
        sys::ReadFileAt(AT_FDCWD, absl::StrFormat("/proc/%d/status", ppid));
    if (!status.ok()) return false;
    absl::StatusOr<ProcCreds> creds = ParseProcStatusCreds(*status);
    if (!creds.ok()) return false;
    ppid = creds->ppid;
  }
  return ppid == ancestor;
}

}  // namespace

std::string CapabilityName(int cap) {
  if (cap >= 0 && cap < static_cast<int>(std::size(kCapNames))) return kCapNames[cap];
  return absl::StrCat("cap ", cap);
}

std::string PermissionReport::Summary() const {
  if (findings.empty()) {
    return "cause: unknown (uids, dumpability, capabilities, Yama and seccomp all allow it); "
           "fix: look for a ptrace denial in the kernel audit log (journalctl -k)";
  }
  std::vector<std::string> parts;
  for (const PermissionFinding& f : findings) {
    parts.push_back(absl::StrCat("cause: ", f.cause, "; fix: ", f.fix));
  }
  return absl::StrJoin(parts, "; ");
}

absl::StatusOr<ProcCreds> ParseProcStatusCreds(absl::string_view status) {
  absl::flat_hash_map<absl::string_view, absl::string_view> fields;
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    fields[line.substr(0, colon)] = absl::StripAsciiWhitespace(line.substr(colon + 1));
  }
  ProcCreds c;
  auto bad = [](absl::string_view key) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed /proc/PID/status: missing or bad '", key, ":' line"));
  };
  for (const char* key : {"Pid", "PPid", "Uid", "Gid", "CapPrm", "CapEff"}) {
    if (!fields.contains(key)) return bad(key);
  }
  if (!absl::SimpleAtoi(fields["Pid"], &c.pid)) return bad("Pid");
  if (!absl::SimpleAtoi(fields["PPid"], &c.ppid)) return bad("PPid");
  absl::StatusOr<std::vector<uint32_t>> uids = Ids(fields["Uid"]);
  if (!uids.ok()) return bad("Uid");
  absl::StatusOr<std::vector<uint32_t>> gids = Ids(fields["Gid"]);
  if (!gids.ok()) return bad("Gid");
  c.ruid = (*uids)[0], c.euid = (*uids)[1], c.suid = (*uids)[2], c.fsuid = (*uids)[3];
  c.rgid = (*gids)[0], c.egid = (*gids)[1], c.sgid = (*gids)[2], c.fsgid = (*gids)[3];
  if (!absl::SimpleHexAtoi(fields["CapPrm"], &c.cap_permitted)) return bad("CapPrm");
  if (!absl::SimpleHexAtoi(fields["CapEff"], &c.cap_effective)) return bad("CapEff");
  if (fields.contains("Seccomp") && !absl::SimpleAtoi(fields["Seccomp"], &c.seccomp)) {
    return bad("Seccomp");
  }
  return c;
}

PermissionReport DiagnosePtraceFacts(const PtraceFacts& f) {
  PermissionReport report;
  const bool has_ptrace = (f.caller.cap_effective >> kCapSysPtrace) & 1;
  if (!has_ptrace) CredentialFindings(f, report.findings);
  report.ptrace_allowed_by_creds = report.findings.empty();
  YamaFindings(f, has_ptrace, report.findings);
  if (!report.findings.empty()) return report;

  // Nothing above refuses: look at what filters below the credential checks.
  if (f.caller.seccomp == 2) {
    report.findings.push_back(
        {"the caller runs under a seccomp filter (Seccomp: 2) while everything else allows "
         "access: probably a seccomp filter (Docker's default profile allows pidfd_getfd only "
         "with CAP_SYS_PTRACE)",
         "run the container with --cap-add=SYS_PTRACE, or with a seccomp profile that allows "
         "pidfd_getfd"});
  }
  std::vector<std::string> mac;
  for (const std::string& lsm : f.lsms) {
    if (lsm == "selinux" || lsm == "apparmor" || lsm == "smack" || lsm == "tomoyo" ||
        lsm == "landlock") {
      mac.push_back(lsm);
    }
  }
  if (!mac.empty()) {
    report.findings.push_back(
        {absl::StrCat(
             "a security module may refuse ptrace access (active: ", absl::StrJoin(mac, ","), ")"),
         "look for a ptrace denial in the audit log (journalctl -k | grep -i -e apparmor -e "
         "avc), and allow ptrace (read, trace) from the caller's profile to the target's"});
  }
  return report;
}

absl::StatusOr<PermissionReport> DiagnosePtraceAccess(int proc_dir) {
  PtraceFacts f;
  HANDOVER_ASSIGN_OR_RETURN(std::string target_status, sys::ReadFileAt(proc_dir, "status"));
  HANDOVER_ASSIGN_OR_RETURN(f.target, ParseProcStatusCreds(target_status));
  HANDOVER_ASSIGN_OR_RETURN(std::string self_status,
                            sys::ReadFileAt(AT_FDCWD, "/proc/thread-self/status"));
  HANDOVER_ASSIGN_OR_RETURN(f.caller, ParseProcStatusCreds(self_status));
  const sys::ResIds uids = sys::GetResUid();
  const sys::ResIds gids = sys::GetResGid();
  f.caller.ruid = uids.real, f.caller.euid = uids.effective, f.caller.suid = uids.saved;
  f.caller.rgid = gids.real, f.caller.egid = gids.effective, f.caller.sgid = gids.saved;

  // The files in a non-dumpable process's /proc/PID belong to root, a dumpable
  // one's to its euid (task_dump_owner). The directory itself always shows the
  // euid, so look at a file. For a root target both read 0: cannot tell.
  HANDOVER_ASSIGN_OR_RETURN(struct stat st, sys::FstatAt(proc_dir, "stat", 0));
  if (f.target.euid != 0) f.target_dumpable = st.st_uid != 0;

  absl::StatusOr<std::string> yama =
      sys::ReadFileAt(AT_FDCWD, "/proc/sys/kernel/yama/ptrace_scope");
  int scope = 0;
  if (yama.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*yama), &scope)) {
    f.yama_scope = scope;
    if (scope == 1) f.caller_is_ancestor = IsAncestorOf(::getpid(), f.target.ppid);
  }
  absl::StatusOr<std::string> lsm = sys::ReadFileAt(AT_FDCWD, "/sys/kernel/security/lsm");
  if (lsm.ok()) {
    f.lsms = absl::StrSplit(absl::StripAsciiWhitespace(*lsm), ',', absl::SkipEmpty());
  }
  return DiagnosePtraceFacts(f);
}

absl::Status ExplainPermissionDenied(const absl::Status& original, int proc_dir) {
  if (!absl::IsPermissionDenied(original)) return original;
  absl::StatusOr<PermissionReport> report = DiagnosePtraceAccess(proc_dir);
  if (!report.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(
        original.message(), "; could not diagnose the cause: ", report.status().message()));
  }
  return absl::PermissionDeniedError(absl::StrCat(original.message(), "; ", report->Summary()));
}

absl::Status AllowTakeoverBy(pid_t supervisor, bool make_dumpable) {
  if (supervisor < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("AllowTakeoverBy(%d): pid must be >= 0 (0 = any process)", supervisor));
  }
  const unsigned long ptracer =
      supervisor == 0 ? PR_SET_PTRACER_ANY : static_cast<unsigned long>(supervisor);
  absl::Status s = sys::Prctl(PR_SET_PTRACER, ptracer, "PR_SET_PTRACER");
  if (absl::IsInvalidArgument(s)) {
    // EINVAL: no Yama (nothing to allow), or under Yama a pid that does not exist.
    absl::StatusOr<struct stat> yama = sys::FstatAt(AT_FDCWD, "/proc/sys/kernel/yama", 0);
    if (!yama.ok()) s = absl::OkStatus();
  }
  HANDOVER_RETURN_IF_ERROR(s);
  if (make_dumpable) {
    HANDOVER_RETURN_IF_ERROR(sys::Prctl(PR_SET_DUMPABLE, 1, "PR_SET_DUMPABLE"));
  }
  return absl::OkStatus();
}

}  // namespace handover
