#include "handover/readiness.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "handover/process.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover {
namespace {

// Numeric entry names of a /proc-style directory (pids, tids or fds).
std::vector<int> NumericEntries(int dir_fd, const std::string& path) {
  std::vector<int> out;
  absl::StatusOr<UniqueFd> fd = sys::OpenAt(dir_fd, path, O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) return out;
  DIR* dir = ::fdopendir(fd->Release());
  if (dir == nullptr) return out;
  while (const struct dirent* e = ::readdir(dir)) {
    int n = 0;
    if (absl::SimpleAtoi(e->d_name, &n)) out.push_back(n);
  }
  ::closedir(dir);
  return out;
}

// `root` and every process whose ppid chain leads to it.
std::vector<pid_t> ProcessTree(pid_t root) {
  absl::flat_hash_map<pid_t, std::vector<pid_t>> children;
  for (int pid : NumericEntries(AT_FDCWD, "/proc")) {
    absl::StatusOr<std::string> text = sys::ReadFileAt(AT_FDCWD, absl::StrCat("/proc/", pid, "/stat"));
    if (!text.ok()) continue;
    absl::StatusOr<ProcStat> stat = ParseProcStat(*text);
    if (stat.ok()) children[stat->ppid].push_back(pid);
  }
  std::vector<pid_t> tree = {root};
  for (size_t i = 0; i < tree.size(); ++i) {
    auto it = children.find(tree[i]);
    if (it != children.end()) tree.insert(tree.end(), it->second.begin(), it->second.end());
  }
  return tree;
}

// The socket inode behind fd `fd` of the process whose /proc dir is `proc_dir`, or 0.
uint64_t SocketInode(int proc_dir, int fd) {
  absl::StatusOr<std::string> link = sys::ReadLinkAt(proc_dir, absl::StrCat("fd/", fd));
  if (!link.ok()) return 0;
  absl::string_view v = *link;
  uint64_t inode = 0;
  if (!absl::ConsumePrefix(&v, "socket:[") || !absl::ConsumeSuffix(&v, "]") ||
      !absl::SimpleAtoi(v, &inode)) {
    return 0;
  }
  return inode;
}

void AddEpollTargets(int proc_dir, absl::flat_hash_set<uint64_t>& out) {
  for (int fd : NumericEntries(proc_dir, "fd")) {
    absl::StatusOr<std::string> link = sys::ReadLinkAt(proc_dir, absl::StrCat("fd/", fd));
    if (!link.ok() || *link != "anon_inode:[eventpoll]") continue;
    absl::StatusOr<std::string> info = sys::ReadFileAt(proc_dir, absl::StrCat("fdinfo/", fd));
    if (info.ok()) out.merge(ParseEpollTargetInodes(*info));
  }
}

// Threads blocked in accept()/accept4(): /proc/PID/task/TID/syscall starts with
// the syscall number and then its first argument (the listening fd) in hex.
void AddBlockedAccepts(int proc_dir, absl::flat_hash_set<uint64_t>& out) {
  for (int tid : NumericEntries(proc_dir, "task")) {
    absl::StatusOr<std::string> text = sys::ReadFileAt(proc_dir, absl::StrCat("task/", tid, "/syscall"));
    if (!text.ok()) continue;
    std::vector<absl::string_view> f = absl::StrSplit(*text, ' ');
    long nr = -1;
    if (f.size() < 2 || !absl::SimpleAtoi(f[0], &nr)) continue;
    if (nr != SYS_accept && nr != SYS_accept4) continue;
    uint64_t fd = 0;
    if (absl::SimpleHexAtoi(absl::StripPrefix(f[1], "0x"), &fd)) {
      if (uint64_t inode = SocketInode(proc_dir, static_cast<int>(fd))) out.insert(inode);
    }
  }
}

}  // namespace

absl::flat_hash_set<uint64_t> ParseEpollTargetInodes(absl::string_view fdinfo) {
  absl::flat_hash_set<uint64_t> out;
  for (absl::string_view line : absl::StrSplit(fdinfo, '\n')) {
    if (!absl::StartsWith(line, "tfd:")) continue;
    const size_t at = line.find(" ino:");
    if (at == absl::string_view::npos) continue;
    absl::string_view hex = line.substr(at + 5);
    hex = hex.substr(0, hex.find(' '));
    uint64_t inode = 0;
    if (absl::SimpleHexAtoi(hex, &inode)) out.insert(inode);
  }
  return out;
}

absl::StatusOr<absl::flat_hash_set<uint64_t>> ServedSocketInodes(pid_t pid) {
  absl::flat_hash_set<uint64_t> served;
  for (pid_t p : ProcessTree(pid)) {
    absl::StatusOr<UniqueFd> dir =
        sys::OpenAt(AT_FDCWD, absl::StrCat("/proc/", p), O_RDONLY | O_DIRECTORY);
    if (!dir.ok()) continue;  // exited during the walk
    AddEpollTargets(dir->get(), served);
    AddBlockedAccepts(dir->get(), served);
  }
  return served;
}

absl::StatusOr<bool> WaitUntilAccepting(int pidfd, pid_t pid, absl::Span<const uint64_t> inodes,
                                        absl::Time deadline) {
  absl::Duration interval = absl::Milliseconds(1);
  for (;;) {
    HANDOVER_ASSIGN_OR_RETURN(absl::flat_hash_set<uint64_t> served, ServedSocketInodes(pid));
    if (std::all_of(inodes.begin(), inodes.end(),
                    [&](uint64_t inode) { return served.contains(inode); })) {
      return true;
    }
    if (absl::Now() >= deadline) return false;
    // Wait on the pidfd: wakes at once if the server exits, else after `interval`.
    HANDOVER_ASSIGN_OR_RETURN(bool exited,
                              sys::WaitReadable(pidfd, std::min(deadline, absl::Now() + interval)));
    if (exited) {
      return absl::FailedPreconditionError(
          absl::StrCat("pid ", pid, " exited before it was accepting on its sockets"));
    }
    interval = std::min(interval * 2, absl::Milliseconds(20));
  }
}

}  // namespace handover
