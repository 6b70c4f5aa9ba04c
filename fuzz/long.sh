#!/usr/bin/env bash
# Fuzzes each target (or those named) for SECONDS (default 600) one after another, from the
# corpus dirs .ci/run uses, and prints each target's executions (libFuzzer's final stats).
# Crashes land in fuzz/artifacts/TARGET/; a target that crashes is reported and the next
# one runs.
#
#   fuzz/long.sh [SECONDS] [TARGET...]        (from the repository root, ../shared beside it)
set -uo pipefail

SECS=${1:-600}
shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ_DIR="$ROOT/fuzz"
SHARED="$ROOT/../shared/testdata/kafka"
LOGS="$FUZZ_DIR/long-logs"
mkdir -p "$LOGS"

generated="$FUZZ_DIR/corpus/.generated-seeds"
rm -rf "$generated"
"$FUZZ_DIR/seeds.sh" "$SHARED" "$generated" >/dev/null

targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir "$FUZZ_DIR")
fi
cargo +nightly fuzz build --fuzz-dir "$FUZZ_DIR"

printf '%-20s %8s %14s %s\n' target seconds executions result
for t in "${targets[@]}"; do
    corpora=("$FUZZ_DIR/corpus/$t")
    mkdir -p "${corpora[0]}"
    [[ -d $FUZZ_DIR/regressions/$t ]] && corpora+=("$FUZZ_DIR/regressions/$t")
    [[ -d $generated/$t ]] && corpora+=("$generated/$t")
    case $t in batch_decode | segment_recover) corpora+=("$SHARED") ;; esac
    start=$SECONDS
    cargo +nightly fuzz run --fuzz-dir "$FUZZ_DIR" "$t" "${corpora[@]}" -- \
        -max_total_time="$SECS" -max_len=65536 -print_final_stats=1 >"$LOGS/$t.log" 2>&1
    status=$?
    runs=$(grep -oE 'number_of_executed_units: [0-9]+' "$LOGS/$t.log" | grep -oE '[0-9]+$' | tail -1)
    result=ok
    ((status != 0)) && result="CRASH (see $LOGS/$t.log, fuzz/artifacts/$t/)"
    printf '%-20s %8d %14s %s\n' "$t" $((SECONDS - start)) "${runs:-?}" "$result"
done
