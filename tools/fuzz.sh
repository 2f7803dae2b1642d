#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/README.md) with libFuzzer through cargo-fuzz, each for a
# bounded time, and fails on any crash, panic, hang (an input slower than the per-input
# timeout) or memory blow-up.
#
#   tools/fuzz.sh                       # every target, FUZZ_SECONDS (default 45) each
#   FUZZ_SECONDS=600 tools/fuzz.sh rhai_json
#   tools/fuzz.sh --build-only
#   tools/fuzz.sh --merge [TARGET...]  # add what runs found to the committed corpus
#
# Installs cargo-fuzz from crates.io when it is missing, and builds with the machine's stable
# toolchain: without a sanitizer (the default here) cargo-fuzz's coverage instrumentation
# needs no unstable flag. FUZZ_SANITIZER=address adds AddressSanitizer and LeakSanitizer,
# whose -Zsanitizer flag the stable compiler accepts with RUSTC_BOOTSTRAP=1 (set here then;
# no nightly toolchain to download). FUZZ_TARGET_DIR (default target/fuzz) keeps builds with
# different flags apart. New inputs go to
# target/fuzz/corpus/<target> (the committed corpus, fuzz/corpus/<target>, is only read;
# --merge adds to it those of them that reach code it does not, by edge coverage); a failing
# input is saved under target/fuzz/artifacts/<target>/ and printed.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds=${FUZZ_SECONDS:-45}
timeout=${FUZZ_INPUT_TIMEOUT:-20}    # seconds one input may take
rss_mb=${FUZZ_RSS_LIMIT_MB:-2048}
out=${FUZZ_TARGET_DIR:-target/fuzz}

build_only=false
merge=false
targets=()
for arg in "$@"; do
    case "$arg" in
        --build-only) build_only=true ;;
        --merge) merge=true ;;
        -h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d'; exit 0 ;;
        *) targets+=("$arg") ;;
    esac
done
if [ ${#targets[@]} -eq 0 ]; then
    targets=(rpc_frames openrpc circles_json rhai_json)
fi

# libfuzzer-sys compiles libFuzzer (C++).
if ! command -v c++ >/dev/null; then
    apt-get update && apt-get install -y g++
fi
if ! cargo fuzz --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

sanitizer=${FUZZ_SANITIZER:-none}
if [ "$sanitizer" != none ]; then
    export RUSTC_BOOTSTRAP=1
fi
# The per-target harness code is small; 16 codegen units keep the instrumented build of the
# workspace's dependencies at a few minutes on two cores.
flags=(--fuzz-dir fuzz/libfuzzer --sanitizer "$sanitizer" --codegen-units 16
       --target-dir "$out")

cargo fuzz build "${flags[@]}"
if $build_only; then
    exit 0
fi
if $merge; then
    for target in "${targets[@]}"; do
        before=$(ls "fuzz/corpus/$target" | wc -l)
        mkdir -p "$out/corpus/$target"
        "$out/x86_64-unknown-linux-gnu/release/$target" -merge=1 -use_counters=0 \
            "fuzz/corpus/$target" "$out/corpus/$target" >"$out/$target.merge.log" 2>&1
        echo "fuzz/corpus/$target: $before -> $(ls "fuzz/corpus/$target" | wc -l) inputs"
    done
    exit 0
fi

passed=0
failed=()
for target in "${targets[@]}"; do
    corpus=fuzz/corpus/$target
    scratch=$out/corpus/$target
    artifacts=$out/artifacts/$target
    [ -d "$corpus" ] || { echo "no fuzz target $target (no $corpus)" >&2; exit 2; }
    mkdir -p "$scratch" "$artifacts"
    rm -f "$artifacts"/*
    options=(-max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss_mb"
             -artifact_prefix="$artifacts/" -print_final_stats=1)
    [ -f "fuzz/dict/$target.dict" ] && options+=(-dict="fuzz/dict/$target.dict")
    printf '\n== fuzz %s: %ss ==\n' "$target" "$seconds"
    log=$out/$target.log
    if cargo fuzz run "${flags[@]}" "$target" "$scratch" "$corpus" \
        -- "${options[@]}" >"$log" 2>&1; then
        status=0
    else
        status=$?
    fi
    grep -E '^(INFO: seed corpus|#[0-9]+ +(INITED|DONE))|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb|new_units_added)' "$log" || true
    if [ "$status" -eq 0 ] && [ -z "$(ls -A "$artifacts")" ]; then
        passed=$((passed + 1))
        continue
    fi
    failed+=("$target")
    echo "fuzz $target FAILED (exit $status); from its log ($log):"
    grep -E -A4 'panicked at|ERROR: libFuzzer|SUMMARY' "$log" | head -n 40 || tail -n 40 "$log"
    for input in "$artifacts"/*; do
        [ -f "$input" ] || continue
        echo "failing input $input ($(wc -c <"$input") bytes), base64:"
        base64 "$input"
        echo "To keep it as a regression: cp $input fuzz/corpus/$target/regression-<what>"
    done
done

echo
echo "fuzz: ${passed} passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed targets: ${failed[*]}"
    exit 1
fi
