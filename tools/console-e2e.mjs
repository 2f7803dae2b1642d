// End-to-end test of the web console (console/) in real headless Chromium,
// against a real circle that serves the console on its own port.
//
//   node tools/console-e2e.mjs URL
//
// URL: a circle (ws://127.0.0.1:PORT or http://127.0.0.1:PORT/) that requires
// sign-in and serves the console with a built pkg/, e.g. one started by
// `launcher --console-dir console` (tools/wasm.sh builds pkg/, starts such a
// circle and runs this test). Needs `npm ci` in tools/ and Debian's chromium
// (CHROMIUM=/path overrides /usr/bin/chromium).
// A screenshot of the page showing a result goes to target/console-e2e.png.

import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// Error codes by name, from the spec (as any client should look them up).
const spec = JSON.parse(readFileSync(join(root, "openrpc.json"), "utf8"));
const code = (name) => spec.components.errors[name].code;
const TIMEOUT_MS = 15_000;

function pageUrl(url) {
  const parsed = new URL(url);
  parsed.protocol = parsed.protocol === "wss:" ? "https:" : parsed.protocol === "ws:" ? "http:" : parsed.protocol;
  parsed.pathname = "/";
  return parsed.toString();
}

const results = [];
async function check(name, body) {
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`ok   ${name}`);
  } catch (error) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}\n     ${String(error && error.stack ? error.stack : error).split("\n").join("\n     ")}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

if (!process.argv[2]) {
  console.error("usage: node tools/console-e2e.mjs URL (see the comment at the top)");
  process.exit(2);
}
const circle = { url: process.argv[2] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu"],
});
let exitCode = 1;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(message.text());
  });

  const url = pageUrl(circle.url);
  const text = (selector) => page.locator(selector).textContent();
  const waitForText = (selector, pattern) =>
    page.waitForFunction(
      ([selector, source, flags]) => new RegExp(source, flags).test(document.querySelector(selector)?.textContent ?? ""),
      [selector, pattern.source, pattern.flags],
    );
  const run = async (script) => {
    await page.fill("#script", script);
    await page.click("#run");
    await page.waitForFunction(() => !document.querySelector("#run").disabled);
  };

  await check("the page loads the wasm client", async () => {
    const response = await page.goto(url);
    assert(response.status() === 200, `GET ${url}: ${response.status()}`);
    await waitForText("#status", /^ready/);
  });

  await check("the URL field defaults to this circle", async () => {
    const host = new URL(url).host;
    const value = await page.inputValue("#url");
    assert(value === `ws://${host}`, `URL field: ${value}`);
  });

  let publicKey = "";
  await check("generate a key", async () => {
    await page.click("#generate");
    await waitForText("#public-key", /^0[23][0-9a-f]{64}$/);
    publicKey = await text("#public-key");
    const secret = await page.inputValue("#secret");
    assert(/^[0-9a-f]{64}$/.test(secret), `secret field: ${secret.length} chars`);
  });

  await check("connect and sign in", async () => {
    await page.click("#connect");
    await waitForText("#signed-in", /^0[23][0-9a-f]{64}$|not connected/);
    const signedIn = await text("#signed-in");
    assert(signedIn === publicKey, `signed in as ${signedIn} (${await text("#status")}), expected ${publicKey}`);
    assert(await page.isEnabled("#run"), "the Run button stays disabled");
  });

  await check('run print("hi"); 40 + 2', async () => {
    await run('print("hi"); 40 + 2');
    assert((await text("#output")) === "42", `output: ${await text("#output")}`);
    assert((await text("#value")) === "42", `value: ${await text("#value")}`);
    assert((await text("#logs")) === "hi", `logs: ${await text("#logs")}`);
    assert(await page.locator("#error").isHidden(), "an error is shown");
    mkdirSync(join(root, "target"), { recursive: true });
    await page.screenshot({ path: join(root, "target/console-e2e.png"), fullPage: true });
  });

  await check("the run appears in the history", async () => {
    const first = page.locator("#history li").first();
    const entry = await first.textContent();
    assert(entry.includes('print("hi"); 40 + 2') && entry.includes("42"), `history: ${entry}`);
    assert((await first.getAttribute("class")) === "ok", "not marked ok");
  });

  await check("the script sees our key as CALLER_PUBLIC_KEY", async () => {
    await run("CALLER_PUBLIC_KEY");
    assert((await text("#output")) === publicKey, `output: ${await text("#output")}`);
  });

  await check("a compile error shows its code (ScriptCompileError)", async () => {
    await run("let x = ;");
    assert(await page.locator("#error").isVisible(), "no error shown");
    const error = await text("#error");
    assert(error.includes(`code ${code("ScriptCompileError")}`), `error: ${error}`);
    assert((await text("#output")) === "", "stale output");
    const first = page.locator("#history li").first();
    assert((await first.getAttribute("class")) === "failed", "not marked failed in the history");
    assert((await first.textContent()).includes(String(code("ScriptCompileError"))), "history lacks the code");
    assert((await page.locator("#history li").count()) === 3, "history has not 3 entries");
  });

  await check("without signing in, play is refused (Unauthenticated)", async () => {
    await page.click("#connect-anonymous");
    await waitForText("#signed-in", /^anonymous$/);
    await run("40 + 2");
    const error = await text("#error");
    assert(error.includes(`code ${code("Unauthenticated")}`), `error: ${error}`);
  });

  await check("a wrong expected circle key is refused (code 1004)", async () => {
    await page.fill("#circle-key", publicKey); // our own key: surely not the circle's
    await page.click("#connect");
    await waitForText("#status", /code 1004/);
    assert((await text("#signed-in")) === "not connected", `signed in: ${await text("#signed-in")}`);
    assert(await page.isDisabled("#run"), "Run is enabled");
    await page.fill("#circle-key", "");
  });

  await check("the key and the history survive a reload", async () => {
    await page.reload();
    await waitForText("#status", /^ready/);
    assert((await text("#public-key")) === publicKey, "key lost");
    assert((await page.locator("#history li").count()) === 4, "history lost");
  });

  await check("no errors in the page", async () => {
    assert(pageErrors.length === 0, pageErrors.join("\n"));
  });

  const failed = results.filter((result) => !result.ok).length;
  console.log(`console e2e: ${results.length - failed} passed, ${failed} failed`);
  exitCode = failed === 0 ? 0 : 1;
} finally {
  await browser.close();
}
process.exit(exitCode);
