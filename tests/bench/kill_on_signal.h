// KillOnSignal: SIGKILLs the bench's children when the bench itself dies of SIGTERM,
// SIGINT or SIGHUP (a `timeout`, a Ctrl-C, a closed terminal). ChildProcess's
// destructor covers every other exit path, but a fatal signal runs no destructor.
//
//   InstallKillOnSignal();                        // once, in main()
//   HANDOVER_ASSIGN_OR_RETURN(ChildProcess c, ChildProcess::Spawn(...));
//   KillOnSignal guard(c.pid());                  // declared after c: destroyed first
//
// A guard must be destroyed (or Release()d) before its child is reaped: a reaped pid
// may be reused by an unrelated process.
#ifndef HANDOVER_TESTS_BENCH_KILL_ON_SIGNAL_H_
#define HANDOVER_TESTS_BENCH_KILL_ON_SIGNAL_H_

#include <sys/types.h>

namespace handover::bench {

// Installs the handler for SIGTERM, SIGINT and SIGHUP: it SIGKILLs every guarded
// pid, then dies of the same signal (default action, re-raised).
void InstallKillOnSignal();

class KillOnSignal {
 public:
  // Guards `pid`, an unreaped child of ours. At most kMaxGuarded at once; past that
  // the pid is not guarded (its ChildProcess still kills it on normal exit paths).
  explicit KillOnSignal(pid_t pid);
  ~KillOnSignal() { Release(); }
  KillOnSignal(const KillOnSignal&) = delete;
  KillOnSignal& operator=(const KillOnSignal&) = delete;

  // Stops guarding (before a deliberate Signal() + Wait() of the child).
  void Release();

  static constexpr int kMaxGuarded = 16;

 private:
  int slot_ = -1;
};

}  // namespace handover::bench

#endif  // HANDOVER_TESTS_BENCH_KILL_ON_SIGNAL_H_
