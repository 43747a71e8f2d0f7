// FdBatch against real sockets: the io_uring path and the getsockopt path
// give the answers getsockopt(2) gives, for listeners, connections, unix sockets
// (no socket command: asked again), non-sockets and closed fds.
#include "handover/fd_batch.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "handover/io_uring.h"
#include "handover/sys.h"
#include "handover/unique_fd.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

// 300 TCP sockets (every third listening), a unix socket pair, a pipe, an
// eventfd, and one fd number that is closed.
struct Fds {
  std::vector<UniqueFd> owned;
  std::vector<int> raw;
};

Fds MakeFds() {
  Fds f;
  for (int i = 0; i < 300; ++i) {
    UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (i % 3 == 0) {
      sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0,
                       .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};
      EXPECT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
      EXPECT_EQ(::listen(s.get(), 4), 0);
    }
    f.owned.push_back(std::move(s));
  }
  int pair[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  f.owned.emplace_back(pair[0]);
  f.owned.emplace_back(pair[1]);
  int pipe_fds[2];
  EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  f.owned.emplace_back(pipe_fds[0]);
  f.owned.emplace_back(pipe_fds[1]);
  f.owned.emplace_back(::eventfd(0, EFD_CLOEXEC));
  for (const UniqueFd& fd : f.owned) f.raw.push_back(fd.get());
  // High, so that no fd opened later (the ring's) takes the number.
  UniqueFd closed(::fcntl(0, F_DUPFD_CLOEXEC, 900));
  f.raw.push_back(closed.get());  // closed when `closed` goes out of scope
  return f;
}

std::vector<FdBatch::Answer> Expected(const std::vector<int>& fds, int optname,
                                           socklen_t optlen) {
  std::vector<FdBatch::Answer> out;
  for (int fd : fds) {
    uint64_t v = 0;
    socklen_t len = optlen;
    if (::getsockopt(fd, SOL_SOCKET, optname, &v, &len) != 0) {
      out.push_back({.error = errno});
    } else {
      out.push_back({.value = optlen == 4 ? static_cast<uint32_t>(v) : v});
    }
  }
  return out;
}

void ExpectSameAnswers(const std::vector<FdBatch::Answer>& got,
                       const std::vector<FdBatch::Answer>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].error, want[i].error) << "fd index " << i;
    if (want[i].error == 0) {
      EXPECT_EQ(got[i].value, want[i].value) << "fd index " << i;
    }
  }
}

// Whether this kernel and sysctl let io_uring ask sockets (Linux >= 6.7).
bool KernelHasSocketCommands() {
  struct utsname u;
  if (::uname(&u) != 0) return false;
  std::vector<std::string> v = absl::StrSplit(u.release, absl::ByAnyChar(".-"));
  int major = 0, minor = 0;
  if (v.size() < 2 || !absl::SimpleAtoi(v[0], &major) || !absl::SimpleAtoi(v[1], &minor)) {
    return false;
  }
  absl::StatusOr<std::string> disabled =
      sys::ReadFileAt(AT_FDCWD, "/proc/sys/kernel/io_uring_disabled");
  if (disabled.ok() && !disabled->empty() && (*disabled)[0] != '0') return false;
  return major > 6 || (major == 6 && minor >= 7);
}

TEST(FdBatchTest, ManyFdsAnswerAsGetsockoptDoes) {
  Fds f = MakeFds();
  // A ring smaller than the read (306 fds): two submissions.
  FdBatch batch(FdBatch::kMinRingFds);
  for (const auto& [optname, optlen] :
       {std::pair{SO_COOKIE, socklen_t{8}}, std::pair{SO_ACCEPTCONN, socklen_t{4}},
        std::pair{SO_TYPE, socklen_t{4}}}) {
    ASSERT_OK_AND_ASSIGN(std::vector<FdBatch::Answer> got,
                         batch.Read(f.raw, optname, optlen));
    ExpectSameAnswers(got, Expected(f.raw, optname, optlen));
  }
  EXPECT_EQ(Expected(f.raw, SO_TYPE, 4).back().error, EBADF);
  EXPECT_EQ(Expected(f.raw, SO_TYPE, 4)[f.raw.size() - 2].error, ENOTSOCK);
  if (KernelHasSocketCommands()) {
    EXPECT_TRUE(batch.uses_ring()) << "Linux >= 6.7 with io_uring enabled answers through the ring";
  }
}

TEST(FdBatchTest, FewFdsAnswerThroughGetsockopt) {
  Fds f = MakeFds();
  std::vector<int> few(f.raw.end() - 8, f.raw.end());
  FdBatch batch(few.size());
  EXPECT_FALSE(batch.uses_ring());
  ASSERT_OK_AND_ASSIGN(std::vector<FdBatch::Answer> got, batch.Read(few, SO_COOKIE, 8));
  ExpectSameAnswers(got, Expected(few, SO_COOKIE, 8));
}

TEST(FdBatchTest, CloseClosesEveryFdWithOrWithoutTheRing) {
  for (const size_t count : {size_t{8}, size_t{600}}) {
    FdBatch batch(count);
    std::vector<UniqueFd> fds;
    std::vector<int> raw;
    for (size_t i = 0; i < count; ++i) {
      fds.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      ASSERT_TRUE(fds.back().valid());
      raw.push_back(fds.back().get());
    }
    batch.Close(std::move(fds));
    for (int fd : raw) {
      ASSERT_EQ(::fcntl(fd, F_GETFD), -1) << "fd " << fd << " of " << count << " still open";
      EXPECT_EQ(errno, EBADF);
    }
  }
}

TEST(IoUringTest, ReportsWhyItCannotBeCreated) {
  // 0 entries is refused by every kernel with io_uring: the error names the call.
  absl::StatusOr<IoUring> ring = IoUring::Create(0);
  ASSERT_FALSE(ring.ok());
  EXPECT_THAT(ring.status().message(), ::testing::HasSubstr("io_uring_setup(0 entries)"));
}

}  // namespace
}  // namespace handover
