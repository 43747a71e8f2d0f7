// libFuzzer target for the /proc/net parsers (not built by CMake). Build and run:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     tests/fuzz/proc_net_fuzz.cc handover/proc_net.cc handover/socket_info.cc \
//     $(pkg-config --libs absl_strings absl_str_format absl_status absl_statusor) \
//     -o build-fuzz/proc_net_fuzz
//   build-fuzz/proc_net_fuzz -max_total_time=60 build-fuzz/corpus
// The first byte picks the file kind; the rest is the text.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "handover/proc_net.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 5) {
    case 0: (void)handover::internal::ParseProcNetInet(text, handover::Proto::kTcp); break;
    case 1: (void)handover::internal::ParseProcNetInet(text, handover::Proto::kTcp6); break;
    case 2: (void)handover::internal::ParseProcNetInet(text, handover::Proto::kUdp); break;
    case 3: (void)handover::internal::ParseProcNetInet(text, handover::Proto::kUdp6); break;
    default: (void)handover::internal::ParseProcNetUnix(text); break;
  }
  return 0;
}
