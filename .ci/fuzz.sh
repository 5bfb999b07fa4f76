#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, ASan + UBSan) and runs each for a while, starting
# from the committed seed corpus. A crash, leak or timeout fails the script; the input that caused it is
# left in build/fuzz/artifacts/. To keep it as a regression test, copy it to tests/fuzz/regressions/
# (replayed by the `fuzz_regression_*` CTest tests in every normal build) and fix the parser.
# Environment: TSA_FUZZ_SECONDS (default 30) per fuzzer, TSA_FUZZ_JOBS (default 2) build jobs.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER=${TSA_FUZZ_SECONDS:-30}
JOBS=${TSA_FUZZ_JOBS:-2}
BUILD=build/fuzz
FUZZERS=(safetensors npy npz capture effect)

cmake --preset fuzz
targets=()
for f in "${FUZZERS[@]}"; do targets+=("fuzz_$f"); done
cmake --build --preset fuzz -j"$JOBS" --target "${targets[@]}"

mkdir -p "$BUILD/artifacts"
status=0
for f in "${FUZZERS[@]}"; do
    corpus="$BUILD/corpus/$f"
    mkdir -p "$corpus"
    # Each fuzzer starts from every seed: a capture fuzzer gains from npz seeds and the other way round.
    seeds=(tests/fuzz/seeds/safetensors tests/fuzz/seeds/npy tests/fuzz/seeds/npz tests/fuzz/regressions)
    echo "== fuzz_$f for ${SECONDS_PER}s"
    if ! "$BUILD/tests/fuzz/fuzz_$f" "$corpus" "${seeds[@]}" \
        -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -max_len=16384 -dict=tests/fuzz/safetensors.dict -print_final_stats=1 \
        -artifact_prefix="$BUILD/artifacts/$f-" 2> "$BUILD/fuzz_$f.log"; then
        echo "fuzz_$f FAILED; input and log:" >&2
        ls -la "$BUILD/artifacts" >&2
        tail -n 60 "$BUILD/fuzz_$f.log" >&2
        status=1
    else
        grep -E "stat::number_of_executed_units|stat::new_units_added" "$BUILD/fuzz_$f.log" || true
    fi
done
exit $status
