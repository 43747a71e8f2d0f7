// FdBatch: one SOL_SOCKET option of many sockets, asked in one io_uring
// submission per batch where the kernel has socket commands (Linux >= 6.7), one
// getsockopt(2) per fd otherwise; and many fds closed the same way. The answers are the same either way: an fd the
// ring cannot ask (unix sockets and non-sockets answer EOPNOTSUPP there, as does
// every socket before 6.7) is asked again with getsockopt.
//
//   FdBatch batch(copies.size());
//   HANDOVER_ASSIGN_OR_RETURN(std::vector<FdBatch::Answer> cookies,
//                             batch.Read(copies, SO_COOKIE, sizeof(uint64_t)));
//   if (cookies[i].error == ENOTSOCK) ...   // not a socket
#ifndef HANDOVER_FD_BATCH_H_
#define HANDOVER_FD_BATCH_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "handover/io_uring.h"
#include "handover/unique_fd.h"

namespace handover {

class FdBatch {
 public:
  // Fewer fds than this are asked with getsockopt: setting a ring up
  // (io_uring_setup and two mappings, 0.1–0.5 ms on the bench VM) costs about as
  // much as that many getsockopt calls, and a ring read saves ~1.5 µs per fd.
  static constexpr size_t kMinRingFds = 256;

  // Sized for reads of up to `expected_fds` fds at a time (larger reads are
  // split). Never fails: without a ring (io_uring missing or refused) every
  // read uses getsockopt.
  explicit FdBatch(size_t expected_fds);

  struct Answer {
    uint64_t value = 0;  // the option, zero-extended; valid when error == 0
    int error = 0;       // 0, or the errno getsockopt(2) would give (ENOTSOCK, EBADF...)
  };

  // getsockopt(fd, SOL_SOCKET, optname) with `optlen` (4 or 8) bytes, for each fd
  // (borrowed), answers in the same order. Errors: only the ring's own failures
  // (io_uring_enter); a per-fd errno is an Answer.
  absl::StatusOr<std::vector<Answer>> Read(absl::Span<const int> fds, int optname,
                                           socklen_t optlen);

  // Closes every fd (owned), in io_uring submissions when there are at least
  // kMinRingFds of them and a ring; close(2) each otherwise. As with close(2),
  // the fds are gone whatever the outcome.
  void Close(std::vector<UniqueFd> fds);

  // Whether reads go through io_uring (false after the kernel showed it has no
  // socket commands).
  bool uses_ring() const { return ring_.has_value(); }

 private:
  absl::Status ReadThroughRing(absl::Span<const int> fds, int optname, socklen_t optlen,
                               absl::Span<Answer> out);

  std::optional<IoUring> ring_;
};

}  // namespace handover

#endif  // HANDOVER_FD_BATCH_H_
