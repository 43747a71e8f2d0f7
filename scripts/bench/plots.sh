#!/usr/bin/env bash
# Draws docs/bench/*.png from the summaries in DIR (takeover_summary.csv,
# discover_summary.csv): medians with the interquartile range as error bars.
#   scripts/bench/plots.sh docs/bench
set -euo pipefail
dir=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

declare -A color=([pidfd]='#9400d3' [scm]='#009e73' [getfd]='#56b4e9' [dup]='#e69f00')
declare -A label=([pidfd]='pidfd path (TakeOver)' [scm]='SCM_RIGHTS' [getfd]='bare pidfd_getfd loop'
  [dup]='bare dup loop')
# takeover_summary.csv: state,method,n,count,median,q1,q3,min,max,failures
for state in idle busy stopped; do
  for m in pidfd scm getfd dup; do
    awk -F, -v s="$state" -v m="$m" 'NR > 1 && $1 == s && $2 == m && $4 > 0 {print $3, $5, $6, $7}' \
      "$dir/takeover_summary.csv" >"$tmp/$state.$m.dat"
  done
done
panels=""
for state in idle busy stopped; do
  plot=""
  for m in pidfd scm getfd dup; do
    [ -s "$tmp/$state.$m.dat" ] || continue
    plot+="${plot:+, }'$tmp/$state.$m.dat' using 1:2:3:4 with yerrorlines lc rgb '${color[$m]}' title '${label[$m]}'"
  done
  [ "$state" = stopped ] && plot+=", NaN with lines dt 2 lc rgb '${color[scm]}' title 'SCM_RIGHTS: every attempt timed out'"
  panels+="set title 'old instance $state'; plot $plot
"
done
gnuplot <<GNUPLOT
set terminal pngcairo size 1500,500 font ',10'
set output '$dir/takeover.png'
set termoption noenhanced
set multiplot layout 1,3
set logscale xy
set xlabel 'listeners N'
set ylabel 'latency, µs (median, IQR bars)'
set key top left
set grid
$panels
unset multiplot
GNUPLOT

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
