#include "demo_proxy/control.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "handover/status.h"
#include "handover/sys.h"

namespace handover::demo {

absl::StatusOr<std::unique_ptr<ControlSocket>> ControlSocket::Start(EventLoop* loop, Stats* stats,
                                                                    const Proxy* proxy,
                                                                    const std::string& path) {
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  HANDOVER_ASSIGN_OR_RETURN(ScmServer server, ScmServer::Listen(tmp));
  HANDOVER_ASSIGN_OR_RETURN(struct stat st, sys::FstatAt(AT_FDCWD, tmp, AT_SYMLINK_NOFOLLOW));
  // From here the server's own path (tmp) no longer exists: its destructor unlinks
  // nothing, ours checks PATH.
  HANDOVER_RETURN_IF_ERROR(sys::Rename(tmp, path));
  std::unique_ptr<ControlSocket> c(
      new ControlSocket(loop, stats, proxy, std::move(server), path, st.st_dev, st.st_ino));
  ControlSocket* raw = c.get();
  HANDOVER_RETURN_IF_ERROR(
      loop->Add(raw->server_.fd(), EPOLLIN, [raw](uint32_t) { raw->OnReadable(); }));
  LOG(INFO) << "serving listeners over SCM_RIGHTS at " << path;
  return c;
}

ControlSocket::ControlSocket(EventLoop* loop, Stats* stats, const Proxy* proxy, ScmServer server,
                             std::string path, dev_t dev, ino_t ino)
    : loop_(loop),
      stats_(stats),
      proxy_(proxy),
      server_(std::move(server)),
      path_(std::move(path)),
      dev_(dev),
      ino_(ino) {}

ControlSocket::~ControlSocket() {
  (void)loop_->Remove(server_.fd());
  struct stat st;
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    (void)::unlink(path_.c_str());
  }
}

void ControlSocket::OnReadable() {
  const std::vector<int> fds = proxy_->listener_fds();
  const std::vector<std::string> names = proxy_->listener_addresses();
  // Serves one client synchronously (bounded by ScmServerOptions::client_timeout).
  const absl::Status s = server_.HandleReadable(fds, names);
  if (s.ok()) {
    ++stats_->scm_served;
    LOG(INFO) << "sent " << fds.size() << " listener(s) over SCM_RIGHTS at " << path_;
  } else {
    ++stats_->scm_refused;
    LOG(WARNING) << s;  // one bad client never stops the server
  }
}

}  // namespace handover::demo
