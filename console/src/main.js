// The circles web console: the wasm client (rpc-client built for wasm32 by
// tools/wasm.sh into pkg/) driven from a page. tools/build-console.mjs bundles
// this file and its imports (CodeMirror, @noble/curves) into console.js.
// What should survive a reload (the key, the draft, the last URL, pinned
// circle keys, the history) lives in localStorage.
import init, * as client from "../pkg/rpc_client.js";
import { $, copyText, shortKey, tabs } from "./dom.js";
import { createEditor } from "./editor.js";
import { describeError, errorLine, errorView } from "./errors.js";
import { createHistory, outcome, whatRan } from "./history.js";
import { createKeys } from "./keys.js";
import { createOffers } from "./offers.js";
import { createResults } from "./results.js";
import { createSession } from "./session.js";
import { storage } from "./storage.js";
import { forgetKey, knownKey, provider } from "./wallet.js";

const URL_KEY = "circles.url";
const PINS = "circles.pins"; // {url: expected circle key}
const SIGNIN = "circles.signin"; // "wallet" | "local"

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error-text", isError);
}

// The circle that serves this page listens for WebSockets on the same port.
function defaultUrl() {
  if (!location.host) return "ws://127.0.0.1:9101"; // opened from a file
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
}

async function main() {
  await init();
  let session = null;
  let running = false;
  let lastConnect = null;
  let signinMode = storage.get(SIGNIN) === "local" ? "local" : "wallet";
  let walletAddress = null;
  let offersOf = null; // the WebCircle whose offers are shown

  const results = createResults();
  const keys = createKeys(client, { say });
  const editor = createEditor($("editor"), { onRun: () => run(), label: "Rhai script" });
  session = createSession(client, { keys, onChange: showSession });
  const offers = createOffers({ session, onCall: call });
  const history = createHistory({
    onEdit(entry) {
      if (entry.kind === "call") {
        $("call-args").value = JSON.stringify(entry.args ?? []);
        say(`call ${entry.module}::${entry.function}: its arguments are in the form`);
      } else {
        editor.setText(entry.script);
        editor.focus();
      }
    },
    onRerun(entry) {
      if (!session.circle()) {
        say("connect to a circle first: a re-run runs on the circle you are connected to", true);
        return;
      }
      if (entry.kind === "call") call(entry.module, entry.function, entry.args ?? []);
      else {
        editor.setText(entry.script); // so that an error's line marks this text
        run();
      }
    },
  });

  // --- sign-in method -------------------------------------------------------
  const selectSignin = tabs($("signin-tabs"), (name) => {
    signinMode = name === "panel-local" ? "local" : "wallet";
    storage.set(SIGNIN, signinMode);
  });
  selectSignin(signinMode === "local" ? "panel-local" : "panel-wallet");

  function showWallet() {
    const wallet = provider();
    $("wallet-status").textContent = wallet
      ? "A wallet is available: Connect and sign in asks it to sign the circle's challenge."
      : "No wallet in this browser (MetaMask, Rabby… add one). You can use a key in this browser instead.";
    $("wallet-address").textContent = walletAddress ?? "not asked yet";
    const key = walletAddress ? knownKey(walletAddress) : null;
    $("wallet-key").textContent = key ?? "learned at the first sign-in";
    $("wallet-forget").disabled = !key;
  }
  $("wallet-forget").addEventListener("click", () => {
    if (walletAddress) forgetKey(walletAddress);
    showWallet();
    say("forgot the account's public key: the next sign-in asks the wallet to reveal it again");
  });
  const wallet = provider();
  wallet?.on?.("accountsChanged", (accounts) => {
    const now = accounts?.[0]?.toLowerCase() ?? null;
    const state = session.state();
    if (state.phase === "online" && state.mode === "wallet" && now !== state.address) {
      say(`the wallet switched to ${now ?? "no account"}; this connection is still signed in as ${shortKey(state.caller)} (reconnect to change)`);
    }
  });
  showWallet();

  // --- connection -----------------------------------------------------------
  const pins = () => storage.getJson(PINS, {});
  $("url").value = storage.get(URL_KEY) || defaultUrl();
  $("circle-key").value = pins()[$("url").value.trim()] ?? "";
  $("url").addEventListener("change", () => { $("circle-key").value = pins()[$("url").value.trim()] ?? ""; });

  function connect(mode) {
    const url = $("url").value.trim();
    const expected = $("circle-key").value.trim();
    storage.set(URL_KEY, url);
    // The pin field is remembered per URL: cleared, the pin goes.
    const saved = pins();
    if (expected) saved[url] = expected;
    else delete saved[url];
    storage.setJson(PINS, saved);
    lastConnect = { url, mode, expected };
    session.connect(lastConnect);
  }
  $("connect").addEventListener("click", () => connect(signinMode));
  $("connect-anonymous").addEventListener("click", () => connect("anonymous"));
  $("disconnect").addEventListener("click", () => session.disconnect());
  $("reconnect").addEventListener("click", () => { if (lastConnect) session.connect(lastConnect); });
  $("pin").addEventListener("click", () => {
    const state = session.state();
    if (!state.circleKey) return;
    $("circle-key").value = state.circleKey;
    storage.setJson(PINS, { ...pins(), [state.url]: state.circleKey });
    showSession(state);
    say(`pinned: sign-ins to ${state.url} now refuse any circle but ${shortKey(state.circleKey)}`);
  });
  $("copy-circle-key").addEventListener("click", async () => {
    await copyText(session.state().circleKey ?? "");
    say("circle key copied");
  });

  function showSession(state) {
    const online = state.phase === "online";
    const badge = $("conn");
    badge.dataset.state = state.phase;
    const who = state.caller ? shortKey(state.caller) : "anonymous";
    badge.textContent = {
      offline: "not connected",
      connecting: `connecting: ${state.step ?? ""}…`,
      online: `connected to ${state.circleId ?? state.url} as ${who}`,
      lost: "connection lost",
      failed: "not connected",
    }[state.phase];

    // Lost: said at once, above everything, with a way back.
    $("banner").hidden = state.phase !== "lost";
    if (state.phase === "lost") {
      $("banner-text").textContent = `The connection to ${state.url} was lost at ${state.closedAt.toLocaleTimeString()} (close code ${state.closeCode}${state.closeReason ? `: ${state.closeReason}` : ""}). Nothing runs until you reconnect.`;
    }
    // A failed connect is told next to the button that caused it; cleared by the next try.
    $("connect-error").hidden = state.phase !== "failed";
    if (state.phase === "failed") $("connect-error").replaceChildren(...errorView(state.error));

    $("circle-info").hidden = !online && state.phase !== "lost";
    if (online) {
      $("circle-id").textContent = state.circleId ?? "(known after signing in)";
      $("circle-key-shown").textContent = state.circleKey ?? "(known after signing in)";
      $("signed-in").textContent = state.caller ?? "anonymous";
      const pinned = state.circleKey && $("circle-key").value.trim() === state.circleKey;
      $("pin").disabled = !state.circleKey || pinned;
      $("pin").textContent = pinned ? "Pinned" : "Pin";
      $("copy-circle-key").disabled = !state.circleKey;
      if (state.mode === "wallet") {
        walletAddress = state.address;
        showWallet();
      }
    }
    for (const id of ["connect", "connect-anonymous"]) $(id).disabled = state.phase === "connecting";
    $("disconnect").disabled = !online && state.phase !== "connecting";
    $("run").disabled = !online || running;
    offers.enable(online);
    if (online && offersOf !== session.circle()) {
      offersOf = session.circle();
      say(`connected to ${state.url}`);
      offers.load(offersOf);
    } else if (state.phase === "failed") {
      say(errorLine(state.error), true);
    } else if (state.phase === "offline") {
      say("ready: connect to a circle");
      $("offers-body").hidden = true;
      $("offers-offline").hidden = false;
    }
  }

  // --- running --------------------------------------------------------------
  // Where a run ran and as whom, for its history entry.
  const where = () => {
    const state = session.state();
    return { url: state.url, circleId: state.circleId, circleKey: state.circleKey, caller: state.caller };
  };

  async function run() {
    const circle = session.circle();
    if (!circle || running) return;
    const script = editor.text();
    running = true;
    $("run").disabled = true;
    editor.clearError();
    const what = `play: ${script.split("\n")[0].slice(0, 60)}`;
    const elapsed = results.running(what);
    let result = null;
    let error = null;
    try {
      result = await circle.play(script);
    } catch (thrown) {
      error = thrown;
    }
    const ms = elapsed();
    results.show({ what, result, error, ms });
    if (error) {
      const d = describeError(error);
      // Mark the error where it is, if the editor still holds that script.
      if (d.line > 0 && editor.text() === script) editor.markError(d.line, d.column, d.message);
    }
    history.add({ at: new Date().toISOString(), kind: "play", script, ...where(), ...outcome(result, error), ms });
    running = false;
    $("run").disabled = session.circle() === null;
  }
  $("run").addEventListener("click", () => run());

  // A published function's call (from the form or the history); resolves to
  // its error, if any, for the form to show beside itself.
  async function call(module, fn, args) {
    const circle = session.circle();
    if (!circle) return new Error("not connected");
    const entry = { kind: "call", module, function: fn, args };
    const what = whatRan(entry);
    const elapsed = results.running(what);
    let result = null;
    let error = null;
    try {
      result = await circle.call(module, fn, args);
    } catch (thrown) {
      error = thrown;
    }
    const ms = elapsed();
    results.show({ what, result, error, ms });
    history.add({ at: new Date().toISOString(), ...entry, ...where(), ...outcome(result, error), ms });
    return error;
  }

  const selectOffer = tabs($("offer-tabs"));
  selectOffer("panel-functions");
  results.clear();
  showSession(session.state());
}

main().catch((error) => say(`the client did not load: ${errorLine(error)}`, true));
