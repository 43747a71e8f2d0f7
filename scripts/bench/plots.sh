#!/usr/bin/env bash
# Draws docs/bench/*.png from the summaries in DIR (takeover_summary.csv,
# loaded_summary.csv, discover_summary.csv: medians with the interquartile range
# as error bars; macro_windows.csv: latency percentiles per restart strategy).
#   scripts/bench/plots.sh docs/bench
set -euo pipefail
dir=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# latency_panels PNG WIDTH COLUMNS PANELS: latency against N, log-log, one row
# of COLUMNS panels (PANELS: gnuplot "set title ...; plot ..." lines).
latency_panels() {
  gnuplot <<GNUPLOT
set terminal pngcairo size $2,500 font ',10'
set output '$1'
set termoption noenhanced
set multiplot layout 1,$3
set logscale xy
set xlabel 'listeners N'
set ylabel 'latency, µs (median, IQR bars)'
set key top left
set grid
$4
unset multiplot
GNUPLOT
}

declare -A color=([pidfd]='#9400d3' [pidfd_list]='#cc79a7' [scm]='#009e73' [getfd]='#56b4e9'
  [dup]='#e69f00')
declare -A label=([pidfd]='pidfd path (TakeOver, copy-first)' [pidfd_list]='pidfd, list-first path'
  [scm]='SCM_RIGHTS' [getfd]='bare pidfd_getfd loop' [dup]='bare dup loop')
# takeover_summary.csv: state,method,n,count,median,q1,q3,min,max,failures
for state in idle busy stopped; do
  for m in pidfd pidfd_list scm getfd dup; do
    awk -F, -v s="$state" -v m="$m" 'NR > 1 && $1 == s && $2 == m && $4 > 0 {print $3, $5, $6, $7}' \
      "$dir/takeover_summary.csv" >"$tmp/$state.$m.dat"
  done
done
panels=""
for state in idle busy stopped; do
  plot=""
  for m in pidfd pidfd_list scm getfd dup; do
    [ -s "$tmp/$state.$m.dat" ] || continue
    plot+="${plot:+, }'$tmp/$state.$m.dat' using 1:2:3:4 with yerrorlines lc rgb '${color[$m]}' title '${label[$m]}'"
  done
  [ "$state" = stopped ] && plot+=", NaN with lines dt 2 lc rgb '${color[scm]}' title 'SCM_RIGHTS: every attempt timed out'"
  panels+="set title 'old instance $state'; plot $plot
"
done
latency_panels "$dir/takeover.png" 1500 3 "$panels"

# discover_summary.csv: host_conns,holder_fds,method,count,median,q1,q3,...
plot=""
while read -r fds; do
  for m in sock_diag proc_net takeover; do
    awk -F, -v f="$fds" -v m="$m" 'NR > 1 && $2 == f && $3 == m && $4 > 0 {print $1, $5, $6, $7}' \
      "$dir/discover_summary.csv" >"$tmp/d.$fds.$m.dat"
    [ -s "$tmp/d.$fds.$m.dat" ] || continue
    plot+="${plot:+, }'$tmp/d.$fds.$m.dat' using (\$1 + 1):2:3:4 with yerrorlines title '$m, target holds $fds fds'"
  done
done < <(awk -F, 'NR > 1 {print $2}' "$dir/discover_summary.csv" | sort -nu)
gnuplot <<GNUPLOT
set terminal pngcairo size 900,550 font ',10'
set output '$dir/discover.png'
set termoption noenhanced
set logscale xy
set xlabel 'established connections in the namespace (+1, log scale)'
set ylabel 'µs (median, IQR bars)'
set key top left
set grid
set title 'discovery cost against what the host holds'
plot $plot
GNUPLOT

# loaded_summary.csv (same columns as takeover_summary.csv), when measured.
if [ -s "$dir/loaded_summary.csv" ]; then
  panels=""
  for state in loaded loaded_keepalive; do
    plot=""
    for m in pidfd scm getfd; do
      awk -F, -v s="$state" -v m="$m" 'NR > 1 && $1 == s && $2 == m && $4 > 0 {print $3, $5, $6, $7}' \
        "$dir/loaded_summary.csv" >"$tmp/l.$state.$m.dat"
      [ -s "$tmp/l.$state.$m.dat" ] || continue
      plot+="${plot:+, }'$tmp/l.$state.$m.dat' using 1:2:3:4 with yerrorlines lc rgb '${color[$m]}' title '${label[$m]}'"
    done
    [ -n "$plot" ] && panels+="set title 'old instance: demo_proxy under ${state#loaded_} load'; plot $plot
"
  done
  panels=${panels//under loaded load/under new_conn load}
  latency_panels "$dir/loaded.png" 1100 2 "$panels"
fi

# macro_windows.csv: strategy,mode,window,time_s,attempts,ok,...,p50_us,p99_us,p999_us,max_us
# One panel per load: p50 and p99 inside restart windows, p99 outside them (and
# of the steady-state runs), per strategy, log scale.
if [ -s "$dir/macro_windows.csv" ]; then
  panels=""
  for mode in new_conn keepalive; do
    awk -F, -v m="$mode" 'NR > 1 && $2 == m {
        k = $1; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
        if ($3 == "in") { p50[k] = $12; in99[k] = $13 } else out99[k] = $13
      }
      END { for (i = 1; i <= n; i++) { k = order[i]
        printf "%s %s %s %s\n", k, (k in p50) ? p50[k] / 1000 : "NaN", (k in in99) ? in99[k] / 1000 : "NaN", (k in out99) ? out99[k] / 1000 : "NaN" } }' \
      "$dir/macro_windows.csv" >"$tmp/w.$mode.dat"
    [ -s "$tmp/w.$mode.dat" ] || continue
    panels+="set title '$mode load'; plot '$tmp/w.$mode.dat' using 2:xtic(1) title 'p50 in restart windows' lc rgb '#56b4e9', '' using 3 title 'p99 in restart windows' lc rgb '#9400d3', '' using 4 title 'p99 outside windows (steady runs: whole run)' lc rgb '#009e73'
"
  done
  gnuplot <<GNUPLOT
set terminal pngcairo size 1500,550 font ',10'
set output '$dir/macro.png'
set termoption noenhanced
set multiplot layout 1,2
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [0.1:*]
set ylabel 'latency, ms (log scale)'
set xtics rotate by -40
set key top left
set grid ytics
$panels
unset multiplot
GNUPLOT
fi
