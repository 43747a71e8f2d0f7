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
