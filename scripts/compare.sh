#!/usr/bin/env bash
# The comparison, from scratch: build in release (timed apart from the
# measurements), run the Criterion benches pinned, run the ws-loadgen
# scenarios (the repeated, interleaved figures the report decides on), and
# regenerate RESULTS.md and its plots from results/ alone.
#
#   scripts/compare.sh           full run: rewrites results/ and RESULTS.md
#   scripts/compare.sh --quick   smoke run into a temporary directory; RESULTS.md untouched
#                                (one Criterion condition in Criterion's --quick mode, one pass,
#                                one repeat; Criterion's baselines in target/ are overwritten)
#
# Criterion runs pinned only, in 3 passes, each its own `cargo bench`
# process with every contender in it (baselines pinned-r1..3): the report
# takes each ratio within a pass and shows its range over the passes, since
# one process can be 15-20% off while its own interval looks tight. The
# minutes an unpinned pass took are spent on ws-loadgen repeats instead.
# The slow_consumer group is not in the passes: a stalled iteration of a
# mutex variant lasts the 5 s send timeout (almost two minutes a pass), and
# the repeated ws-loadgen slow-consumer runs measure the same room with a
# range; `cargo bench -p benches -- slow_consumer` still runs it.
#
# The logic lives in crates/ws-report (collect, import-criterion, render, check).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
benches=(--bench echo --bench broadcast --bench contention)
filter=()
passes=3
case "${1:-}" in
  "") results=results report=RESULTS.md ;;
  --quick)
    quick=(--quick)
    passes=1
    benches=(--bench echo)
    filter=("64B x 64 conns, 64 in flight")
    out=$(mktemp -d "${TMPDIR:-/tmp}/sink-sharing-quick.XXXXXX")
    results=$out/results report=$out/RESULTS.md ;;
  *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
start=$SECONDS

cargo build --release --workspace --bins
cargo bench -p benches "${benches[@]}" --no-run
build_s=$((SECONDS - start))

ws_report=target/release/ws-report
# Criterion: about 2.1 s a benchmark and pass on the 2-core machine (0.3 s
# warm-up, 1-2.5 s of samples, start-up and analysis): one pass of the 63
# took 140 s beside another build, then 129 s with echo's 64 B conditions at
# 1 s; 621 s for the 71 of the single pass before.
n_benches=$(SINK_SHARING_PIN=1 cargo bench -q -p benches "${benches[@]}" -- --list "${filter[@]}" 2>/dev/null | grep -c ': benchmark$' || true)
echo "plan: Criterion pinned, $passes pass(es) of $n_benches benchmarks, about $((passes * n_benches * 21 / 10)) s${quick[*]:+ (less in --quick mode)}"
"$ws_report" collect --dry-run "${quick[@]}"

# Criterion keeps every benchmark it ever saw under target/criterion; a
# renamed or removed benchmark would otherwise be imported with stale numbers.
rm -rf target/criterion

bench_start=$SECONDS
commands=()
for pass in $(seq 1 "$passes"); do
  # --noplot: the report draws its own plots from estimates.json.
  cmd="SINK_SHARING_PIN=1 cargo bench -p benches ${benches[*]} -- ${quick[*]:+${quick[*]} }--noplot --save-baseline pinned-r$pass${filter[*]:+ '${filter[*]}'}"
  echo "+ $cmd"
  SINK_SHARING_PIN=1 cargo bench -p benches "${benches[@]}" -- "${quick[@]}" --noplot --save-baseline "pinned-r$pass" "${filter[@]}"
  commands+=(--command "$cmd")
done
bench_s=$((SECONDS - bench_start))

collect_start=$SECONDS
"$ws_report" import-criterion --criterion-dir target/criterion --out "$results/criterion" "${commands[@]}"
"$ws_report" collect --out "$results" "${quick[@]}"
"$ws_report" render --results "$results" --out "$report"
collect_s=$((SECONDS - collect_start))

echo "raw results: $results/"
echo "report:      $report (plots in $results/plots/)"
echo "total time:  $((SECONDS - start)) s (build $build_s s, Criterion $bench_s s, ws-loadgen and report $collect_s s)"
