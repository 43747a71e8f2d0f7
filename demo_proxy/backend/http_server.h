// HttpServer: demo_backend's tiny HTTP/1.1 server on an EventLoop. Every request gets
// "200 OK" with a fixed body of body_bytes bytes, byte i being 'a' + i % 26 (tests
// check a transfer is intact). Keep-alive by default; "Connection: close" or
// HTTP/1.0 ends the connection after the response. A request body announced by
// Content-Length is read and ignored. While a response is being written the server
// reads no further requests (pipelined requests wait in the kernel: backpressure).
#ifndef HANDOVER_DEMO_PROXY_BACKEND_HTTP_SERVER_H_
#define HANDOVER_DEMO_PROXY_BACKEND_HTTP_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "demo_proxy/event_loop.h"
#include "handover/unique_fd.h"

namespace handover::demo {

// The body byte at offset i.
inline char BodyByte(size_t i) { return static_cast<char>('a' + i % 26); }

class HttpServer {
 public:
  // Borrows `loop`; owns `listener` (non-blocking).
  HttpServer(EventLoop* loop, UniqueFd listener, size_t body_bytes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  absl::Status Start();

 private:
  struct Conn;
  void OnAccept();
  void OnEvent(Conn* c);
  // Parses one complete request from c->in, if any, and queues its response.
  // False on a malformed request.
  bool NextRequest(Conn* c);
  // Reads until a request is complete, EAGAIN or EOF. False on errors.
  bool ReadRequest(Conn* c);
  bool Flush(Conn* c);  // false on a write error
  void CloseConn(Conn* c);

  EventLoop* loop_;
  UniqueFd listener_;
  std::string body_;
  absl::flat_hash_map<Conn*, std::unique_ptr<Conn>> conns_;
};

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_BACKEND_HTTP_SERVER_H_
