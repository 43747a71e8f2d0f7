// ControlSocket: --control_socket=PATH, the SCM_RIGHTS side of a handover (HAProxy
// `expose-fd listeners`, Envoy hot restart). A successor started with
// --takeover_scm=PATH connects and receives this instance's listeners
// (handover/scm_rights.h: mode 0600, SO_PEERCRED check, batches of 253).
//
// One path for every generation: the socket is bound at "PATH.tmp.<pid>" and then
// rename(2)d over PATH, atomically replacing the old instance's socket file. So a
// client always finds a live server at PATH, old or new, never ENOENT, and the
// old instance, which would unlink only a file that still names ITS socket,
// leaves ours alone. (The successor fetches before it replaces the file.)
//
// While draining an instance serves no control clients: Drainer closes it first.
#ifndef HANDOVER_DEMO_PROXY_CONTROL_H_
#define HANDOVER_DEMO_PROXY_CONTROL_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "demo_proxy/event_loop.h"
#include "demo_proxy/proxy.h"
#include "demo_proxy/stats.h"
#include "handover/scm_rights.h"

namespace handover::demo {

class ControlSocket {
 public:
  // Serves `proxy`'s listeners (borrowed, as are loop and stats) at `path`.
  // Errors: those of ScmServer::Listen and rename(2).
  static absl::StatusOr<std::unique_ptr<ControlSocket>> Start(EventLoop* loop, Stats* stats,
                                                              const Proxy* proxy,
                                                              const std::string& path);
  // Stops serving; unlinks PATH only if it still names our socket (no successor
  // replaced it).
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

 private:
  ControlSocket(EventLoop* loop, Stats* stats, const Proxy* proxy, ScmServer server,
                std::string path, dev_t dev, ino_t ino);
  void OnReadable();

  EventLoop* loop_;
  Stats* stats_;
  const Proxy* proxy_;
  ScmServer server_;
  std::string path_;
  dev_t dev_;
  ino_t ino_;
};

}  // namespace handover::demo

#endif  // HANDOVER_DEMO_PROXY_CONTROL_H_
