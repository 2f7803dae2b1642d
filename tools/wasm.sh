#!/usr/bin/env bash
# Builds the browser client (rpc-client for wasm32-unknown-unknown) into
# console/pkg/ and runs every browser test against a real circle:
#
#   1. toolchain: rustup's wasm32 target when rustup can add it, else Debian's
#      rustc-web with -Zbuild-std (see shared notes, wasm.md); clang for
#      secp256k1's C code; chromium + chromedriver; wasm-bindgen-cli at exactly
#      the wasm-bindgen version of Cargo.lock; `npm ci` in tools/ (binaryen's
#      wasm-opt, esbuild and the console's packages, playwright-core). Installs
#      only what is missing.
#   2. the client: cargo build --profile wasm-release, wasm-bindgen --target web into
#      console/pkg/, wasm-opt -Oz, and the bundle's size (raw and gzip), which
#      must stay within WASM_BUDGET_KIB (400 KiB after wasm-opt) or the script fails.
#      Then the console's page script: tools/build-console.mjs bundles
#      console/src/ with CodeMirror and @noble/curves (esbuild) into console/console.js.
#   3. a circle started by the launcher (sign-in required, any signed-in caller may play, a free port on 127.0.0.1,
#      a temp data folder, tools/e2e-scripts/ as its script library) that also serves the console; stopped on exit.
#   4. the wasm-bindgen-test tests (rpc-client/tests/web.rs, patterns.rs) in headless Chromium.
#   5. the console's end-to-end test (tools/console-e2e.mjs, playwright-core): it runs the
#      same circle itself (same port), to stop it and start it again; it saves
#      console/screenshot.png.
#
# Usage: tools/wasm.sh [--build-only]     (from anywhere; safe to re-run)
#   --build-only      steps 1 and 2 only
# Environment:
#   WASM_TOOLCHAIN=auto|rustup|debian   force a toolchain (default auto)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# The most the served module (console/pkg/rpc_client_bg.wasm, after wasm-opt)
# may weigh: a bigger one fails the build, so that it cannot grow back
# unnoticed. Raise it only deliberately (README: "Bundle size").
WASM_BUDGET_KIB=400

BUILD_ONLY=false
for arg in "$@"; do
    case "$arg" in
        --build-only) BUILD_ONLY=true ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "tools/wasm.sh: unknown argument $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

START=$SECONDS
STEP_START=$SECONDS
TIMINGS=()
step() {
    if [[ -n "${STEP_NAME:-}" ]]; then
        TIMINGS+=("$(printf '%-58s %4ds' "$STEP_NAME" $((SECONDS - STEP_START)))")
    fi
    STEP_NAME="$*"
    STEP_START=$SECONDS
    printf '\n\033[1m== %s ==\033[0m\n' "$*"
}
note() { printf '   %s\n' "$*"; }
die() {
    printf 'tools/wasm.sh: %s\n' "$*" >&2
    exit 1
}

SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "${WORLD:-}" ]]; then
        rm -rf "$WORLD"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. toolchain -----------------------------------------------------------
step "toolchain"

APT_UPDATED=false
apt_install() {
    local missing=()
    local package
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$package")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    local sudo=()
    if ((EUID != 0)); then sudo=(sudo); fi
    note "installing ${missing[*]}"
    if ! $APT_UPDATED; then
        "${sudo[@]}" apt-get update -qq
        APT_UPDATED=true
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

TOOLCHAIN="${WASM_TOOLCHAIN:-auto}"
case "$TOOLCHAIN" in
    auto)
        if command -v rustup >/dev/null &&
            timeout 300 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
            TOOLCHAIN=rustup
        else
            TOOLCHAIN=debian
        fi
        ;;
    rustup)
        rustup target add wasm32-unknown-unknown >/dev/null ||
            die "rustup cannot add the wasm32-unknown-unknown target"
        ;;
    debian) ;;
    *) die "WASM_TOOLCHAIN must be auto, rustup or debian, not $TOOLCHAIN" ;;
esac

# clang compiles secp256k1-sys's C code for wasm32 (gcc cannot); llvm-ar
# archives it. The versioned names are Debian's.
COMMON_PACKAGES=(clang-22 llvm-22)
if ! $BUILD_ONLY; then
    COMMON_PACKAGES+=(chromium chromium-driver)
fi
export CC_wasm32_unknown_unknown=clang-22
export AR_wasm32_unknown_unknown=llvm-ar-22
# clang 22 refuses secp256k1-sys's implicit memmove declaration without this.
export CFLAGS_wasm32_unknown_unknown=-Wno-implicit-function-declaration

if [[ "$TOOLCHAIN" == rustup ]]; then
    apt_install "${COMMON_PACKAGES[@]}"
    WASM_CARGO=(cargo)
    BUILD_STD=()
else
    # Debian's Rust 1.96 plus its std sources: cargo builds std for wasm32
    # itself. rust-web-llvm gives rust-lld, the wasm linker.
    apt_install "${COMMON_PACKAGES[@]}" rustc-web cargo-web rust-web-src rust-web-llvm lld-22
    # Only the wasm builds use Debian's compiler: native builds keep rustup's.
    WASM_CARGO=(env RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 /usr/bin/cargo)
    BUILD_STD=(-Zbuild-std=std,panic_abort)
fi
# Apart from the native artifacts (and from the other toolchain's), under
# CARGO_TARGET_DIR when it is set.
WASM_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/wasm/$TOOLCHAIN"
wasm_cargo() {
    CARGO_TARGET_DIR="$WASM_TARGET_DIR" "${WASM_CARGO[@]}" "$@"
}
note "toolchain: $TOOLCHAIN ($("${WASM_CARGO[@]}" --version)), target dir ${WASM_TARGET_DIR#"$ROOT"/}"

# wasm-bindgen-cli must be exactly the wasm-bindgen the client links.
BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { found = 1; next }
    found && /^version = / { gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
[[ -n "$BINDGEN_VERSION" ]] || die "no wasm-bindgen in Cargo.lock"
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $BINDGEN_VERSION" ]] ||
    ! command -v wasm-bindgen-test-runner >/dev/null; then
    note "installing wasm-bindgen-cli $BINDGEN_VERSION (a few minutes, once)"
    # Without --locked: one of its locked dependencies was missing from the registry.
    cargo install --quiet wasm-bindgen-cli --version "$BINDGEN_VERSION"
fi
note "$(wasm-bindgen --version)"

# wasm-opt and playwright-core come from npm (tools/package.json): Debian
# bookworm's binaryen (108) breaks wasm-bindgen's externref table
# ("WebAssembly.Table.set(): Argument 1 is invalid for table").
command -v npm >/dev/null || apt_install nodejs npm
if [[ ! -f tools/node_modules/.package-lock.json ]] ||
    [[ tools/package-lock.json -nt tools/node_modules/.package-lock.json ]]; then
    note "npm ci in tools/"
    (cd tools && npm ci --no-audit --no-fund --silent)
fi

# --- 2. the client ----------------------------------------------------------
step "build rpc-client for wasm32 (profile wasm-release)"
# Size over speed for the browser bundle: opt-level z, LTO, one codegen unit
# (the workspace's [profile.wasm-release]; native release builds are untouched).
# Panic messages carry the source path of the code that panicked: crates.io
# sources shortened to <crate>-<version>/src/..., the generated code to
# target/...: shorter strings (about 3 KB less), and a module that does not
# tell where it was built. (RUSTFLAGS, when set, win over these.)
REMAP=""
for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ "$WASM_TARGET_DIR/"; do
    case "$dir" in
        *[[:space:]]*) ;; # a flag list cannot hold it
        "$WASM_TARGET_DIR/") REMAP+=" --remap-path-prefix=$dir=target/" ;;
        *) if [[ -d "$dir" ]]; then REMAP+=" --remap-path-prefix=$dir="; fi ;;
    esac
done
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS:-}$REMAP" \
    wasm_cargo build --profile wasm-release --target wasm32-unknown-unknown "${BUILD_STD[@]}" -p rpc-client
WASM_FILE="$WASM_TARGET_DIR/wasm32-unknown-unknown/wasm-release/rpc_client.wasm"

step "wasm-bindgen --target web into console/pkg/"
PKG="$ROOT/console/pkg"
BUNDLE="$PKG/rpc_client_bg.wasm"
# Loads the module in node and calls into it: a broken optimiser shows here.
smoke_test() {
    node --input-type=module -e '
        import { readFileSync } from "node:fs";
        const client = await import(process.argv[1]);
        client.initSync({ module: readFileSync(process.argv[2]) });
        const key = client.public_key(client.generate_key());
        if (!/^0[23][0-9a-f]{64}$/.test(key)) throw new Error(`public_key gave ${key}`);
    ' "$PKG/rpc_client.js" "$1"
}
WASM_OPT="$ROOT/tools/node_modules/.bin/wasm-opt"
[[ -x "$WASM_OPT" ]] || WASM_OPT="$(command -v wasm-opt || true)"
# console/pkg/.built-from: what the last run made pkg/ from, and the sizes it saw.
SOURCE="$(sha256sum "$WASM_FILE" | cut -d ' ' -f 1) $(wasm-bindgen --version | tr ' ' -)"
SOURCE+=" $([[ -n "$WASM_OPT" ]] && "$WASM_OPT" --version | tr ' ' - || echo no-wasm-opt)"
if [[ -f "$PKG/.built-from" ]]; then
    read -r LAST_SOURCE_SUM LAST_BINDGEN LAST_OPT RAW_SIZE OPT_SIZE <"$PKG/.built-from" || true
fi
if [[ "${LAST_SOURCE_SUM:-} ${LAST_BINDGEN:-} ${LAST_OPT:-}" == "$SOURCE" && -f "$BUNDLE" &&
    -f "$PKG/rpc_client.js" ]]; then
    note "the module is unchanged since the last run: keeping console/pkg/"
    [[ "$OPT_SIZE" != - ]] || OPT_SIZE=""
else
    rm -rf "$PKG"
    mkdir -p "$PKG"
    wasm-bindgen --target web --out-dir "$PKG" "$WASM_FILE"
    RAW_SIZE=$(stat -c %s "$BUNDLE")
    OPT_SIZE=""
    smoke_test "$BUNDLE" || die "the module wasm-bindgen made does not load in node"
    if [[ -n "$WASM_OPT" ]]; then
        note "wasm-opt -Oz ($("$WASM_OPT" --version))"
        if "$WASM_OPT" -Oz --strip-debug --strip-producers "$BUNDLE" -o "$BUNDLE.opt" &&
            smoke_test "$BUNDLE.opt"; then
            mv "$BUNDLE.opt" "$BUNDLE"
            OPT_SIZE=$(stat -c %s "$BUNDLE")
        else
            rm -f "$BUNDLE.opt"
            note "wasm-opt failed or broke the module: keeping the unoptimised one"
        fi
    else
        note "no wasm-opt: skipping it"
    fi
    echo "$SOURCE $RAW_SIZE ${OPT_SIZE:--}" >"$PKG/.built-from"
fi
GZIP_SIZE=$(gzip -9 -c "$BUNDLE" | wc -c)
kib() { awk -v bytes="$1" 'BEGIN { printf "%d bytes (%.0f KiB)", bytes, bytes / 1024 }'; }
BUNDLE_REPORT=("rpc_client_bg.wasm from wasm-bindgen: $(kib "$RAW_SIZE")")
if [[ -n "$OPT_SIZE" ]]; then
    BUNDLE_REPORT+=("after wasm-opt -Oz:                 $(kib "$OPT_SIZE")")
fi
BUNDLE_REPORT+=("gzip -9 of what is served:         $(kib "$GZIP_SIZE")")
BUNDLE_REPORT+=("rpc_client.js:                     $(kib "$(stat -c %s "$PKG/rpc_client.js")")")
SERVED_SIZE=$(stat -c %s "$BUNDLE")
BUDGET_BYTES=$((WASM_BUDGET_KIB * 1024))
BUNDLE_REPORT+=("budget (WASM_BUDGET_KIB):          $WASM_BUDGET_KIB KiB, $((BUDGET_BYTES - SERVED_SIZE)) bytes left")
for line in "${BUNDLE_REPORT[@]}"; do note "$line"; done
if ((SERVED_SIZE > BUDGET_BYTES)); then
    die "$(awk -v size="$SERVED_SIZE" -v budget="$BUDGET_BYTES" -v kib="$WASM_BUDGET_KIB" 'BEGIN {
        printf "the browser module console/pkg/rpc_client_bg.wasm is %d bytes (%.1f KiB), ", size, size / 1024
        printf "over its budget of %d KiB (%d bytes) by %d bytes. ", kib, budget, size - budget
        printf "Find what grew (twiggy, see README \"Bundle size\") and shrink it, "
        printf "or raise WASM_BUDGET_KIB in tools/wasm.sh deliberately."
    }')"
fi

step "bundle console/console.js (esbuild)"
CONSOLE_BUNDLE_SIZE=$(node tools/build-console.mjs | awk '{ print $2 }')
[[ -n "$CONSOLE_BUNDLE_SIZE" ]] || die "tools/build-console.mjs gave no console/console.js"
BUNDLE_REPORT+=("console.js (bundled by esbuild):    $(kib "$CONSOLE_BUNDLE_SIZE"), gzip -9 $(kib "$(gzip -9 -c console/console.js | wc -c)")")
note "${BUNDLE_REPORT[-1]}"

finish() {
    step "done"
    STEP_NAME=""
    printf '\n\033[1m== summary ==\033[0m\n'
    for line in "${BUNDLE_REPORT[@]}"; do note "$line"; done
    for line in "${TIMINGS[@]}"; do note "$line"; done
    note "$(printf '%-58s %4ds' total $((SECONDS - START)))"
}

if $BUILD_ONLY; then
    finish
    exit 0
fi

# --- 3. a circle to test against --------------------------------------------
step "start a circle with the launcher on 127.0.0.1"
cargo build --quiet -p launcher
WORLD="$(mktemp -d -t circles-wasm-XXXXXX)"
SERVER_OUT="$WORLD/launcher.out"
SERVER_LOG="$WORLD/launcher.log"
mkdir -p "$WORLD/scripts"
# Published functions for the console's call form and store browser.
cp tools/e2e-scripts/*.rhai "$WORLD/scripts/"
# Port 0: the launcher binds a free port itself and shows it in its table.
cat >"$WORLD/circles.json" <<JSON
[{ "id": "browser", "port": 0, "db_path": "data", "rhai_path": "scripts",
   "access": { "play": "signed_in" } }]
JSON
"${CARGO_TARGET_DIR:-$ROOT/target}/debug/launcher" --config "$WORLD/circles.json" \
    --console-dir "$ROOT/console" >"$SERVER_OUT" 2>"$SERVER_LOG" &
SERVER_PID=$!
for _ in $(seq 1 300); do
    if grep -q '^ready:' "$SERVER_OUT"; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null ||
        die "the launcher exited: $(cat "$SERVER_OUT" "$SERVER_LOG")"
    sleep 0.1
done
grep -q '^ready:' "$SERVER_OUT" ||
    die "the launcher did not start its circle in 30 s: $(cat "$SERVER_OUT" "$SERVER_LOG")"
# The table's row: CIRCLE URL PUBLIC-KEY DB-PATH.
URL="$(awk '$1 == "browser" && $2 ~ /^ws:\/\// { print $2; exit }' "$SERVER_OUT")"
[[ -n "$URL" ]] || die "no URL for the circle in the launcher's table: $(cat "$SERVER_OUT")"
note "circle at $URL (launcher pid $SERVER_PID); console at http://${URL#ws://}/"
# From now on the circle keeps this port, so that it can come back at the same
# URL when the console test stops and starts it.
sed -i "s/\"port\": 0,/\"port\": ${URL##*:},/" "$WORLD/circles.json"

# --- 4. wasm tests in the browser -------------------------------------------
step "wasm-bindgen-test in headless Chromium"
export CHROMEDRIVER=/usr/bin/chromedriver
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT=60
# The tests read the URL at compile time (option_env!).
CIRCLES_WASM_TEST_URL="$URL" wasm_cargo test --target wasm32-unknown-unknown \
    "${BUILD_STD[@]}" -p rpc-client --tests

# --- 5. the console, end to end ---------------------------------------------
step "console end-to-end (playwright-core, headless Chromium)"
# The test runs the circle itself (to stop it and start it again): ours goes first.
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
node tools/console-e2e.mjs --launcher "${CARGO_TARGET_DIR:-$ROOT/target}/debug/launcher" \
    --config "$WORLD/circles.json"

finish
