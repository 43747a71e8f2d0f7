#include "handover/fd_batch.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "handover/status.h"

namespace handover {
namespace {

// Most fds one submission carries: bounds the ring's memory (64 bytes an entry).
constexpr size_t kMaxRingEntries = 1024;

// The first `optlen` bytes of `raw` as a number (4-byte options are ints).
uint64_t Decode(uint64_t raw, socklen_t optlen) {
  if (optlen == sizeof(uint32_t)) {
    uint32_t v;
    std::memcpy(&v, &raw, sizeof(v));
    return v;
  }
  return raw;
}

FdBatch::Answer GetSockOpt(int fd, int optname, socklen_t optlen) {
  uint64_t raw = 0;
  socklen_t len = optlen;
  if (::getsockopt(fd, SOL_SOCKET, optname, &raw, &len) != 0) return {.error = errno};
  return {.value = Decode(raw, optlen)};
}

}  // namespace

FdBatch::FdBatch(size_t expected_fds) {
  if (expected_fds < kMinRingFds) return;
  absl::StatusOr<IoUring> ring =
      IoUring::Create(static_cast<unsigned>(std::min(expected_fds, kMaxRingEntries)));
  if (ring.ok()) ring_ = *std::move(ring);
}

absl::Status FdBatch::ReadThroughRing(absl::Span<const int> fds, int optname,
                                           socklen_t optlen, absl::Span<Answer> out) {
  std::vector<uint64_t> raw(fds.size(), 0);
  bool any_answered = false;
  for (size_t begin = 0; begin < fds.size(); begin += ring_->capacity()) {
    const size_t end = std::min(fds.size(), begin + ring_->capacity());
    for (size_t i = begin; i < end; ++i) {
      ring_->QueueGetSockOpt(fds[i], optname, &raw[i], optlen, i);
    }
    HANDOVER_RETURN_IF_ERROR(ring_->SubmitAndWait([&](uint64_t i, int32_t res) {
      if (res >= 0) {
        out[i] = {.value = Decode(raw[i], optlen)};
        any_answered = true;
      } else if (res == -EOPNOTSUPP) {
        out[i] = GetSockOpt(fds[i], optname, optlen);  // no socket command for this file
      } else {
        out[i] = {.error = -res};
      }
    }));
  }
  // Not one answer from a sizeable batch: this kernel has no socket commands
  // (< 6.7). Stop paying for the ring.
  if (!any_answered && fds.size() >= kMinRingFds) ring_.reset();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<FdBatch::Answer>> FdBatch::Read(absl::Span<const int> fds,
                                                                     int optname,
                                                                     socklen_t optlen) {
  std::vector<Answer> out(fds.size());
  if (ring_.has_value() && fds.size() >= kMinRingFds) {
    HANDOVER_RETURN_IF_ERROR(ReadThroughRing(fds, optname, optlen, absl::MakeSpan(out)));
    return out;
  }
  for (size_t i = 0; i < fds.size(); ++i) out[i] = GetSockOpt(fds[i], optname, optlen);
  return out;
}

void FdBatch::Close(std::vector<UniqueFd> fds) {
  if (!ring_.has_value() || fds.size() < kMinRingFds) return;  // ~UniqueFd closes them
  for (size_t begin = 0; begin < fds.size(); begin += ring_->capacity()) {
    const size_t end = std::min(fds.size(), begin + ring_->capacity());
    for (size_t i = begin; i < end; ++i) ring_->QueueClose(fds[i].get(), i);
    absl::Status done = ring_->SubmitAndWait([&](uint64_t i, int32_t) {
      (void)fds[i].Release();  // closed by the ring (close(2) semantics: even on error)
    });
    // The ring failed (io_uring_enter): whatever it did not complete is still
    // owned by `fds` and closed by close(2) when it goes out of scope.
    if (!done.ok()) return;
  }
}

}  // namespace handover
