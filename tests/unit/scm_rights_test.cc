#include "handover/scm_rights.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "handover/sys.h"
#include "tests/testing/child_process.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::BinPath;
using ::handover::testing::ChildProcess;
using ::handover::testing::RunResult;
using ::handover::testing::StatusIs;
using ::testing::HasSubstr;

// A fresh private directory under TempDir(); removed with its files at the end.
class ScmServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "scm_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    sock_ = dir_ + "/ctl.sock";
  }
  void TearDown() override {
    ::unlink(sock_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_;
  std::string sock_;
};

struct Server {
  ChildProcess process;
  std::vector<unsigned long> inodes;
};

class ScmRightsTest : public ScmServerTest {
 protected:
  absl::StatusOr<Server> StartServer(int n, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {BinPath("scm_server"), "--socket=" + sock_,
                                     absl::StrCat("--tcp=", n)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    HANDOVER_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn({.argv = argv}));
    HANDOVER_ASSIGN_OR_RETURN(std::vector<std::string> lines, child.ReadUntil("ready"));
    Server s{std::move(child), {}};
    for (const std::string& line : lines) {
      int fd;
      unsigned long inode;
      if (::sscanf(line.c_str(), "fd=%d inode=%lu", &fd, &inode) != 2) {
        return absl::InternalError("bad line: " + line);
      }
      s.inodes.push_back(inode);
    }
    return s;
  }
  absl::StatusOr<RunResult> RunFetch(std::vector<std::string> extra, std::optional<uid_t> id = {}) {
    std::vector<std::string> argv = {BinPath("scm_fetch"), "--socket=" + sock_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return ::handover::testing::Run({.argv = argv, .uid = id, .gid = id});
  }
};

void ExpectSameSockets(const ScmFetchResult& r, const Server& server) {
  ASSERT_EQ(r.fds.size(), server.inodes.size());
  ASSERT_EQ(r.names.size(), server.inodes.size());
  for (size_t i = 0; i < r.fds.size(); ++i) {
    ASSERT_OK_AND_ASSIGN(struct stat st, sys::Fstat(r.fds[i].get()));
    EXPECT_EQ(st.st_ino, server.inodes[i]) << i;
    EXPECT_EQ(r.names[i], absl::StrCat("l", i));
    EXPECT_TRUE(::fcntl(r.fds[i].get(), F_GETFD) & FD_CLOEXEC) << i;
  }
}

TEST_F(ScmRightsTest, FetchesOneListenerAndIdentifiesTheServer) {
  ASSERT_OK_AND_ASSIGN(Server server, StartServer(1));
  ASSERT_OK_AND_ASSIGN(ScmFetchResult r, FetchListeners(sock_, absl::Seconds(5)));
  ExpectSameSockets(r, server);
  EXPECT_EQ(r.peer_pid, server.process.pid());
  EXPECT_EQ(r.peer_uid, ::geteuid());
  ASSERT_TRUE(r.peer_pidfd.valid());
  EXPECT_TRUE(::fcntl(r.peer_pidfd.get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_OK_AND_ASSIGN(std::string info,
                       sys::ReadFileAt(AT_FDCWD, absl::StrCat("/proc/self/fdinfo/",
                                                              r.peer_pidfd.get())));
  EXPECT_THAT(info, HasSubstr(absl::StrCat("Pid:\t", server.process.pid(), "\n")));
  EXPECT_THAT(server.process.ReadLine(), ::handover::testing::IsOkAndHolds("served"));
  // The fetched socket is the live listener: it takes connections.
  ASSERT_OK_AND_ASSIGN(sys::SockAddr addr, sys::GetSockName(r.fds[0].get()));
  ASSERT_OK_AND_ASSIGN(UniqueFd c, sys::Socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_EQ(::connect(c.get(), addr.get(), addr.len), 0);
}

TEST_F(ScmRightsTest, FetchesZeroListeners) {
  ASSERT_OK_AND_ASSIGN(Server server, StartServer(0));
  ASSERT_OK_AND_ASSIGN(ScmFetchResult r, FetchListeners(sock_, absl::Seconds(5)));
  EXPECT_TRUE(r.fds.empty());
}

TEST_F(ScmRightsTest, Fetches300ListenersAcrossBatchesOf253) {
  ASSERT_OK_AND_ASSIGN(Server server, StartServer(300));
  ASSERT_OK_AND_ASSIGN(ScmFetchResult r, FetchListeners(sock_, absl::Seconds(5)));
  ExpectSameSockets(r, server);
}

TEST_F(ScmRightsTest, TruncationAtLowNofileIsAnErrorAndLeaksNothing) {
  ASSERT_OK_AND_ASSIGN(Server server, StartServer(300));
  ASSERT_OK_AND_ASSIGN(RunResult r, RunFetch({"--nofile=100"}));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("error code=RESOURCE_EXHAUSTED"));
  EXPECT_THAT(r.out, HasSubstr("control message truncated: received "));
  EXPECT_THAT(r.out, HasSubstr(" of 300 fds; raise RLIMIT_NOFILE (ulimit -n, now 100)"));
  EXPECT_THAT(r.out, HasSubstr("leaked=0\n"));
}

TEST_F(ScmRightsTest, SocketFileIsMode0600AndUnlinkedOnExit) {
  ASSERT_OK_AND_ASSIGN(Server server, StartServer(1));
  ASSERT_OK_AND_ASSIGN(struct stat st, sys::FstatAt(AT_FDCWD, sock_, AT_SYMLINK_NOFOLLOW));
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_OK(server.process.Signal(SIGTERM));
  EXPECT_THAT(server.process.WaitExitCode(), ::handover::testing::IsOkAndHolds(0));
  EXPECT_NE(::access(sock_.c_str(), F_OK), 0);
}

TEST_F(ScmRightsTest, OtherUidIsDeniedByTheSocketMode) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as uid 65534";
  ASSERT_OK_AND_ASSIGN(Server server, StartServer(1));
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  ASSERT_OK_AND_ASSIGN(RunResult r, RunFetch({}, 65534));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("error code=PERMISSION_DENIED connect("));
  EXPECT_THAT(r.out, HasSubstr("[EACCES]"));
}

TEST_F(ScmRightsTest, OtherUidIsRefusedByPeerCredentials) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as uid 65534";
  ASSERT_OK_AND_ASSIGN(Server server, StartServer(1));
  // Open the door the file mode keeps shut, to reach the SO_PEERCRED check.
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(sock_.c_str(), 0666), 0);
  ASSERT_OK_AND_ASSIGN(RunResult r, RunFetch({}, 65534));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("error code=PERMISSION_DENIED"));
  EXPECT_THAT(r.out, HasSubstr("server refused: peer uid 65534 is neither"));
  EXPECT_THAT(r.out, HasSubstr("leaked=0"));
  ASSERT_OK_AND_ASSIGN(std::string line, server.process.ReadLine());
  EXPECT_THAT(line, HasSubstr("error: PERMISSION_DENIED: control client pid "));
  EXPECT_THAT(line, HasSubstr(" uid 65534 on " + sock_));
}

TEST_F(ScmRightsTest, StoppedServerGivesDeadlineExceededInTime) {
  ASSERT_OK_AND_ASSIGN(Server server, StartServer(1));
  ASSERT_OK(server.process.Signal(SIGSTOP));
  siginfo_t info = {};  // returns once the child has stopped
  ASSERT_EQ(::waitid(P_PID, server.process.pid(), &info, WSTOPPED), 0);
  const absl::Time start = absl::Now();
  EXPECT_THAT(FetchListeners(sock_, absl::Milliseconds(300)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("SIGSTOP")));
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(290));
  EXPECT_LT(took, absl::Seconds(2));
}

TEST_F(ScmRightsTest, MissingSocketIsNotFound) {
  EXPECT_THAT(FetchListeners(sock_, absl::Seconds(1)),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("[ENOENT]; is the old instance running with --control_socket?")));
}

TEST_F(ScmRightsTest, SilentClientIsDroppedAndTheServerGoesOn) {
  ASSERT_OK_AND_ASSIGN(Server server, StartServer(1, {"--client_timeout_ms=100"}));
  ASSERT_OK_AND_ASSIGN(UniqueFd silent, sys::Socket(AF_UNIX, SOCK_STREAM, 0));
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  std::strcpy(un.sun_path, sock_.c_str());
  ASSERT_EQ(::connect(silent.get(), reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0);
  ASSERT_OK_AND_ASSIGN(std::string line, server.process.ReadLine());
  EXPECT_THAT(line, HasSubstr("error: DEADLINE_EXCEEDED"));
  char c;
  EXPECT_EQ(::recv(silent.get(), &c, 1, 0), 0);  // dropped: EOF
  ASSERT_OK_AND_ASSIGN(ScmFetchResult r, FetchListeners(sock_, absl::Seconds(5)));
  EXPECT_EQ(r.fds.size(), 1u);
}

TEST_F(ScmRightsTest, UnknownVersionIsRefusedWithAClearReply) {
  ASSERT_OK_AND_ASSIGN(Server server, StartServer(1));
  ASSERT_OK_AND_ASSIGN(UniqueFd c, sys::Socket(AF_UNIX, SOCK_STREAM, 0));
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  std::strcpy(un.sun_path, sock_.c_str());
  ASSERT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0);
  ASSERT_OK(sys::WriteAll(c.get(), "GET v9\n"));
  std::string reply(256, '\0');
  const ssize_t n = ::recv(c.get(), reply.data(), reply.size(), MSG_WAITALL);
  ASSERT_GT(n, 0);
  reply.resize(static_cast<size_t>(n));
  EXPECT_EQ(reply, "ERR UNIMPLEMENTED unsupported protocol version 'v9'; this server speaks v1\n");
}

TEST_F(ScmServerTest, ListenReplacesAStaleSocket) {
  {
    ASSERT_OK_AND_ASSIGN(UniqueFd stale, sys::Socket(AF_UNIX, SOCK_STREAM, 0));
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    std::strcpy(un.sun_path, sock_.c_str());
    ASSERT_EQ(::bind(stale.get(), reinterpret_cast<sockaddr*>(&un), sizeof(un)), 0);
  }  // closed without unlink: a crashed server's leftover
  ASSERT_OK_AND_ASSIGN(ScmServer server, ScmServer::Listen(sock_));
  EXPECT_THAT(ScmServer::Listen(sock_),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already listening")));
}

TEST_F(ScmServerTest, ListenNeverReplacesANonSocket) {
  UniqueFd file(::open(sock_.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  ASSERT_TRUE(file.valid());
  EXPECT_THAT(ScmServer::Listen(sock_),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("is not a socket")));
  EXPECT_EQ(::access(sock_.c_str(), F_OK), 0);
}

TEST_F(ScmServerTest, DestructorLeavesASuccessorsSocketAlone) {
  std::optional<ScmServer> old;
  {
    ASSERT_OK_AND_ASSIGN(ScmServer s, ScmServer::Listen(sock_));
    old.emplace(std::move(s));
  }
  ASSERT_EQ(::access(sock_.c_str(), F_OK), 0);  // the moved-from server did not unlink
  ASSERT_EQ(::unlink(sock_.c_str()), 0);
  ASSERT_OK_AND_ASSIGN(ScmServer successor, ScmServer::Listen(sock_));
  old.reset();
  EXPECT_EQ(::access(sock_.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace handover
