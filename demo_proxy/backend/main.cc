// demo_backend: a tiny HTTP/1.1 server for the demo and the tests. Prints
// "listening ADDRESS" (the real port when given port 0) and "ready" on stdout, then
// serves until SIGTERM or SIGINT (exit 0).
//
//   demo_backend --listen=127.0.0.1:0 --body_bytes=8388608
#include <signal.h>
#include <sys/epoll.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "demo_proxy/address.h"
#include "demo_proxy/backend/http_server.h"
#include "demo_proxy/event_loop.h"
#include "demo_proxy/signals.h"
#include "demo_proxy/stats.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "handover/status.h"

DEFINE_string(listen, "127.0.0.1:0", "address to serve (port 0: any free port)");
DEFINE_uint64(body_bytes, 64, "bytes in every response body");

namespace handover::demo {
namespace {

absl::Status Run() {
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd sfd, BlockedSignalFd({SIGTERM, SIGINT}));
  HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr addr, ParseAddress(FLAGS_listen));
  HANDOVER_ASSIGN_OR_RETURN(UniqueFd listener, BindListener(addr, 1024));
  HANDOVER_ASSIGN_OR_RETURN(sys::SockAddr bound, sys::GetSockName(listener.get()));
  HANDOVER_ASSIGN_OR_RETURN(std::unique_ptr<EventLoop> loop, EventLoop::Create());
  HttpServer server(loop.get(), std::move(listener), FLAGS_body_bytes);
  HANDOVER_RETURN_IF_ERROR(server.Start());
  EventLoop* raw = loop.get();
  HANDOVER_RETURN_IF_ERROR(loop->Add(sfd.get(), EPOLLIN, [raw](uint32_t) { raw->Stop(); }));
  PrintLine(absl::StrCat("listening ", FormatAddress(bound)));
  PrintLine("ready");
  HANDOVER_RETURN_IF_ERROR(loop->Run());
  return loop->Remove(sfd.get());
}

}  // namespace
}  // namespace handover::demo

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  google::InitGoogleLogging(argv[0]);
  const absl::Status status = handover::demo::Run();
  if (status.ok()) return 0;
  LOG(ERROR) << status;
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}
