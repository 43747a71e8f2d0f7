#include "handover/copy_listeners.h"

#include <sys/socket.h>

#include <algorithm>
#include <iterator>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "handover/fd_batch.h"
#include "handover/sock_diag.h"
#include "handover/status.h"
#include "handover/sys.h"
#include "handover/target_netns.h"

namespace handover {
namespace {

// Copies held at once before the unwanted ones are closed: bounds what this
// costs of our RLIMIT_NOFILE against a target holding 100k connections.
constexpr size_t kChunk = 1024;

absl::StatusOr<std::vector<int>> FdNumbers(int proc_dir) {
  absl::StatusOr<std::vector<std::string>> names = sys::ListDirAt(proc_dir, "fd");
  if (!names.ok()) return WithContext(names.status(), "listing the target's /proc/PID/fd");
  std::vector<int> fds;
  fds.reserve(names->size());
  for (const std::string& name : *names) {
    int fd = -1;
    if (absl::SimpleAtoi(name, &fd)) fds.push_back(fd);
  }
  std::sort(fds.begin(), fds.end());
  return fds;
}

// Up to this many sockets among the copies, their families are read (one
// getsockopt each) to skip the dumps of the others (~20 µs each).
constexpr size_t kMaxSocketsForFamilies = 24;

// The protocols whose dumps can list one of the copies: by the family of each
// socket copy (a copy whose SO_COOKIE could be read); all when there are many
// or a family cannot be read.
std::vector<Proto> ProtosToDump(absl::Span<const int> copies,
                                absl::Span<const FdBatch::Answer> cookies) {
  const std::vector<Proto> all(std::begin(internal::kAllProtos), std::end(internal::kAllProtos));
  const size_t sockets = static_cast<size_t>(absl::c_count_if(
      cookies, [](const FdBatch::Answer& a) { return a.error == 0; }));
  if (sockets > kMaxSocketsForFamilies) return all;
  bool inet = false, inet6 = false, unix_domain = false;
  for (size_t i = 0; i < copies.size(); ++i) {
    if (cookies[i].error != 0) continue;
    absl::StatusOr<int> family = sys::GetSockOptInt(copies[i], SOL_SOCKET, SO_DOMAIN);
    if (!family.ok()) return all;
    inet |= *family == AF_INET;
    inet6 |= *family == AF_INET6;
    unix_domain |= *family == AF_UNIX;
  }
  std::vector<Proto> protos;
  if (inet) protos.insert(protos.end(), {Proto::kTcp, Proto::kUdp});
  if (inet6) protos.insert(protos.end(), {Proto::kTcp6, Proto::kUdp6});
  if (unix_domain) protos.push_back(Proto::kUnix);
  return protos;
}

struct Chunk {
  size_t consumed = 0;          // fd numbers dealt with, from the front
  std::vector<int> target_fds;  // the target's fd number of each copy
  std::vector<UniqueFd> copies;
  absl::Status full;            // RESOURCE_EXHAUSTED when our fd table filled up
};

// pidfd_getfd of each fd number until our fd table is full (EMFILE/ENFILE); an
// fd closed since the listing is skipped.
absl::StatusOr<Chunk> CopyChunk(int pidfd, absl::Span<const int> numbers) {
  Chunk out;
  out.target_fds.reserve(numbers.size());
  out.copies.reserve(numbers.size());
  for (; out.consumed < numbers.size(); ++out.consumed) {
    const int n = numbers[out.consumed];
    absl::StatusOr<UniqueFd> copy = sys::PidfdGetfd(pidfd, n);
    if (absl::IsFailedPrecondition(copy.status())) continue;  // EBADF: closed meanwhile
    if (absl::IsResourceExhausted(copy.status())) {
      out.full = WithContext(copy.status(), absl::StrFormat("copying fd %d", n));
      break;
    }
    if (!copy.ok()) return WithContext(copy.status(), absl::StrFormat("copying fd %d", n));
    out.target_fds.push_back(n);
    out.copies.push_back(*std::move(copy));
  }
  return out;
}

// A listener copied after the dump may have stopped listening in between
// (shutdown(2) by the old process): its copy would accept nothing.
absl::Status CheckStillListening(FdBatch& batch, const std::vector<TakenSocket>& taken,
                                 const std::vector<size_t>& copied_after_dump) {
  std::vector<int> fds;
  std::vector<const SocketInfo*> which;
  for (const size_t i : copied_after_dump) {
    if (taken[i].info.state != SocketState::kListen) continue;
    fds.push_back(taken[i].fd.get());
    which.push_back(&taken[i].info);
  }
  HANDOVER_ASSIGN_OR_RETURN(std::vector<FdBatch::Answer> listening,
                            batch.Read(fds, SO_ACCEPTCONN, sizeof(int)));
  for (size_t i = 0; i < which.size(); ++i) {
    if (listening[i].error != 0) {
      return ErrnoError(listening[i].error,
                        absl::StrFormat("getsockopt(SO_ACCEPTCONN) of the copy of fd %d",
                                        which[i]->fd));
    }
    if (listening[i].value == 0) {
      return absl::AbortedError(absl::StrFormat(
          "fd %d (%s) no longer listens: the old process shut it down since it was listed; "
          "if it is draining already, there is nothing left to take over",
          which[i]->fd, which[i]->address));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<TakenSocket>> CopyListeners(int pidfd, int proc_dir) {
  HANDOVER_RETURN_IF_ERROR(internal::CheckAlive(pidfd));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<int> numbers, FdNumbers(proc_dir));
  // Opened first: its fd is ours before the copies can fill our table.
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd netlink, internal::OpenSockDiagOf(pidfd, proc_dir));
  const size_t chunk = std::min(numbers.size(), kChunk);
  internal::PreGrowFdTable(pidfd, numbers.size() + chunk);
  FdBatch batch(chunk);

  // The dump is made right after the first chunk is copied. A listener copied
  // before it is shown listening by the dump itself; only those copied after it
  // (second chunk on: a target with over kChunk fds) are asked SO_ACCEPTCONN.
  std::vector<SocketInfo> in_netns;
  absl::flat_hash_map<uint64_t, const SocketInfo*> by_cookie;
  std::vector<TakenSocket> taken;
  std::vector<size_t> copied_after_dump;  // indices in taken
  absl::flat_hash_map<uint64_t, size_t> taken_index;  // cookie -> index in taken
  for (size_t begin = 0; begin < numbers.size();) {
    const absl::Span<const int> part =
        absl::MakeConstSpan(numbers).subspan(begin, std::min(kChunk, numbers.size() - begin));
    HANDOVER_ASSIGN_OR_RETURN(Chunk chunk_copied, CopyChunk(pidfd, part));
    auto& [consumed, target_fds, copies, full] = chunk_copied;
    // Our fd limit reached with nothing to sort out and close: the sockets kept
    // so far fill it. Otherwise sorting this chunk out frees room to go on.
    if (!full.ok() && copies.empty()) return full;
    const bool after_dump = begin > 0;
    begin += consumed;
    std::vector<int> raw(copies.size());
    for (size_t i = 0; i < copies.size(); ++i) raw[i] = copies[i].get();
    HANDOVER_ASSIGN_OR_RETURN(std::vector<FdBatch::Answer> cookies,
                              batch.Read(raw, SO_COOKIE, sizeof(uint64_t)));
    if (!after_dump) {
      // Every fd copied and few sockets among them: dump only their families.
      const std::vector<Proto> protos = begin == numbers.size()
                                            ? ProtosToDump(raw, cookies)
                                            : std::vector<Proto>(std::begin(internal::kAllProtos),
                                                                 std::end(internal::kAllProtos));
      HANDOVER_ASSIGN_OR_RETURN(in_netns, internal::DumpListeningSockets(netlink.get(), protos));
      by_cookie.reserve(in_netns.size());
      for (const SocketInfo& s : in_netns) by_cookie.emplace(s.cookie, &s);
      taken.reserve(std::min(numbers.size(), in_netns.size()));
    }
    std::vector<UniqueFd> unwanted;
    unwanted.reserve(copies.size());
    for (size_t i = 0; i < copies.size(); ++i) {
      auto known = cookies[i].error == 0 ? by_cookie.find(cookies[i].value) : by_cookie.end();
      if (known == by_cookie.end()) {  // not a socket, a connection, another netns
        unwanted.push_back(std::move(copies[i]));
        continue;
      }
      if (auto seen = taken_index.find(cookies[i].value); seen != taken_index.end()) {
        taken[seen->second].info.duplicate_fds.push_back(target_fds[i]);
        unwanted.push_back(std::move(copies[i]));
        continue;
      }
      taken_index.emplace(cookies[i].value, taken.size());
      if (after_dump) copied_after_dump.push_back(taken.size());
      TakenSocket t{.info = *known->second, .fd = std::move(copies[i])};
      t.info.fd = target_fds[i];
      taken.push_back(std::move(t));
    }
    batch.Close(std::move(unwanted));
  }
  HANDOVER_RETURN_IF_ERROR(CheckStillListening(batch, taken, copied_after_dump));
  // The fd table of an exiting process can be partial: do not return it.
  HANDOVER_RETURN_IF_ERROR(internal::CheckAlive(pidfd));
  return taken;
}

}  // namespace handover
