// The secret key kept in this browser (the other way to sign in, besides a
// wallet). Losing it loses the identity and whatever it owns in circles'
// stores, so replacing or forgetting it asks first and offers a download; the
// key can be revealed, copied and downloaded as a key file that the command
// line takes (`circles play --key FILE`).
import { $, confirmDialog, copyText, download, shortKey } from "./dom.js";
import { storage } from "./storage.js";

const KEY = "circles.secretKey";

export function createKeys(client, { say }) {
  const current = () => storage.get(KEY);
  const publicOf = (secret) => {
    try {
      return client.public_key(secret);
    } catch {
      return null;
    }
  };

  function render() {
    const secret = current();
    const publicKey = secret ? publicOf(secret) : null;
    $("secret").value = secret ?? "";
    $("local-public").textContent = publicKey ?? "no key yet: generate one or paste yours";
    for (const id of ["copy-secret", "download-secret", "reveal-secret", "forget-key", "copy-local-public"]) {
      $(id).disabled = !secret;
    }
  }

  const downloadKey = (secret) => download(`circles-${shortKey(publicOf(secret) ?? "key").replace("…", "-")}.key`, `${secret}\n`);

  // Replacing a key loses it unless it was saved: ask, offering a download.
  async function mayReplace(verb) {
    const secret = current();
    if (!secret) return true;
    return confirmDialog({
      title: `${verb} your key?`,
      message: `The key ${shortKey(publicOf(secret))} is kept only in this browser. Without a copy it is lost for good, with everything it owns in circles.`,
      confirm: verb,
      danger: true,
      extra: { label: "Download it first", run: () => downloadKey(secret) },
    });
  }

  async function use(secret, verb) {
    if (!publicOf(secret)) {
      say("not a secret key: 64 hex characters expected", true);
      return;
    }
    if (secret === current()) return;
    if (!(await mayReplace(verb))) {
      say("kept your key");
      render();
      return;
    }
    storage.set(KEY, secret);
    render();
    say(`key ${shortKey(publicOf(secret))} saved in this browser`);
  }

  $("generate").addEventListener("click", () => use(client.generate_key(), "Replace"));
  $("use-key").addEventListener("click", () => use($("secret").value.trim(), "Replace"));
  $("forget-key").addEventListener("click", async () => {
    const secret = current();
    if (!secret) return;
    const forget = await confirmDialog({
      title: "Forget your key?",
      message: `The key ${shortKey(publicOf(secret))} will be removed from this browser. Without a copy it is lost for good, with everything it owns in circles.`,
      confirm: "Forget",
      danger: true,
      extra: { label: "Download it first", run: () => downloadKey(secret) },
    });
    if (!forget) {
      say("kept your key");
      return;
    }
    storage.remove(KEY);
    render();
    say("key forgotten");
  });
  $("reveal-secret").addEventListener("click", () => {
    const field = $("secret");
    const reveal = field.type === "password";
    field.type = reveal ? "text" : "password";
    $("reveal-secret").textContent = reveal ? "Hide" : "Reveal";
  });
  $("copy-secret").addEventListener("click", async () => {
    say((await copyText(current() ?? "")) ? "secret key copied: paste it somewhere safe" : "could not copy", false);
  });
  $("copy-local-public").addEventListener("click", async () => {
    await copyText(publicOf(current() ?? "") ?? "");
    say("public key copied");
  });
  $("download-secret").addEventListener("click", () => downloadKey(current()));

  render();
  return {
    secret: current,
    publicKey: () => (current() ? publicOf(current()) : null),
  };
}
