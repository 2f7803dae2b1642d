// The circles web console: the WASM client (rpc-client built for wasm32 by
// tools/wasm.sh) driven from a page. State that should survive a reload (the
// key, the last URL, the run history) lives in localStorage.
import init, * as circles from "./pkg/rpc_client.js";

const KEY_STORAGE = "circles.secretKey";
const URL_STORAGE = "circles.url";
const HISTORY_STORAGE = "circles.history";
const HISTORY_LIMIT = 50;

const $ = (id) => document.getElementById(id);
let circle = null;

// The circle that serves this page listens for WebSockets on the same port.
function defaultUrl() {
  if (!location.host) return "ws://127.0.0.1:9101"; // opened from a file
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
}

// Closes the current connection, if any (a WebCircle holds a WebSocket until freed).
function disconnect() {
  if (circle) {
    circle.free();
    circle = null;
  }
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

// Errors from the client carry {code, message, data} when the circle answered.
function describeError(error) {
  if (error && typeof error === "object" && "code" in error) {
    const data = error.data === undefined || error.data === null ? "" : `\n${JSON.stringify(error.data, null, 2)}`;
    return `${error.message} (code ${error.code})${data}`;
  }
  return String(error && error.message ? error.message : error);
}

function showKey() {
  const secret = localStorage.getItem(KEY_STORAGE);
  $("secret").value = secret || "";
  try {
    $("public-key").textContent = secret ? circles.public_key(secret) : "none";
  } catch (error) {
    $("public-key").textContent = `invalid key: ${describeError(error)}`;
  }
}

function useKey(secret) {
  try {
    circles.public_key(secret); // validates
  } catch (error) {
    setStatus(`not a valid secret key: ${describeError(error)}`, true);
    return;
  }
  localStorage.setItem(KEY_STORAGE, secret);
  showKey();
  setStatus("key saved in this browser");
}

async function connect(signIn) {
  const url = $("url").value.trim();
  localStorage.setItem(URL_STORAGE, url);
  $("run").disabled = true;
  $("signed-in").textContent = "connecting…";
  disconnect();
  try {
    circle = await circles.WebCircle.connect(url);
    if (signIn) {
      const secret = localStorage.getItem(KEY_STORAGE);
      if (!secret) throw new Error("no key: generate or paste one first");
      const expected = $("circle-key").value.trim() || undefined;
      $("signed-in").textContent = await circle.authenticate(secret, expected);
    } else {
      $("signed-in").textContent = "anonymous";
    }
    $("run").disabled = false;
    setStatus(`connected to ${url}`);
  } catch (error) {
    disconnect();
    $("signed-in").textContent = "not connected";
    setStatus(describeError(error), true);
  }
}

function showResult(result, error) {
  $("error").hidden = !error;
  $("error").textContent = error ? describeError(error) : "";
  $("output").textContent = result ? result.output : "";
  $("value").textContent = result ? JSON.stringify(result.value, null, 2) : "";
  $("logs").textContent = result ? result.logs.join("\n") : "";
}

function loadHistory() {
  try {
    return JSON.parse(localStorage.getItem(HISTORY_STORAGE) || "[]");
  } catch {
    return [];
  }
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren();
  for (const entry of loadHistory()) {
    const item = document.createElement("li");
    item.className = entry.ok ? "ok" : "failed";
    const firstLine = entry.script.split("\n")[0].slice(0, 60);
    item.textContent = `${entry.at}  ${entry.ok ? "ok " : "err"}  ${firstLine}  →  ${entry.summary}`;
    item.title = "click to put this script back in the editor";
    item.addEventListener("click", () => { $("script").value = entry.script; });
    list.append(item);
  }
}

function remember(script, ok, summary) {
  const history = [{ at: new Date().toLocaleTimeString(), script, ok, summary: summary.slice(0, 80) }, ...loadHistory()];
  localStorage.setItem(HISTORY_STORAGE, JSON.stringify(history.slice(0, HISTORY_LIMIT)));
  renderHistory();
}

async function run() {
  if (!circle) return;
  const script = $("script").value;
  $("run").disabled = true;
  try {
    const result = await circle.play(script);
    showResult(result, null);
    remember(script, true, result.output);
  } catch (error) {
    showResult(null, error);
    remember(script, false, describeError(error).split("\n")[0]);
  } finally {
    $("run").disabled = false;
  }
}

async function main() {
  await init();
  $("url").value = localStorage.getItem(URL_STORAGE) || defaultUrl();
  showKey();
  renderHistory();
  $("generate").addEventListener("click", () => useKey(circles.generate_key()));
  $("save-key").addEventListener("click", () => useKey($("secret").value.trim()));
  $("forget-key").addEventListener("click", () => { localStorage.removeItem(KEY_STORAGE); showKey(); });
  $("connect").addEventListener("click", () => connect(true));
  $("connect-anonymous").addEventListener("click", () => connect(false));
  $("run").addEventListener("click", run);
  $("script").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); run(); }
  });
  $("clear-history").addEventListener("click", () => { localStorage.removeItem(HISTORY_STORAGE); renderHistory(); });
  setStatus("ready: connect to a circle");
}

main().catch((error) => setStatus(`the client did not load: ${describeError(error)}`, true));
