#!/usr/bin/env bash
# The peers, from Debian: demo_loadgen against HAProxy or nginx (TCP relay to
# demo_backend on loopback) while they reload K times, one after the other.
#   haproxy_none    haproxy -W, no reload (its steady state)
#   haproxy_reload  haproxy -W (master-worker), stats socket with expose-fd
#                   listeners; reload = SIGUSR2 to the master: the new worker
#                   gets the listeners from the old one over SCM_RIGHTS (-x).
#   nginx_none      nginx master + 1 worker, no reload (its steady state)
#   nginx_reload    reload = SIGHUP to the master (the master keeps the
#                   listeners; new workers, old ones drain).
#   nginx_upgrade   binary upgrade: SIGUSR2 to the master, which execs a new
#                   master (its child) that inherits the listeners through the
#                   NGINX variable and renames the pidfile to .oldbin; once the
#                   new master's worker exists, SIGWINCH to the old master (its
#                   workers stop gracefully), then SIGQUIT (it exits). nginx
#                   ignores USR2 and WINCH unless daemonized, so this one runs
#                   with `daemon on` and is tracked through its pidfile.
# Old workers get 1 s to drain (hard-stop-after, worker_shutdown_timeout), as
# demo_proxy in macro.sh.
# Appends to OUT/macro.csv, OUT/macro_handovers.csv and OUT/macro_windows.csv
# (made by macro.sh): hold_ms = until a new worker exists, old_gone_ms = until the
# old worker (nginx_upgrade: the old master) is gone, ready_ms (HAProxy only) =
# until the master said "Loading success." (the new worker is ready).
#   scripts/bench/peers.sh BIN_DIR OUT_DIR RUN,RUN,...
#   RUN = MODE:K:DURATION_MS[:PEER+PEER...]   (default: every peer)
# The load ends TAIL_MS (default 1000) after the K-th reload, or after DURATION_MS
# if that comes first (*_none: after DURATION_MS).
# PEERS="nginx_none nginx_upgrade" runs only those. Runs in a private network
# namespace when it may, as macro.sh (common.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/bench/common.sh
source "$here/common.sh"
enter_netns "$here/peers.sh" "$@"

bin=$1
out=$2
IFS=, read -r -a runs <<<"$3"
all_peers="haproxy_none haproxy_reload nginx_none nginx_reload nginx_upgrade"

work=$(mktemp -d)
master=""
new_master=""  # nginx_upgrade: the new master while the old one still runs
haproxy_fd=""
cleanup() {
  local m
  trap - EXIT
  stop_running "$bin"
  # A daemonized nginx master is not our child: the current one (and the new one
  # of an upgrade in progress, which outlives the old), by pid, until gone.
  for m in "$master" "$new_master"; do
    [ -n "$m" ] || continue
    kill -TERM "$m" 2>/dev/null || true
    await_gone "$m" || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

pause() { read -r -t 0.002 <> <(:) || true; }  # 2 ms, without spawning sleep

# Bounded waits on process state (these processes are not our children), with
# builtins only: the load saturates the CPUs, and every fork would slow the driver.
children=()
children_of() {  # sets children=(pids of PID's children)
  children=()
  read -r -a children <"/proc/$1/task/$1/children" 2>/dev/null || true
}
gone() {  # gone PID: exited (no /proc entry, or a zombie)
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
  stat=${stat##*) }
  [ "${stat%% *}" = Z ]
}
await_gone() {  # await_gone PID: at most ~10 s
  local i
  for ((i = 0; i < 5000; i++)); do
    gone "$1" && return 0
    pause
  done
  return 1
}
# A child of PARENT that is not in SEEN (" pid pid ... ") and not a zombie (a
# former worker stays listed until its parent reaps it).
await_new_child() {  # await_new_child VAR PARENT SEEN: VAR = new child pid, at most ~10 s
  local i c
  for ((i = 0; i < 5000; i++)); do
    children_of "$2"
    for c in "${children[@]}"; do
      case "$3" in *" $c "*) continue ;; esac
      gone "$c" && continue
      printf -v "$1" '%s' "$c"
      return 0
    done
    pause
  done
  return 1
}

free_port() {  # a port nothing listens on (loopback)
  local p
  for p in $(seq 18080 18180); do
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return 0; }
  done
  return 1
}

mkfifo "$work/backend.out"
"$bin/demo_backend" --listen=127.0.0.1:0 >"$work/backend.out" 2>"$work/backend.log" &
running[$!]=1
exec {backend_fd}<"$work/backend.out"
IFS= read -r -t 10 -u "$backend_fd" backend || { echo "peers.sh: no backend" >&2; exit 1; }
backend=${backend#listening }
cat <&"$backend_fd" >/dev/null &
exec {backend_fd}<&-

start_haproxy() {  # -> master pid in $master
  cat >"$work/haproxy.cfg" <<EOF
global
  stats socket $work/haproxy.sock mode 600 level admin expose-fd listeners
  maxconn 8000
  hard-stop-after 1s
defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend f
  bind 127.0.0.1:$port
  default_backend b
backend b
  server s1 $backend
EOF
  # Its messages on a FIFO: the master says "Loading success." once the new worker
  # is ready (see haproxy_takes_reloads for when it may be reloaded again).
  rm -f "$work/haproxy.out"
  mkfifo "$work/haproxy.out"
  haproxy -W -db -f "$work/haproxy.cfg" >"$work/haproxy.out" 2>&1 &
  master=$!
  running[$master]=1
  exec {haproxy_fd}<"$work/haproxy.out"
  haproxy_loaded
}
# After every "Loading success." the master re-executes itself in wait mode
# (HAPROXY_MWORKER_WAIT_ONLY=1), and a SIGUSR2 that arrives before that image has
# installed its handler is lost. Waits (~10 s at most) until the master is that
# image with SIGUSR2 caught (/proc/PID/environ and SigCgt in /proc/PID/status).
haproxy_takes_reloads() {
  local i v waiting cgt cgt_line
  for ((i = 0; i < 5000; i++)); do
    waiting="" cgt=0
    while IFS= read -r -d '' v; do
      [ "$v" = HAPROXY_MWORKER_WAIT_ONLY=1 ] && waiting=1
    done <"/proc/$master/environ"
    while read -r v cgt_line; do
      [ "$v" = SigCgt: ] && cgt=$cgt_line
    done <"/proc/$master/status"
    if [ -n "$waiting" ] && (((16#$cgt >> (12 - 1)) & 1)); then return 0; fi
    pause
  done
  echo "peers.sh: the haproxy master did not get ready for a reload within 10 s" >&2
  return 1
}
# Reads haproxy's messages (to haproxy.log) until the next "Loading success." (10 s
# per line at most).
haproxy_loaded() {
  local line
  while IFS= read -r -t 10 -u "$haproxy_fd" line; do
    echo "$line" >>"$work/haproxy.log"
    [[ $line == *"Loading success."* ]] && return 0
  done
  echo "peers.sh: haproxy did not say 'Loading success.' within 10 s" >&2
  return 1
}

start_nginx() {  # start_nginx DAEMON(on|off) -> master pid in $master
  local i
  mkdir -p "$work/nginx"
  rm -f "$work/nginx.pid" "$work/nginx.pid.oldbin"
  cat >"$work/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon $1;
master_process on;
worker_processes 1;
worker_shutdown_timeout 1s;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 8000; }
stream {
  server {
    listen 127.0.0.1:$port;
    proxy_pass $backend;
  }
}
EOF
  # The full path: a binary upgrade execs argv[0] as it is.
  /usr/sbin/nginx -p "$work/nginx" -c "$work/nginx.conf" >"$work/nginx.log" 2>&1 &
  master=$!
  running[$master]=1
  [ "$1" = on ] || return 0
  # Daemonized: the process we started exits once the master is forked; the
  # master writes the pidfile after that.
  reap "$master"
  [ "$reaped_status" = 0 ] || return 1
  master=""
  for ((i = 0; i < 5000; i++)); do
    { read -r master <"$work/nginx.pid"; } 2>/dev/null || true
    [ -n "$master" ] && break
    pause
  done
  [ -n "$master" ]
}

# One reload (or upgrade) of $peer; sets new (the new worker) and, for
# nginx_upgrade, master (the new master). 1 when it did not complete.
reload() {
  local t0 t1 t2 t_ready=""
  if [ "$sig" = USR2 ]; then haproxy_takes_reloads || return 1; fi
  stamp t0
  if [ "$peer" != nginx_upgrade ]; then
    kill -"$sig" "$master"
    if ! await_new_child new "$master" "$seen"; then
      echo "$peer,$mode,$i,no_new_worker,,,,,$t0" >>"$out/macro_handovers.csv"
      return 1
    fi
    stamp t1
    if [ "$sig" = USR2 ]; then
      if ! haproxy_loaded; then
        echo "$peer,$mode,$i,not_loaded,,,,,$t0" >>"$out/macro_handovers.csv"
        return 1
      fi
      stamp t_ready
    fi
    if ! await_gone "$old"; then
      echo "$peer,$mode,$i,old_worker_stayed,,,,,$t0" >>"$out/macro_handovers.csv"
      return 1
    fi
    stamp t2
  else
    kill -USR2 "$master"
    if ! await_new_child new_master "$master" "$seen" ||
      ! await_new_child new "$new_master" " "; then
      echo "$peer,$mode,$i,no_new_worker,,,,,$t0" >>"$out/macro_handovers.csv"
      return 1
    fi
    stamp t1
    kill -WINCH "$master"
    await_gone "$old" || true
    kill -QUIT "$master"
    if ! await_gone "$master"; then
      echo "$peer,$mode,$i,old_master_stayed,,,,,$t0" >>"$out/macro_handovers.csv"
      return 1
    fi
    stamp t2
    master=$new_master
    new_master=""
    seen=" "
  fi
  local hold gone ready=""
  ms hold "$t0" "$t1"
  ms gone "$t0" "$t2"
  [ -z "$t_ready" ] || ms ready "$t0" "$t_ready"
  echo "$peer,$mode,$i,ok,$hold,$gone,$gone,$ready,$t0" >>"$out/macro_handovers.csv"
}

one_run() {  # one_run PEER MODE K DURATION_MS
  local peer=$1 mode=$2 k=$3 duration_ms=$4 i=0 old new sig="" seen workers
  port=$(free_port)
  case $peer in
    haproxy_none | haproxy_reload) start_haproxy; sig=USR2 ;;
    nginx_none | nginx_reload) start_nginx off; sig=HUP ;;
    nginx_upgrade) start_nginx on || { echo "peers.sh: nginx did not start" >&2; return 1; } ;;
    *) echo "peers.sh: unknown peer $peer" >&2; return 1 ;;
  esac
  case $peer in *_none) k=0 ;; esac
  if ! await_new_child old "$master" " "; then
    echo "peers.sh: $peer did not start" >&2
    return 1
  fi
  seen=" $old "
  # Ready once it accepts.
  for ((i = 0; i < 2500; i++)); do
    ss -Hltn "sport = :$port" | grep -q . && break
    pause
  done
  i=0
  start_load "$work" "$bin" "127.0.0.1:$port" "$mode" "$duration_ms"
  while [ "$i" -lt "$k" ] && kill -0 "$lg" 2>/dev/null; do
    if ! reload; then
      i=$((i + 1))
      break
    fi
    old=$new
    seen+="$new "
    i=$((i + 1))
  done
  # K done: the load goes on for TAIL_MS (steady state within the same run, outside
  # every restart window), then ends (DURATION_MS was the cap); runs without
  # restarts last DURATION_MS.
  if [ "$i" -ge "$k" ] && [ "$k" -gt 0 ]; then end_load_after "${TAIL_MS:-1000}"; fi
  reap "$lg"
  finish_load "$work/loadgen.json"
  # Stop the peer: SIGTERM, then SIGKILL its master and workers if it lingers
  # (each only while it still runs: a daemonized nginx is not our child).
  children_of "$master"
  workers=("${children[@]}")
  kill -TERM "$master" 2>/dev/null || true
  if ! await_gone "$master"; then
    local w
    for w in "$master" "${workers[@]}"; do gone "$w" || kill -KILL "$w" 2>/dev/null || true; done
  fi
  [ -z "${running[$master]:-}" ] || reap "$master"
  master=""
  if [ -n "$new_master" ]; then  # an upgrade that did not complete
    kill -TERM "$new_master" 2>/dev/null || true
    await_gone "$new_master" || true
    new_master=""
  fi
  if [ -n "${haproxy_fd:-}" ]; then
    exec {haproxy_fd}<&-
    haproxy_fd=""
  fi
  awk -v s="$peer" -v m="$mode" -v n="$i" -f "$here/loadgen_row.awk" \
    "$work/loadgen.json" >>"$out/macro.csv"
  window_rows "$out" "$peer" "$mode" "$work/samples.csv"
  echo "peers $peer $mode: $i reloads done" >&2
}

echo "peers.sh: network namespace: $BENCH_NETNS" >&2
for run in "${runs[@]}"; do
  IFS=: read -r mode k duration_ms list <<<"$run"
  list=${list//+/ }
  for peer in ${list:-${PEERS:-$all_peers}}; do
    if [ -n "${PEERS:-}" ] && [[ " $PEERS " != *" $peer "* ]]; then continue; fi
    one_run "$peer" "$mode" "$k" "$duration_ms" || echo "peers.sh: $peer $mode failed" >&2
  done
done
