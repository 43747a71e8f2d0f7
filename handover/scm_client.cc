// FetchListeners: the receiving half of the SCM_RIGHTS baseline (protocol in scm_rights.h).
#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "handover/scm_rights.h"
#include "handover/scm_wire.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover {
namespace {

constexpr size_t kMaxFds = 1 << 16;
// Bounds what a broken server can make us buffer: header of kMaxFds names.
constexpr size_t kMaxReply = 32 + kMaxFds * 256;

// A blocking connect bounded by SO_SNDTIMEO: an AF_UNIX connect() waits there
// when the server's backlog is full (a non-blocking one would only say EAGAIN).
absl::StatusOr<UniqueFd> Connect(const std::string& path, absl::Time deadline) {
  HANDOVER_ASSIGN_OR_RETURN(internal::UnixAddr addr, internal::MakeUnixAddr(path));
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, sys::Socket(AF_UNIX, SOCK_STREAM, 0));
  const absl::Duration left = std::max(deadline - absl::Now(), absl::Milliseconds(1));
  const struct timeval tv = absl::ToTimeval(left);
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0) {
    const int err = errno;
    return ErrnoError(err, "setsockopt(SO_SNDTIMEO)");
  }
  while (::connect(fd.get(), addr.get(), addr.len) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    const std::string call = absl::StrFormat("connect(%s)", path);
    switch (err) {
      case ENOENT:
        return ErrnoError(err, call, "is the old instance running with --control_socket?");
      case EACCES:
        return ErrnoError(err, call, "the socket is mode 0600: run as its owner or root");
      case ECONNREFUSED:
        return ErrnoError(err, call, "stale socket: nobody listens, the old instance is gone");
      case EAGAIN:
        return absl::DeadlineExceededError(
            absl::StrFormat("%s: backlog full until the deadline; the server is not accepting",
                            call));
      default:
        return ErrnoError(err, call);
    }
  }
  return fd;
}

absl::Status IdentifyPeer(int fd, ScmFetchResult& result) {
  HANDOVER_ASSIGN_OR_RETURN(struct ucred cred, sys::GetPeerCred(fd));
  result.peer_pid = cred.pid;
  result.peer_uid = cred.uid;
  absl::StatusOr<UniqueFd> pidfd = sys::GetPeerPidfd(fd);
  if (!pidfd.ok() && pidfd.status().code() == absl::StatusCode::kInvalidArgument) {
    pidfd = sys::PidfdOpen(cred.pid);  // kernel < 6.5: ENOPROTOOPT
  }
  if (!pidfd.ok()) return WithContext(pidfd.status(), "getting a pidfd for the server");
  result.peer_pidfd = *std::move(pidfd);
  return absl::OkStatus();
}

absl::StatusCode CodeFromName(absl::string_view name) {
  for (int c = 1; c <= 16; ++c) {
    const auto code = static_cast<absl::StatusCode>(c);
    if (absl::StatusCodeToString(code) == name) return code;
  }
  return absl::StatusCode::kUnknown;
}

// Parses "OK v1 <n>\n" + n name lines from the front of `data` and removes
// them. nullopt while incomplete; an error for "ERR ..." or a malformed reply.
absl::StatusOr<std::optional<std::vector<std::string>>> ParseHeader(std::string& data) {
  const size_t eol = data.find('\n');
  if (eol == std::string::npos) return std::nullopt;
  const absl::string_view first(data.data(), eol);
  std::vector<absl::string_view> words = absl::StrSplit(first, absl::MaxSplits(' ', 2));
  if (words[0] == "ERR" && words.size() == 3) {
    return absl::Status(CodeFromName(words[1]), absl::StrCat("server refused: ", words[2]));
  }
  size_t n = 0;
  if (words.size() != 3 || words[0] != "OK" || words[1] != "v1" ||
      !absl::SimpleAtoi(words[2], &n) || n > kMaxFds) {
    return absl::DataLossError(absl::StrFormat("malformed reply '%s'", absl::CHexEscape(first)));
  }
  std::vector<std::string> names;
  size_t pos = eol + 1;
  while (names.size() < n) {
    const size_t end = data.find('\n', pos);
    if (end == std::string::npos) return std::nullopt;
    names.emplace_back(data, pos, end - pos);
    pos = end + 1;
  }
  data.erase(0, pos);
  return names;
}

// Reads the reply until EOF; fills result.fds / result.names (all or nothing).
absl::Status ReceiveReply(int fd, absl::Time deadline, ScmFetchResult& result) {
  std::string data;
  std::vector<UniqueFd> fds;
  std::optional<std::vector<std::string>> names;
  for (;;) {
    HANDOVER_ASSIGN_OR_RETURN(internal::RecvResult r,
                              internal::RecvWithFds(fd, data, fds, deadline));
    if (!names.has_value()) {
      HANDOVER_ASSIGN_OR_RETURN(names, ParseHeader(data));
    }
    if (r.truncated) {
      struct rlimit rl = {};
      ::getrlimit(RLIMIT_NOFILE, &rl);
      return absl::ResourceExhaustedError(absl::StrFormat(
          "control message truncated: received %d of %s fds; raise RLIMIT_NOFILE (ulimit -n, "
          "now %d) of this process",
          fds.size(), names ? absl::StrCat(names->size()) : "?", rl.rlim_cur));
    }
    if (!names.has_value() && !fds.empty()) {
      return absl::DataLossError("fds arrived before the reply header");
    }
    if (r.bytes == 0) break;
    if (data.size() > kMaxReply) return absl::DataLossError("reply too long");
  }
  if (!names.has_value()) return absl::DataLossError("server closed before a complete reply");
  const size_t batches = (names->size() + internal::kMaxFdsPerMessage - 1) /
                         internal::kMaxFdsPerMessage;
  if (fds.size() != names->size() || data != std::string(batches, '.')) {
    return absl::DataLossError(absl::StrFormat(
        "incomplete transfer: header announced %d fds, received %d (and %d of %d batch bytes)",
        names->size(), fds.size(), data.size(), batches));
  }
  result.fds = std::move(fds);
  result.names = *std::move(names);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ScmFetchResult> FetchListeners(const std::string& path, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, Connect(path, deadline));
  ScmFetchResult result;
  HANDOVER_RETURN_IF_ERROR(WithContext(IdentifyPeer(fd.get(), result), path));
  const std::string context =
      absl::StrFormat("fetching listeners from pid %d over %s", result.peer_pid, path);
  absl::Status s = internal::SendAll(fd.get(), "GET v1\n", deadline);
  if (s.ok()) s = ReceiveReply(fd.get(), deadline, result);
  if (s.code() == absl::StatusCode::kDeadlineExceeded) {
    s = absl::DeadlineExceededError(absl::StrFormat(
        "%s; no complete reply within %s: is the old instance stopped (SIGSTOP) or its event "
        "loop blocked?",
        s.message(), absl::FormatDuration(timeout)));
  }
  if (!s.ok()) return WithContext(s, context);
  return result;
}

}  // namespace handover
