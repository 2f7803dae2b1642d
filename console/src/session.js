// The connection to one circle and who we are there. It owns the WebCircle:
// connect, sign in (a wallet's key, the browser's key, or anonymous), learn
// the circle's id and key from the challenge it signed, and notice at once
// when the connection closes (the client's `closed` promise), so the page
// never shows "connected" over a dead socket.
import { publicKeyOf, requestAccount, walletSigner, provider } from "./wallet.js";

// The challenge's lines: "circle: <id>", "circle-key: <key>" (the wasm client
// has checked its exact form before it was signed).
function challengeFields(message) {
  const field = (name) => message.split("\n").find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2) ?? null;
  return { circleId: field("circle"), circleKey: field("circle-key") };
}

export function createSession(client, { keys, onChange }) {
  let circle = null;
  let state = { phase: "offline" };
  let attempt = 0; // a newer connect() makes an older one's outcome moot

  const set = (next) => {
    state = next;
    onChange(state);
  };

  function drop() {
    if (circle) {
      circle.free(); // closes the socket
      circle = null;
    }
  }

  // mode: "wallet" | "local" | "anonymous"; expected: the pinned circle key or "".
  async function connect({ url, mode, expected }) {
    const mine = ++attempt;
    drop();
    set({ phase: "connecting", url, mode, step: "opening the connection" });
    let opened = null;
    try {
      // A wallet first: its prompts may take a while, and a connection that has
      // not signed in is closed by the circle after its challenge lifetime.
      let signer = null;
      let seen = null;
      const remember = (message) => { seen = message; };
      if (mode === "wallet") {
        const wallet = provider();
        if (!wallet) throw new Error("no browser wallet found: install one (MetaMask, Rabby…) or use a key in this browser");
        set({ ...state, step: "asking the wallet for its account" });
        const address = await requestAccount(wallet);
        set({ ...state, step: "asking the wallet to reveal its public key (once per account)" });
        const publicKey = await publicKeyOf(wallet, address);
        signer = { address, ...walletSigner(wallet, address, publicKey, remember) };
      } else if (mode === "local") {
        const secret = keys.secret();
        if (!secret) throw new Error("no key in this browser: generate one or paste yours first");
        signer = {
          publicKey: keys.publicKey(),
          sign: (message) => { remember(message); return client.sign_personal(secret, message); },
        };
      }
      if (mine !== attempt) return;
      set({ ...state, step: "opening the connection" });
      opened = await client.WebCircle.connect(url);
      if (mine !== attempt) {
        opened.free();
        return;
      }
      let caller = null;
      if (signer) {
        set({ ...state, step: mode === "wallet" ? "waiting for the wallet to sign the challenge" : "signing in" });
        caller = await opened.authenticate({ publicKey: signer.publicKey, sign: signer.sign }, expected || undefined);
      }
      if (mine !== attempt) {
        opened.free();
        return;
      }
      circle = opened;
      const watched = opened;
      watched.closed.then((event) => {
        if (circle !== watched) return; // replaced or freed meanwhile
        circle = null;
        watched.free();
        set({ ...state, phase: "lost", closedAt: new Date(), closeCode: event?.code ?? 1006, closeReason: event?.reason ?? "" });
      });
      set({
        phase: "online",
        url,
        mode,
        caller,
        address: signer?.address ?? null,
        ...(seen ? challengeFields(seen) : { circleId: null, circleKey: null }),
        since: new Date(),
      });
    } catch (error) {
      opened?.free();
      if (mine === attempt) set({ phase: "failed", url, mode, error });
    }
  }

  return {
    connect,
    disconnect() {
      attempt++;
      drop();
      set({ phase: "offline" });
    },
    state: () => state,
    circle: () => circle,
  };
}
