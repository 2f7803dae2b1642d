#!/usr/bin/env bash
# Checks the promise of the spec-driven build, on scratch copies of the
# workspace (the checkout is not touched):
# - adding a method to openrpc.json makes rpc-server fail to compile, naming
#   the missing trait method, and gives the generated client a call for it;
# - changing the schema of an error's data (ScriptErrorData's `line` renamed)
#   makes both the server and the command-line client fail to compile until
#   they follow.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
drift=$(mktemp -d)
trap 'rm -rf "$scratch" "$drift"' EXIT

copy_workspace() {
    (cd "$root" && git ls-files -z --cached --others --exclude-standard | grep -zv '^codegen/tests/' | xargs -0 cp --parents -t "$1")
}
copy_workspace "$scratch"
copy_workspace "$drift"
cd "$scratch"
python3 - <<'PY'
import json
spec = json.load(open("openrpc.json"))
spec["methods"].append({
    "name": "spec_change_probe",
    "paramStructure": "by-name",
    "params": [{"name": "text", "required": True, "schema": {"type": "string"}}],
    "result": {"name": "echo", "schema": {"type": "string"}},
})
json.dump(spec, open("openrpc.json", "w"), indent=2)
PY
mkdir -p rpc-types/examples
cat > rpc-types/examples/probe.rs <<'RS'
// The generated client must have gained a typed call for the new method.
#[allow(dead_code)]
async fn call<C: jsonrpsee::core::client::ClientT>(client: rpc_types::client::ApiClient<C>) {
    let params = rpc_types::SpecChangeProbeParams { text: "hi".to_string() };
    let _: Result<String, _> = client.spec_change_probe(params).await;
}
fn main() {}
RS
# Same target dir as the checkout: the scratch packages live at another path, so
# their artifacts do not collide, and dependencies are reused.
export CARGO_TARGET_DIR="$root/target"

if cargo build -q -p rpc-server 2> build.log; then
    echo "FAIL: rpc-server still compiles after a method was added to the spec" >&2
    exit 1
fi
if ! grep -q "not all trait items implemented, missing: \`spec_change_probe\`" build.log; then
    echo "FAIL: rpc-server failed to compile, but not by naming the missing method:" >&2
    cat build.log >&2
    exit 1
fi
echo "ok: rpc-server fails to compile, naming the missing trait method spec_change_probe"
cargo check -q -p rpc-types --example probe
echo "ok: the generated client has a typed spec_change_probe() call"

# An error's data schema changes: ScriptErrorData's `line` becomes `row`.
cd "$drift"
python3 - <<'PY'
import json
spec = json.load(open("openrpc.json"))
data = spec["components"]["schemas"]["ScriptErrorData"]
data["properties"]["row"] = data["properties"].pop("line")
data["required"] = ["row" if name == "line" else name for name in data["required"]]
json.dump(spec, open("openrpc.json", "w"), indent=2)
PY
for package in rpc-server circles-cli; do
    if cargo build -q -p "$package" 2> build.log; then
        echo "FAIL: $package still compiles after an error's data schema changed" >&2
        exit 1
    fi
    if ! grep -q "ScriptErrorData" build.log || ! grep -q "line" build.log; then
        echo "FAIL: $package failed to compile, but not over ScriptErrorData's line:" >&2
        cat build.log >&2
        exit 1
    fi
    echo "ok: $package fails to compile until it follows the new ScriptErrorData"
done
