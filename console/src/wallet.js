// Signing in with a browser wallet (any EIP-1193 provider: MetaMask, Rabby…).
//
// A circle's challenge names the caller's public key (fetch_nonce takes it),
// but a wallet tells a page only its address (a hash of the key). So, once per
// account, the wallet signs a fixed message (REVEAL_MESSAGE) and the page
// recovers the public key from that signature (secp256k1 recovery), checks
// that the key hashes to the account's address, and remembers it (a public
// key is no secret). Every sign-in then asks the wallet for one signature: the
// challenge itself, checked by the wasm client (it names this key and, when
// pinned, the expected circle) before the wallet is asked.
//
// Recovery runs here in JS (@noble/curves), not in the wasm module: the module
// has a size budget and would need libsecp256k1's verification code for it.
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import { storage } from "./storage.js";

export const REVEAL_MESSAGE = [
  "circles: reveal my public key",
  "",
  "The circles console asks for this signature once per account, to learn the account's public key",
  "(a wallet tells pages only its address). It signs you in nowhere and approves nothing.",
].join("\n");

const KNOWN_KEYS = "circles.wallet.keys"; // {address: public key hex}

export function provider() {
  return typeof window.ethereum === "object" && window.ethereum !== null ? window.ethereum : null;
}

function strip0x(hex) {
  return hex.startsWith("0x") || hex.startsWith("0X") ? hex.slice(2) : hex;
}

// EIP-191: keccak256("\x19Ethereum Signed Message:\n" + byte length + message).
function personalDigest(message) {
  const bytes = utf8ToBytes(message);
  return keccak_256(concatBytes(utf8ToBytes(`\x19Ethereum Signed Message:\n${bytes.length}`), bytes));
}

// The Ethereum address of a public key: the last 20 bytes of the keccak256 of
// its uncompressed point (without the 04 prefix).
export function addressOf(publicKeyHex) {
  const point = secp256k1.Point.fromBytes(hexToBytes(strip0x(publicKeyHex)));
  return `0x${bytesToHex(keccak_256(point.toBytes(false).subarray(1)).subarray(12))}`;
}

// The public key (compressed hex) whose personal_sign of `message` is
// `signatureHex` (65 bytes r‖s‖v, v 0/1/27/28, as wallets return it).
export function recoverPublicKey(message, signatureHex) {
  const bytes = hexToBytes(strip0x(signatureHex));
  if (bytes.length !== 65) throw new Error(`the wallet's signature has ${bytes.length} bytes, not 65`);
  const v = bytes[64] >= 27 ? bytes[64] - 27 : bytes[64];
  if (v > 1) throw new Error(`the wallet's signature has recovery id ${bytes[64]}`);
  // noble's "recovered" layout puts the recovery id first.
  const recovered = concatBytes(Uint8Array.of(v), bytes.subarray(0, 64));
  return bytesToHex(secp256k1.recoverPublicKey(recovered, personalDigest(message), { prehash: false }));
}

// The wallet's personal_sign: the message goes as hex of its UTF-8 bytes.
function personalSign(wallet, address, message) {
  return wallet.request({ method: "personal_sign", params: [`0x${bytesToHex(utf8ToBytes(message))}`, address] });
}

// A signature the circle accepts: some wallets return high-S signatures
// (valid for Ethereum before EIP-2); circles take only the low-S twin.
function lowS(signatureHex) {
  const bytes = hexToBytes(strip0x(signatureHex));
  if (bytes.length !== 65) return signatureHex;
  const signature = secp256k1.Signature.fromBytes(bytes.subarray(0, 64), "compact");
  if (!signature.hasHighS()) return signatureHex;
  // (r, n − s) with the other recovery id: the same signature, low-S.
  const twin = new secp256k1.Signature(signature.r, secp256k1.Point.Fn.ORDER - signature.s);
  const v = (bytes[64] >= 27 ? bytes[64] - 27 : bytes[64]) ^ 1;
  return `0x${twin.toHex("compact")}${(27 + v).toString(16)}`;
}

export function knownKey(address) {
  return storage.getJson(KNOWN_KEYS, {})[address.toLowerCase()] ?? null;
}

export function forgetKey(address) {
  const keys = storage.getJson(KNOWN_KEYS, {});
  delete keys[address.toLowerCase()];
  storage.setJson(KNOWN_KEYS, keys);
}

// Asks the wallet for its account (it may show a prompt): the address, lower case.
export async function requestAccount(wallet) {
  const accounts = await wallet.request({ method: "eth_requestAccounts" });
  if (!Array.isArray(accounts) || accounts.length === 0) throw new Error("the wallet gave no account");
  return String(accounts[0]).toLowerCase();
}

// The account's public key: remembered, or revealed by one signature of
// REVEAL_MESSAGE and checked against the address.
export async function publicKeyOf(wallet, address) {
  const known = knownKey(address);
  if (known) return known;
  const signature = await personalSign(wallet, address, REVEAL_MESSAGE);
  const key = recoverPublicKey(REVEAL_MESSAGE, signature);
  if (addressOf(key) !== address.toLowerCase()) {
    throw new Error(`the wallet signed with another account than ${address}: choose that account in the wallet and try again`);
  }
  const keys = storage.getJson(KNOWN_KEYS, {});
  keys[address.toLowerCase()] = key;
  storage.setJson(KNOWN_KEYS, keys);
  return key;
}

// The signer the wasm client's authenticate() takes: the wallet signs the
// challenge (already checked by the client); the signature is checked here
// to come from this key, so that a wallet that switched accounts in between
// is told apart from a refusal by the circle.
export function walletSigner(wallet, address, publicKey, onChallenge = () => {}) {
  return {
    publicKey,
    async sign(message) {
      onChallenge(message);
      const signature = lowS(await personalSign(wallet, address, message));
      if (recoverPublicKey(message, signature) !== publicKey) {
        throw new Error("the wallet signed with another account: choose the account you signed in with and try again");
      }
      return signature;
    },
  };
}
