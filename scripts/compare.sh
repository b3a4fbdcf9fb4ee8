#!/usr/bin/env bash
# The comparison, from scratch: build in release (timed apart from the
# measurements), run the Criterion benches pinned, run the ws-loadgen
# scenarios (the repeated, interleaved figures the report decides on), and
# regenerate RESULTS.md and its plots from results/ alone.
#
#   scripts/compare.sh           full run: rewrites results/ and RESULTS.md
#   scripts/compare.sh --quick   smoke run into a temporary directory; RESULTS.md untouched
#                                (one Criterion condition in Criterion's --quick mode, one repeat;
#                                Criterion's pinned baseline in target/ is overwritten)
#
# Criterion runs pinned only: one Criterion process cannot give a range
# between processes, so its figures are a secondary view, and the minutes
# an unpinned pass took are spent on ws-loadgen repeats instead.
#
# The logic lives in crates/ws-report (collect, import-criterion, render, check).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
benches=()
filter=()
case "${1:-}" in
  "") results=results report=RESULTS.md ;;
  --quick)
    quick=(--quick)
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
# Criterion: about 8 s a benchmark on the 2-core machine (warm-up, 2 s of
# samples, start-up and analysis; 2742 s for the run before this one).
n_benches=$(SINK_SHARING_PIN=1 cargo bench -q -p benches "${benches[@]}" -- --list "${filter[@]}" 2>/dev/null | grep -c ': benchmark$' || true)
echo "plan: Criterion pinned, $n_benches benchmarks, about $((n_benches * 8)) s${quick[*]:+ (less in --quick mode)}"
"$ws_report" collect --dry-run "${quick[@]}"

# Criterion keeps every benchmark it ever saw under target/criterion; a
# renamed or removed benchmark would otherwise be imported with stale numbers.
rm -rf target/criterion

bench_start=$SECONDS
cmd="SINK_SHARING_PIN=1 cargo bench -p benches ${benches[*]:+${benches[*]} }-- ${quick[*]:+${quick[*]} }--save-baseline pinned${filter[*]:+ '${filter[*]}'}"
echo "+ $cmd"
SINK_SHARING_PIN=1 cargo bench -p benches "${benches[@]}" -- "${quick[@]}" --save-baseline pinned "${filter[@]}"
bench_s=$((SECONDS - bench_start))

collect_start=$SECONDS
"$ws_report" import-criterion --criterion-dir target/criterion --out "$results/criterion" --command "$cmd"
"$ws_report" collect --out "$results" "${quick[@]}"
"$ws_report" render --results "$results" --out "$report"
collect_s=$((SECONDS - collect_start))

echo "raw results: $results/"
echo "report:      $report (plots in $results/plots/)"
echo "total time:  $((SECONDS - start)) s (build $build_s s, Criterion $bench_s s, ws-loadgen and report $collect_s s)"
