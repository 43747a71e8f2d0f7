// Tests for the sys:: wrappers discovery added: ListDirAt, Send, Recv.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "handover/sys.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::IsOkAndHolds;
using ::handover::testing::StatusIs;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ListDirAtTest, ListsProcSelfFdWithoutDots) {
  ASSERT_OK_AND_ASSIGN(UniqueFd extra, sys::DupCloexec(0, 100));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, sys::ListDirAt(AT_FDCWD, "/proc/self/fd"));
  EXPECT_THAT(names, Contains("0"));
  EXPECT_THAT(names, Contains(absl::StrCat(extra.get())));
  EXPECT_THAT(names, Not(Contains(".")));
  EXPECT_THAT(names, Not(Contains("..")));
}

TEST(ListDirAtTest, MissingDirectoryIsNotFoundAndFileIsNotADirectory) {
  EXPECT_THAT(sys::ListDirAt(AT_FDCWD, "/nonexistent/handover"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("[ENOENT]")));
  EXPECT_THAT(sys::ListDirAt(AT_FDCWD, "/proc/self/status"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("[ENOTDIR]")));
}

TEST(SendRecvTest, RecvWithTruncReportsTheFullDatagramLength) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  EXPECT_THAT(sys::Send(a.get(), "0123456789", 0), IsOkAndHolds(10u));
  char buf[4];
  EXPECT_THAT(sys::Recv(b.get(), buf, sizeof(buf), MSG_TRUNC), IsOkAndHolds(10u));
  EXPECT_EQ(std::string(buf, 4), "0123");
}

TEST(SendRecvTest, ErrorsNameTheCall) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  char buf[4];
  EXPECT_THAT(sys::Recv(b.get(), buf, sizeof(buf), MSG_DONTWAIT),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("recv(")));
  ASSERT_OK_AND_ASSIGN(UniqueFd file, sys::OpenAt(AT_FDCWD, "/proc/self/status", O_RDONLY));
  EXPECT_THAT(sys::Send(file.get(), "x", 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("Socket operation on non-socket [ENOTSOCK]")));
}

}  // namespace
}  // namespace handover
