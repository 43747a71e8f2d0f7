#include "handover/io_uring.h"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "handover/status.h"

// Socket commands (include/uapi/linux/io_uring.h, Linux 6.7); Debian 12's headers
// predate them. The ABI is fixed: these are the kernel's values.
#ifndef SOCKET_URING_OP_GETSOCKOPT
#define SOCKET_URING_OP_GETSOCKOPT 2
#endif

namespace handover {
namespace {

template <typename T>
T* At(const Mapping& m, uint32_t offset) {
  return reinterpret_cast<T*>(m.get() + offset);
}

}  // namespace

Mapping::Mapping(Mapping&& other) noexcept
    : addr_(std::exchange(other.addr_, nullptr)), length_(std::exchange(other.length_, 0)) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    if (addr_ != nullptr) ::munmap(addr_, length_);
    addr_ = std::exchange(other.addr_, nullptr);
    length_ = std::exchange(other.length_, 0);
  }
  return *this;
}

Mapping::~Mapping() {
  if (addr_ != nullptr) ::munmap(addr_, length_);
}

absl::StatusOr<IoUring> IoUring::Create(unsigned entries) {
  struct io_uring_params params;
  std::memset(&params, 0, sizeof(params));
  // SUBMIT_ALL (5.18): a request that fails early still posts its completion and
  // the rest of the batch is submitted; CLAMP: a large `entries` is cut, not refused.
  params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP;
  UniqueFd fd(static_cast<int>(::syscall(SYS_io_uring_setup, entries, &params)));
  if (!fd.valid()) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("io_uring_setup(%d entries)", entries));
  }
  if ((params.features & IORING_FEAT_SINGLE_MMAP) == 0) {
    return absl::UnimplementedError("io_uring without IORING_FEAT_SINGLE_MMAP (Linux < 5.4)");
  }
  const size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  const size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
  const size_t rings_size = std::max(sq_size, cq_size);
  void* rings = ::mmap(nullptr, rings_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                       fd.get(), IORING_OFF_SQ_RING);
  if (rings == MAP_FAILED) {
    const int err = errno;
    return ErrnoError(err, "mmap(io_uring rings)");
  }
  IoUring ring;
  ring.rings_ = Mapping(rings, rings_size);
  const size_t sqes_size = params.sq_entries * sizeof(struct io_uring_sqe);
  void* sqes = ::mmap(nullptr, sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                      fd.get(), IORING_OFF_SQES);
  if (sqes == MAP_FAILED) {
    const int err = errno;
    return ErrnoError(err, "mmap(io_uring sqes)");
  }
  ring.sqes_ = Mapping(sqes, sqes_size);
  ring.fd_ = std::move(fd);
  ring.sq_entries_ = params.sq_entries;
  ring.cq_entries_ = params.cq_entries;
  ring.sq_tail_ = At<unsigned>(ring.rings_, params.sq_off.tail);
  ring.sq_array_ = At<unsigned>(ring.rings_, params.sq_off.array);
  ring.cq_head_ = At<unsigned>(ring.rings_, params.cq_off.head);
  ring.cq_tail_ = At<unsigned>(ring.rings_, params.cq_off.tail);
  ring.cqes_ = At<struct io_uring_cqe>(ring.rings_, params.cq_off.cqes);
  return ring;
}

struct io_uring_sqe* IoUring::NextSqe(int fd, uint64_t tag) {
  // Entries counts are powers of two: the masks are entries - 1.
  const unsigned index = (*sq_tail_ + queued_) & (sq_entries_ - 1);
  struct io_uring_sqe* sqe = reinterpret_cast<struct io_uring_sqe*>(sqes_.get()) + index;
  std::memset(sqe, 0, sizeof(*sqe));
  sqe->fd = fd;
  sqe->user_data = tag;
  sq_array_[index] = index;
  ++queued_;
  return sqe;
}

void IoUring::QueueGetSockOpt(int fd, int optname, void* optval, uint32_t optlen, uint64_t tag) {
  struct io_uring_sqe* sqe = NextSqe(fd, tag);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->cmd_op = SOCKET_URING_OP_GETSOCKOPT;
  // In 6.7's layout, `level` and `optname` share the 8 bytes of `addr`, `optlen`
  // those of `splice_fd_in` and `optval` those of `addr3`.
  const uint32_t level_optname[2] = {SOL_SOCKET, static_cast<uint32_t>(optname)};
  std::memcpy(&sqe->addr, level_optname, sizeof(level_optname));
  sqe->splice_fd_in = static_cast<int32_t>(optlen);
  sqe->addr3 = reinterpret_cast<uint64_t>(optval);
}

void IoUring::QueueClose(int fd, uint64_t tag) { NextSqe(fd, tag)->opcode = IORING_OP_CLOSE; }

absl::Status IoUring::SubmitAndWait(absl::FunctionRef<void(uint64_t tag, int32_t res)> on_done) {
  const unsigned total = queued_;
  __atomic_store_n(sq_tail_, *sq_tail_ + total, __ATOMIC_RELEASE);
  queued_ = 0;
  unsigned unsubmitted = total;
  unsigned completed = 0;
  while (completed < total) {
    const long r = ::syscall(SYS_io_uring_enter, fd_.get(), unsubmitted, total - completed,
                             IORING_ENTER_GETEVENTS, nullptr, 0);
    if (r < 0) {
      const int err = errno;
      // EINTR: interrupted while waiting; EAGAIN/EBUSY: reap, then go on.
      if (err != EINTR && err != EAGAIN && err != EBUSY) {
        return ErrnoError(err, absl::StrFormat("io_uring_enter(%d requests)", unsubmitted));
      }
    } else {
      unsubmitted -= static_cast<unsigned>(r);
    }
    unsigned head = *cq_head_;
    const unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
    for (; head != tail; ++head, ++completed) {
      const struct io_uring_cqe& cqe = cqes_[head & (cq_entries_ - 1)];
      on_done(cqe.user_data, cqe.res);
    }
    __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
  }
  return absl::OkStatus();
}

}  // namespace handover
