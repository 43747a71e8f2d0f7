// Starts the fd_holder helper binary and parses what it holds.
//   ASSERT_OK_AND_ASSIGN(FdHolder h, StartFdHolder({"--tcp=2", "--udp=1"}));
//   h.sockets[0].fd, .inode, .proto, .address;  h.child.pid()
#ifndef HANDOVER_TESTS_TESTING_FD_HOLDER_H_
#define HANDOVER_TESTS_TESTING_FD_HOLDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/testing/child_process.h"

namespace handover::testing {

struct HeldSocket {
  int fd = -1;
  uint64_t inode = 0;
  std::string proto;
  std::string address;
  uint16_t port = 0;  // inet only
};

struct FdHolder {
  ChildProcess child;
  std::vector<HeldSocket> sockets;
};

// Spawns `fd_holder ARGS...` (optionally as another uid/gid) and waits for "ready".
absl::StatusOr<FdHolder> StartFdHolder(std::vector<std::string> args, SpawnOptions base = {});

// Parses one "fd=N inode=I proto=P address=A" line.
absl::StatusOr<HeldSocket> ParseHeldSocket(const std::string& line);

// A path under ::testing::TempDir() unique to this process and call.
std::string UniqueTempPath(const std::string& stem);

}  // namespace handover::testing

#endif  // HANDOVER_TESTS_TESTING_FD_HOLDER_H_
