// UniqueFd: the only type in handover that closes a file descriptor.
//
//   absl::StatusOr<UniqueFd> fd = sys::PidfdOpen(pid);
//   if (!fd.ok()) return fd.status();
//   Use(fd->get());          // borrowed
//   Give(std::move(*fd));    // ownership moves on
//
// A raw `int fd` anywhere in this project is borrowed; a UniqueFd owns.
#ifndef HANDOVER_UNIQUE_FD_H_
#define HANDOVER_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace handover {

// Owns one descriptor and closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // The caller now owns the descriptor.
  [[nodiscard]] int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1) {
    // Linux frees the descriptor even when close() reports EINTR: never retry.
    if (fd_ >= 0) (void)::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace handover

#endif  // HANDOVER_UNIQUE_FD_H_
