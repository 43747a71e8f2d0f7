// Descriptor helpers shared by the tests.
//
//   const int before = CountOpenFds();
//   ASSERT_OK_AND_ASSIGN(LoopbackListener l, ListenOnLoopback());  // l.fd, l.port
#ifndef HANDOVER_TESTS_TESTING_FDS_H_
#define HANDOVER_TESTS_TESTING_FDS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "handover/unique_fd.h"

namespace handover::testing {

// Descriptors open in this process (not counting the one used to count).
int CountOpenFds();

struct LoopbackListener {
  UniqueFd fd;
  uint16_t port = 0;
  std::string address() const;  // "127.0.0.1:PORT"
};

// A TCP listener on 127.0.0.1, port chosen by the kernel, backlog 511,
// close-on-exec and non-blocking (a server inherits it as is).
absl::StatusOr<LoopbackListener> ListenOnLoopback();

}  // namespace handover::testing

#endif  // HANDOVER_TESTS_TESTING_FDS_H_
