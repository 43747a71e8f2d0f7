// DiscoverSockets against real fd_holder processes (and the test process itself),
// through every method: sock_diag, /proc/PID/net, and auto.
#include "handover/discover.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "handover/sys.h"
#include "tests/testing/capabilities.h"
#include "tests/testing/child_process.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::BinPath;
using ::handover::testing::ChildProcess;
using ::handover::testing::RunWithoutCapSysAdmin;
using ::handover::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Method = DiscoverOptions::Method;

// One "fd=N inode=I proto=P address=A" line of fd_holder.
struct Printed {
  int fd = -1;
  uint64_t inode = 0;
  std::string proto;
  std::string address;
};

Printed ParsePrinted(const std::string& line) {
  Printed p;
  for (absl::string_view field : absl::StrSplit(line, ' ')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(field, '=');
    if (kv.first == "fd") {
      EXPECT_TRUE(absl::SimpleAtoi(kv.second, &p.fd)) << line;
    }
    if (kv.first == "inode") {
      EXPECT_TRUE(absl::SimpleAtoi(kv.second, &p.inode)) << line;
    }
    if (kv.first == "proto") p.proto = std::string(kv.second);
    if (kv.first == "address") p.address = std::string(kv.second);
  }
  return p;
}

// A running fd_holder with our own pidfd and /proc/PID directory fd.
struct Target {
  ChildProcess child;
  UniqueFd pidfd;
  UniqueFd proc_dir;
  std::vector<Printed> printed;

  absl::StatusOr<std::vector<SocketInfo>> Discover(Method method, bool inspect = true) const {
    return DiscoverSockets(pidfd.get(), proc_dir.get(),
                           {.method = method, .inspect_copies = inspect});
  }
};

absl::StatusOr<Target> StartHolder(std::vector<std::string> flags) {
  flags.insert(flags.begin(), BinPath("fd_holder"));
  HANDOVER_ASSIGN_OR_RETURN(ChildProcess child,
                            ChildProcess::Spawn({.argv = flags, .capture_stderr = true}));
  absl::StatusOr<std::vector<std::string>> lines = child.ReadUntil("ready");
  if (!lines.ok()) {
    absl::StatusOr<std::string> err = child.ReadStderr(absl::Seconds(5));
    return WithContext(lines.status(), absl::StrCat("fd_holder stderr: ", err.ok() ? *err : ""));
  }
  // The child is ours and not reaped: its pid cannot be reused meanwhile.
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd pidfd, sys::PidfdOpen(child.pid()));
  HANDOVER_ASSIGN_OR_RETURN(
      UniqueFd proc_dir,
      sys::OpenAt(AT_FDCWD, absl::StrCat("/proc/", child.pid()), O_RDONLY | O_DIRECTORY));
  Target t{std::move(child), std::move(pidfd), std::move(proc_dir), {}};
  for (const std::string& line : *lines) t.printed.push_back(ParsePrinted(line));
  return t;
}

// A unix socket path unique to this test and process, under TempDir.
std::string UniquePath(absl::string_view tag) {
  static std::atomic<int> counter{0};
  return absl::StrCat(::testing::TempDir(), "/disc_", tag, "_", ::getpid(), "_", counter++);
}

std::string AbstractName(absl::string_view tag) {
  return absl::StrCat("handover_disc_", tag, "_", ::getpid());
}

uint16_t PortOf(const std::string& address) {
  int port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) << address;
  return static_cast<uint16_t>(port);
}

// Checks `got` describes exactly what fd_holder printed, in fd order.
void ExpectMatchesPrinted(const std::vector<SocketInfo>& got, const std::vector<Printed>& want,
                          const std::vector<std::string>& seqpacket_paths = {}) {
  ASSERT_EQ(got.size(), want.size()) << SocketsToJson(got);
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(FormatSocket(got[i]));
    EXPECT_EQ(got[i].fd, want[i].fd);
    EXPECT_EQ(got[i].inode, want[i].inode);
    EXPECT_EQ(ProtoName(got[i].proto), want[i].proto);
    EXPECT_EQ(got[i].address, want[i].address);
    EXPECT_THAT(got[i].duplicate_fds, IsEmpty());
    const bool udp = got[i].proto == Proto::kUdp || got[i].proto == Proto::kUdp6;
    EXPECT_EQ(got[i].state, udp ? SocketState::kBound : SocketState::kListen);
    if (got[i].proto == Proto::kUnix) {
      const bool seqpacket = absl::c_linear_search(seqpacket_paths, got[i].address);
      EXPECT_EQ(got[i].type, seqpacket ? SOCK_SEQPACKET : SOCK_STREAM);
      EXPECT_EQ(got[i].port, 0);
    } else {
      EXPECT_EQ(got[i].type, udp ? SOCK_DGRAM : SOCK_STREAM);
      EXPECT_EQ(got[i].port, PortOf(want[i].address));
    }
  }
}

class DiscoverMethodTest : public ::testing::TestWithParam<Method> {};

std::string MethodName(const ::testing::TestParamInfo<Method>& param_info) {
  switch (param_info.param) {
    case Method::kAuto:
      return "Auto";
    case Method::kSockDiag:
      return "SockDiag";
    case Method::kProcNet:
      return "ProcNet";
  }
  return "Unknown";
}

INSTANTIATE_TEST_SUITE_P(AllMethods, DiscoverMethodTest,
                         ::testing::Values(Method::kAuto, Method::kSockDiag, Method::kProcNet),
                         MethodName);

TEST_P(DiscoverMethodTest, FindsEveryKindWithItsFdInodeAndAddress) {
  const std::string p1 = UniquePath("u1"), p2 = UniquePath("u2"), p3 = UniquePath("sp");
  ASSERT_OK_AND_ASSIGN(
      Target t, StartHolder({"--tcp=2", "--tcp6=1", "--udp=1", "--udp6=1",
                             absl::StrCat("--unix=", p1, ",", p2), absl::StrCat("--seqpacket=", p3),
                             absl::StrCat("--abstract=", AbstractName("every")), "--noise"}));
  ASSERT_EQ(t.printed.size(), 9u);
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, t.Discover(GetParam()));
  ExpectMatchesPrinted(got, t.printed, {p3});
  for (const SocketInfo& s : got) EXPECT_EQ(s.reuseport, false) << FormatSocket(s);
  for (const std::string& p : {p1, p2, p3}) ::unlink(p.c_str());
}

TEST_P(DiscoverMethodTest, NoiseIsNeverListed) {
  // An established TCP pair (both ends), a pipe, a file and an unbound socket.
  ASSERT_OK_AND_ASSIGN(Target t, StartHolder({"--noise"}));
  EXPECT_THAT(t.Discover(GetParam()), ::handover::testing::IsOkAndHolds(IsEmpty()));
}

TEST_P(DiscoverMethodTest, ListsEachReuseportGroupMember) {
  ASSERT_OK_AND_ASSIGN(Target t, StartHolder({"--tcp=1", "--reuseport=3"}));
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, t.Discover(GetParam()));
  ExpectMatchesPrinted(got, t.printed);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].reuseport, false);
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(got[i].reuseport, true) << FormatSocket(got[i]);
    EXPECT_EQ(got[i].address, got[1].address);
  }
}

TEST_P(DiscoverMethodTest, WithoutInspectionReuseportIsUnknown) {
  ASSERT_OK_AND_ASSIGN(Target t, StartHolder({"--reuseport=2", "--udp=1"}));
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, t.Discover(GetParam(), false));
  ExpectMatchesPrinted(got, t.printed);
  for (const SocketInfo& s : got) EXPECT_EQ(s.reuseport, std::nullopt);
}

TEST_P(DiscoverMethodTest, FindsSocketsOfAStoppedTarget) {
  ASSERT_OK_AND_ASSIGN(Target t, StartHolder({"--tcp=1", "--udp6=1"}));
  ASSERT_OK(t.child.Signal(SIGSTOP));
  siginfo_t info = {};  // blocks until stopped: the child is ours
  ASSERT_EQ(::waitid(P_PIDFD, static_cast<id_t>(t.pidfd.get()), &info, WSTOPPED | WNOWAIT), 0);
  ASSERT_EQ(info.si_code, CLD_STOPPED);
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, t.Discover(GetParam()));
  ExpectMatchesPrinted(got, t.printed);
}

TEST_P(DiscoverMethodTest, ExitedButNotReapedTargetIsNotFound) {
  ASSERT_OK_AND_ASSIGN(Target t, StartHolder({"--tcp=1"}));
  ASSERT_OK(t.child.Signal(SIGTERM));
  ASSERT_THAT(sys::WaitReadable(t.pidfd.get(), absl::Now() + absl::Seconds(10)),
              ::handover::testing::IsOkAndHolds(true));
  EXPECT_THAT(t.Discover(GetParam()), StatusIs(absl::StatusCode::kNotFound, HasSubstr("exited")));
}

TEST_P(DiscoverMethodTest, ReapedTargetIsNotFound) {
  ASSERT_OK_AND_ASSIGN(Target t, StartHolder({"--tcp=1"}));
  ASSERT_OK(t.child.Signal(SIGTERM));
  ASSERT_OK(t.child.Wait());
  EXPECT_THAT(t.Discover(GetParam()), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(DiscoverTest, SockDiagAndProcNetGiveTheSameAnswer) {
  const std::string p1 = UniquePath("same"), p2 = UniquePath("samesp");
  ASSERT_OK_AND_ASSIGN(Target t,
                       StartHolder({"--tcp=2", "--tcp6=2", "--udp=2", "--udp6=1", "--reuseport=2",
                                    absl::StrCat("--unix=", p1), absl::StrCat("--seqpacket=", p2),
                                    absl::StrCat("--abstract=", AbstractName("same"))}));
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> diag, t.Discover(Method::kSockDiag));
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> procnet, t.Discover(Method::kProcNet));
  EXPECT_EQ(SocketsToJson(diag), SocketsToJson(procnet));
  EXPECT_EQ(diag.size(), 12u);
  ::unlink(p1.c_str());
  ::unlink(p2.c_str());
}

TEST(DiscoverTest, AnyAddressPrintsAsZeros) {
  ASSERT_OK_AND_ASSIGN(Target t, StartHolder({"--any_addr", "--tcp=1", "--udp6=1"}));
  for (Method m : {Method::kSockDiag, Method::kProcNet}) {
    ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, t.Discover(m));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(absl::StartsWith(got[0].address, "0.0.0.0:")) << got[0].address;
    EXPECT_TRUE(absl::StartsWith(got[1].address, "[::]:")) << got[1].address;
  }
}

// The test process is its own target here: it can dup a listener to a second fd.
TEST(DiscoverTest, SocketAtSeveralFdsIsListedOnceAtItsLowestFd) {
  ASSERT_OK_AND_ASSIGN(UniqueFd listener, sys::Socket(AF_INET, SOCK_STREAM, 0));
  struct sockaddr_in addr = {
      .sin_family = AF_INET, .sin_port = 0, .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener.get(), 8), 0);
  ASSERT_OK_AND_ASSIGN(UniqueFd dup_high, sys::DupCloexec(listener.get(), 200));
  ASSERT_OK_AND_ASSIGN(UniqueFd dup_higher, sys::DupCloexec(listener.get(), 300));
  ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(listener.get()));
  ASSERT_OK_AND_ASSIGN(UniqueFd pidfd, sys::PidfdOpen(::getpid()));
  ASSERT_OK_AND_ASSIGN(UniqueFd proc_dir, sys::OpenAt(AT_FDCWD, absl::StrCat("/proc/", ::getpid()),
                                                      O_RDONLY | O_DIRECTORY));
  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, DiscoverSockets(pidfd.get(), proc_dir.get()));
  std::vector<SocketInfo> ours;
  for (const SocketInfo& s : got) {
    if (s.inode == st.st_ino) ours.push_back(s);
  }
  ASSERT_EQ(ours.size(), 1u) << SocketsToJson(got);
  EXPECT_EQ(ours[0].fd, listener.get());
  EXPECT_THAT(ours[0].duplicate_fds, ElementsAre(dup_high.get(), dup_higher.get()));
}

// Root only: the target unshares its own network namespace.
class OtherNetnsTest : public ::testing::TestWithParam<Method> {};

INSTANTIATE_TEST_SUITE_P(AllMethods, OtherNetnsTest,
                         ::testing::Values(Method::kAuto, Method::kSockDiag, Method::kProcNet),
                         MethodName);

absl::StatusOr<UniqueFd> ListenInOurNetns(int family, int type, uint16_t port) {
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, sys::Socket(family, type, 0));
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_port = htons(port),
                             .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrCat("bind(127.0.0.1:", port, ")"));
  }
  if (type == SOCK_STREAM && ::listen(fd.get(), 8) != 0) {
    const int err = errno;
    return ErrnoError(err, "listen");
  }
  return fd;
}

absl::StatusOr<UniqueFd> AbstractListenerInOurNetns(const std::string& name) {
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, sys::Socket(AF_UNIX, SOCK_STREAM, 0));
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  name.copy(un.sun_path + 1, sizeof(un.sun_path) - 2);
  const auto len = static_cast<socklen_t>(sizeof(sa_family_t) + 1 + name.size());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&un), len) != 0) {
    const int err = errno;
    return ErrnoError(err, "bind(@" + name + ")");
  }
  if (::listen(fd.get(), 8) != 0) {
    const int err = errno;
    return ErrnoError(err, "listen");
  }
  return fd;
}

TEST_P(OtherNetnsTest, FindsTheTargetsSocketsNotOursOnTheSamePorts) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to unshare a network namespace";
  const std::string abstract = AbstractName("netns");
  // Ours first: a TCP and a UDP socket on one port and an abstract name, in OUR
  // namespace. The target then binds the same port and name in its new one.
  UniqueFd tcp, udp;
  uint16_t port = 0;
  for (int attempt = 0; attempt < 20 && !udp.valid(); ++attempt) {
    ASSERT_OK_AND_ASSIGN(tcp, ListenInOurNetns(AF_INET, SOCK_STREAM, 0));
    ASSERT_OK_AND_ASSIGN(sys::SockAddr addr, sys::GetSockName(tcp.get()));
    port = ntohs(reinterpret_cast<const sockaddr_in*>(addr.get())->sin_port);
    absl::StatusOr<UniqueFd> u = ListenInOurNetns(AF_INET, SOCK_DGRAM, port);
    if (u.ok()) udp = *std::move(u);  // else that UDP port is taken here: try another
  }
  ASSERT_TRUE(udp.valid()) << "no port free for both TCP and UDP";
  ASSERT_OK_AND_ASSIGN(UniqueFd unix_listener, AbstractListenerInOurNetns(abstract));
  absl::StatusOr<Target> started =
      StartHolder({"--netns", "--tcp=1", "--udp=1", absl::StrCat("--port=", port),
                   absl::StrCat("--abstract=", abstract)});
  if (!started.ok()) GTEST_SKIP() << "fd_holder --netns failed: " << started.status();
  Target& t = *started;
  ASSERT_EQ(t.printed.size(), 3u);
  EXPECT_EQ(PortOf(t.printed[0].address), port);
  ASSERT_OK_AND_ASSIGN(struct stat netns_before,
                       sys::FstatAt(AT_FDCWD, "/proc/thread-self/ns/net", 0));

  ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, t.Discover(GetParam()));
  ExpectMatchesPrinted(got, t.printed);

  ASSERT_OK_AND_ASSIGN(struct stat netns_after,
                       sys::FstatAt(AT_FDCWD, "/proc/thread-self/ns/net", 0));
  EXPECT_EQ(netns_before.st_ino, netns_after.st_ino) << "the calling thread's netns changed";
}

TEST(DiscoverFallbackTest, AutoReadsProcNetWhenSetnsIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to unshare a network namespace";
  absl::StatusOr<Target> started = StartHolder({"--netns", "--tcp=1", "--tcp6=1", "--udp=1"});
  if (!started.ok()) GTEST_SKIP() << "fd_holder --netns failed: " << started.status();
  const Target& t = *started;
  RunWithoutCapSysAdmin([&] {
    EXPECT_THAT(t.Discover(Method::kSockDiag),
                StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("setns")));
    ASSERT_OK_AND_ASSIGN(std::vector<SocketInfo> got, t.Discover(Method::kAuto));
    ExpectMatchesPrinted(got, t.printed);
  });
}

}  // namespace
}  // namespace handover
