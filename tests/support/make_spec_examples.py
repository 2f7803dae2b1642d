#!/usr/bin/env python3
"""Regenerate the example pairings of openrpc.json.

The examples are real: one circle "alice" with secret key 0x11..11, one caller
with secret key 0x22..22, a fixed nonce and expiry, the exact challenge message
of the wire contract, and an Ethereum personal_sign (EIP-191) signature of it
(65 bytes r||s||v, v in {27, 28}, low-S, 0x-prefixed).

    pip install eth-account coincurve
    python3 tests/support/make_spec_examples.py            # print the examples
    python3 tests/support/make_spec_examples.py --write openrpc.json
"""

import hashlib
import json
import sys

import coincurve
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

CIRCLE_ID = "alice"
CIRCLE_SECRET = bytes([0x11]) * 32
CALLER_SECRET = bytes([0x22]) * 32
NONCE = hashlib.sha256(b"circles example nonce").hexdigest()  # 64 lower-case hex
EXPIRES_AT = 1767225600  # 2026-01-01T00:00:00Z
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def compressed(secret: bytes) -> str:
    return coincurve.PrivateKey(secret).public_key.format(compressed=True).hex()


def challenge(circle_key: str, caller_key: str) -> str:
    return "\n".join([
        "circles wants you to sign in",
        f"circle: {CIRCLE_ID}",
        f"circle-key: {circle_key}",
        f"public-key: {caller_key}",
        f"nonce: {NONCE}",
        f"expires-at: {EXPIRES_AT}",
    ])


def sign(message: str) -> str:
    sig = Account.sign_message(encode_defunct(text=message), private_key=CALLER_SECRET).signature
    assert len(sig) == 65 and sig[64] in (27, 28)
    assert int.from_bytes(sig[32:64], "big") <= SECP256K1_N // 2, "high-S signature"
    # Independent check of the EIP-191 digest with a different library.
    data = message.encode("utf-8")
    digest = keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data)
    rec = coincurve.PublicKey.from_signature_and_message(
        sig[:64] + bytes([sig[64] - 27]), digest, hasher=None)
    assert rec.format(compressed=True).hex() == compressed(CALLER_SECRET)
    return "0x" + sig.hex()


def pair(name, params, result_name, result, description=None):
    p = {"name": name}
    if description:
        p["description"] = description
    p["params"] = [{"name": k, "value": v} for k, v in params.items()]
    p["result"] = {"name": result_name, "value": result}
    return p


def examples() -> dict:
    circle_key, caller_key = compressed(CIRCLE_SECRET), compressed(CALLER_SECRET)
    message = challenge(circle_key, caller_key)
    return {
        "rpc.discover": [pair(
            "discover", {}, "OpenRpcDocument",
            {"openrpc": "1.3.2", "info": {"title": "circles", "version": "1.0.0"}},
            "Abridged: the real result is this whole document.")],
        "fetch_nonce": [pair(
            "alice-challenge", {"pubkey": caller_key}, "FetchNonceResult",
            {"nonce": NONCE, "message": message, "expires_at": EXPIRES_AT},
            f"Caller key 0x22..22 asks circle {CIRCLE_ID!r} (key 0x11..11) for a challenge.")],
        "authenticate": [pair(
            "alice-sign-in", {"pubkey": caller_key, "signature": sign(message)},
            "AuthenticateResult", {"authenticated": True, "public_key": caller_key},
            "personal_sign of the fetch_nonce example's message by secret key 0x22..22.")],
        "play": [
            pair("answer", {"script": "40 + 2"}, "PlayResult",
                 {"output": "42", "value": 42, "logs": []}),
            pair("who-am-i", {"script": "CALLER_PUBLIC_KEY"}, "PlayResult",
                 {"output": caller_key, "value": caller_key, "logs": []},
                 "On the connection authenticated by the authenticate example."),
        ],
    }


def main() -> None:
    ex = examples()
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        with open(sys.argv[2]) as f:
            doc = json.load(f)
        for method in doc["methods"]:
            method["examples"] = ex[method["name"]]
        with open(sys.argv[2], "w") as f:
            json.dump(doc, f, indent=2, ensure_ascii=False)
            f.write("\n")
    else:
        json.dump(ex, sys.stdout, indent=2, ensure_ascii=False)
        print()


if __name__ == "__main__":
    main()
