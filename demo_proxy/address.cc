#include "demo_proxy/address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "handover/status.h"

namespace handover::demo {
namespace {

absl::StatusOr<sys::SockAddr> ParseUnix(absl::string_view path) {
  sys::SockAddr out;
  auto* un = reinterpret_cast<struct sockaddr_un*>(&out.storage);
  un->sun_family = AF_UNIX;
  if (path.empty() || path.size() + 1 > sizeof(un->sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("bad unix socket path '", path, "'"));
  }
  const bool abstract = path[0] == '@';
  std::memcpy(un->sun_path, path.data(), path.size());
  if (abstract) un->sun_path[0] = '\0';
  out.len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size() +
                                   (abstract ? 0 : 1));
  return out;
}

absl::StatusOr<sys::SockAddr> ParseInet(absl::string_view text) {
  const absl::Status bad = absl::InvalidArgumentError(
      absl::StrCat("bad address '", text, "': want 1.2.3.4:PORT, [::1]:PORT or unix:/path"));
  std::string host;
  absl::string_view port_text;
  if (absl::ConsumePrefix(&text, "[")) {
    const size_t close = text.find("]:");
    if (close == absl::string_view::npos) return bad;
    host = std::string(text.substr(0, close));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return bad;
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(port_text, &port) || port > 65535) return bad;
  sys::SockAddr out;
  auto* in = reinterpret_cast<struct sockaddr_in*>(&out.storage);
  auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&out.storage);
  if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    out.len = sizeof(*in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    out.len = sizeof(*in6);
  } else {
    return bad;
  }
  return out;
}

}  // namespace

absl::StatusOr<sys::SockAddr> ParseAddress(absl::string_view text) {
  if (absl::ConsumePrefix(&text, "unix:")) return ParseUnix(text);
  return ParseInet(text);
}

absl::StatusOr<std::vector<sys::SockAddr>> ParseAddressList(absl::string_view csv) {
  std::vector<sys::SockAddr> out;
  if (csv.empty()) return out;
  for (absl::string_view item : absl::StrSplit(csv, ',')) {
    HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr addr, ParseAddress(item));
    out.push_back(addr);
  }
  return out;
}

std::string FormatAddress(const sys::SockAddr& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.family() == AF_INET) {
    const auto* in = reinterpret_cast<const struct sockaddr_in*>(&addr.storage);
    ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    return absl::StrFormat("%s:%d", buf, ntohs(in->sin_port));
  }
  if (addr.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(&addr.storage);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    return absl::StrFormat("[%s]:%d", buf, ntohs(in6->sin6_port));
  }
  if (addr.family() == AF_UNIX) {
    const auto* un = reinterpret_cast<const struct sockaddr_un*>(&addr.storage);
    const size_t off = offsetof(struct sockaddr_un, sun_path);
    if (addr.len <= off) return "unix:";
    if (un->sun_path[0] == '\0') {
      return absl::StrCat("unix:@", absl::string_view(un->sun_path + 1, addr.len - off - 1));
    }
    return absl::StrCat("unix:", un->sun_path);
  }
  return absl::StrCat("family-", addr.family());
}

absl::StatusOr<UniqueFd> BindListener(const sys::SockAddr& addr, int backlog, bool reuseport) {
  const std::string text = FormatAddress(addr);
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, sys::Socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK, 0));
  if (addr.family() != AF_UNIX) {
    const int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
      const int err = errno;
      return ErrnoError(err, absl::StrFormat("setsockopt(%d, SO_REUSEADDR)", fd.get()));
    }
    if (reuseport && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      const int err = errno;
      return ErrnoError(err, absl::StrFormat("setsockopt(%d, SO_REUSEPORT)", fd.get()));
    }
  }
  if (::bind(fd.get(), addr.get(), addr.len) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("bind(%d, %s)", fd.get(), text));
  }
  if (::listen(fd.get(), backlog) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrFormat("listen(%d, %d) on %s", fd.get(), backlog, text));
  }
  return fd;
}

absl::StatusOr<ConnectAttempt> StartConnect(const sys::SockAddr& addr) {
  ConnectAttempt out;
  HANDOVER_ASSIGN_OR_RETURN(out.fd, sys::Socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK, 0));
  if (::connect(out.fd.get(), addr.get(), addr.len) == 0) return out;
  const int err = errno;
  if (err == EINPROGRESS) {
    out.in_progress = true;
  } else {
    out.error = err;
    out.fd.Reset();
  }
  return out;
}

int ConnectError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

}  // namespace handover::demo
