// Bundles the web console: console/src/main.js and what it imports
// (CodeMirror, @noble/curves and @noble/hashes from tools/node_modules) into
// one minified console/console.js, the file the circles serve (git-ignored,
// like pkg/: tools/wasm.sh runs this after building pkg/).
//
//   node tools/build-console.mjs          (after `npm ci` in tools/)
//
// The wasm client's glue (pkg/rpc_client.js) stays a separate module, loaded
// at run time: the bundle imports it as ./pkg/rpc_client.js.
import { statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outfile = join(root, "console/console.js");

// src/ imports ../pkg/rpc_client.js (its real place, for editors); from the
// bundle at console/console.js that module is ./pkg/rpc_client.js.
const wasmClientStaysExternal = {
  name: "wasm-client-external",
  setup(build) {
    build.onResolve({ filter: /\/pkg\/rpc_client\.js$/ }, () => ({ path: "./pkg/rpc_client.js", external: true }));
  },
};

await build({
  entryPoints: [join(root, "console/src/main.js")],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  // Licences of the bundled packages (MIT) go at the end of the file.
  legalComments: "eof",
  outfile,
  // The packages live in tools/node_modules, not beside console/src.
  nodePaths: [join(root, "tools/node_modules")],
  plugins: [wasmClientStaysExternal],
  logLevel: "warning",
});
const size = statSync(outfile).size;
console.log(`console/console.js: ${size} bytes (${Math.round(size / 1024)} KiB)`);
