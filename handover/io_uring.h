// IoUring: the smallest io_uring handover needs — one ring, used to ask many
// sockets a SOL_SOCKET getsockopt question in ONE syscall (Linux >= 6.7 socket
// commands), and to close many fds in one. On a VM every syscall costs 1–3 µs (kernel-notes §7), so asking 4096
// copies for their SO_COOKIE one getsockopt at a time costs as much as copying
// them; one io_uring_enter does it for a fraction.
//
//   HANDOVER_ASSIGN_OR_RETURN(IoUring ring, IoUring::Create(256));
//   uint64_t cookie[2];
//   ring.QueueGetSockOpt(fd_a, SO_COOKIE, &cookie[0], sizeof(uint64_t), /*tag=*/0);
//   ring.QueueGetSockOpt(fd_b, SO_COOKIE, &cookie[1], sizeof(uint64_t), /*tag=*/1);
//   HANDOVER_RETURN_IF_ERROR(ring.SubmitAndWait([&](uint64_t tag, int32_t res) {...}));
//
// No liburing: Debian 12's is too old for socket commands, and three syscalls
// and two mappings are all this needs.
#ifndef HANDOVER_IO_URING_H_
#define HANDOVER_IO_URING_H_

#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "handover/unique_fd.h"

struct io_uring_sqe;
struct io_uring_cqe;

namespace handover {

// One shared mapping, unmapped on destruction. Move-only.
class Mapping {
 public:
  Mapping() = default;
  Mapping(void* addr, size_t length) : addr_(addr), length_(length) {}
  Mapping(Mapping&& other) noexcept;
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  char* get() const { return static_cast<char*>(addr_); }

 private:
  void* addr_ = nullptr;
  size_t length_ = 0;
};

class IoUring {
 public:
  // A ring with room for at least `entries` queued requests (clamped by the
  // kernel). Errors: UNIMPLEMENTED (ENOSYS: no io_uring), PERMISSION_DENIED
  // (kernel.io_uring_disabled, a seccomp filter such as Docker's default), others
  // from io_uring_setup/mmap.
  static absl::StatusOr<IoUring> Create(unsigned entries);

  IoUring(IoUring&&) = default;
  IoUring& operator=(IoUring&&) = default;

  // How many requests may be queued before SubmitAndWait.
  unsigned capacity() const { return sq_entries_; }
  unsigned queued() const { return queued_; }

  // Queues getsockopt(fd, SOL_SOCKET, optname, optval, &optlen) (`optval` must
  // stay valid until SubmitAndWait returns). Its completion carries `tag` and, on
  // success, the option's length; a negative errno otherwise: -EOPNOTSUPP when the
  // kernel (< 6.7) or the file (not a socket; unix sockets) has no socket command.
  // Requires queued() < capacity().
  void QueueGetSockOpt(int fd, int optname, void* optval, uint32_t optlen, uint64_t tag);

  // Queues close(fd) (IORING_OP_CLOSE, Linux 5.6). The fd is closed once the
  // request completes; its completion carries `tag` and 0 or a negative errno.
  // Requires queued() < capacity().
  void QueueClose(int fd, uint64_t tag);

  // Submits everything queued and waits until each request completed, calling
  // on_done(tag, res) once per request. Errors: those of io_uring_enter.
  absl::Status SubmitAndWait(absl::FunctionRef<void(uint64_t tag, int32_t res)> on_done);

 private:
  IoUring() = default;
  io_uring_sqe* NextSqe(int fd, uint64_t tag);

  UniqueFd fd_;
  Mapping rings_;  // SQ and CQ rings (IORING_FEAT_SINGLE_MMAP)
  Mapping sqes_;
  unsigned sq_entries_ = 0;
  unsigned cq_entries_ = 0;
  unsigned* sq_tail_ = nullptr;
  unsigned* sq_array_ = nullptr;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  io_uring_cqe* cqes_ = nullptr;
  unsigned queued_ = 0;
};

}  // namespace handover

#endif  // HANDOVER_IO_URING_H_
