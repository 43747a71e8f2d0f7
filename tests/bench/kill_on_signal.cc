#include "tests/bench/kill_on_signal.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace handover::bench {
namespace {

// Lock-free so the handler may read them (async-signal-safe); 0 = free slot.
std::atomic<pid_t> g_guarded[KillOnSignal::kMaxGuarded];
static_assert(std::atomic<pid_t>::is_always_lock_free);

void OnFatalSignal(int sig) {
  for (std::atomic<pid_t>& p : g_guarded) {
    const pid_t pid = p.load();
    if (pid > 0) (void)::kill(pid, SIGKILL);
  }
  ::signal(sig, SIG_DFL);
  (void)::raise(sig);
}

}  // namespace

void InstallKillOnSignal() {
  struct sigaction sa = {};
  sa.sa_handler = OnFatalSignal;
  ::sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) (void)::sigaction(sig, &sa, nullptr);
}

KillOnSignal::KillOnSignal(pid_t pid) {
  for (int i = 0; i < kMaxGuarded; ++i) {
    pid_t expected = 0;
    if (g_guarded[i].compare_exchange_strong(expected, pid)) {
      slot_ = i;
      return;
    }
  }
}

void KillOnSignal::Release() {
  if (slot_ >= 0) g_guarded[slot_].store(0);
  slot_ = -1;
}

}  // namespace handover::bench
