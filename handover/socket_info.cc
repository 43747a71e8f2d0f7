#include "handover/socket_info.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace handover {

bool operator==(const SocketInfo& a, const SocketInfo& b) {
  return a.fd == b.fd && a.inode == b.inode && a.cookie == b.cookie && a.proto == b.proto && a.type == b.type &&
         a.state == b.state && a.address == b.address && a.port == b.port &&
         a.reuseport == b.reuseport && a.duplicate_fds == b.duplicate_fds;
}

absl::string_view ProtoName(Proto proto) {
  switch (proto) {
    case Proto::kTcp:
      return "tcp";
    case Proto::kTcp6:
      return "tcp6";
    case Proto::kUdp:
      return "udp";
    case Proto::kUdp6:
      return "udp6";
    case Proto::kUnix:
      return "unix";
  }
  return "?";
}

absl::string_view StateName(SocketState state) {
  switch (state) {
    case SocketState::kListen:
      return "listen";
    case SocketState::kBound:
      return "bound";
  }
  return "?";
}

absl::string_view TypeName(int type) {
  switch (type) {
    case SOCK_STREAM:
      return "stream";
    case SOCK_DGRAM:
      return "dgram";
    case SOCK_SEQPACKET:
      return "seqpacket";
    default:
      return "other";
  }
}

std::string FormatInetAddress(int family, const void* addr, uint16_t port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    ::inet_ntop(AF_INET, addr, buf, sizeof(buf));
    return absl::StrCat(buf, ":", port);
  }
  if (family == AF_INET6) {
    ::inet_ntop(AF_INET6, addr, buf, sizeof(buf));
    return absl::StrCat("[", buf, "]:", port);
  }
  return "";
}

namespace {

bool HasNonPrintable(absl::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return true;
  }
  return false;
}

absl::string_view ReuseportColumn(const std::optional<bool>& reuseport) {
  if (!reuseport.has_value()) return "  reuseport unknown";
  return *reuseport ? "  reuseport" : "";
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len;
  uint32_t min;
  uint32_t cp;
  if (b0 < 0x80) return 1;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    min = 0x80;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    min = 0x800;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    min = 0x10000;
    cp = b0 & 0x07;
  } else
    return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

std::string FormatSocket(const SocketInfo& s) {
  std::string proto(ProtoName(s.proto));
  if (s.proto == Proto::kUnix) absl::StrAppend(&proto, " ", TypeName(s.type));
  std::string address = s.address.empty()            ? std::string("(unnamed)")
                        : HasNonPrintable(s.address) ? absl::CHexEscape(s.address)
                                                     : s.address;
  std::string line =
      absl::StrFormat("fd %d  %s  %s  %s  inode %d%s", s.fd, proto, StateName(s.state), address,
                      s.inode, ReuseportColumn(s.reuseport));
  if (!s.duplicate_fds.empty()) {
    absl::StrAppend(&line, "  dup fds ", absl::StrJoin(s.duplicate_fds, ","));
  }
  return line;
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  out.reserve(s.size() + 2);
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const size_t len = Utf8SequenceLength(s, i);
      if (len == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20)
          absl::StrAppendFormat(&out, "\\u%04x", u);
        else
          out += c;
    }
  }
  out += '"';
  return out;
}

namespace {

std::string SocketToJson(const SocketInfo& s) {
  std::string out = absl::StrFormat(
      "{\"fd\":%d,\"inode\":%d,\"proto\":%s,\"type\":%s,\"address\":%s,", s.fd, s.inode,
      JsonString(ProtoName(s.proto)), JsonString(TypeName(s.type)), JsonString(s.address));
  if (s.proto != Proto::kUnix) absl::StrAppend(&out, "\"port\":", s.port, ",");
  absl::StrAppend(&out, "\"state\":", JsonString(StateName(s.state)), ",\"reuseport\":",
                  !s.reuseport.has_value() ? "null" : (*s.reuseport ? "true" : "false"),
                  ",\"duplicate_fds\":[", absl::StrJoin(s.duplicate_fds, ","), "]}");
  return out;
}

}  // namespace

std::string SocketsToJson(const std::vector<SocketInfo>& sockets) {
  std::vector<std::string> items;
  items.reserve(sockets.size());
  for (const SocketInfo& s : sockets) items.push_back(SocketToJson(s));
  return absl::StrCat("[", absl::StrJoin(items, ","), "]");
}

}  // namespace handover
