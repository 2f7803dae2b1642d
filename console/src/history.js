// The run history, kept in localStorage: for each run, what ran (a script or
// a published function's call), where (circle id, key and URL), as whom, when,
// how long it took and what came of it (the error's words, code and message).
// Each entry can go back into the editor or the call form, or run again.
import { $, formatDuration, h, shortKey } from "./dom.js";
import { describeError } from "./errors.js";
import { storage } from "./storage.js";

const HISTORY = "circles.history";
const LIMIT = 100;

export function whatRan(entry) {
  if (entry.kind === "call") return `call ${entry.module}::${entry.function}(${JSON.stringify(entry.args ?? []).slice(1, -1)})`;
  return entry.script ?? "";
}

// The outcome of a run as a history entry's fields.
export function outcome(result, error) {
  if (!error) return { ok: true, summary: result.output.slice(0, 200), error: null };
  const d = describeError(error);
  const message = d.reason && d.reason !== d.message ? `${d.message}: ${d.reason}` : d.message;
  return { ok: false, summary: "", error: { code: d.code, words: d.words, message: message.slice(0, 300) } };
}

export function createHistory({ onEdit, onRerun }) {
  const load = () => {
    const entries = storage.getJson(HISTORY, []);
    return Array.isArray(entries) ? entries : [];
  };

  function item(entry, index) {
    const when = new Date(entry.at);
    const circle = entry.circleId ? `${entry.circleId}${entry.url ? ` (${entry.url})` : ""}` : entry.url ?? "unknown circle";
    const result = entry.ok
      ? h("div", { class: "history-outcome" }, "→ ", h("code", {}, entry.summary === "" ? "()" : entry.summary))
      : h("div", { class: "history-outcome" }, "✗ ",
        entry.error ? `${entry.error.words ?? ""} (${entry.error.code ?? "?"}) ${entry.error.message ?? ""}` : entry.summary);
    return h("li", { class: entry.ok ? "ok" : "failed", "data-index": index },
      h("div", { class: "history-meta" },
        h("time", { datetime: entry.at }, Number.isNaN(when.getTime()) ? String(entry.at) : when.toLocaleString()),
        h("span", { title: entry.circleKey ?? "" }, ` · ${circle}`),
        entry.circleKey ? h("span", { class: "key", title: entry.circleKey }, ` key ${shortKey(entry.circleKey)}`) : null,
        h("span", { title: entry.caller ?? "" }, ` · as ${entry.caller ? shortKey(entry.caller) : "anonymous"}`),
        entry.ms !== undefined ? ` · ${formatDuration(entry.ms)}` : null),
      h("pre", { class: "history-what" }, whatRan(entry).split("\n").slice(0, 3).join("\n")),
      result,
      h("div", { class: "row" },
        h("button", { type: "button", class: "small", onclick: () => onEdit(entry) }, entry.kind === "call" ? "To the form" : "Edit"),
        h("button", { type: "button", class: "small", onclick: () => onRerun(entry) }, "Re-run")),
    );
  }

  function render() {
    const entries = load();
    $("history").replaceChildren(...entries.map(item));
    $("history-empty").hidden = entries.length > 0;
  }

  $("clear-history").addEventListener("click", () => {
    storage.remove(HISTORY);
    render();
  });

  render();
  return {
    add(entry) {
      storage.setJson(HISTORY, [entry, ...load()].slice(0, LIMIT));
      render();
    },
    render,
  };
}
