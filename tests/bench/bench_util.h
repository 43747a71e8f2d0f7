// Small helpers shared by the handover_bench modes (tests/bench/*.cc).
//
//   auto [us, outcome] = handover::bench::Time([&] { return DoSomething(); });
//   // us: wall time in µs; outcome: "ok" or the StatusCode name ("DEADLINE_EXCEEDED")
#ifndef HANDOVER_TESTS_BENCH_BENCH_UTIL_H_
#define HANDOVER_TESTS_BENCH_BENCH_UTIL_H_

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace handover::bench {

// "1,16,64" -> {1, 16, 64}; entries that are not integers are skipped.
inline std::vector<int> ParseInts(const std::string& list) {
  std::vector<int> out;
  for (absl::string_view s : absl::StrSplit(list, ',', absl::SkipEmpty())) {
    int v = 0;
    if (absl::SimpleAtoi(s, &v)) out.push_back(v);
  }
  return out;
}

inline double Micros(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// Runs `f` and returns its wall time in µs and its outcome ("ok" or the code).
template <typename F>
std::pair<double, std::string> Time(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = f();
  const double us = Micros(std::chrono::steady_clock::now() - start);
  return {us, s.ok() ? "ok" : absl::StatusCodeToString(s.code())};
}

}  // namespace handover::bench

#endif  // HANDOVER_TESTS_BENCH_BENCH_UTIL_H_
