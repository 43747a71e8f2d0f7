#include "handover/select.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace handover {
namespace {

constexpr absl::string_view kAcceptedForms =
    "accepted forms: tcp:ADDR:PORT, tcp:*:PORT, tcp6:[ADDR]:PORT, tcp6:*:PORT, udp:ADDR:PORT, "
    "udp:*:PORT, udp6:[ADDR]:PORT, udp6:*:PORT, unix:PATH, unix:@NAME, fd:N";

// At most this many found sockets are listed in a NOT_FOUND message.
constexpr size_t kMaxListed = 20;

std::string Quote(absl::string_view s) { return absl::StrCat("\"", absl::CHexEscape(s), "\""); }

absl::Status BadSpec(absl::string_view spec, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrFormat("bad --select spec %s: %s; %s", Quote(spec), why, kAcceptedForms));
}

bool AllDigits(absl::string_view s) {
  return !s.empty() && absl::c_all_of(s, [](char c) { return absl::ascii_isdigit(c); });
}

absl::StatusOr<uint16_t> ParsePort(absl::string_view spec, absl::string_view port_text) {
  int port = 0;
  if (!AllDigits(port_text) || port_text.size() > 5 || !absl::SimpleAtoi(port_text, &port) ||
      port < 1 || port > 65535) {
    return BadSpec(spec, absl::StrCat("port ", Quote(port_text), " is not a number in 1..65535"));
  }
  return static_cast<uint16_t>(port);
}

// "127.0.0.1" for tcp/udp, "[::1]" for tcp6/udp6 -> canonical "ADDR:PORT" as
// SocketInfo::address spells it.
absl::StatusOr<std::string> CanonicalAddress(absl::string_view spec, bool v6,
                                             absl::string_view host, uint16_t port) {
  if (v6 && !absl::ConsumePrefix(&host, "[")) {
    return BadSpec(spec, "an IPv6 address must be in brackets, as in [::1]");
  }
  if (v6 && !absl::ConsumeSuffix(&host, "]")) return BadSpec(spec, "missing ']'");
  unsigned char bytes[sizeof(struct in6_addr)] = {};
  const std::string host_string(host);
  if (::inet_pton(v6 ? AF_INET6 : AF_INET, host_string.c_str(), bytes) != 1) {
    return BadSpec(spec, absl::StrCat(Quote(host), " is not an ", v6 ? "IPv6" : "IPv4",
                                      " address (use * for any)"));
  }
  return FormatInetAddress(v6 ? AF_INET6 : AF_INET, bytes, port);
}

// `rest` is "ADDR:PORT", "[ADDR]:PORT" or "*:PORT".
absl::StatusOr<SelectSpec> ParseInet(absl::string_view spec, Proto proto, absl::string_view rest) {
  const size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos)
    return BadSpec(spec, "expected ADDR:PORT after the protocol");
  const absl::string_view host = rest.substr(0, colon);
  SelectSpec out{.kind = SelectSpec::Kind::kInet, .proto = proto, .text = std::string(spec)};
  absl::StatusOr<uint16_t> port = ParsePort(spec, rest.substr(colon + 1));
  if (!port.ok()) return port.status();
  out.port = *port;
  if (host == "*") return out;
  if (host.empty()) return BadSpec(spec, "empty address (use * for any)");
  const bool v6 = proto == Proto::kTcp6 || proto == Proto::kUdp6;
  absl::StatusOr<std::string> address = CanonicalAddress(spec, v6, host, out.port);
  if (!address.ok()) return address.status();
  out.address = *std::move(address);
  return out;
}

absl::StatusOr<SelectSpec> ParseOne(absl::string_view spec) {
  const size_t colon = spec.find(':');
  if (colon == absl::string_view::npos) return BadSpec(spec, "no ':' after the kind");
  const absl::string_view kind = spec.substr(0, colon);
  const absl::string_view rest = spec.substr(colon + 1);
  if (kind == "tcp") return ParseInet(spec, Proto::kTcp, rest);
  if (kind == "tcp6") return ParseInet(spec, Proto::kTcp6, rest);
  if (kind == "udp") return ParseInet(spec, Proto::kUdp, rest);
  if (kind == "udp6") return ParseInet(spec, Proto::kUdp6, rest);
  if (kind == "unix") {
    if (rest.empty() || rest == "@") return BadSpec(spec, "empty unix path or name");
    return SelectSpec{.kind = SelectSpec::Kind::kUnix,
                      .proto = Proto::kUnix,
                      .path = std::string(rest),
                      .text = std::string(spec)};
  }
  if (kind == "fd") {
    int fd = -1;
    if (!AllDigits(rest) || !absl::SimpleAtoi(rest, &fd)) {
      return BadSpec(spec, absl::StrCat(Quote(rest), " is not a non-negative fd number"));
    }
    return SelectSpec{.kind = SelectSpec::Kind::kFd, .fd = fd, .text = std::string(spec)};
  }
  return BadSpec(spec, absl::StrCat("unknown kind ", Quote(kind)));
}

std::string Summary(const SocketInfo& s) {
  return absl::StrCat("fd ", s.fd, " ", ProtoName(s.proto), " ",
                      s.address.empty() ? "(unnamed)" : absl::CHexEscape(s.address));
}

std::string FoundList(const std::vector<SocketInfo>& found) {
  if (found.empty()) return "no sockets were found";
  std::vector<std::string> items;
  for (size_t i = 0; i < found.size() && i < kMaxListed; ++i) items.push_back(Summary(found[i]));
  std::string list = absl::StrCat("found: ", absl::StrJoin(items, ", "));
  if (found.size() > kMaxListed)
    absl::StrAppend(&list, " and ", found.size() - kMaxListed, " more");
  return list;
}

}  // namespace

bool SpecMatches(const SelectSpec& spec, const SocketInfo& socket) {
  switch (spec.kind) {
    case SelectSpec::Kind::kFd:
      return socket.fd == spec.fd || absl::c_linear_search(socket.duplicate_fds, spec.fd);
    case SelectSpec::Kind::kUnix:
      return socket.proto == Proto::kUnix && socket.address == spec.path;
    case SelectSpec::Kind::kInet:
      return socket.proto == spec.proto && socket.port == spec.port &&
             (!spec.address.has_value() || socket.address == *spec.address);
  }
  return false;
}

absl::StatusOr<std::vector<SelectSpec>> ParseSelectSpecs(absl::string_view text) {
  std::vector<SelectSpec> specs;
  if (absl::StripAsciiWhitespace(text).empty()) return specs;
  for (absl::string_view piece : absl::StrSplit(text, ',')) {
    const absl::string_view spec = absl::StripAsciiWhitespace(piece);
    if (spec.empty()) return BadSpec(text, "empty spec between commas");
    absl::StatusOr<SelectSpec> parsed = ParseOne(spec);
    if (!parsed.ok()) return parsed.status();
    specs.push_back(*std::move(parsed));
  }
  return specs;
}

absl::StatusOr<std::vector<SocketInfo>> ApplySelect(const std::vector<SelectSpec>& specs,
                                                    const std::vector<SocketInfo>& found) {
  if (specs.empty()) return found;
  std::vector<SocketInfo> chosen;
  absl::flat_hash_set<uint64_t> chosen_inodes;
  std::vector<std::string> unmatched;
  for (const SelectSpec& spec : specs) {
    bool matched = false;
    for (const SocketInfo& s : found) {
      if (!SpecMatches(spec, s)) continue;
      matched = true;
      if (chosen_inodes.insert(s.inode).second) chosen.push_back(s);
    }
    if (!matched) unmatched.push_back(Quote(spec.text));
  }
  if (!unmatched.empty()) {
    return absl::NotFoundError(absl::StrCat("no socket matches --select spec ",
                                            absl::StrJoin(unmatched, ", "), "; ",
                                            FoundList(found)));
  }
  return chosen;
}

}  // namespace handover
