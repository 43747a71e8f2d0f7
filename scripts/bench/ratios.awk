# Paired ratios from one raw CSV: for each group and repetition, value(A) / value(B),
# then the median and quartiles of those per-repetition ratios.
# Usage: awk -F, -v group=1,3 -v rep=4 -v method=2 -v value=5 -v outcome=6 \
#            -v a=pidfd -v b=scm -f ratios.awk raw.csv
# Output: group..., a, b, pairs, median_ratio, q1, q3
function sort(x, n,   i, j, t) {
  for (i = 2; i <= n; i++) { t = x[i]; for (j = i - 1; j >= 1 && x[j] > t; j--) x[j + 1] = x[j]; x[j + 1] = t }
}
function pct(x, n, p,   r, lo) {
  r = 1 + (n - 1) * p; lo = int(r)
  if (lo >= n) return x[n]
  return x[lo] + (r - lo) * (x[lo + 1] - x[lo])
}
BEGIN { ng = split(group, g, ",") }
NR == 1 { for (i = 1; i <= ng; i++) hdr = hdr $g[i] ","; next }
$outcome != "ok" { next }
$method == a || $method == b {
  key = ""
  for (i = 1; i <= ng; i++) key = key $g[i] ","
  if (!(key in seen)) { seen[key] = 1; order[++nkeys] = key }
  v[key, $rep, $method] = $value; reps[key, $rep] = 1
}
END {
  print hdr "a,b,pairs,median_ratio,q1,q3"
  for (x = 1; x <= nkeys; x++) {
    key = order[x]; n = 0; delete r
    for (kr in reps) {
      split(kr, parts, SUBSEP)
      if (parts[1] != key) continue
      if (((key, parts[2], a) in v) && ((key, parts[2], b) in v) && v[key, parts[2], b] > 0) {
        r[++n] = v[key, parts[2], a] / v[key, parts[2], b]
      }
    }
    if (n == 0) { print key a "," b ",0,,,"; continue }
    sort(r, n)
    printf "%s%s,%s,%d,%.3f,%.3f,%.3f\n", key, a, b, n, pct(r, n, .5), pct(r, n, .25), pct(r, n, .75)
  }
}
