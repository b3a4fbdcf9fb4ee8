#!/usr/bin/env bash
# The comparison, from scratch: build in release, run the Criterion benches
# pinned and unpinned, run the ws-loadgen scenarios Criterion cannot express,
# and regenerate RESULTS.md and its plots from results/ alone.
#
#   scripts/compare.sh           full run: rewrites results/ and RESULTS.md
#   scripts/compare.sh --quick   smoke run into a temporary directory; RESULTS.md untouched
#                                (Criterion's own pinned/unpinned baselines in target/ are overwritten)
#
# The logic lives in crates/ws-report (collect, import-criterion, render, check).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
case "${1:-}" in
  "") results=results report=RESULTS.md ;;
  --quick)
    quick=(--quick)
    out=$(mktemp -d "${TMPDIR:-/tmp}/sink-sharing-quick.XXXXXX")
    results=$out/results report=$out/RESULTS.md ;;
  *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
start=$SECONDS

cargo build --release --workspace --bins

# Criterion keeps every benchmark it ever saw under target/criterion; a
# renamed or removed benchmark would otherwise be imported with stale numbers.
rm -rf target/criterion

bench_commands=()
for pin in 1 0; do
  baseline=$([[ $pin == 1 ]] && echo pinned || echo unpinned)
  cmd="SINK_SHARING_PIN=$pin cargo bench -p benches -- ${quick[*]:+${quick[*]} }--save-baseline $baseline"
  echo "+ $cmd"
  SINK_SHARING_PIN=$pin cargo bench -p benches -- "${quick[@]}" --save-baseline "$baseline"
  bench_commands+=(--command "$cmd")
done

ws_report=target/release/ws-report
"$ws_report" import-criterion --criterion-dir target/criterion --out "$results/criterion" "${bench_commands[@]}"
"$ws_report" collect --out "$results" "${quick[@]}"
"$ws_report" render --results "$results" --out "$report"

echo "raw results: $results/"
echo "report:      $report (plots in $results/plots/)"
echo "total time:  $((SECONDS - start)) s"
