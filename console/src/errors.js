// Errors in words. The wasm client throws {code, message, data}: the circle's
// JSON-RPC error or a client-side code (1001…1007); wallets throw EIP-1193
// errors ({code: 4001} when the user declines). Each known code gets a sentence
// saying what happened and what to do; the circle's own message and code
// follow it, so nothing is hidden.
import { h } from "./dom.js";

const WORDS = {
  1001: "Cannot connect: nothing answers at this URL, or it refused the connection.",
  1002: "The connection was lost before the answer came.",
  1003: "The circle sent a malformed sign-in challenge. Nothing was signed.",
  1004: "This is not the circle you pinned: its key is not the expected circle key. Nothing was signed.",
  1005: "The circle's challenge names another key than yours. Nothing was signed.",
  1006: "The request is malformed (a module or function name, or the arguments). Nothing was sent.",
  1007: "A key or signature is not valid.",
  2001: "The circle refused the signature.",
  2002: "Sign in first: this circle does not let anonymous callers do this.",
  2003: "The circle's access policy does not let you do this.",
  2010: "The script does not compile.",
  2011: "The script failed while running.",
  2012: "The script hit one of the circle's limits.",
  2020: "No such published function, or another number of arguments.",
  [-32602]: "The circle refused the parameters.",
  [-32603]: "The circle failed internally.",
  [-32007]: "The request is too big for this circle.",
  [-32008]: "The answer is too big for this circle to send.",
  4001: "You declined the request in your wallet.",
  4100: "The wallet has not authorised this page: connect it first.",
  4900: "The wallet is disconnected.",
  [-32002]: "The wallet is already asking you something: answer it there first.",
};

// Error names by code, from the circle's OpenRPC document (components.errors).
let names = {};
export function learnErrorNames(document) {
  names = {};
  for (const [name, error] of Object.entries(document?.components?.errors ?? {})) names[error.code] = name;
}

export function describeError(error) {
  const coded = error !== null && typeof error === "object" && typeof error.code === "number";
  const code = coded ? error.code : null;
  const data = coded && error.data !== undefined ? error.data : null;
  const message = String(error?.message ?? error);
  return {
    code,
    name: code === null ? null : names[code] ?? null,
    words: code === null ? "Something went wrong." : WORDS[code] ?? "The request failed.",
    message,
    data,
    // Script errors: where (1-based; 0 when unknown) and what was printed first.
    line: data && typeof data === "object" ? data.line ?? 0 : 0,
    column: data && typeof data === "object" ? data.column ?? 0 : 0,
    logs: data && typeof data === "object" && Array.isArray(data.logs) ? data.logs : [],
    reason: data && typeof data === "object" ? data.reason ?? data.message ?? null : typeof data === "string" ? data : null,
  };
}

// One line for lists and status bars: "The script does not compile (2010): …".
export function errorLine(error) {
  const d = describeError(error);
  const code = d.code === null ? "" : ` (${d.name ? `${d.name} ` : ""}${d.code})`;
  const detail = d.reason && d.reason !== d.message ? `${d.message}: ${d.reason}` : d.message;
  return `${d.words}${code} ${detail}`;
}

// The full error as elements: words and code, the message, where, the data.
export function errorView(error) {
  const d = describeError(error);
  const parts = [
    h("p", { class: "error-words" }, d.words, " ",
      d.code === null ? null : h("span", { class: "error-code" }, `${d.name ? `${d.name} ` : ""}${d.code}`)),
    h("p", { class: "error-message" }, d.reason && d.reason !== d.message ? `${d.message}: ${d.reason}` : d.message),
  ];
  if (d.line > 0) {
    parts.push(h("p", { class: "error-where" }, `at line ${d.line}${d.column > 0 ? `, column ${d.column}` : ""}`));
  }
  if (d.data !== null && typeof d.data === "object") {
    // The rest of the data as JSON (logs are shown on their own).
    const { logs, ...rest } = d.data;
    if (Object.keys(rest).length > 0) {
      parts.push(h("details", { class: "error-data" }, h("summary", {}, "error data"),
        h("pre", {}, JSON.stringify(rest, null, 2))));
    }
  }
  return parts;
}
