// GoogleTest matchers for absl::Status (Abseil 20220623 ships none).
//   EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound, HasSubstr("[ESRCH]")));
//   ASSERT_OK(s);  ASSERT_OK_AND_ASSIGN(UniqueFd fd, sys::PidfdOpen(pid));
#ifndef HANDOVER_TESTS_TESTING_STATUS_MATCHERS_H_
#define HANDOVER_TESTS_TESTING_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "handover/status.h"

namespace handover::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, std::string(s.message()),
                                       result_listener);
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.ok();
}

// Matches an OK StatusOr<T> whose value matches `inner`.
MATCHER_P(IsOkAndHolds, inner, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(inner, *arg, result_listener);
}

}  // namespace handover::testing

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::handover::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::handover::testing::IsOk())
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(HANDOVER_CONCAT_(_ho_t_sor_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                               \
  ASSERT_OK(tmp);                                   \
  lhs = *std::move(tmp)

#endif  // HANDOVER_TESTS_TESTING_STATUS_MATCHERS_H_
