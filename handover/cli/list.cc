// `handover list`: the sockets a takeover of the target would take.
#include <iostream>

#include "absl/strings/str_format.h"
#include "handover/cli/cli.h"
#include "handover/status.h"

namespace handover::cli {

absl::Status RunList(const CliOptions& options) {
  HANDOVER_ASSIGN_OR_RETURN(Process process, OpenTarget(options.target));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> selected,
                            ListSockets(process, options.select));
  if (options.json) {
    std::cout << SocketsToJson(selected) << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StreamFormat("%-5s %-5s %-6s %-9s %-12s %s\n", "FD", "PROTO", "STATE",
                                  "REUSEPORT", "INODE", "ADDRESS");
  for (const SocketInfo& s : selected) {
    const char* reuseport = !s.reuseport.has_value() ? "?" : (*s.reuseport ? "yes" : "no");
    std::cout << absl::StreamFormat("%-5d %-5s %-6s %-9s %-12d %s\n", s.fd, ProtoName(s.proto),
                                    StateName(s.state), reuseport, s.inode, s.address);
  }
  if (selected.empty()) {
    std::cerr << absl::StreamFormat("pid %d (%s) holds no listening or bound sockets\n",
                                    process.pid(), process.comm());
  }
  return absl::OkStatus();
}

}  // namespace handover::cli
