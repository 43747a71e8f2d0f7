#!/usr/bin/env bash
# Runs the benchmarks, keeps the raw results, draws the plots and regenerates
# docs/benchmarks.md (see docs/benchmarks.md for the method).
#
#   scripts/bench.sh           full run, under 10 minutes
#   scripts/bench.sh --quick   fewer points and repetitions, under 1 minute
#
# Raw CSVs and summaries: results/<UTC timestamp>/ (not committed); the copies the
# report quotes: docs/bench/*.csv; plots: docs/bench/*.png.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
bin=$build/bin

mode=full
case "${1:-}" in
  "") ;;
  --quick) mode=quick ;;
  *) echo "usage: scripts/bench.sh [--quick]" >&2; exit 2 ;;
esac

if [ "$mode" = quick ]; then
  takeover_args=("--n=1,16,64,1024" --reps=7 --stopped_scm_reps=1)
  loaded_args=("--n=1,16,64" --reps=7 --load_ms=700)
  discover_args=("--host_conns=0,10000" "--holder_fds=100,16000" --reps=5)
  macro_runs=new_conn:0:2000:none
  macro_runs+=,new_conn:5:4000:pidfd+pidfd_proxy+scm+stop_start+reuseport_migrate0+reuseport_migrate1
  macro_runs+=,keepalive:0:2000:none,keepalive:2:4000:pidfd+scm
  peer_runs=new_conn:0:1500:haproxy_none+nginx_none
  peer_runs+=,new_conn:2:3000:haproxy_reload+nginx_reload+nginx_upgrade
else
  takeover_args=("--n=1,16,64,256,1024,4096" --reps=21 --stopped_scm_reps=2)
  loaded_args=("--n=1,16,64,256" --reps=21 --load_ms=2000)
  discover_args=("--host_conns=0,10000,100000" "--holder_fds=100,16000" --reps=11)
  # MODE:K:DURATION_MS:STRATEGIES (scripts/bench/macro.sh). With K restarts the load
  # ends 1 s after the K-th, DURATION_MS is then only a cap: 200 pidfd restarts take
  # 13-40 s on this VM depending on its other load, SCM_RIGHTS 9-25 s. Worst case
  # (every cap reached) ~6 min for macro + peers; typically 3.5-5 min.
  macro_runs=new_conn:0:15000:none,new_conn:200:50000:pidfd+scm
  macro_runs+=,new_conn:50:12000:pidfd_proxy+stop_start+reuseport_migrate0+reuseport_migrate1
  macro_runs+=,keepalive:0:8000:none
  macro_runs+=,keepalive:8:11000:pidfd+pidfd_proxy+scm+stop_start+reuseport_migrate0+reuseport_migrate1
  peer_runs=new_conn:0:10000:haproxy_none+nginx_none
  peer_runs+=,new_conn:20:12000:haproxy_reload+nginx_reload+nginx_upgrade
  peer_runs+=,keepalive:0:6000:haproxy_none+nginx_none
  peer_runs+=,keepalive:6:10000:haproxy_reload+nginx_reload+nginx_upgrade
fi

"$root/scripts/install_deps.sh" bench
BUILD_DIR=$build "$root/scripts/build.sh" >/dev/null

stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$root/results/$stamp
mkdir -p "$results" "$root/docs/bench"
echo "bench.sh: $mode run, results in $results" >&2

{
  echo "mode=$mode"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit=$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- handover tests || echo '+local changes')"
  echo "kernel=$(uname -r)"
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "mem_mb=$(awk '/^MemTotal/ {print int($2 / 1024)}' /proc/meminfo)"
  echo "nofile_hard=$(ulimit -Hn)"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "tcp_before=$(ss -s | awk '/^TCP:/ {sub(/^TCP: +/, ""); print; exit}')"
} >"$results/machine.txt"

# Each benchmark is bounded: handover_bench kills its children on every exit path
# and `timeout` bounds the whole step.
run() {
  local name=$1
  shift
  echo "$*" >>"$results/commands.txt"
  timeout --kill-after=10 "${STEP_TIMEOUT:-300}" "$@" 2> >(tee "$results/$name.log" >&2)
}
run takeover "$bin/handover_bench" --mode=takeover "${takeover_args[@]}" \
  --out="$results/takeover.csv"
run loaded "$bin/handover_bench" --mode=loaded "${loaded_args[@]}" \
  --out="$results/loaded.csv" --load_out="$results/loaded_load.csv"
run discover "$bin/handover_bench" --mode=discover "${discover_args[@]}" \
  --out="$results/discover.csv"
run macro "$root/scripts/bench/macro.sh" "$bin" "$results" "$macro_runs"
run peers "$root/scripts/bench/peers.sh" "$bin" "$results" "$peer_runs"

summ=$root/scripts/bench/summarize.awk
awk -F, -v keys=1,2,3 -v value=5 -v outcome=6 -f "$summ" "$results/takeover.csv" \
  >"$results/takeover_summary.csv"
awk -F, -v keys=1,2,3 -v value=5 -v outcome=6 -f "$summ" "$results/loaded.csv" \
  >"$results/loaded_summary.csv"
awk -F, -v keys=1,2,3 -v value=5 -v outcome=6 -f "$summ" "$results/discover.csv" \
  >"$results/discover_summary.csv"
for col in 5 6 7 8; do
  # ready_ms (8) is empty where it is not measured (nginx): those rows are left out.
  awk -F, -v c="$col" 'NR == 1 || $c != "" || $4 != "ok"' "$results/macro_handovers.csv" |
    awk -F, -v keys=1,2 -v value="$col" -v outcome=4 -f "$summ" |
    awk -F, -v c="$col" 'NR == 1 {print "column," $0; next} {print c "," $0}' |
    { if [ "$col" = 5 ]; then cat; else tail -n +2; fi; }
done >"$results/macro_handovers_summary.csv"
ratios=$root/scripts/bench/ratios.awk
{
  awk -F, -v group=1,3 -v rep=4 -v method=2 -v value=5 -v outcome=6 -v a=pidfd -v b=scm \
    -f "$ratios" "$results/takeover.csv"
  awk -F, -v group=1,3 -v rep=4 -v method=2 -v value=5 -v outcome=6 -v a=pidfd -v b=getfd \
    -f "$ratios" "$results/takeover.csv" | tail -n +2
} >"$results/takeover_ratios.csv"
{
  awk -F, -v group=1,3 -v rep=4 -v method=2 -v value=5 -v outcome=6 -v a=pidfd -v b=scm \
    -f "$ratios" "$results/loaded.csv"
  awk -F, -v group=1,3 -v rep=4 -v method=2 -v value=5 -v outcome=6 -v a=pidfd -v b=getfd \
    -f "$ratios" "$results/loaded.csv" | tail -n +2
} >"$results/loaded_ratios.csv"

echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/machine.txt"
for f in machine.txt commands.txt takeover.csv discover.csv takeover_summary.csv \
  discover_summary.csv takeover_ratios.csv macro.csv macro_handovers.csv \
  macro_handovers_summary.csv macro_windows.csv loaded.csv loaded_load.csv \
  loaded_summary.csv loaded_ratios.csv; do
  cp "$results/$f" "$root/docs/bench/$f"
done
"$root/scripts/bench/plots.sh" "$root/docs/bench"
"$root/scripts/bench/report.sh" "$root/docs/bench" >"$root/docs/benchmarks.md"
echo "bench.sh: wrote docs/benchmarks.md and docs/bench/*.png" >&2
