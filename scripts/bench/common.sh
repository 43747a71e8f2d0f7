# shellcheck shell=bash
# Shared by scripts/bench/macro.sh and peers.sh (sourced, not run).

# Runs the calling script again inside a private network namespace (unshare --net,
# loopback up) unless BENCH_NETNS is set: other work on this machine's loopback
# (tests, TIME_WAIT sockets from earlier runs) stays out of the measurement, and
# net.ipv4.tcp_migrate_req, which is per namespace, can be set without touching the
# host's. Without the privilege for it (CAP_SYS_ADMIN) the run stays in the host's
# namespace. Afterwards BENCH_NETNS is "private" or "host".
#   enter_netns "$0" "$@"
enter_netns() {
  local script=$1
  shift
  if [ -z "${BENCH_NETNS:-}" ] && unshare --net true 2>/dev/null; then
    exec unshare --net -- env BENCH_NETNS=private "$script" "$@"
  fi
  if [ "${BENCH_NETNS:-}" = private ]; then
    ip link set lo up
  else
    BENCH_NETNS=host
  fi
}

# The children the script started and has not reaped yet, by pid: the exit trap
# signals these and nothing else (a pid once reaped may belong to anyone by then).
declare -A running=()
# reap PID: waits for our child PID (status in reaped_status) and forgets it.
# shellcheck disable=SC2034  # reaped_status is read by the callers
reap() {
  reaped_status=0
  wait "$1" 2>/dev/null || reaped_status=$?
  unset "running[$1]"
}
# The exit trap's part: `handover drain` (SIGTERM through a pidfd, SIGKILL 3 s later)
# for every child still running and for the PIDs given (processes we did not
# start ourselves), all at once; returns when all of them are gone.
stop_running() {  # stop_running BIN_DIR [PID...]
  local bin_dir=$1 p
  shift
  for p in "${!running[@]}" "$@"; do
    "$bin_dir/handover" drain --pid="$p" --timeout_ms=3000 --kill_after_timeout >/dev/null 2>&1 &
  done
  wait
}

# stamp VAR: VAR = wall clock in µs (bash's own clock: no fork on the timed path).
stamp() { printf -v "$1" '%s' "${EPOCHREALTIME//[^0-9]/}"; }
# ms VAR FROM_US TO_US: VAR = the difference in ms with 3 decimals.
ms() { printf -v "$1" '%d.%03d' $((($3 - $2) / 1000)) $((($3 - $2) % 1000)); }

# The value of KEY in a "word k=v k=v" line: field VAR LINE KEY (empty if absent).
field() {
  local word
  printf -v "$1" '%s' ""
  for word in $2; do
    if [[ $word == "$3="* ]]; then
      printf -v "$1" '%s' "${word#*=}"
      return 0
    fi
  done
}

# Starts demo_loadgen (CONCURRENCY slots, per-attempt samples in WORK/samples.csv)
# and returns once its first request succeeded (--print_started, read from a FIFO),
# so that no restart happens before the load flows. Sets lg (its pid, also in
# running) and lg_fd (its stdout: finish_load reads the result from it).
start_load() {  # start_load WORK BIN TARGET MODE DURATION_MS
  local line=""
  rm -f "$1/loadgen.out" "$1/samples.csv"
  mkfifo "$1/loadgen.out"
  "$2/demo_loadgen" --target="$3" --mode="$4" --concurrency="${CONCURRENCY:-16}" \
    --duration_ms="$5" --json --print_started --samples_out="$1/samples.csv" \
    >"$1/loadgen.out" 2>"$1/loadgen.log" &
  lg=$!
  running[$lg]=1
  exec {lg_fd}<"$1/loadgen.out"
  IFS= read -r -t 10 -u "$lg_fd" line || true
  if [ "$line" != started ]; then
    echo "$(basename "$0"): no successful request within 10 s of starting the load" >&2
  fi
}
# Lets the load run MS more milliseconds, then ends it (SIGTERM: demo_loadgen lets
# the attempts in flight finish and prints its result). A measurement period, not
# a wait for an event: read's timeout is the clock (no sleep process).
end_load_after() {  # end_load_after MS
  if [ "$1" -gt 0 ]; then
    read -r -t "$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))" <> <(:) || true
  fi
  kill -TERM "$lg" 2>/dev/null || true
}
# After demo_loadgen has exited: its JSON result line to FILE.
finish_load() {  # finish_load FILE
  local line
  : >"$1"
  while IFS= read -r -t 5 -u "$lg_fd" line; do
    if [[ $line == "{"* ]]; then echo "$line" >"$1"; fi
  done
  exec {lg_fd}<&-
}

# Appends one row per window class (in restart windows / outside them) of this run
# to OUT/macro_windows.csv, from loadgen's samples and the run's rows in
# OUT/macro_handovers.csv (scripts/bench/windows.awk), then deletes the samples.
#   window_rows OUT STRATEGY MODE SAMPLES
window_rows() {
  local out=$1 strategy=$2 mode=$3 samples=$4 awk_file
  awk_file="$(dirname "${BASH_SOURCE[0]}")/windows.awk"
  if [ ! -s "$samples" ]; then
    echo "$strategy,$mode,none,,0,,,,,,,,,," >>"$out/macro_windows.csv"
    return 0
  fi
  awk -F, -v pass=classify -v s="$strategy" -v m="$mode" -f "$awk_file" \
    "$out/macro_handovers.csv" "$samples" |
    LC_ALL=C sort -k1,1 -k2,2n |
    awk -v pass=summarize -v s="$strategy" -v m="$mode" -f "$awk_file" >>"$out/macro_windows.csv"
  rm -f "$samples"
}

windows_header() {
  echo "strategy,mode,window,time_s,attempts,ok,refused,reset,timeout,bad_response,other,p50_us,p99_us,p999_us,max_us"
}
handovers_header() {
  echo "strategy,mode,i,result,hold_ms,old_gone_ms,wall_ms,ready_ms,t0_us"
}
