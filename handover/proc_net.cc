#include "handover/proc_net.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace handover::internal {
namespace {

// Kernel constants as /proc/net prints them (include/net/tcp_states.h, net/unix).
constexpr uint32_t kTcpListen = 0x0A;
constexpr uint32_t kTcpClose = 0x07;
constexpr uint32_t kSoAcceptCon = 0x00010000;  // __SO_ACCEPTCON

// Splits off the next space-separated field of `rest` (leading spaces skipped).
absl::string_view NextField(absl::string_view& rest) {
  size_t start = 0;
  while (start < rest.size() && rest[start] == ' ') ++start;
  size_t end = start;
  while (end < rest.size() && rest[end] != ' ') ++end;
  absl::string_view field = rest.substr(start, end - start);
  rest.remove_prefix(end);
  return field;
}

// Exactly 1..8 hex digits, nothing else.
std::optional<uint32_t> ParseHex32(absl::string_view s) {
  if (s.empty() || s.size() > 8) return std::nullopt;
  uint32_t v = 0;
  for (const char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    const int digit = absl::ascii_isdigit(static_cast<unsigned char>(c))
                          ? c - '0'
                          : absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10;
    v = (v << 4) | static_cast<uint32_t>(digit);
  }
  return v;
}

std::optional<uint64_t> ParseDecimal(absl::string_view s) {
  uint64_t v = 0;
  if (s.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(s[0])) ||
      !absl::SimpleAtoi(s, &v)) {
    return std::nullopt;
  }
  return v;
}

bool IsV6(Proto proto) { return proto == Proto::kTcp6 || proto == Proto::kUdp6; }
bool IsTcp(Proto proto) { return proto == Proto::kTcp || proto == Proto::kTcp6; }

// "0100007F:1F90" (tcp/udp) or 32 hex digits + ":PORT" (tcp6/udp6). The kernel
// prints each 32-bit word of the network-order address as a native integer
// (%08X), so storing the parsed words back as native integers restores the bytes.
bool ParseInetAddress(absl::string_view field, Proto proto, SocketInfo& out) {
  const size_t colon = field.find(':');
  if (colon == absl::string_view::npos) return false;
  absl::string_view hex = field.substr(0, colon);
  absl::string_view port_hex = field.substr(colon + 1);
  const size_t words = IsV6(proto) ? 4 : 1;
  if (hex.size() != words * 8 || port_hex.size() != 4) return false;
  uint32_t addr[4] = {};
  for (size_t i = 0; i < words; ++i) {
    std::optional<uint32_t> w = ParseHex32(hex.substr(i * 8, 8));
    if (!w.has_value()) return false;
    addr[i] = *w;
  }
  std::optional<uint32_t> port = ParseHex32(port_hex);
  if (!port.has_value()) return false;
  out.port = static_cast<uint16_t>(*port);
  out.address = FormatInetAddress(IsV6(proto) ? AF_INET6 : AF_INET, addr, out.port);
  return true;
}

absl::Status Malformed(absl::string_view file, size_t line_no, absl::string_view line,
                       absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat("parsing /proc/net/%s line %d (\"%s\"): %s",
                                                    file, line_no, absl::CHexEscape(line), why));
}

// One data line of tcp/udp: "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...".
// Returns nullopt for sockets that are not taken over.
absl::StatusOr<std::optional<SocketInfo>> ParseInetLine(absl::string_view line, Proto proto,
                                                        size_t line_no) {
  std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
  if (f.size() < 10) return Malformed(ProtoName(proto), line_no, line, "fewer than 10 fields");
  SocketInfo s{.proto = proto, .type = IsTcp(proto) ? SOCK_STREAM : SOCK_DGRAM};
  if (!ParseInetAddress(f[1], proto, s)) {
    return Malformed(ProtoName(proto), line_no, line, "bad local address");
  }
  std::optional<uint32_t> st = ParseHex32(f[3]);
  std::optional<uint64_t> inode = ParseDecimal(f[9]);
  if (!st.has_value() || f[3].size() != 2) {
    return Malformed(ProtoName(proto), line_no, line, "bad state");
  }
  if (!inode.has_value()) return Malformed(ProtoName(proto), line_no, line, "bad inode");
  s.inode = *inode;
  if (IsTcp(proto)) {
    if (*st != kTcpListen) return std::nullopt;
    s.state = SocketState::kListen;
  } else {
    if (*st != kTcpClose || s.port == 0) return std::nullopt;
    s.state = SocketState::kBound;
  }
  return s;
}

// One data line of unix: "Num: RefCount Protocol Flags Type St Inode[ Path]".
absl::StatusOr<std::optional<SocketInfo>> ParseUnixLine(absl::string_view line, size_t line_no) {
  absl::string_view rest = line;
  absl::string_view fields[7];
  for (absl::string_view& field : fields) field = NextField(rest);
  if (fields[6].empty()) return Malformed("unix", line_no, line, "fewer than 7 fields");
  if (fields[0].back() != ':') return Malformed("unix", line_no, line, "bad slot");
  std::optional<uint32_t> flags = ParseHex32(fields[3]);
  std::optional<uint32_t> type = ParseHex32(fields[4]);
  std::optional<uint64_t> inode = ParseDecimal(fields[6]);
  if (!flags.has_value() || !type.has_value() || !inode.has_value()) {
    return Malformed("unix", line_no, line, "bad flags, type or inode");
  }
  if (!rest.empty() && rest[0] != ' ') return Malformed("unix", line_no, line, "bad path");
  if ((*flags & kSoAcceptCon) == 0) return std::nullopt;
  if (*type != SOCK_STREAM && *type != SOCK_SEQPACKET) return std::nullopt;
  SocketInfo s{.inode = *inode,
               .proto = Proto::kUnix,
               .type = static_cast<int>(*type),
               .state = SocketState::kListen};
  if (!rest.empty()) s.address = std::string(rest.substr(1));
  return s;
}

// Runs `parse_line` on every line after the header; collects what it returns.
template <typename ParseLine>
absl::StatusOr<std::vector<SocketInfo>> ParseLines(absl::string_view text, ParseLine parse_line) {
  std::vector<SocketInfo> out;
  size_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (line_no == 1 || line.empty()) continue;  // header, or the end of the text
    absl::StatusOr<std::optional<SocketInfo>> s = parse_line(line, line_no);
    if (!s.ok()) return s.status();
    if (s->has_value()) out.push_back(**std::move(s));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<SocketInfo>> ParseProcNetInet(absl::string_view text, Proto proto) {
  if (proto == Proto::kUnix) {
    return absl::InvalidArgumentError("ParseProcNetInet: proto must be tcp, tcp6, udp or udp6");
  }
  return ParseLines(text, [proto](absl::string_view line, size_t line_no) {
    return ParseInetLine(line, proto, line_no);
  });
}

absl::StatusOr<std::vector<SocketInfo>> ParseProcNetUnix(absl::string_view text) {
  return ParseLines(
      text, [](absl::string_view line, size_t line_no) { return ParseUnixLine(line, line_no); });
}

}  // namespace handover::internal
