// ResponseParser: incremental check of one HTTP/1.1 response, as demo_loadgen needs it:
// status 200, headers ending in CRLFCRLF, a Content-Length and exactly that many body
// bytes (a byte after the body is an error: the load generator never pipelines).
#ifndef HANDOVER_DEMO_PROXY_LOADGEN_RESPONSE_PARSER_H_
#define HANDOVER_DEMO_PROXY_LOADGEN_RESPONSE_PARSER_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace handover::demo {

class ResponseParser {
 public:
  enum class State { kIncomplete, kDone, kBad };

  // Feeds bytes; returns the state after them. kDone and kBad are final.
  State Feed(absl::string_view data);
  void Reset() { *this = ResponseParser(); }

 private:
  State ParseHead();

  State state_ = State::kIncomplete;
  std::string head_;
  bool in_body_ = false;
  size_t body_left_ = 0;
};

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_LOADGEN_RESPONSE_PARSER_H_
