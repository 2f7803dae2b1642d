// The result pane: what ran, how long it took (counting while it runs), and
// its output, JSON value and logs — or its error in words, with the logs the
// script printed before failing. Long texts are cut (with Show all and
// Download); Copy always copies the whole text.
import { $, copyText, formatDuration, h, showText } from "./dom.js";
import { describeError, errorView } from "./errors.js";

export function createResults() {
  const full = { output: "", value: "", logs: "" };
  let ticker = null;

  for (const name of Object.keys(full)) {
    $(`copy-${name}`).addEventListener("click", async (event) => {
      const button = event.currentTarget;
      const copied = await copyText(full[name]);
      button.textContent = copied ? "Copied" : "Copy failed";
      setTimeout(() => { button.textContent = "Copy"; }, 1200);
    });
  }

  function fill(name, text, filename) {
    full[name] = text;
    showText($(name), text, { filename });
    $(`copy-${name}`).disabled = text === "";
  }

  function stopTicker() {
    clearInterval(ticker);
    ticker = null;
  }

  return {
    // Shows "running…" with the elapsed time until show() or clear().
    running(what) {
      stopTicker();
      const started = performance.now();
      $("result-what").textContent = what;
      $("run-state").hidden = false;
      const tick = () => { $("run-state-time").textContent = formatDuration(performance.now() - started); };
      tick();
      ticker = setInterval(tick, 100);
      $("result").setAttribute("aria-busy", "true");
      // A stale error or result must not look like this run's.
      $("error").hidden = true;
      $("error").replaceChildren();
      for (const name of Object.keys(full)) fill(name, "");
      $("logs-label").textContent = "Logs";
      return () => performance.now() - started;
    },

    show({ what, result, error, ms }) {
      stopTicker();
      $("run-state").hidden = true;
      $("result").removeAttribute("aria-busy");
      $("result-what").textContent = `${what} · ${error ? "failed after" : "took"} ${formatDuration(ms)}`;
      $("error").hidden = !error;
      if (error) {
        const d = describeError(error);
        $("error").replaceChildren(...errorView(error));
        if (d.logs.length > 0) {
          $("error").append(h("p", { class: "hint" }, `It printed ${d.logs.length} line${d.logs.length === 1 ? "" : "s"} before it failed: see Logs.`));
        }
        fill("output", "");
        fill("value", "");
        fill("logs", d.logs.join("\n"), "logs.txt");
        $("logs-label").textContent = d.logs.length > 0 ? "Logs (printed before it failed)" : "Logs";
      } else {
        fill("output", result.output, "output.txt");
        fill("value", JSON.stringify(result.value, null, 2), "value.json");
        fill("logs", result.logs.join("\n"), "logs.txt");
        $("logs-label").textContent = "Logs";
      }
    },

    clear() {
      stopTicker();
      $("run-state").hidden = true;
      $("error").hidden = true;
      $("error").replaceChildren();
      $("result-what").textContent = "nothing run yet";
      for (const name of Object.keys(full)) fill(name, "");
    },
  };
}
