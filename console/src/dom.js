// Small DOM helpers shared by the console's parts.

export const $ = (id) => document.getElementById(id);

// h("li", {class: "x", onclick}, "text", child…): an element with attributes,
// event handlers (on…) and children (strings become text, never HTML).
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

// 02ab12…cdef: enough of a key to tell keys apart at a glance.
export function shortKey(key) {
  return key && key.length > 16 ? `${key.slice(0, 8)}…${key.slice(-6)}` : key || "";
}

export function formatDuration(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// The clipboard API needs a secure context (https or localhost); on plain
// http from another host, fall back to a selected textarea and execCommand.
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the old way
  }
  const area = h("textarea", { class: "offscreen", readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  const copied = document.execCommand("copy");
  area.remove();
  return copied;
}

// A button that copies what get() returns and says so for a moment.
export function copyButton(get, label = "Copy") {
  const button = h("button", { type: "button", class: "small", title: "copy to the clipboard" }, label);
  button.addEventListener("click", async () => {
    const copied = await copyText(get());
    button.textContent = copied ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = label; }, 1200);
  });
  return button;
}

export function download(filename, text, type = "text/plain") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h("a", { href: url, download: filename, class: "offscreen" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// Asks in a modal <dialog>; resolves to true when confirmed. Browsers' own
// confirm() cannot say which button does what, nor offer a third action.
export function confirmDialog({ title, message, confirm, danger = false, extra = null }) {
  const dialog = $("confirm-dialog");
  $("confirm-title").textContent = title;
  $("confirm-message").textContent = message;
  const ok = $("confirm-ok");
  ok.textContent = confirm;
  ok.classList.toggle("danger", danger);
  const extraButton = $("confirm-extra");
  extraButton.hidden = !extra;
  if (extra) extraButton.textContent = extra.label;
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.removeEventListener("click", onOk);
      extraButton.removeEventListener("click", onExtra);
      dialog.removeEventListener("close", onClose);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onOk = () => done(true);
    const onExtra = () => extra.run(); // e.g. download a copy first; the dialog stays
    const onClose = () => done(false); // Cancel, Escape
    ok.addEventListener("click", onOk);
    extraButton.addEventListener("click", onExtra);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

// Tabs: buttons with data-tab naming the id of their panel.
export function tabs(list, onSelect = () => {}) {
  const buttons = [...list.querySelectorAll("[data-tab]")];
  const select = (name) => {
    for (const button of buttons) {
      const selected = button.dataset.tab === name;
      button.setAttribute("aria-selected", String(selected));
      $(button.dataset.tab).hidden = !selected;
    }
    onSelect(name);
  };
  for (const button of buttons) button.addEventListener("click", () => select(button.dataset.tab));
  return select;
}

// Shows text in a <pre>, cut at `limit` characters with a note, "Show all"
// and "Download" when longer: a huge result must not freeze the page.
export function showText(pre, text, { limit = 20_000, filename = "result.txt" } = {}) {
  const note = pre.nextElementSibling?.classList.contains("truncated") ? pre.nextElementSibling : null;
  note?.remove();
  if (text.length <= limit) {
    pre.textContent = text;
    return;
  }
  pre.textContent = text.slice(0, limit);
  const bar = h("div", { class: "truncated" },
    `Showing ${limit.toLocaleString("en")} of ${text.length.toLocaleString("en")} characters. `,
    h("button", { type: "button", class: "small", onclick: () => { pre.textContent = text; bar.remove(); } }, "Show all"),
    " ",
    h("button", { type: "button", class: "small", onclick: () => download(filename, text) }, "Download"),
  );
  pre.after(bar);
}
