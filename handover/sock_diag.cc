#include "handover/sock_diag.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover::internal {
namespace {

// One recv() holds a whole netlink datagram: dump skbs are at most
// max(32 KiB, the largest recv buffer seen) on current kernels; a larger one is
// reported (MSG_TRUNC), never silently cut.
constexpr size_t kRecvBufferSize = 64 * 1024;

template <typename Req>
struct NetlinkRequest {
  struct nlmsghdr header;
  Req body;
};

template <typename Req>
NetlinkRequest<Req> MakeDumpRequest(const Req& body, uint32_t seq) {
  NetlinkRequest<Req> r = {};
  r.header.nlmsg_len = sizeof(r);
  r.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  r.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  r.header.nlmsg_seq = seq;
  r.body = body;
  return r;
}

using MessageHandler = absl::FunctionRef<absl::Status(const struct nlmsghdr&)>;

// Handles one datagram of a dump reply. Returns true after NLMSG_DONE.
absl::StatusOr<bool> HandleDatagram(const char* buf, size_t n, uint32_t seq,
                                    MessageHandler on_message) {
  size_t off = 0;
  while (off < n) {
    if (n - off < sizeof(struct nlmsghdr)) return absl::InternalError("sock_diag: short header");
    const auto* h = reinterpret_cast<const struct nlmsghdr*>(buf + off);
    if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > n - off) {
      return absl::InternalError(absl::StrFormat("sock_diag: bad nlmsg_len %d", h->nlmsg_len));
    }
    off += NLMSG_ALIGN(h->nlmsg_len);
    if (h->nlmsg_seq != seq) continue;  // not the answer to our request
    if (h->nlmsg_type == NLMSG_DONE) return true;
    if (h->nlmsg_type == NLMSG_ERROR) {
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
        return absl::InternalError("sock_diag: short NLMSG_ERROR");
      }
      const auto* e = reinterpret_cast<const struct nlmsgerr*>(NLMSG_DATA(h));
      if (e->error == 0) continue;  // an ACK
      return ErrnoError(-e->error, "sock_diag dump (NLMSG_ERROR)");
    }
    HANDOVER_RETURN_IF_ERROR(on_message(*h));
  }
  return false;
}

// Sends one dump request and feeds every reply message to `on_message`.
template <typename Req>
absl::Status Dump(int fd, const Req& body, uint32_t seq, MessageHandler on_message) {
  const NetlinkRequest<Req> request = MakeDumpRequest(body, seq);
  HANDOVER_ASSIGN_OR_RETURN(
      size_t sent,
      sys::Send(fd, absl::string_view(reinterpret_cast<const char*>(&request), sizeof(request)),
                0));
  if (sent != sizeof(request)) return absl::InternalError("sock_diag: short send");
  std::vector<char> buf(kRecvBufferSize);
  for (;;) {
    HANDOVER_ASSIGN_OR_RETURN(size_t n, sys::Recv(fd, buf.data(), buf.size(), MSG_TRUNC));
    if (n > buf.size()) {
      return absl::InternalError(
          absl::StrFormat("sock_diag: a %d-byte reply exceeds the %d-byte buffer", n, buf.size()));
    }
    HANDOVER_ASSIGN_OR_RETURN(bool done, HandleDatagram(buf.data(), n, seq, on_message));
    if (done) return absl::OkStatus();
  }
}

// The kernel's two 32-bit halves, low first: the value SO_COOKIE returns.
uint64_t Cookie(const uint32_t (&halves)[2]) {
  return static_cast<uint64_t>(halves[0]) | (static_cast<uint64_t>(halves[1]) << 32);
}

Proto InetProto(uint8_t family, uint8_t protocol) {
  if (protocol == IPPROTO_TCP) return family == AF_INET ? Proto::kTcp : Proto::kTcp6;
  return family == AF_INET ? Proto::kUdp : Proto::kUdp6;
}

// TCP LISTEN or UDP TCP_CLOSE sockets of one family.
absl::Status DumpInet(int fd, uint8_t family, uint8_t protocol, uint32_t seq,
                      std::vector<SocketInfo>& out) {
  struct inet_diag_req_v2 req = {};
  req.sdiag_family = family;
  req.sdiag_protocol = protocol;
  const bool tcp = protocol == IPPROTO_TCP;
  req.idiag_states = 1u << (tcp ? TCP_LISTEN : TCP_CLOSE);
  const Proto proto = InetProto(family, protocol);
  absl::Status s = Dump(fd, req, seq, [&](const struct nlmsghdr& h) -> absl::Status {
    if (h.nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
      return absl::InternalError("sock_diag: short inet_diag_msg");
    }
    const auto* m = reinterpret_cast<const struct inet_diag_msg*>(NLMSG_DATA(&h));
    const uint16_t port = ntohs(m->id.idiag_sport);
    if (m->idiag_family != family || (!tcp && port == 0)) return absl::OkStatus();
    out.push_back(SocketInfo{.inode = m->idiag_inode,
                             .cookie = Cookie(m->id.idiag_cookie),
                             .proto = proto,
                             .type = tcp ? SOCK_STREAM : SOCK_DGRAM,
                             .state = tcp ? SocketState::kListen : SocketState::kBound,
                             .address = FormatInetAddress(family, m->id.idiag_src, port),
                             .port = port});
    return absl::OkStatus();
  });
  return WithContext(s, absl::StrFormat("dumping %s sockets", ProtoName(proto)));
}

// The UNIX_DIAG_NAME bytes as /proc/net/unix shows them: a path up to its NUL,
// or '@' + the abstract name with inner NULs shown as '@'.
std::string UnixName(absl::string_view raw) {
  if (raw.empty()) return "";
  if (raw[0] != '\0') return std::string(raw.substr(0, raw.find('\0')));
  std::string name(raw);
  std::replace(name.begin(), name.end(), '\0', '@');
  return name;
}

// The UNIX_DIAG_NAME attribute following a unix_diag_msg, or "" when absent.
absl::StatusOr<std::string> UnixNameAttribute(const struct nlmsghdr& h) {
  size_t off = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct unix_diag_msg)));
  const char* base = reinterpret_cast<const char*>(&h);
  while (off + sizeof(struct rtattr) <= h.nlmsg_len) {
    const auto* a = reinterpret_cast<const struct rtattr*>(base + off);
    if (a->rta_len < sizeof(*a) || a->rta_len > h.nlmsg_len - off) {
      return absl::InternalError("sock_diag: bad unix_diag attribute length");
    }
    if (a->rta_type == UNIX_DIAG_NAME) {
      return UnixName(absl::string_view(reinterpret_cast<const char*>(RTA_DATA(a)),
                                        a->rta_len - RTA_LENGTH(0)));
    }
    off += RTA_ALIGN(a->rta_len);
  }
  return std::string();
}

// Listening unix stream and seqpacket sockets with their names.
absl::Status DumpUnix(int fd, uint32_t seq, std::vector<SocketInfo>& out) {
  struct unix_diag_req req = {};
  req.sdiag_family = AF_UNIX;
  req.udiag_states = 1u << TCP_LISTEN;
  req.udiag_show = UDIAG_SHOW_NAME;
  absl::Status s = Dump(fd, req, seq, [&](const struct nlmsghdr& h) -> absl::Status {
    if (h.nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg))) {
      return absl::InternalError("sock_diag: short unix_diag_msg");
    }
    const auto* m = reinterpret_cast<const struct unix_diag_msg*>(NLMSG_DATA(&h));
    if (m->udiag_type != SOCK_STREAM && m->udiag_type != SOCK_SEQPACKET) {
      return absl::OkStatus();
    }
    HANDOVER_ASSIGN_OR_RETURN(std::string name, UnixNameAttribute(h));
    out.push_back(SocketInfo{.inode = m->udiag_ino,
                             .cookie = Cookie(m->udiag_cookie),
                             .proto = Proto::kUnix,
                             .type = m->udiag_type,
                             .state = SocketState::kListen,
                             .address = std::move(name)});
    return absl::OkStatus();
  });
  return WithContext(s, "dumping unix sockets");
}

}  // namespace

absl::StatusOr<UniqueFd> OpenSockDiag() {
  return sys::Socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG);
}

absl::StatusOr<std::vector<SocketInfo>> DumpListeningSockets(int netlink_fd,
                                                             absl::Span<const Proto> protos) {
  std::vector<SocketInfo> out;
  uint32_t seq = 0;
  for (const uint8_t protocol : {IPPROTO_TCP, IPPROTO_UDP}) {
    for (const uint8_t family : {AF_INET, AF_INET6}) {
      ++seq;
      if (!absl::c_linear_search(protos, InetProto(family, protocol))) continue;
      HANDOVER_RETURN_IF_ERROR(DumpInet(netlink_fd, family, protocol, seq, out));
    }
  }
  if (absl::c_linear_search(protos, Proto::kUnix)) {
    HANDOVER_RETURN_IF_ERROR(DumpUnix(netlink_fd, ++seq, out));
  }
  return out;
}

}  // namespace handover::internal
