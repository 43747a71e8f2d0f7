#include "handover/select.h"

#include <sys/socket.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace handover {
namespace {

using ::handover::testing::IsOkAndHolds;
using ::handover::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Optional;
using Kind = SelectSpec::Kind;

SocketInfo Inet(int fd, Proto proto, std::string address, uint16_t port) {
  const bool udp = proto == Proto::kUdp || proto == Proto::kUdp6;
  return SocketInfo{.fd = fd,
                    .inode = 1000u + static_cast<uint64_t>(fd),
                    .proto = proto,
                    .type = udp ? SOCK_DGRAM : SOCK_STREAM,
                    .state = udp ? SocketState::kBound : SocketState::kListen,
                    .address = std::move(address),
                    .port = port};
}

SocketInfo Unix(int fd, std::string address) {
  return SocketInfo{.fd = fd,
                    .inode = 1000u + static_cast<uint64_t>(fd),
                    .proto = Proto::kUnix,
                    .type = SOCK_STREAM,
                    .state = SocketState::kListen,
                    .address = std::move(address)};
}

// What a proxy might hold.
std::vector<SocketInfo> Found() {
  SocketInfo dup = Inet(3, Proto::kTcp, "0.0.0.0:80", 80);
  dup.duplicate_fds = {9};
  return {dup,
          Inet(4, Proto::kTcp, "127.0.0.1:8080", 8080),
          Inet(5, Proto::kTcp6, "[::]:80", 80),
          Inet(6, Proto::kTcp6, "[::1]:8080", 8080),
          Inet(7, Proto::kUdp, "127.0.0.1:53", 53),
          Inet(8, Proto::kUdp6, "[::ffff:127.0.0.1]:53", 53),
          Unix(10, "/run/app.sock"),
          Unix(11, "@app"),
          Unix(12, "")};
}

std::vector<int> Fds(const std::vector<SocketInfo>& sockets) {
  std::vector<int> fds;
  for (const SocketInfo& s : sockets) fds.push_back(s.fd);
  return fds;
}

absl::StatusOr<std::vector<int>> Select(absl::string_view text) {
  absl::StatusOr<std::vector<SelectSpec>> specs = ParseSelectSpecs(text);
  if (!specs.ok()) return specs.status();
  absl::StatusOr<std::vector<SocketInfo>> chosen = ApplySelect(*specs, Found());
  if (!chosen.ok()) return chosen.status();
  return Fds(*chosen);
}

TEST(ParseSelectSpecsTest, ParsesEveryForm) {
  ASSERT_OK_AND_ASSIGN(
      std::vector<SelectSpec> specs,
      ParseSelectSpecs("tcp:127.0.0.1:8080,tcp:*:80, tcp6:[::1]:443 ,tcp6:*:1,udp:0.0.0.0:53,"
                       "udp:*:54,udp6:[::]:55,udp6:*:56,unix:/run/x.sock,unix:@abs,fd:7"));
  ASSERT_EQ(specs.size(), 11u);
  EXPECT_EQ(specs[0].kind, Kind::kInet);
  EXPECT_EQ(specs[0].proto, Proto::kTcp);
  EXPECT_THAT(specs[0].address, Optional(std::string("127.0.0.1:8080")));
  EXPECT_EQ(specs[0].port, 8080);
  EXPECT_EQ(specs[1].address, std::nullopt);
  EXPECT_EQ(specs[1].port, 80);
  EXPECT_EQ(specs[2].proto, Proto::kTcp6);
  EXPECT_THAT(specs[2].address, Optional(std::string("[::1]:443")));
  EXPECT_EQ(specs[2].text, "tcp6:[::1]:443");
  EXPECT_EQ(specs[3].address, std::nullopt);
  EXPECT_EQ(specs[4].proto, Proto::kUdp);
  EXPECT_THAT(specs[4].address, Optional(std::string("0.0.0.0:53")));
  EXPECT_EQ(specs[5].proto, Proto::kUdp);
  EXPECT_EQ(specs[6].proto, Proto::kUdp6);
  EXPECT_THAT(specs[6].address, Optional(std::string("[::]:55")));
  EXPECT_EQ(specs[7].port, 56);
  EXPECT_EQ(specs[8].kind, Kind::kUnix);
  EXPECT_EQ(specs[8].path, "/run/x.sock");
  EXPECT_EQ(specs[9].path, "@abs");
  EXPECT_EQ(specs[10].kind, Kind::kFd);
  EXPECT_EQ(specs[10].fd, 7);
}

TEST(ParseSelectSpecsTest, EmptyTextSelectsEverything) {
  EXPECT_THAT(ParseSelectSpecs(""), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(ParseSelectSpecs("  "), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(Select(""), IsOkAndHolds(ElementsAre(3, 4, 5, 6, 7, 8, 10, 11, 12)));
}

TEST(ParseSelectSpecsTest, CanonicalizesAddresses) {
  ASSERT_OK_AND_ASSIGN(std::vector<SelectSpec> specs,
                       ParseSelectSpecs("tcp6:[0:0::1]:80,udp6:[::FFFF:127.0.0.1]:53"));
  EXPECT_THAT(specs[0].address, Optional(std::string("[::1]:80")));
  EXPECT_THAT(specs[1].address, Optional(std::string("[::ffff:127.0.0.1]:53")));
}

TEST(ParseSelectSpecsTest, RejectsBadSpecsQuotingThemAndListingTheForms) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"tcp", "no ':'"},
      {"sctp:*:80", "unknown kind \"sctp\""},
      {"tcp:*", "expected ADDR:PORT"},
      {"tcp:*:0", "port \"0\""},
      {"tcp:*:65536", "port \"65536\""},
      {"tcp:*:+80", "port \"+80\""},
      {"tcp:*:", "port \"\""},
      {"tcp::80", "empty address"},
      {"tcp:localhost:80", "\"localhost\" is not an IPv4 address"},
      {"tcp:::1:80", "is not an IPv4 address"},
      {"tcp6:::1:80", "must be in brackets"},
      {"tcp6:[::1:80", "missing ']'"},
      {"tcp6:[127.0.0.1]:80", "is not an IPv6 address"},
      {"udp6:[zz]:53", "is not an IPv6 address"},
      {"unix:", "empty unix path"},
      {"unix:@", "empty unix path"},
      {"fd:", "is not a non-negative fd number"},
      {"fd:-1", "\"-1\" is not a non-negative fd number"},
      {"fd:3x", "\"3x\""},
      {"fd:99999999999", "is not a non-negative fd number"},
  };
  for (const auto& [spec, why] : bad) {
    EXPECT_THAT(ParseSelectSpecs(absl::StrCat("fd:1,", spec)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         AllOf(HasSubstr(absl::StrCat("\"", spec, "\"")), HasSubstr(why),
                               HasSubstr("accepted forms: tcp:ADDR:PORT"), HasSubstr("fd:N"))))
        << spec;
  }
  EXPECT_THAT(ParseSelectSpecs("fd:1,,fd:2"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty spec")));
  EXPECT_THAT(ParseSelectSpecs("fd:1,"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty spec")));
  EXPECT_THAT(ParseSelectSpecs("unix:/a\nb,sctp:1"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"sctp:1\"")));
}

TEST(ApplySelectTest, EachFormMatchesWhatItNames) {
  EXPECT_THAT(Select("tcp:*:80"), IsOkAndHolds(ElementsAre(3)));
  EXPECT_THAT(Select("tcp:0.0.0.0:80"), IsOkAndHolds(ElementsAre(3)));
  EXPECT_THAT(Select("tcp:127.0.0.1:8080"), IsOkAndHolds(ElementsAre(4)));
  EXPECT_THAT(Select("tcp6:*:80"), IsOkAndHolds(ElementsAre(5)));
  EXPECT_THAT(Select("tcp6:[::]:80"), IsOkAndHolds(ElementsAre(5)));
  EXPECT_THAT(Select("tcp6:[0::1]:8080"), IsOkAndHolds(ElementsAre(6)));
  EXPECT_THAT(Select("udp:*:53"), IsOkAndHolds(ElementsAre(7)));
  EXPECT_THAT(Select("udp:127.0.0.1:53"), IsOkAndHolds(ElementsAre(7)));
  EXPECT_THAT(Select("udp6:*:53"), IsOkAndHolds(ElementsAre(8)));
  EXPECT_THAT(Select("udp6:[::ffff:127.0.0.1]:53"), IsOkAndHolds(ElementsAre(8)));
  EXPECT_THAT(Select("unix:/run/app.sock"), IsOkAndHolds(ElementsAre(10)));
  EXPECT_THAT(Select("unix:@app"), IsOkAndHolds(ElementsAre(11)));
  EXPECT_THAT(Select("fd:12"), IsOkAndHolds(ElementsAre(12)));
  EXPECT_THAT(Select("fd:9"), IsOkAndHolds(ElementsAre(3)));  // a duplicate of fd 3
}

TEST(ApplySelectTest, KeepsSpecOrderAndListsEachSocketOnce) {
  EXPECT_THAT(Select("fd:10,tcp:*:80,fd:3,tcp6:*:80,fd:9"), IsOkAndHolds(ElementsAre(10, 3, 5)));
  EXPECT_THAT(Select("unix:@app,tcp6:*:8080,tcp:*:8080"), IsOkAndHolds(ElementsAre(11, 6, 4)));
}

TEST(ApplySelectTest, WildcardDoesNotCrossProtocols) {
  EXPECT_THAT(Select("tcp:*:53"), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(Select("udp:*:80"), StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(ApplySelectTest, NotFoundNamesEverySpecThatMatchedNothingAndWhatWasFound) {
  EXPECT_THAT(
      Select("tcp:*:80,tcp:*:81,unix:/nope,fd:3,fd:99"),
      StatusIs(absl::StatusCode::kNotFound,
               AllOf(HasSubstr("no socket matches --select spec \"tcp:*:81\", \"unix:/nope\", "
                               "\"fd:99\""),
                     Not(HasSubstr("\"tcp:*:80\"")),
                     HasSubstr("found: fd 3 tcp 0.0.0.0:80, fd 4 tcp 127.0.0.1:8080"),
                     HasSubstr("fd 11 unix @app, fd 12 unix (unnamed)"))));
}

TEST(ApplySelectTest, NotFoundWhenNothingWasFound) {
  ASSERT_OK_AND_ASSIGN(std::vector<SelectSpec> specs, ParseSelectSpecs("tcp:*:80"));
  EXPECT_THAT(ApplySelect(specs, {}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no sockets were found")));
  EXPECT_THAT(ApplySelect({}, {}), IsOkAndHolds(IsEmpty()));
}

TEST(ApplySelectTest, LongFoundListsAreCut) {
  std::vector<SocketInfo> found;
  for (int fd = 3; fd < 53; ++fd) found.push_back(Inet(fd, Proto::kTcp, "127.0.0.1:1", 1));
  ASSERT_OK_AND_ASSIGN(std::vector<SelectSpec> specs, ParseSelectSpecs("fd:1"));
  EXPECT_THAT(ApplySelect(specs, found),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("fd 22 tcp"), Not(HasSubstr("fd 23 tcp")),
                             HasSubstr("and 30 more"))));
}

}  // namespace
}  // namespace handover
