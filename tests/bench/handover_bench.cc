// handover_bench: the micro benchmarks of docs/benchmarks.md, one CSV row per
// measured run (scripts/bench.sh computes medians and spreads from them).
//
//   handover_bench --mode=takeover --n=1,16,64 --reps=21 --out=takeover.csv
//     state,method,n,rep,us,outcome
//     For each N an scm_server holding N TCP listeners plays the old instance,
//     idle, busy (its loop computes --busy_ms between polls) or SIGSTOPped.
//     Methods, interleaved in rotating order within each repetition:
//       pidfd     handover::TakeOver: pidfd_open + prove + copy every fd + keep the
//                 sockets sock_diag lists (copy-first, the default path; takes N + 1
//                 sockets: the server's unix control listener too)
//       pidfd_list  the same through the list-first path: /proc/PID/fd listing +
//                 sock_diag + take + verify (TakeoverOptions::Path::kListFirst);
//                 "phases" and step_* time its steps
//       scm       handover::FetchListeners: connect + request + receive N fds
//       getfd     floor: pidfd_getfd of the N known fd numbers (pidfd opened before)
//       dup       floor: fcntl(F_DUPFD_CLOEXEC) of N sockets of our own
//     Copies are closed after the clock stops.
//
//   handover_bench --mode=discover --host_conns=0,10000 --holder_fds=100,16000
//     host_conns,holder_fds,method,rep,us,outcome
//     conn_holder makes the namespace hold host_conns established connections;
//     fd_holder (4 listeners, the rest established connections) is the target.
//     Methods: sock_diag / proc_net (DiscoverSockets, no temporary copies, as
//     TakeOver calls it) and takeover (the full TakeOver path, method auto).
//
//   handover_bench --mode=loaded --n=1,16,64 --reps=21 --out=loaded.csv
//                  --load_out=loaded_load.csv
//     state,method,n,rep,us,outcome (state loaded or loaded_keepalive)
//     The old instance is a demo_proxy relaying demo_loadgen's load to a demo_backend;
//     methods pidfd, scm, getfd as above (tests/bench/loaded_bench.h).
//
// Every child is a ChildProcess: SIGKILLed and reaped on every exit path (and, in
// --mode=loaded, also when we die of SIGTERM, SIGINT or SIGHUP: kill_on_signal.h).
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gflags/gflags.h"
#include "handover/handover.h"
#include "handover/scm_rights.h"
#include "handover/status.h"
#include "handover/sys.h"
#include "handover/unique_fd.h"
#include "tests/bench/bench_util.h"
#include "tests/bench/kill_on_signal.h"
#include "tests/bench/loaded_bench.h"
#include "tests/testing/child_process.h"

DEFINE_string(mode, "takeover", "takeover, discover or loaded");
DEFINE_string(out, "/dev/stdout", "CSV output file");
DEFINE_int32(reps, 11, "repetitions per point");
DEFINE_string(n, "1,16,64,256,1024,4096",
              "takeover and loaded: listener counts (loaded: default 1,16,64,256)");
DEFINE_string(states, "idle,busy,stopped", "takeover: old instance states");
DEFINE_int32(busy_ms, 10, "takeover busy: the old loop computes this long between polls");
DEFINE_int32(scm_timeout_ms, 2000, "FetchListeners timeout (idle, busy and loaded)");
DEFINE_int32(stopped_scm_timeout_ms, 200, "FetchListeners timeout when the old is stopped");
DEFINE_int32(stopped_scm_reps, 2, "FetchListeners attempts against a stopped old instance");
DEFINE_string(host_conns, "0,10000,100000", "discover: established connections on the host");
DEFINE_string(holder_fds, "100,16000", "discover: fds the target holds (about)");
DEFINE_string(loaded_states, "loaded,loaded_keepalive",
              "loaded: demo_loadgen new_conn (loaded) and/or keepalive (loaded_keepalive) load");
DEFINE_int32(load_concurrency, 16, "loaded: demo_loadgen requests in flight");
DEFINE_int32(load_ms, 2000,
             "loaded: demo_loadgen runs this long per point; the repetitions must end in it");
DEFINE_string(load_out, "", "loaded: CSV of the load each point ran under (empty: none)");

namespace handover::bench {
namespace {

using testing::BinPath;
using testing::ChildProcess;

constexpr int kDiscoverListeners = 4;
constexpr int kConnsPerHolder = 8000;  // 16k fds each: under a 20000 hard limit

// Soft limit up to the hard one (raising the hard limit needs CAP_SYS_RESOURCE,
// which containers often drop).
absl::Status RaiseFdLimit() {
  struct rlimit rl = {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return ErrnoError(errno, "getrlimit");
  rl.rlim_cur = rl.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return ErrnoError(errno, "setrlimit(RLIMIT_NOFILE)");
  return absl::OkStatus();
}

// Waits (bounded) until /proc/PID/stat says the process is stopped.
absl::Status AwaitStopped(pid_t pid) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'T') {
      return absl::OkStatus();
    }
    ::sched_yield();
  }
  return absl::DeadlineExceededError("old instance did not stop");
}

struct Old {
  ChildProcess child;
  std::vector<int> fds;
  std::string control;
};

absl::StatusOr<Old> StartScmServer(int n, bool busy) {
  const std::string control =
      absl::StrFormat("/tmp/handover_bench.%d.%d.sock", ::getpid(), n);
  std::vector<std::string> argv = {BinPath("scm_server"), "--socket=" + control,
                                   absl::StrCat("--tcp=", n), "--names=false"};
  if (busy) argv.push_back(absl::StrCat("--busy_ms=", FLAGS_busy_ms));
  HANDOVER_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Spawn({.argv = argv}));
  HANDOVER_ASSIGN_OR_RETURN(std::vector<std::string> lines,
                            child.ReadUntil("ready", absl::Seconds(60)));
  Old old{.child = std::move(child), .fds = {}, .control = control};
  for (const std::string& line : lines) {
    int fd = -1;
    absl::string_view v = line;
    if (absl::ConsumePrefix(&v, "fd=") && absl::SimpleAtoi(v.substr(0, v.find(' ')), &fd)) {
      old.fds.push_back(fd);
    }
  }
  if (static_cast<int>(old.fds.size()) != n) return absl::InternalError("scm_server fd lines");
  return old;
}

class TakeoverBench {
 public:
  TakeoverBench(std::ofstream& out, int n) : out_(out), n_(n) {}

  absl::Status Run(const std::string& state) {
    HANDOVER_ASSIGN_OR_RETURN(Old old, StartScmServer(n_, state == "busy"));
    if (state == "stopped") {
      HANDOVER_RETURN_IF_ERROR(old.child.Signal(SIGSTOP));
      HANDOVER_RETURN_IF_ERROR(AwaitStopped(old.child.pid()));
    }
    HANDOVER_ASSIGN_OR_RETURN(UniqueFd pidfd, sys::PidfdOpen(old.child.pid()));
    std::vector<std::pair<std::string, std::function<absl::Status()>>> methods = {
        {"pidfd", [&] { return PidfdPath(old.child.pid(), TakeoverOptions::Path::kAuto); }},
        {"pidfd_list",
         [&] { return PidfdPath(old.child.pid(), TakeoverOptions::Path::kListFirst); }},
        {"phases", [&] { return PidfdPhases(old.child.pid(), state, rep_); }},
        {"getfd", [&] { return GetfdLoop(pidfd.get(), old.fds); }},
        {"dup", [&] { return DupLoop(); }},
    };
    const bool stopped = state == "stopped";
    const absl::Duration timeout =
        absl::Milliseconds(stopped ? FLAGS_stopped_scm_timeout_ms : FLAGS_scm_timeout_ms);
    methods.push_back({"scm", [&, timeout] { return Scm(old.control, timeout); }});
    for (int rep = 0; rep < FLAGS_reps; ++rep) {
      rep_ = rep;
      for (size_t i = 0; i < methods.size(); ++i) {
        const auto& [name, f] = methods[(rep + i) % methods.size()];
        if (stopped && name == "scm" && rep >= FLAGS_stopped_scm_reps) continue;
        auto [us, outcome] = Time(f);
        copies_.clear();  // close after the clock stopped
        taken_.reset();
        out_ << absl::StrFormat("%s,%s,%d,%d,%.1f,%s\n", state, name, n_, rep, us, outcome);
      }
    }
    out_.flush();
    return absl::OkStatus();
  }

 private:
  absl::Status PidfdPath(pid_t pid, TakeoverOptions::Path path) {
    absl::StatusOr<Takeover> t = TakeOver({.pid = pid}, {.path = path});
    if (!t.ok()) return t.status();
    if (static_cast<int>(t->sockets.size()) != n_ + 1) {
      return absl::InternalError("took an unexpected number of sockets");
    }
    taken_ = *std::move(t);  // closed by Run after the clock stopped
    return absl::OkStatus();
  }

  // The list-first path again, one row per step (open+prove, discover,
  // take+verify), to show where its time goes. Its own row ("phases") is their
  // sum plus glue.
  absl::Status PidfdPhases(pid_t pid, const std::string& state, int rep) {
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    HANDOVER_ASSIGN_OR_RETURN(Process process, Process::Open(pid));
    const auto t1 = Clock::now();
    HANDOVER_ASSIGN_OR_RETURN(std::vector<SocketInfo> found,
                              ListSockets(process, "", {.inspect_copies = false}));
    const auto t2 = Clock::now();
    HANDOVER_ASSIGN_OR_RETURN(std::vector<TakenSocket> taken,
                              TakeSockets(process.pidfd(), process.proc_dir(), found));
    const auto t3 = Clock::now();
    const std::pair<const char*, double> kSteps[] = {
        {"step_open", Micros(t1 - t0)}, {"step_discover", Micros(t2 - t1)},
        {"step_take", Micros(t3 - t2)}};
    for (const auto& [name, us] : kSteps) {
      out_ << absl::StrFormat("%s,%s,%d,%d,%.1f,ok\n", state, name, n_, rep, us);
    }
    for (TakenSocket& t : taken) copies_.push_back(std::move(t.fd));
    return absl::OkStatus();
  }

  absl::Status GetfdLoop(int pidfd, const std::vector<int>& fds) {
    copies_.reserve(fds.size());
    for (int fd : fds) {
      HANDOVER_ASSIGN_OR_RETURN(UniqueFd copy, sys::PidfdGetfd(pidfd, fd));
      copies_.push_back(std::move(copy));
    }
    return absl::OkStatus();
  }

  absl::Status DupLoop() {
    if (own_.empty()) {
      for (int i = 0; i < n_; ++i) {
        own_.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!own_.back().valid()) return ErrnoError(errno, "socket");
      }
    }
    copies_.reserve(own_.size());
    for (const UniqueFd& fd : own_) {
      const int copy = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0);
      if (copy < 0) return ErrnoError(errno, "fcntl(F_DUPFD_CLOEXEC)");
      copies_.emplace_back(copy);
    }
    return absl::OkStatus();
  }

  absl::Status Scm(const std::string& path, absl::Duration timeout) {
    absl::StatusOr<ScmFetchResult> r = FetchListeners(path, timeout);
    if (!r.ok()) return r.status();
    if (static_cast<int>(r->fds.size()) != n_) return absl::InternalError("short SCM reply");
    for (UniqueFd& fd : r->fds) copies_.push_back(std::move(fd));
    return absl::OkStatus();
  }

  std::ofstream& out_;
  const int n_;
  std::vector<UniqueFd> own_;
  std::vector<UniqueFd> copies_;
  std::optional<Takeover> taken_;
  int rep_ = 0;
};

absl::Status RunTakeover(std::ofstream& out) {
  out << "state,method,n,rep,us,outcome\n";
  for (const std::string& state :
       std::vector<std::string>(absl::StrSplit(FLAGS_states, ',', absl::SkipEmpty()))) {
    for (int n : ParseInts(FLAGS_n)) {
      TakeoverBench bench(out, n);
      absl::Status s = bench.Run(state);
      if (!s.ok()) return WithContext(s, absl::StrFormat("takeover %s n=%d", state, n));
      ::fprintf(stderr, "takeover %s n=%d done\n", state.c_str(), n);
    }
  }
  return absl::OkStatus();
}

absl::Status DiscoverPoint(std::ofstream& out, int host_conns, int holder_fds) {
  // fd_holder --noise=false holds 3 std fds, the listeners and 2 per connection.
  const int established = std::max(0, (holder_fds - 3 - kDiscoverListeners) / 2);
  HANDOVER_ASSIGN_OR_RETURN(
      ChildProcess holder,
      ChildProcess::Spawn({.argv = {BinPath("fd_holder"), "--noise=false",
                                    absl::StrCat("--tcp=", kDiscoverListeners),
                                    absl::StrCat("--established=", established)}}));
  HANDOVER_RETURN_IF_ERROR(holder.ReadUntil("ready", absl::Seconds(60)).status());
  HANDOVER_ASSIGN_OR_RETURN(Process process, Process::Open(holder.pid()));
  using Method = DiscoverOptions::Method;
  const std::pair<const char*, Method> kMethods[] = {{"sock_diag", Method::kSockDiag},
                                                     {"proc_net", Method::kProcNet}};
  for (int rep = 0; rep < FLAGS_reps; ++rep) {
    for (const auto& [name, method] : kMethods) {
      auto [us, outcome] = Time([&, method = method]() -> absl::Status {
        HANDOVER_ASSIGN_OR_RETURN(
            std::vector<SocketInfo> found,
            DiscoverSockets(process, {.method = method, .inspect_copies = false}));
        if (found.size() != kDiscoverListeners) return absl::InternalError("wrong count");
        return absl::OkStatus();
      });
      out << absl::StrFormat("%d,%d,%s,%d,%.1f,%s\n", host_conns, holder_fds, name, rep, us,
                             outcome);
    }
    std::optional<Takeover> taken;
    auto [us, outcome] = Time([&]() -> absl::Status {
      HANDOVER_ASSIGN_OR_RETURN(Takeover t, TakeOver({.pid = holder.pid()}));
      taken = std::move(t);
      return absl::OkStatus();
    });
    taken.reset();
    out << absl::StrFormat("%d,%d,takeover,%d,%.1f,%s\n", host_conns, holder_fds, rep, us,
                           outcome);
  }
  out.flush();
  return absl::OkStatus();
}

absl::Status RunDiscover(std::ofstream& out) {
  out << "host_conns,holder_fds,method,rep,us,outcome\n";
  for (int conns : ParseInts(FLAGS_host_conns)) {
    // Several holders: one process may hold only RLIMIT_NOFILE fds.
    std::vector<ChildProcess> host;
    for (int left = conns; left > 0; left -= kConnsPerHolder) {
      HANDOVER_ASSIGN_OR_RETURN(
          ChildProcess c,
          ChildProcess::Spawn({.argv = {BinPath("conn_holder"),
                                        absl::StrCat("--connections=",
                                                     std::min(left, kConnsPerHolder))}}));
      HANDOVER_RETURN_IF_ERROR(c.ReadUntil("ready", absl::Seconds(120)).status());
      host.push_back(std::move(c));
    }
    for (int fds : ParseInts(FLAGS_holder_fds)) {
      absl::Status s = DiscoverPoint(out, conns, fds);
      if (!s.ok()) return WithContext(s, absl::StrFormat("discover conns=%d fds=%d", conns, fds));
      ::fprintf(stderr, "discover host_conns=%d holder_fds=%d done\n", conns, fds);
    }
  }
  return absl::OkStatus();
}

absl::Status RunLoadedMode(std::ofstream& out) {
  const bool n_default = gflags::GetCommandLineFlagInfoOrDie("n").is_default;
  LoadedOptions options = {
      .ns = ParseInts(n_default ? "1,16,64,256" : FLAGS_n),
      .states = absl::StrSplit(FLAGS_loaded_states, ',', absl::SkipEmpty()),
      .reps = FLAGS_reps,
      .concurrency = FLAGS_load_concurrency,
      .load = absl::Milliseconds(FLAGS_load_ms),
      .scm_timeout = absl::Milliseconds(FLAGS_scm_timeout_ms)};
  if (FLAGS_load_out.empty()) return RunLoaded(options, out, nullptr);
  std::ofstream load_out(FLAGS_load_out);
  return RunLoaded(options, out, &load_out);
}

}  // namespace
}  // namespace handover::bench

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  ::signal(SIGPIPE, SIG_IGN);
  // Children inherit the limit: 4096 listeners and 16k-fd targets need it.
  absl::Status s = handover::bench::RaiseFdLimit();
  std::ofstream out(FLAGS_out);
  if (s.ok()) {
    if (FLAGS_mode == "loaded") {
      handover::bench::InstallKillOnSignal();
      s = handover::bench::RunLoadedMode(out);
    } else {
      s = FLAGS_mode == "discover" ? handover::bench::RunDiscover(out)
                                   : handover::bench::RunTakeover(out);
    }
  }
  if (!s.ok()) {
    ::fprintf(stderr, "handover_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
