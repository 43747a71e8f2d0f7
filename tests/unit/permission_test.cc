#include "handover/permission.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "handover/process.h"
#include "handover/sys.h"
#include "tests/testing/child_process.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::BinPath;
using ::handover::testing::ChildProcess;
using ::handover::testing::IsOkAndHolds;
using ::handover::testing::RunResult;
using ::handover::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr uint32_t kNobody = 65534;
constexpr uint64_t kNetBindService = 1ull << 10;
constexpr uint64_t kSysPtrace = 1ull << 19;

// ---- The decision as a pure function ------------------------------------

ProcCreds Creds(pid_t pid, uint32_t id) {
  ProcCreds c;
  c.pid = pid;
  c.ruid = c.euid = c.suid = c.fsuid = id;
  c.rgid = c.egid = c.sgid = c.fsgid = id;
  return c;
}

// A same-uid, dumpable, capability-free pair without Yama: allowed.
PtraceFacts Allowed() {
  return PtraceFacts{.target = Creds(42, 1000), .caller = Creds(7, 1000), .target_dumpable = true};
}

TEST(DiagnosePtraceFactsTest, SameUidDumpableTargetIsAllowed) {
  const PermissionReport r = DiagnosePtraceFacts(Allowed());
  EXPECT_TRUE(r.ptrace_allowed_by_creds);
  EXPECT_THAT(r.findings, IsEmpty());
  EXPECT_THAT(r.Summary(), HasSubstr("cause: unknown"));
}

TEST(DiagnosePtraceFactsTest, UidMismatchNamesTheUidToRunAs) {
  PtraceFacts f = Allowed();
  f.caller = Creds(7, kNobody);
  const PermissionReport r = DiagnosePtraceFacts(f);
  EXPECT_FALSE(r.ptrace_allowed_by_creds);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].cause,
              HasSubstr("real uid/gid 65534/65534 does not match pid 42's uids 1000/1000/1000"));
  EXPECT_THAT(r.findings[0].fix, AllOf(HasSubstr("run handover as uid 1000 gid 1000"),
                                       HasSubstr("setcap cap_sys_ptrace+ep"),
                                       HasSubstr("AmbientCapabilities=CAP_SYS_PTRACE")));
}

TEST(DiagnosePtraceFactsTest, GidMismatchAloneIsAMismatch) {
  PtraceFacts f = Allowed();
  f.caller.rgid = 1001;
  EXPECT_THAT(DiagnosePtraceFacts(f).findings, SizeIs(1));
}

TEST(DiagnosePtraceFactsTest, TargetWithMixedIdsNeedsCapSysPtrace) {
  PtraceFacts f = Allowed();
  f.target.suid = 0;  // e.g. a setuid binary that kept root as saved uid
  const PermissionReport r = DiagnosePtraceFacts(f);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].fix,
              AllOf(HasSubstr("differ among themselves"), HasSubstr("CAP_SYS_PTRACE")));
}

TEST(DiagnosePtraceFactsTest, NonDumpableTarget) {
  PtraceFacts f = Allowed();
  f.target_dumpable = false;
  const PermissionReport r = DiagnosePtraceFacts(f);
  EXPECT_FALSE(r.ptrace_allowed_by_creds);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].cause, HasSubstr("pid 42 is not dumpable"));
  EXPECT_THAT(r.findings[0].fix,
              AllOf(HasSubstr("prctl(PR_SET_DUMPABLE, 1)"), HasSubstr("CAP_SYS_PTRACE")));
  f.target_dumpable = std::nullopt;  // cannot tell: no finding
  EXPECT_THAT(DiagnosePtraceFacts(f).findings, IsEmpty());
}

TEST(DiagnosePtraceFactsTest, TargetCapabilitiesMustBeASubsetOfTheCallersPermitted) {
  PtraceFacts f = Allowed();
  f.target.cap_permitted = kNetBindService;
  PermissionReport r = DiagnosePtraceFacts(f);
  EXPECT_FALSE(r.ptrace_allowed_by_creds);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].cause,
              HasSubstr("capabilities the caller lacks: CAP_NET_BIND_SERVICE"));
  EXPECT_THAT(r.findings[0].fix, AllOf(HasSubstr("AmbientCapabilities=CAP_NET_BIND_SERVICE"),
                                       HasSubstr("setcap cap_net_bind_service+ep")));
  // The kernel compares with the caller's PERMITTED set, not its effective one.
  f.caller.cap_permitted = kNetBindService;
  EXPECT_THAT(DiagnosePtraceFacts(f).findings, IsEmpty());
  // A long list is cut.
  f.caller.cap_permitted = 0;
  f.target.cap_permitted = (1ull << 41) - 1 - kSysPtrace;
  r = DiagnosePtraceFacts(f);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].cause, HasSubstr("and 34 more"));
  EXPECT_THAT(r.findings[0].fix, HasSubstr("run the caller with pid 42's capabilities"));
}

TEST(DiagnosePtraceFactsTest, RootTargetIsOneFindingNotAListOfItsCapabilities) {
  PtraceFacts f = Allowed();
  f.target = Creds(42, 0);
  f.target.cap_permitted = (1ull << 41) - 1;
  f.caller = Creds(7, kNobody);
  const PermissionReport r = DiagnosePtraceFacts(f);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].fix, HasSubstr("run handover as uid 0 gid 0"));
}

TEST(DiagnosePtraceFactsTest, CapSysPtraceOverridesCredentialChecks) {
  PtraceFacts f = Allowed();
  f.caller = Creds(7, kNobody);
  f.caller.cap_effective = kSysPtrace;
  f.target_dumpable = false;
  f.target.cap_permitted = kNetBindService;
  const PermissionReport r = DiagnosePtraceFacts(f);
  EXPECT_TRUE(r.ptrace_allowed_by_creds);
  EXPECT_THAT(r.findings, IsEmpty());
}

TEST(DiagnosePtraceFactsTest, AllCredentialCausesAreListed) {
  PtraceFacts f = Allowed();
  f.caller = Creds(7, kNobody);
  f.target_dumpable = false;
  f.target.cap_permitted = kNetBindService;
  EXPECT_THAT(DiagnosePtraceFacts(f).findings, SizeIs(3));
}

TEST(DiagnosePtraceFactsTest, YamaScopes) {
  PtraceFacts f = Allowed();
  f.yama_scope = 0;
  EXPECT_THAT(DiagnosePtraceFacts(f).findings, IsEmpty());

  f.yama_scope = 1;
  PermissionReport r = DiagnosePtraceFacts(f);
  EXPECT_TRUE(r.ptrace_allowed_by_creds);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].cause, HasSubstr("Yama ptrace_scope is 1"));
  EXPECT_THAT(r.findings[0].fix, HasSubstr("prctl(PR_SET_PTRACER"));
  f.caller_is_ancestor = true;
  EXPECT_THAT(DiagnosePtraceFacts(f).findings, IsEmpty());
  f.caller_is_ancestor = false;
  f.caller.cap_effective = kSysPtrace;
  EXPECT_THAT(DiagnosePtraceFacts(f).findings, IsEmpty());

  f.yama_scope = 2;
  EXPECT_THAT(DiagnosePtraceFacts(f).findings, IsEmpty());
  f.caller.cap_effective = 0;
  r = DiagnosePtraceFacts(f);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].cause, HasSubstr("only callers with CAP_SYS_PTRACE"));

  f.yama_scope = 3;
  f.caller.cap_effective = kSysPtrace;  // does not help
  r = DiagnosePtraceFacts(f);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].cause, HasSubstr("not even root"));
  EXPECT_THAT(r.findings[0].fix, HasSubstr("reboot"));
}

TEST(DiagnosePtraceFactsTest, SeccompIsBlamedOnlyWhenNothingElseRefuses) {
  PtraceFacts f = Allowed();
  f.caller.seccomp = 2;
  PermissionReport r = DiagnosePtraceFacts(f);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].cause,
              HasSubstr("probably a seccomp filter (Docker's default profile allows pidfd_getfd "
                        "only with CAP_SYS_PTRACE)"));
  EXPECT_THAT(r.findings[0].fix, HasSubstr("--cap-add=SYS_PTRACE"));
  f.target_dumpable = false;
  r = DiagnosePtraceFacts(f);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].cause, HasSubstr("not dumpable"));
}

TEST(DiagnosePtraceFactsTest, MacLsmsAreMentionedWhenNothingElseRefuses) {
  PtraceFacts f = Allowed();
  f.lsms = {"lockdown", "capability", "yama", "apparmor"};
  const PermissionReport r = DiagnosePtraceFacts(f);
  ASSERT_THAT(r.findings, SizeIs(1));
  EXPECT_THAT(r.findings[0].cause, HasSubstr("(active: apparmor)"));
  f.lsms = {"capability"};
  EXPECT_THAT(DiagnosePtraceFacts(f).findings, IsEmpty());
}

TEST(PermissionReportTest, SummaryJoinsCausesAndFixes) {
  PermissionReport r{.findings = {{"A", "B"}, {"C", "D"}}};
  EXPECT_EQ(r.Summary(), "cause: A; fix: B; cause: C; fix: D");
}

TEST(CapabilityNameTest, NamesKnownCapabilities) {
  EXPECT_EQ(CapabilityName(0), "CAP_CHOWN");
  EXPECT_EQ(CapabilityName(10), "CAP_NET_BIND_SERVICE");
  EXPECT_EQ(CapabilityName(19), "CAP_SYS_PTRACE");
  EXPECT_EQ(CapabilityName(40), "CAP_CHECKPOINT_RESTORE");
  EXPECT_EQ(CapabilityName(63), "cap 63");
}

TEST(ParseProcStatusCredsTest, ParsesOwnStatus) {
  ASSERT_OK_AND_ASSIGN(std::string text, sys::ReadFileAt(AT_FDCWD, "/proc/self/status"));
  ASSERT_OK_AND_ASSIGN(ProcCreds c, ParseProcStatusCreds(text));
  EXPECT_EQ(c.pid, ::getpid());
  EXPECT_EQ(c.ppid, ::getppid());
  EXPECT_EQ(c.ruid, ::getuid());
  EXPECT_EQ(c.euid, ::geteuid());
  EXPECT_EQ(c.rgid, ::getgid());
  if (::geteuid() == 0) {
    EXPECT_NE(c.cap_effective & kSysPtrace, 0u);
  }
}

TEST(ParseProcStatusCredsTest, ParsesFieldsAndRejectsMalformedText) {
  const std::string good =
      "Name:\tx\nPid:\t42\nPPid:\t1\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\n"
      "CapPrm:\t0000000000000400\nCapEff:\t0000000000080000\nSeccomp:\t2\n";
  ASSERT_OK_AND_ASSIGN(ProcCreds c, ParseProcStatusCreds(good));
  EXPECT_EQ(c.pid, 42);
  EXPECT_EQ(c.ruid, 1u);
  EXPECT_EQ(c.fsuid, 4u);
  EXPECT_EQ(c.sgid, 7u);
  EXPECT_EQ(c.cap_permitted, kNetBindService);
  EXPECT_EQ(c.cap_effective, kSysPtrace);
  EXPECT_EQ(c.seccomp, 2);
  EXPECT_THAT(ParseProcStatusCreds("Pid:\t1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'PPid:'")));
  EXPECT_THAT(ParseProcStatusCreds(absl::StrCat(good, "Uid:\t1\t2\n")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'Uid:'")));
  EXPECT_THAT(ParseProcStatusCreds(absl::StrCat(good, "CapPrm:\tzz\n")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'CapPrm:'")));
}

TEST(ExplainPermissionDeniedTest, OtherStatusesPassThroughUnchanged) {
  const absl::Status not_found = absl::NotFoundError("x [ESRCH]");
  EXPECT_EQ(ExplainPermissionDenied(not_found, -1), not_found);
  EXPECT_OK(ExplainPermissionDenied(absl::OkStatus(), -1));
}

TEST(ExplainPermissionDeniedTest, KeepsTheMessageWhenDiagnosisFails) {
  EXPECT_THAT(ExplainPermissionDenied(absl::PermissionDeniedError("orig [EPERM]"), -1),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       AllOf(HasSubstr("orig [EPERM]; could not diagnose the cause:"),
                             HasSubstr("[EBADF]"))));
}

// ---- Real processes -------------------------------------------------------

class PermissionProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run processes as uid 65534";
  }

  // Starts `argv` and returns it with the fd number of its first "fd=N" line.
  static absl::StatusOr<std::pair<ChildProcess, int>> Target(testing::SpawnOptions options) {
    HANDOVER_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn(options));
    HANDOVER_ASSIGN_OR_RETURN(std::vector<std::string> lines, child.ReadUntil("ready"));
    int fd = -1;
    if (lines.empty() || ::sscanf(lines[0].c_str(), "fd=%d", &fd) != 1) {
      return absl::InternalError("target printed no fd= line");
    }
    return std::make_pair(std::move(child), fd);
  }

  // getfd_probe run as uid/gid 65534 against `pid`'s `fd`.
  static absl::StatusOr<RunResult> ProbeAsNobody(pid_t pid, int fd) {
    return testing::Run(
        {.argv = {BinPath("getfd_probe"), absl::StrCat("--pid=", pid), absl::StrCat("--fd=", fd)},
         .uid = kNobody,
         .gid = kNobody});
  }
};

TEST_F(PermissionProcessTest, SameUidCallerMayTakeTheSocket) {
  ASSERT_OK_AND_ASSIGN(auto target,
                       Target({.argv = {BinPath("fd_holder"), "--tcp=1", "--noise=false"},
                               .uid = kNobody,
                               .gid = kNobody}));
  ASSERT_OK_AND_ASSIGN(RunResult probe, ProbeAsNobody(target.first.pid(), target.second));
  EXPECT_EQ(probe.exit_code, 0) << probe.out << probe.err;
  EXPECT_EQ(probe.out, "ok\n");
}

TEST_F(PermissionProcessTest, RootTargetAndNobodyCallerIsAUidMismatch) {
  ASSERT_OK_AND_ASSIGN(auto target,
                       Target({.argv = {BinPath("fd_holder"), "--tcp=1", "--noise=false"}}));
  const pid_t pid = target.first.pid();
  ASSERT_OK_AND_ASSIGN(RunResult probe, ProbeAsNobody(pid, target.second));
  EXPECT_EQ(probe.exit_code, 3) << probe.out << probe.err;
  EXPECT_THAT(probe.out,
              AllOf(HasSubstr("PERMISSION_DENIED"), HasSubstr("pidfd_getfd("), HasSubstr("[EPERM]"),
                    HasSubstr(absl::StrFormat(
                        "cause: the caller's real uid/gid 65534/65534 does not match pid %d's "
                        "uids 0/0/0",
                        pid)),
                    HasSubstr("fix: run handover as uid 0 gid 0"), Not(HasSubstr("not dumpable"))));
}

TEST_F(PermissionProcessTest, PrivilegeDropWithoutExecIsNonDumpable) {
  ASSERT_OK_AND_ASSIGN(
      auto target,
      Target({.argv = {BinPath("fd_holder"), "--tcp=1", "--noise=false", "--drop_to_uid=65534"}}));
  const pid_t pid = target.first.pid();
  ASSERT_OK_AND_ASSIGN(RunResult probe, ProbeAsNobody(pid, target.second));
  EXPECT_EQ(probe.exit_code, 3) << probe.out << probe.err;
  EXPECT_THAT(
      probe.out,
      AllOf(HasSubstr("[EPERM]"), HasSubstr(absl::StrFormat("cause: pid %d is not dumpable", pid)),
            HasSubstr("prctl(PR_SET_DUMPABLE, 1)"), Not(HasSubstr("does not match")),
            Not(HasSubstr("capabilities the caller lacks"))));
}

TEST_F(PermissionProcessTest, AllowTakeoverByRestoresDumpabilityAfterADrop) {
  ASSERT_OK_AND_ASSIGN(auto refused, Target({.argv = {BinPath("dropped_target")}}));
  ASSERT_OK_AND_ASSIGN(RunResult before, ProbeAsNobody(refused.first.pid(), refused.second));
  EXPECT_EQ(before.exit_code, 3) << before.out << before.err;
  EXPECT_THAT(before.out, HasSubstr("not dumpable"));

  ASSERT_OK_AND_ASSIGN(auto allowed,
                       Target({.argv = {BinPath("dropped_target"), "--allow_takeover"}}));
  ASSERT_OK_AND_ASSIGN(RunResult after, ProbeAsNobody(allowed.first.pid(), allowed.second));
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
  EXPECT_EQ(after.out, "ok\n");
}

TEST_F(PermissionProcessTest, TargetKeepingACapabilityTheCallerLacks) {
  // setpriv gives fd_holder, running as 65534, CAP_NET_BIND_SERVICE through the
  // ambient set: it stays dumpable and same-uid; only the capability differs.
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/setpriv";
  ASSERT_OK_AND_ASSIGN(
      auto target,
      Target({.argv = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                       "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service", "--",
                       BinPath("fd_holder"), "--tcp=1", "--noise=false"}}));
  const pid_t pid = target.first.pid();
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(pid));
  ASSERT_OK_AND_ASSIGN(std::string status, sys::ReadFileAt(p.proc_dir(), "status"));
  ASSERT_OK_AND_ASSIGN(ProcCreds creds, ParseProcStatusCreds(status));
  ASSERT_EQ(creds.cap_permitted, kNetBindService);
  ASSERT_EQ(creds.euid, kNobody);

  ASSERT_OK_AND_ASSIGN(RunResult probe, ProbeAsNobody(pid, target.second));
  EXPECT_EQ(probe.exit_code, 3) << probe.out << probe.err;
  EXPECT_THAT(
      probe.out,
      AllOf(HasSubstr("[EPERM]"),
            HasSubstr(absl::StrFormat(
                "cause: pid %d has capabilities the caller lacks: CAP_NET_BIND_SERVICE", pid)),
            Not(HasSubstr("not dumpable")), Not(HasSubstr("does not match"))));
}

TEST_F(PermissionProcessTest, RootCallerIsAllowedAndDiagnosisAgrees) {
  ASSERT_OK_AND_ASSIGN(
      auto target,
      Target({.argv = {BinPath("fd_holder"), "--tcp=1", "--noise=false", "--drop_to_uid=65534"}}));
  ASSERT_OK_AND_ASSIGN(Process p, Process::Open(target.first.pid()));
  ASSERT_OK_AND_ASSIGN(PermissionReport r, DiagnosePtraceAccess(p.proc_dir()));
  EXPECT_TRUE(r.ptrace_allowed_by_creds);
  EXPECT_THAT(r.findings, IsEmpty()) << r.Summary();
  EXPECT_OK(sys::PidfdGetfd(p.pidfd(), target.second).status());
}

// ---- AllowTakeoverBy in this process --------------------------------------

TEST(AllowTakeoverByTest, IgnoresMissingYamaAndSetsDumpable) {
  EXPECT_OK(AllowTakeoverBy(0));
  EXPECT_OK(AllowTakeoverBy(::getppid()));
  ASSERT_EQ(::prctl(PR_SET_DUMPABLE, 0), 0);
  EXPECT_OK(AllowTakeoverBy(0, /*make_dumpable=*/true));
  EXPECT_EQ(::prctl(PR_GET_DUMPABLE), 1);
  EXPECT_THAT(AllowTakeoverBy(-5),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("AllowTakeoverBy(-5)")));
}

}  // namespace
}  // namespace handover
