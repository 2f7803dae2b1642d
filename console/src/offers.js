// What the connected circle offers: its methods and limits (from rpc.discover,
// which anyone may ask), its published functions (list_functions) with a form
// to call one, and a browser of its store (store::page through play, for
// callers the circle lets run scripts).
import { $, h, shortKey } from "./dom.js";
import { errorLine, learnErrorNames } from "./errors.js";

const PAGE_SIZE = 50;

// "`operations` number of operations; `time` wall-clock run time; …" → pairs.
function limitsFrom(document) {
  const schema = document?.components?.schemas?.LimitName;
  if (!schema) return [];
  const described = new Map();
  for (const match of (schema.description ?? "").matchAll(/`([a-z_]+)` ([^;`]+?)(?:;|\.(?: |$)|$)/g)) {
    described.set(match[1], match[2].trim());
  }
  return (schema.enum ?? []).map((name) => ({ name, description: described.get(name) ?? "" }));
}

const firstSentence = (text = "") => text.split(/(?<=\.)\s/)[0];

function valueText(value) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export function createOffers({ session, onCall }) {
  let functions = [];
  let storeNext = null;

  function showMethods(document) {
    const methods = document?.methods ?? [];
    $("methods").replaceChildren(...methods.map((method) => {
      const guarded = (method.errors ?? []).some((error) => error.$ref?.endsWith("/Unauthenticated") || error.code === 2002);
      return h("li", {},
        h("code", {}, method.name), guarded ? h("span", { class: "tag" }, "sign-in may be needed") : null,
        h("div", { class: "hint" }, firstSentence(method.summary ?? method.description)));
    }));
    const limits = limitsFrom(document);
    $("limits").replaceChildren(...limits.map((limit) =>
      h("li", {}, h("code", {}, limit.name), " ", limit.description)));
    $("limits-note").textContent = limits.length > 0
      ? "The circle does not publish its limits' values; these are the limits it enforces (a script that hits one fails with 2012 and the limit's name). Your store usage and quotas:"
      : "This circle's description lists no limits.";
  }

  function showFunctions(list) {
    functions = list;
    $("functions").replaceChildren(...list.map((fn, index) =>
      h("li", {},
        h("code", {}, `${fn.module}::${fn.name}(${fn.params.join(", ")})`),
        " ",
        h("button", { type: "button", class: "small", onclick: () => choose(index) }, "Call…"),
        fn.doc ? h("div", { class: "hint" }, fn.doc) : null)));
    $("call-function").replaceChildren(...list.map((fn, index) =>
      h("option", { value: String(index) }, `${fn.module}::${fn.name}(${fn.params.join(", ")})`)));
    $("call-form").hidden = list.length === 0;
    $("functions-note").textContent = list.length === 0 ? "This circle publishes no functions." : "";
    if (list.length > 0) choose(0, false);
  }

  // Puts a function in the form, its arguments as a template to edit.
  function choose(index, focus = true) {
    const fn = functions[index];
    $("call-function").value = String(index);
    $("call-args").value = JSON.stringify(fn.params.map((param) => `<${param}>`));
    $("call-error").hidden = true;
    if (focus) {
      $("call-args").focus();
      $("call-args").select();
    }
  }

  $("call-function").addEventListener("change", () => choose(Number($("call-function").value)));
  $("call-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const fn = functions[Number($("call-function").value)];
    if (!fn) return;
    let args;
    try {
      args = JSON.parse($("call-args").value.trim() || "[]");
      if (!Array.isArray(args)) throw new Error("the arguments must be a JSON array, e.g. [\"hello\", 2]");
    } catch (error) {
      showCallError(`Not valid arguments: ${error.message}`);
      return;
    }
    $("call-error").hidden = true;
    $("call-submit").disabled = true;
    try {
      const error = await onCall(fn.module, fn.name, args);
      if (error) showCallError(errorLine(error));
    } finally {
      $("call-submit").disabled = session.circle() === null;
    }
  });

  function showCallError(text) {
    $("call-error").textContent = text;
    $("call-error").hidden = false;
  }

  // One page of the store under a prefix, through play (store::page).
  async function listStore(more) {
    const circle = session.circle();
    if (!circle) return;
    const prefix = $("store-prefix").value;
    const after = more ? storeNext : "";
    $("store-error").hidden = true;
    $("store-list").disabled = true;
    try {
      // JSON string literals are Rhai string literals too (the same escapes).
      const page = (await circle.play(`store::page(${JSON.stringify(prefix)}, ${JSON.stringify(after)}, ${PAGE_SIZE})`)).value;
      const caller = session.state().caller;
      const rows = page.entries.map((entry) => {
        const written = new Date(entry.written_at);
        const author = entry.author === "" ? "anonymous" : entry.author === caller ? `you (${shortKey(entry.author)})` : shortKey(entry.author);
        return h("li", { class: "store-entry" },
          // Reserved keys hold a whole public key (guestbook/@02ab…): shortened, whole in the tooltip.
          h("code", { class: "store-key", title: entry.key }, entry.key.replace(/@(0[23][0-9a-f]{64})/g, (_, key) => `@${shortKey(key)}`)),
          h("code", { class: "store-value", title: JSON.stringify(entry.value) }, valueText(entry.value)),
          h("div", { class: "hint" },
            "by ", h("span", { class: "store-author", title: entry.author || "anonymous" }, author),
            " · ", h("time", { class: "store-time", datetime: written.toISOString() }, written.toLocaleString())));
      });
      if (more) $("store-rows").append(...rows);
      else $("store-rows").replaceChildren(...rows);
      storeNext = page.next ?? null;
      $("store-more").hidden = storeNext === null;
      const count = $("store-rows").children.length;
      $("store-summary").textContent = `${count} entr${count === 1 ? "y" : "ies"}${prefix ? ` under "${prefix}"` : ""}${storeNext === null ? "" : " so far"}${page.skipped ? ` (${page.skipped} too large to show)` : ""}`;
    } catch (error) {
      $("store-error").textContent = errorLine(error);
      $("store-error").hidden = false;
    } finally {
      $("store-list").disabled = session.circle() === null;
    }
  }
  $("store-form").addEventListener("submit", (event) => { event.preventDefault(); listStore(false); });
  $("store-more").addEventListener("click", () => listStore(true));

  $("usage-check").addEventListener("click", async () => {
    const circle = session.circle();
    if (!circle) return;
    try {
      const usage = (await circle.play("store::usage()")).value;
      const line = (name, u) => `${name}: ${u.entries.toLocaleString("en")} of ${u.max_entries.toLocaleString("en")} entries, ${u.bytes.toLocaleString("en")} of ${u.max_bytes.toLocaleString("en")} bytes`;
      $("usage").textContent = `${line("you", usage.author)}; ${line("the circle", usage.circle)}`;
    } catch (error) {
      $("usage").textContent = errorLine(error);
    }
  });

  return {
    // Fills what can be known on this connection; refusals are said in place.
    async load(circle) {
      $("offers-body").hidden = false;
      $("offers-offline").hidden = true;
      try {
        const document = await circle.discover();
        learnErrorNames(document); // errors get their spec names ("ScriptCompileError 2010")
        showMethods(document);
      } catch (error) {
        $("methods").replaceChildren(h("li", { class: "error-inline" }, errorLine(error)));
      }
      try {
        showFunctions(await circle.listFunctions());
      } catch (error) {
        showFunctions([]);
        $("functions-note").textContent = errorLine(error);
      }
    },
    enable(online) {
      for (const id of ["call-submit", "store-list", "store-more", "usage-check"]) $(id).disabled = !online;
    },
  };
}
