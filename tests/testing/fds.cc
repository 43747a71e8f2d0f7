#include "tests/testing/fds.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover::testing {

int CountOpenFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (const struct dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n - 1;
}

std::string LoopbackListener::address() const { return absl::StrCat("127.0.0.1:", port); }

absl::StatusOr<LoopbackListener> ListenOnLoopback() {
  LoopbackListener l;
  HANDOVER_ASSIGN_OR_RETURN(l.fd, sys::Socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  sockaddr_in in = {};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&in), sizeof(in)) != 0 ||
      ::listen(l.fd.get(), 511) != 0) {
    const int err = errno;
    return ErrnoError(err, "bind/listen on 127.0.0.1:0");
  }
  HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr addr, sys::GetSockName(l.fd.get()));
  l.port = ntohs(reinterpret_cast<const sockaddr_in*>(addr.get())->sin_port);
  return l;
}

}  // namespace handover::testing
