#include "tests/testing/fd_holder.h"

#include <unistd.h>

#include <atomic>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "handover/status.h"

namespace handover::testing {

absl::StatusOr<HeldSocket> ParseHeldSocket(const std::string& line) {
  HeldSocket s;
  for (absl::string_view field : absl::StrSplit(line, ' ')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(field, '=');
    if (kv.first == "fd" && absl::SimpleAtoi(kv.second, &s.fd)) continue;
    if (kv.first == "inode" && absl::SimpleAtoi(kv.second, &s.inode)) continue;
    if (kv.first == "proto") s.proto = std::string(kv.second);
    else if (kv.first == "address") s.address = std::string(kv.second);
    else return absl::InvalidArgumentError(absl::StrCat("bad fd_holder line: ", line));
  }
  const size_t colon = s.address.rfind(':');
  if (s.proto != "unix" && colon != std::string::npos) {
    int port = 0;
    if (absl::SimpleAtoi(s.address.substr(colon + 1), &port)) s.port = static_cast<uint16_t>(port);
  }
  return s;
}

absl::StatusOr<FdHolder> StartFdHolder(std::vector<std::string> args, SpawnOptions base) {
  base.argv = {BinPath("fd_holder")};
  for (std::string& a : args) base.argv.push_back(std::move(a));
  HANDOVER_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn(base));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<std::string> lines, child.ReadUntil("ready"));
  FdHolder holder{.child = std::move(child), .sockets = {}};
  for (const std::string& line : lines) {
    HANDOVER_ASSIGN_OR_RETURN(HeldSocket s, ParseHeldSocket(line));
    holder.sockets.push_back(std::move(s));
  }
  return holder;
}

std::string UniqueTempPath(const std::string& stem) {
  static std::atomic<int> counter{0};
  return absl::StrCat(::testing::TempDir(), "/", stem, ".", ::getpid(), ".", counter++);
}

}  // namespace handover::testing
