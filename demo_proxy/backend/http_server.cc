#include "demo_proxy/backend/http_server.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "demo_proxy/listeners.h"

namespace handover::demo {
namespace {
constexpr size_t kMaxRequestBytes = 64 * 1024;
}  // namespace

struct HttpServer::Conn {
  UniqueFd fd;
  std::string in;
  std::string head;          // response headers still to send (from head_sent)
  size_t head_sent = 0;
  size_t body_sent = 0;
  bool responding = false;
  bool close_after = false;
  bool peer_eof = false;
};

HttpServer::HttpServer(EventLoop* loop, UniqueFd listener, size_t body_bytes)
    : loop_(loop), listener_(std::move(listener)), body_(body_bytes, '\0') {
  for (size_t i = 0; i < body_.size(); ++i) body_[i] = BodyByte(i);
}

HttpServer::~HttpServer() {
  (void)loop_->Remove(listener_.get());
  for (auto& [c, owned] : conns_) (void)loop_->Remove(c->fd.get());
}

absl::Status HttpServer::Start() {
  return loop_->Add(listener_.get(), EPOLLIN, [this](uint32_t) { OnAccept(); });
}

void HttpServer::OnAccept() {
  (void)AcceptBatch(listener_.get(), 64, [this](UniqueFd fd) {
    auto conn = std::make_unique<Conn>();
    conn->fd = std::move(fd);
    Conn* c = conn.get();
    if (!loop_->Add(c->fd.get(), EPOLLIN, [this, c](uint32_t) { OnEvent(c); }).ok()) return;
    conns_[c] = std::move(conn);
  });
}

bool HttpServer::NextRequest(Conn* c) {
  const size_t end = c->in.find("\r\n\r\n");
  if (end == std::string::npos) return c->in.size() < kMaxRequestBytes;
  const absl::string_view head(c->in.data(), end);
  std::vector<absl::string_view> lines = absl::StrSplit(head, "\r\n");
  std::vector<absl::string_view> words = absl::StrSplit(lines[0], ' ');
  if (words.size() != 3 || !absl::StartsWith(words[2], "HTTP/1.")) return false;
  bool close = words[2] == "HTTP/1.0";
  size_t content_length = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) return false;
    const std::string name = absl::AsciiStrToLower(lines[i].substr(0, colon));
    const absl::string_view value = absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
    if (name == "connection") close = absl::EqualsIgnoreCase(value, "close");
    if (name == "content-length" && !absl::SimpleAtoi(value, &content_length)) return false;
  }
  if (c->in.size() < end + 4 + content_length) return true;  // body not all here yet
  c->in.erase(0, end + 4 + content_length);
  c->head = absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ",
                         body_.size(), "\r\n", close ? "Connection: close\r\n" : "", "\r\n");
  c->head_sent = c->body_sent = 0;
  c->responding = true;
  c->close_after = close;
  return true;
}

bool HttpServer::Flush(Conn* c) {
  while (c->responding) {
    struct iovec iov[2] = {
        {c->head.data() + c->head_sent, c->head.size() - c->head_sent},
        {body_.data() + c->body_sent, body_.size() - c->body_sent}};
    struct msghdr msg = {};
    msg.msg_iov = iov;
    msg.msg_iovlen = 2;
    const ssize_t n = ::sendmsg(c->fd.get(), &msg, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    size_t sent = static_cast<size_t>(n);
    const size_t head_part = std::min(sent, c->head.size() - c->head_sent);
    c->head_sent += head_part;
    c->body_sent += sent - head_part;
    if (c->head_sent == c->head.size() && c->body_sent == body_.size()) c->responding = false;
  }
  return true;
}

bool HttpServer::ReadRequest(Conn* c) {
  char buf[16 * 1024];
  for (;;) {
    if (!NextRequest(c)) return false;
    if (c->responding || c->peer_eof) return true;
    const ssize_t n = ::read(c->fd.get(), buf, sizeof(buf));
    if (n > 0) c->in.append(buf, static_cast<size_t>(n));
    else if (n == 0) c->peer_eof = true;
    else if (errno == EAGAIN) return true;
    else if (errno != EINTR) return false;
  }
}

void HttpServer::OnEvent(Conn* c) {
  for (;;) {
    if (!c->responding && !ReadRequest(c)) return CloseConn(c);
    const bool had_request = c->responding;
    if (!Flush(c)) return CloseConn(c);
    if (c->responding) break;  // the socket is full: wait for EPOLLOUT
    if (c->close_after || c->peer_eof) return CloseConn(c);
    if (!had_request) break;   // nothing complete yet: wait for EPOLLIN
  }
  (void)loop_->Watch(c->fd.get(), c->responding ? uint32_t{EPOLLOUT} : uint32_t{EPOLLIN});
}

void HttpServer::CloseConn(Conn* c) {
  (void)loop_->Remove(c->fd.get());
  c->fd.Reset();
  loop_->Defer([this, c] { conns_.erase(c); });
}

}  // namespace handover::demo
