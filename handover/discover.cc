#include "handover/discover.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "handover/proc_net.h"
#include "handover/status.h"
#include "handover/sys.h"
#include "handover/target_netns.h"
#include "handover/unique_fd.h"

namespace handover {
namespace {

using Method = DiscoverOptions::Method;

struct FdSocket {
  int fd;
  uint64_t inode;
};

// "socket:[123]" -> 123; nullopt for anything else (pipes, files, anon inodes).
std::optional<uint64_t> SocketInode(absl::string_view link) {
  uint64_t inode = 0;
  if (!absl::ConsumePrefix(&link, "socket:[") || !absl::ConsumeSuffix(&link, "]") ||
      !absl::SimpleAtoi(link, &inode)) {
    return std::nullopt;
  }
  return inode;
}

// The socket fds of the target (/proc/PID/fd through proc_dir), ascending fd order.
absl::StatusOr<std::vector<FdSocket>> ListSocketFds(int proc_dir) {
  // One directory fd for fd/: each link below is then a one-component lookup, the
  // cost that dominates discovery for a process holding thousands of fds.
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd_dir, sys::OpenAt(proc_dir, "fd", O_RDONLY | O_DIRECTORY));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<std::string> names, sys::ListDirAt(fd_dir.get(), "."));
  std::vector<FdSocket> out;
  out.reserve(names.size());
  for (const std::string& name : names) {
    int fd = -1;
    if (!absl::SimpleAtoi(name, &fd)) continue;
    absl::StatusOr<std::string> link = sys::ReadLinkAt(fd_dir.get(), name);
    if (absl::IsNotFound(link.status())) continue;  // closed since the listing
    if (!link.ok()) return link.status();
    if (std::optional<uint64_t> inode = SocketInode(*link)) out.push_back({fd, *inode});
  }
  std::sort(out.begin(), out.end(),
            [](const FdSocket& a, const FdSocket& b) { return a.fd < b.fd; });
  return out;
}

// The /proc/PID/net files show the target's namespace. A missing tcp6/udp6 means
// IPv6 is disabled, not an error.
absl::StatusOr<std::vector<SocketInfo>> ProcNetSockets(int proc_dir) {
  constexpr std::pair<const char*, Proto> kInetFiles[] = {{"net/tcp", Proto::kTcp},
                                                          {"net/tcp6", Proto::kTcp6},
                                                          {"net/udp", Proto::kUdp},
                                                          {"net/udp6", Proto::kUdp6}};
  std::vector<SocketInfo> out;
  for (const auto& [file, proto] : kInetFiles) {
    absl::StatusOr<std::string> text = sys::ReadFileAt(proc_dir, file);
    if (absl::IsNotFound(text.status()) && (proto == Proto::kTcp6 || proto == Proto::kUdp6)) {
      continue;
    }
    if (!text.ok()) return text.status();
    HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> found,
                              internal::ParseProcNetInet(*text, proto));
    out.insert(out.end(), found.begin(), found.end());
  }
  HANDOVER_ASSIGN_OR_RETURN(std::string unix_text, sys::ReadFileAt(proc_dir, "net/unix"));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> found, internal::ParseProcNetUnix(unix_text));
  out.insert(out.end(), found.begin(), found.end());
  return out;
}

// Errors after which kAuto tries /proc/PID/net: setns refused (EPERM) or not
// supported with a pidfd (EINVAL, Linux < 5.8), diag module missing (ENOENT).
bool WorthFallingBack(const absl::Status& s) {
  return absl::IsPermissionDenied(s) || absl::IsInvalidArgument(s) || absl::IsNotFound(s) ||
         absl::IsUnimplemented(s);
}

absl::StatusOr<std::vector<SocketInfo>> ProcNetSocketsWithContext(int proc_dir,
                                                                  absl::string_view why) {
  absl::StatusOr<std::vector<SocketInfo>> found = ProcNetSockets(proc_dir);
  if (found.ok()) return found;
  return WithContext(found.status(), absl::StrCat("reading the target's /proc/PID/net", why));
}

absl::StatusOr<std::vector<SocketInfo>> NamespaceSockets(int pidfd, int proc_dir, Method method) {
  if (method == Method::kProcNet) return ProcNetSocketsWithContext(proc_dir, "");
  absl::StatusOr<std::vector<SocketInfo>> found = internal::SockDiagSocketsOf(pidfd, proc_dir);
  if (found.ok()) return found;
  if (method == Method::kSockDiag || !WorthFallingBack(found.status())) {
    return WithContext(found.status(), "listing sockets with sock_diag");
  }
  return ProcNetSocketsWithContext(
      proc_dir, absl::StrCat(" (after sock_diag failed: ", found.status().message(), ")"));
}

// Attaches an fd to each namespace socket the target holds; duplicates noted.
std::vector<SocketInfo> Join(const std::vector<FdSocket>& fds,
                             const std::vector<SocketInfo>& in_netns) {
  absl::flat_hash_map<uint64_t, const SocketInfo*> by_inode;
  for (const SocketInfo& s : in_netns) by_inode.emplace(s.inode, &s);
  absl::flat_hash_map<uint64_t, size_t> taken;  // inode -> index in out
  std::vector<SocketInfo> out;
  for (const FdSocket& f : fds) {
    if (auto it = taken.find(f.inode); it != taken.end()) {
      out[it->second].duplicate_fds.push_back(f.fd);
      continue;
    }
    auto it = by_inode.find(f.inode);
    if (it == by_inode.end()) continue;
    out.push_back(*it->second);
    out.back().fd = f.fd;
    taken.emplace(f.inode, out.size() - 1);
  }
  return out;
}

absl::Status InspectCopy(int copy, SocketInfo& s) {
  HANDOVER_ASSIGN_OR_RETURN(struct stat st, sys::Fstat(copy));
  if (st.st_ino != s.inode) {
    return absl::AbortedError(absl::StrFormat(
        "fd %d now holds inode %d, not socket inode %d: it changed during discovery; retry", s.fd,
        st.st_ino, s.inode));
  }
  HANDOVER_ASSIGN_OR_RETURN(int type, sys::GetSockOptInt(copy, SOL_SOCKET, SO_TYPE));
  if (type != s.type) {
    return absl::InternalError(absl::StrFormat("fd %d: SO_TYPE %d, but the listing said %s", s.fd,
                                               type, TypeName(s.type)));
  }
  HANDOVER_ASSIGN_OR_RETURN(int reuseport, sys::GetSockOptInt(copy, SOL_SOCKET, SO_REUSEPORT));
  s.reuseport = reuseport != 0;
  return absl::OkStatus();
}

// Fills reuseport from a temporary pidfd_getfd copy of each socket. A refused
// copy (PERMISSION_DENIED) leaves every reuseport unknown.
absl::Status InspectCopies(int pidfd, std::vector<SocketInfo>& sockets) {
  for (SocketInfo& s : sockets) {
    absl::StatusOr<UniqueFd> copy = sys::PidfdGetfd(pidfd, s.fd);
    if (absl::IsPermissionDenied(copy.status())) {
      for (SocketInfo& t : sockets) t.reuseport.reset();
      return absl::OkStatus();
    }
    if (absl::IsFailedPrecondition(copy.status())) {
      return absl::AbortedError(absl::StrFormat("fd %d was closed during discovery; retry (%s)",
                                                s.fd, copy.status().message()));
    }
    if (!copy.ok()) return WithContext(copy.status(), absl::StrFormat("inspecting fd %d", s.fd));
    HANDOVER_RETURN_IF_ERROR(InspectCopy(copy->get(), s));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<SocketInfo>> DiscoverSockets(int pidfd, int proc_dir,
                                                        const DiscoverOptions& options) {
  HANDOVER_RETURN_IF_ERROR(internal::CheckAlive(pidfd));
  absl::StatusOr<std::vector<FdSocket>> fds = ListSocketFds(proc_dir);
  if (!fds.ok()) {
    return WithContext(fds.status(), absl::IsPermissionDenied(fds.status())
                                         ? "listing the target's /proc/PID/fd (needs ptrace "
                                           "read access: same uid or CAP_SYS_PTRACE)"
                                         : "listing the target's /proc/PID/fd");
  }
  HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> in_netns,
                            NamespaceSockets(pidfd, proc_dir, options.method));
  std::vector<SocketInfo> sockets = Join(*fds, in_netns);
  if (options.inspect_copies) HANDOVER_RETURN_IF_ERROR(InspectCopies(pidfd, sockets));
  // The fd listing of an exiting process can be partial: do not return it.
  HANDOVER_RETURN_IF_ERROR(internal::CheckAlive(pidfd));
  return sockets;
}

absl::StatusOr<std::vector<SocketInfo>> DiscoverSockets(const Process& process,
                                                        const DiscoverOptions& options) {
  return DiscoverSockets(process.fd_pidfd(), process.fd_dir(), options);
}

}  // namespace handover
