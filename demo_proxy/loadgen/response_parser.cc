#include "demo_proxy/loadgen/response_parser.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace handover::demo {
namespace {
constexpr size_t kMaxHeadBytes = 64 * 1024;
}  // namespace

ResponseParser::State ResponseParser::ParseHead() {
  std::vector<absl::string_view> lines = absl::StrSplit(head_, "\r\n");
  std::vector<absl::string_view> status = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status.size() < 2 || !absl::StartsWith(status[0], "HTTP/1.") || status[1] != "200") {
    return State::kBad;
  }
  bool have_length = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) return State::kBad;
    if (!absl::EqualsIgnoreCase(lines[i].substr(0, colon), "content-length")) continue;
    have_length = absl::SimpleAtoi(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)),
                                   &body_left_);
  }
  return have_length ? State::kIncomplete : State::kBad;
}

ResponseParser::State ResponseParser::Feed(absl::string_view data) {
  if (state_ != State::kIncomplete) return state_ == State::kDone && !data.empty()
                                               ? (state_ = State::kBad)
                                               : state_;
  if (!in_body_) {
    const size_t old = head_.size();
    head_.append(data.data(), data.size());
    const size_t end = head_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
    if (end == std::string::npos) {
      if (head_.size() > kMaxHeadBytes) state_ = State::kBad;
      return state_;
    }
    data = data.substr(end + 4 - old);
    head_.resize(end);
    in_body_ = true;
    if ((state_ = ParseHead()) == State::kBad) return state_;
  }
  if (data.size() > body_left_) return state_ = State::kBad;
  body_left_ -= data.size();
  if (body_left_ == 0) state_ = State::kDone;
  return state_;
}

}  // namespace handover::demo
