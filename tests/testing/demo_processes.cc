#include "tests/testing/demo_processes.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover::testing {
namespace {

absl::StatusOr<sys::SockAddr> Parse(absl::string_view text) {
  sys::SockAddr a;
  if (absl::ConsumePrefix(&text, "unix:")) {
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
    un->sun_family = AF_UNIX;
    if (text.size() + 1 > sizeof(un->sun_path)) return absl::InvalidArgumentError("path too long");
    std::memcpy(un->sun_path, text.data(), text.size());
    a.len = sizeof(*un);
    return a;
  }
  const size_t colon = text.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(text.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("bad address ", text));
  }
  std::string host(text.substr(0, colon));
  auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (absl::StartsWith(host, "[")) {
    host = host.substr(1, host.size() - 2);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
      return absl::InvalidArgumentError(host);
    }
    a.len = sizeof(*in6);
    return a;
  }
  in->sin_family = AF_INET;
  in->sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1) {
    return absl::InvalidArgumentError(host);
  }
  a.len = sizeof(*in);
  return a;
}

// Reads some bytes with a deadline; 0 at EOF.
absl::StatusOr<size_t> ReadSome(int fd, char* buf, size_t size, absl::Time deadline) {
  for (;;) {
    HANDOVER_ASSIGN_OR_RETURN(bool readable, sys::WaitReadable(fd, deadline));
    if (!readable) return absl::DeadlineExceededError(absl::StrFormat("read(%d) timed out", fd));
    const ssize_t n = ::read(fd, buf, size);
    if (n >= 0) return static_cast<size_t>(n);
    const int err = errno;
    if (err == EINTR || err == EAGAIN) continue;
    return ErrnoError(err, absl::StrFormat("read(%d)", fd));
  }
}

}  // namespace

absl::StatusOr<DemoProcess> StartBackend(std::vector<std::string> args) {
  SpawnOptions o{.argv = {BinPath("demo_backend"), "--listen=127.0.0.1:0"}};
  for (std::string& a : args) o.argv.push_back(std::move(a));
  HANDOVER_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn(o));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<std::string> lines, child.ReadUntil("ready"));
  if (lines.size() != 1 || !absl::StartsWith(lines[0], "listening ")) {
    return absl::InternalError(absl::StrCat("demo_backend said: ", absl::StrJoin(lines, "|")));
  }
  return DemoProcess{.process = std::move(child), .address = lines[0].substr(10)};
}

absl::StatusOr<DemoProcess> StartProxy(std::vector<std::string> args, SpawnOptions base) {
  base.argv.push_back(BinPath("demo_proxy"));
  base.argv.push_back("--print_ready");
  for (std::string& a : args) base.argv.push_back(std::move(a));
  HANDOVER_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn(base));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<std::string> lines, child.ReadUntil("ready"));
  DemoProcess out{.process = std::move(child)};
  for (const std::string& line : lines) {
    // "listening fd=N ADDRESS"
    std::vector<std::string> words = absl::StrSplit(line, ' ');
    if (words.size() == 3 && words[0] == "listening" && out.listener_fd < 0 &&
        absl::SimpleAtoi(absl::StripPrefix(words[1], "fd="), &out.listener_fd)) {
      out.address = words[2];
    }
  }
  if (out.listener_fd < 0) {
    return absl::InternalError(absl::StrCat("demo_proxy said: ", absl::StrJoin(lines, "|")));
  }
  return out;
}

absl::StatusOr<UniqueFd> ConnectTo(absl::string_view address, int rcvbuf_bytes) {
  HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr addr, Parse(address));
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd fd, sys::Socket(addr.family(), SOCK_STREAM, 0));
  if (rcvbuf_bytes > 0 &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof(rcvbuf_bytes)) != 0) {
    const int err = errno;
    return ErrnoError(err, "setsockopt(SO_RCVBUF)");
  }
  if (::connect(fd.get(), addr.get(), addr.len) != 0) {
    const int err = errno;
    return ErrnoError(err, absl::StrCat("connect(", address, ")"));
  }
  return fd;
}

absl::StatusOr<std::string> HttpExchange(int fd, absl::string_view request,
                                         absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  HANDOVER_RETURN_IF_ERROR(sys::WriteAll(fd, request));
  std::string in;
  size_t want = std::string::npos;  // total bytes of head + body once known
  char buf[16384];
  while (in.size() < want) {
    HANDOVER_ASSIGN_OR_RETURN(size_t n, ReadSome(fd, buf, sizeof(buf), deadline));
    if (n == 0) return absl::DataLossError(absl::StrCat("EOF inside response: ", in));
    in.append(buf, n);
    const size_t end = in.find("\r\n\r\n");
    if (want != std::string::npos || end == std::string::npos) continue;
    // Header names are case-insensitive (HAProxy sends "content-length").
    const size_t at = absl::AsciiStrToLower(in.substr(0, end)).find("content-length: ");
    size_t length = 0;
    if (at == std::string::npos || !absl::SimpleAtoi(in.substr(at + 16, in.find('\r', at) - at - 16),
                                                     &length)) {
      return absl::DataLossError(absl::StrCat("no Content-Length: ", in));
    }
    want = end + 4 + length;
  }
  if (!absl::StartsWith(in, "HTTP/1.1 200 ")) return absl::DataLossError(in);
  return in.substr(in.find("\r\n\r\n") + 4);
}

absl::StatusOr<std::string> ReadToEof(int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string out;
  char buf[16384];
  for (;;) {
    HANDOVER_ASSIGN_OR_RETURN(size_t n, ReadSome(fd, buf, sizeof(buf), deadline));
    if (n == 0) return out;
    out.append(buf, n);
  }
}

std::map<std::string, int64_t> ParseCounters(absl::string_view line) {
  std::map<std::string, int64_t> out;
  for (absl::string_view word : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
    const size_t eq = word.find('=');
    int64_t v = 0;
    if (eq != absl::string_view::npos && absl::SimpleAtoi(word.substr(eq + 1), &v)) {
      out[std::string(word.substr(0, eq))] = v;
    }
  }
  return out;
}

absl::StatusOr<std::string> ReadLineStartingWith(ChildProcess& child, absl::string_view prefix,
                                                 absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    HANDOVER_ASSIGN_OR_RETURN(std::string line, child.ReadLine(deadline - absl::Now()));
    if (absl::StartsWith(line, prefix)) return line;
  }
}

absl::StatusOr<int64_t> CpuTicks(pid_t pid) {
  HANDOVER_ASSIGN_OR_RETURN(std::string stat,
                            sys::ReadFileAt(AT_FDCWD, absl::StrCat("/proc/", pid, "/stat")));
  // Fields after the LAST ')' start at field 3 (state); utime is 14, stime 15.
  std::vector<absl::string_view> f =
      absl::StrSplit(absl::string_view(stat).substr(stat.rfind(')') + 2), ' ');
  int64_t utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[11], &utime) || !absl::SimpleAtoi(f[12], &stime)) {
    return absl::InternalError(absl::StrCat("bad /proc/", pid, "/stat: ", stat));
  }
  return utime + stime;
}

absl::StatusOr<int64_t> ProcStatusKb(pid_t pid, absl::string_view key) {
  HANDOVER_ASSIGN_OR_RETURN(std::string status,
                            sys::ReadFileAt(AT_FDCWD, absl::StrCat("/proc/", pid, "/status")));
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, key) || !absl::ConsumePrefix(&line, ":")) continue;
    int64_t kb = 0;
    if (absl::SimpleAtoi(absl::StripSuffix(absl::StripAsciiWhitespace(line), " kB"), &kb)) {
      return kb;
    }
  }
  return absl::NotFoundError(absl::StrCat(key, " not in /proc/", pid, "/status"));
}

}  // namespace handover::testing
