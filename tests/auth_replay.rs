//! Sign-in abuse end to end: replayed, stale, swapped, malleated and
//! malformed credentials against real circles on loopback ports.

#[path = "support/raw.rs"]
mod raw;
mod support;

use std::time::Duration;

use circles_identity::{SecretKey, Signature, personal_sign_digest};
use raw::{RawWs, RpcError};
use rpc_server::CircleSettings;
use secp256k1::Message;
use secp256k1::constants::CURVE_ORDER;
use secp256k1::ecdsa::{self, RecoverableSignature, RecoveryId};
use serde_json::{Value, json};
use support::{TestCircle, circle};

/// AuthenticationFailed `authentication failed` with `data` exactly `{"reason": "<non-empty>"}`;
/// returns the reason.
fn assert_auth_failed(outcome: Result<Value, RpcError>, what: &str) -> String {
    let error = match outcome {
        Ok(result) => {
            panic!("{what}: expected AuthenticationFailed, authenticated instead: {result}")
        }
        Err(error) => error,
    };
    assert_eq!(
        error.code,
        rpc_types::error_code::AUTHENTICATION_FAILED,
        "{what}: {:?}",
        error.response
    );
    assert_eq!(error.message, "authentication failed", "{what}");
    let data = error.data.as_ref().unwrap_or_else(|| {
        panic!(
            "{what}: AuthenticationFailed without data: {:?}",
            error.response
        )
    });
    let object = data
        .as_object()
        .unwrap_or_else(|| panic!("{what}: data is not an object: {data}"));
    assert_eq!(object.len(), 1, "{what}: data has exactly `reason`: {data}");
    let reason = object["reason"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: reason is not a string: {data}"));
    assert!(!reason.trim().is_empty(), "{what}: empty reason");
    reason.to_owned()
}

/// The caller is not signed in: `play` is refused with Unauthenticated.
async fn assert_unauthenticated(ws: &mut RawWs, what: &str) {
    let error = ws
        .play("CALLER_PUBLIC_KEY")
        .await
        .expect_err(&format!("{what}: play must be refused"));
    assert_eq!(
        error.code,
        rpc_types::error_code::UNAUTHENTICATED,
        "{what}: {:?}",
        error.response
    );
}

/// The connection is signed in as `key`.
async fn assert_caller(ws: &mut RawWs, key: &SecretKey, what: &str) {
    let result = ws
        .play("CALLER_PUBLIC_KEY")
        .await
        .unwrap_or_else(|e| panic!("{what}: play failed: {e:?}"));
    assert_eq!(result["output"], json!(key.public_key().to_hex()), "{what}");
}

fn hex_of(key: &SecretKey) -> String {
    key.public_key().to_hex()
}

/// A signature's 65 bytes r‖s‖v.
fn signature_bytes(signature: &Signature) -> [u8; 65] {
    let hex = signature.to_hex();
    let digits = hex.strip_prefix("0x").expect("to_hex writes 0x");
    hex::decode(digits)
        .expect("hex")
        .try_into()
        .expect("65 bytes")
}

/// `n - s` for a big-endian scalar `0 < s < n`.
fn negate_mod_n(s: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut digit = i16::from(CURVE_ORDER[i]) - i16::from(s[i]) - borrow;
        borrow = 0;
        if digit < 0 {
            digit += 256;
            borrow = 1;
        }
        out[i] = u8::try_from(digit).expect("a byte");
    }
    assert_eq!(borrow, 0, "s < n");
    out
}

#[tokio::test]
async fn a_used_signature_is_refused_on_the_same_connection() {
    let circle = circle("replay-same").await;
    let key = SecretKey::generate();
    let mut ws = RawWs::connect(&circle.url()).await;
    let signature = ws.sign_in(&key).await;
    assert_caller(&mut ws, &key, "after sign-in").await;

    // Without a new challenge: nothing to answer.
    assert_auth_failed(
        ws.authenticate(&hex_of(&key), &signature).await,
        "replay without fetch_nonce",
    );
    // With a new challenge: the old signature signs a different message.
    ws.challenge(&key).await;
    assert_auth_failed(
        ws.authenticate(&hex_of(&key), &signature).await,
        "replay after a new fetch_nonce",
    );
    // The refused replay consumed that challenge: the same signature again, still refused.
    assert_auth_failed(
        ws.authenticate(&hex_of(&key), &signature).await,
        "replay after the challenge was consumed",
    );

    // The connection still signs in properly.
    ws.sign_in(&key).await;
    assert_caller(&mut ws, &key, "after a fresh sign-in").await;
}

#[tokio::test]
async fn a_used_signature_is_refused_on_another_connection_and_another_circle() {
    let first = circle("replay-first").await;
    let second = circle("replay-second").await;
    let key = SecretKey::generate();
    let mut original = RawWs::connect(&first.url()).await;
    let signature = original.sign_in(&key).await;

    // Another connection of the same circle, without a challenge of its own.
    let mut other = RawWs::connect(&first.url()).await;
    assert_auth_failed(
        other.authenticate(&hex_of(&key), &signature).await,
        "other connection, no fetch_nonce",
    );
    assert_unauthenticated(&mut other, "other connection after a replay").await;

    // With its own challenge.
    other.challenge(&key).await;
    assert_auth_failed(
        other.authenticate(&hex_of(&key), &signature).await,
        "other connection with its own fetch_nonce",
    );
    assert_unauthenticated(&mut other, "other connection after a replay").await;

    // Another circle, with and without a challenge.
    let mut elsewhere = RawWs::connect(&second.url()).await;
    assert_auth_failed(
        elsewhere.authenticate(&hex_of(&key), &signature).await,
        "other circle, no fetch_nonce",
    );
    elsewhere.challenge(&key).await;
    assert_auth_failed(
        elsewhere.authenticate(&hex_of(&key), &signature).await,
        "other circle with its own fetch_nonce",
    );
    assert_unauthenticated(&mut elsewhere, "other circle after a replay").await;

    // Each still accepts a proper sign-in; the original connection kept its identity.
    other.sign_in(&key).await;
    elsewhere.sign_in(&key).await;
    assert_caller(&mut original, &key, "original connection").await;
}

#[tokio::test]
async fn a_failed_attempt_consumes_the_challenge() {
    let circle = circle("consumed").await;
    let key = SecretKey::generate();
    let mut ws = RawWs::connect(&circle.url()).await;
    let message = ws.challenge(&key).await;

    // A signature by the right key of another text.
    let wrong = key.sign_personal("not the challenge");
    assert_auth_failed(
        ws.authenticate(&hex_of(&key), &wrong).await,
        "bad signature",
    );
    let right = key.sign_personal(&message);
    assert_auth_failed(
        ws.authenticate(&hex_of(&key), &right).await,
        "correct signature after a failed attempt",
    );
    assert_unauthenticated(&mut ws, "after the refused retry").await;

    // A malformed signature (v = 5) is refused as invalid params before the
    // challenge is looked at: it is no attempt, and the challenge stays.
    let message = ws.challenge(&key).await;
    let mut bytes = signature_bytes(&key.sign_personal(&message));
    bytes[64] = 5;
    let reason = assert_invalid_params(
        ws.authenticate(&hex_of(&key), hex::encode(bytes)).await,
        "v = 5",
    );
    assert!(reason.contains("recovery id"), "reason: {reason}");
    ws.authenticate(&hex_of(&key), key.sign_personal(&message))
        .await
        .expect("the challenge survives a malformed signature");
}

/// -32602 `Invalid params` with the reason as `data`; returns the reason.
fn assert_invalid_params(outcome: Result<Value, RpcError>, what: &str) -> String {
    let error = outcome.expect_err(&format!("{what}: accepted"));
    assert_eq!(error.code, -32602, "{what}: {:?}", error.response);
    let reason = error.data.as_ref().and_then(Value::as_str);
    reason
        .unwrap_or_else(|| panic!("{what}: no reason: {:?}", error.response))
        .to_owned()
}

#[tokio::test]
async fn an_expired_challenge_is_refused() {
    let circle = TestCircle::start(CircleSettings {
        challenge_ttl: Duration::from_millis(300),
        ..support::settings("short-lived")
    })
    .await;
    let key = SecretKey::generate();
    let mut ws = RawWs::connect(&circle.url()).await;

    // Within its lifetime the short challenge works (the control).
    ws.sign_in(&key).await;

    let message = ws.challenge(&key).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let reason = assert_auth_failed(
        ws.authenticate(&hex_of(&key), &key.sign_personal(&message))
            .await,
        "expired challenge",
    );
    assert!(reason.contains("expired"), "reason: {reason}");
}

#[tokio::test]
async fn keys_and_signatures_must_match_the_challenge() {
    let circle = circle("key-swap").await;
    let alice = SecretKey::generate();
    let bob = SecretKey::generate();
    let mut ws = RawWs::connect(&circle.url()).await;

    // Alice's challenge, Bob's signature, Alice's key claimed.
    let message = ws.challenge(&alice).await;
    assert_auth_failed(
        ws.authenticate(&hex_of(&alice), &bob.sign_personal(&message))
            .await,
        "alice's challenge signed by bob",
    );

    // Alice's challenge, Bob claims it with his own valid signature of it.
    let message = ws.challenge(&alice).await;
    assert_auth_failed(
        ws.authenticate(&hex_of(&bob), &bob.sign_personal(&message))
            .await,
        "alice's challenge claimed by bob",
    );

    // Alice's challenge, Bob's key claimed with Alice's signature.
    let message = ws.challenge(&alice).await;
    assert_auth_failed(
        ws.authenticate(&hex_of(&bob), &alice.sign_personal(&message))
            .await,
        "alice's challenge, bob's key, alice's signature",
    );
    assert_unauthenticated(&mut ws, "after the swaps").await;

    // The control: each signs in as themselves on the same connection.
    ws.sign_in(&alice).await;
    assert_caller(&mut ws, &alice, "alice").await;
    ws.sign_in(&bob).await;
    assert_caller(&mut ws, &bob, "bob replaces alice").await;
}

#[tokio::test]
async fn the_high_s_twin_of_a_valid_signature_is_refused() {
    let circle = circle("high-s").await;
    let key = SecretKey::generate();
    let mut ws = RawWs::connect(&circle.url()).await;
    let message = ws.challenge(&key).await;
    let low = signature_bytes(&key.sign_personal(&message));

    let mut twin = low;
    twin[32..64].copy_from_slice(&negate_mod_n(&low[32..64]));
    twin[64] = match low[64] {
        27 => 28,
        28 => 27,
        v => panic!("sign_personal wrote v = {v}"),
    };

    // The twin really is a valid signature of the message by the key, only high-S.
    let digest = Message::from_digest(personal_sign_digest(message.as_bytes()));
    let mut normalized = ecdsa::Signature::from_compact(&twin[..64]).expect("compact twin");
    normalized.normalize_s();
    assert_eq!(
        normalized.serialize_compact()[..],
        low[..64],
        "n - s normalises back"
    );
    let recovered =
        RecoverableSignature::from_compact(&twin[..64], RecoveryId::from_u8_masked(twin[64] - 27))
            .and_then(|recoverable| recoverable.recover(digest))
            .expect("the twin recovers a key");
    assert_eq!(
        recovered.serialize(),
        key.public_key().to_compressed_bytes(),
        "the twin with flipped v recovers the signer"
    );

    // A high-S signature is not well-formed: refused as invalid params.
    let reason = assert_invalid_params(
        ws.authenticate(&hex_of(&key), format!("0x{}", hex::encode(twin)))
            .await,
        "high-S twin",
    );
    assert!(reason.to_lowercase().contains("high s"), "reason: {reason}");
    // As a 64-byte signature too.
    let mut twin64 = low;
    twin64[32..64].copy_from_slice(&negate_mod_n(&low[32..64]));
    assert_invalid_params(
        ws.authenticate(&hex_of(&key), hex::encode(&twin64[..64]))
            .await,
        "64-byte high-S twin",
    );
    assert_unauthenticated(&mut ws, "after the high-S attempts").await;
    // Neither twin was taken for the signature it mirrors, nor used it up.
    ws.authenticate(&hex_of(&key), key.sign_personal(&message))
        .await
        .expect("the low-S original still signs in");
}

#[tokio::test]
async fn a_new_fetch_nonce_replaces_the_previous_challenge() {
    let circle = circle("replace").await;
    let key = SecretKey::generate();
    let mut ws = RawWs::connect(&circle.url()).await;

    let old = ws.challenge(&key).await;
    let new = ws.challenge(&key).await;
    assert_ne!(old, new, "each challenge has its own nonce");
    assert_auth_failed(
        ws.authenticate(&hex_of(&key), &key.sign_personal(&old))
            .await,
        "signature of the replaced challenge",
    );
    // The refused attempt consumed the new challenge as well.
    assert_auth_failed(
        ws.authenticate(&hex_of(&key), &key.sign_personal(&new))
            .await,
        "the new challenge after a failed attempt",
    );

    // A challenge for another key replaces one for this key, too.
    let other = SecretKey::generate();
    let mine = ws.challenge(&key).await;
    ws.challenge(&other).await;
    assert_auth_failed(
        ws.authenticate(&hex_of(&key), &key.sign_personal(&mine))
            .await,
        "challenge replaced by one for another key",
    );

    // Replacing and then answering the newest works.
    ws.challenge(&key).await;
    let newest = ws.challenge(&key).await;
    ws.authenticate(&hex_of(&key), &key.sign_personal(&newest))
        .await
        .expect("the newest challenge is accepted");
    assert_caller(&mut ws, &key, "after answering the newest").await;
}

/// A malformed value: -32602 (with a reason) or AuthenticationFailed (with `{reason}`),
/// never a dropped connection.
fn assert_refused_with_reason(outcome: Result<Value, RpcError>, what: &str) {
    let error = match outcome {
        Ok(result) => panic!("{what}: accepted: {result}"),
        Err(error) => error,
    };
    match error.code {
        rpc_types::error_code::AUTHENTICATION_FAILED => {
            assert_auth_failed(Err(error), what);
        }
        -32602 => {
            assert_eq!(error.message, "Invalid params", "{what}");
            let data = error
                .data
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: -32602 without data: {:?}", error.response));
            let text = match data {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            assert!(!text.trim().is_empty(), "{what}: empty reason");
        }
        code => panic!("{what}: code {code}: {:?}", error.response),
    }
}

#[tokio::test]
async fn malformed_keys_and_signatures_are_refused_with_a_reason() {
    let circle = circle("malformed").await;
    let key = SecretKey::generate();
    let good_key = hex_of(&key);
    let huge = "a".repeat(200_000);
    let not_on_curve = format!("04{}", "00".repeat(64)); // (0, 0)
    let bad_prefix = format!("05{}", &good_key[2..]);
    let x_too_big = format!("02{}", "ff".repeat(32)); // x >= p
    let keys: Vec<(&str, Value)> = vec![
        ("empty key", json!("")),
        ("65-hex-char key", json!(&good_key[..65])),
        ("64-hex-char key", json!(&good_key[..64])),
        ("67-hex-char key", json!(format!("{good_key}0"))),
        ("non-hex key", json!(format!("zz{}", &good_key[2..]))),
        ("0x only", json!("0x")),
        ("uncompressed point not on the curve", json!(not_on_curve)),
        ("compressed x beyond the field", json!(x_too_big)),
        ("prefix 05", json!(bad_prefix)),
        ("huge key", json!(huge)),
        ("key as a number", json!(42)),
        ("key as null", json!(null)),
        ("key as an object", json!({"x": 1})),
    ];

    let mut ws = RawWs::connect(&circle.url()).await;
    for (what, pubkey) in &keys {
        // fetch_nonce with the bad key.
        let outcome = ws.call("fetch_nonce", json!({ "pubkey": pubkey })).await;
        let error = outcome
            .as_ref()
            .expect_err(&format!("fetch_nonce accepted {what}"));
        assert_eq!(
            error.code, -32602,
            "fetch_nonce, {what}: {:?}",
            error.response
        );
        assert_refused_with_reason(outcome, &format!("fetch_nonce, {what}"));
        ws.assert_alive().await;

        // authenticate with the bad key against a real challenge.
        let message = ws.challenge(&key).await;
        let signature = key.sign_personal(&message);
        let outcome = ws
            .call(
                "authenticate",
                json!({ "pubkey": pubkey, "signature": signature }),
            )
            .await;
        assert_refused_with_reason(outcome, &format!("authenticate, {what}"));
        ws.assert_alive().await;
    }

    let mut bad_v = signature_bytes(&key.sign_personal("x"));
    bad_v[64] = 5;
    let mut zero_r = bad_v;
    zero_r[..32].fill(0);
    zero_r[64] = 27;
    let mut s_is_n = zero_r;
    s_is_n[..32].fill(1);
    s_is_n[32..64].copy_from_slice(&CURVE_ORDER);
    let signatures: Vec<(&str, Value)> = vec![
        ("empty signature", json!("")),
        ("0x only", json!("0x")),
        ("129 hex chars", json!("1".repeat(129))),
        ("132 hex chars", json!("1".repeat(132))),
        ("63 bytes", json!("11".repeat(63))),
        ("non-hex signature", json!(format!("0x{}", "g".repeat(130)))),
        ("v = 5", json!(hex::encode(bad_v))),
        ("r = 0", json!(hex::encode(zero_r))),
        ("s = n", json!(hex::encode(s_is_n))),
        ("huge signature", json!("b".repeat(200_000))),
        ("signature as a number", json!(7)),
        ("signature as an array", json!([1, 2])),
    ];
    for (what, signature) in &signatures {
        ws.challenge(&key).await;
        let outcome = ws
            .call(
                "authenticate",
                json!({ "pubkey": good_key, "signature": signature }),
            )
            .await;
        assert_refused_with_reason(outcome, &format!("authenticate, {what}"));
        ws.assert_alive().await;
    }

    // Missing members.
    for params in [
        json!({}),
        json!({ "pubkey": good_key }),
        json!({ "signature": key.sign_personal("x") }),
    ] {
        let outcome = ws.call("authenticate", params.clone()).await;
        let error = outcome.as_ref().expect_err("missing member accepted");
        assert_eq!(error.code, -32602, "{params}");
        assert_refused_with_reason(outcome, &format!("authenticate {params}"));
        ws.assert_alive().await;
    }

    // After all that, the same connection signs in.
    ws.sign_in(&key).await;
    assert_caller(&mut ws, &key, "after the malformed attempts").await;
}

#[tokio::test]
async fn any_accepted_key_encoding_authenticates_and_is_reported_compressed() {
    let circle = circle("encodings").await;
    let key = SecretKey::generate();
    let compressed = hex_of(&key);
    let uncompressed = hex::encode(key.public_key().to_uncompressed_bytes());
    assert_eq!(uncompressed.len(), 130);
    let encodings = [
        uncompressed.clone(),
        format!("0x{uncompressed}"),
        format!("0X{}", uncompressed.to_uppercase()),
        compressed.to_uppercase(),
        format!("0x{}", compressed.to_uppercase()),
        format!("0X{compressed}"),
        format!("0x{compressed}"),
    ];
    for encoding in &encodings {
        for (fetch_as, claim_as) in [
            (encoding.as_str(), encoding.as_str()),
            (compressed.as_str(), encoding.as_str()),
            (encoding.as_str(), compressed.as_str()),
        ] {
            let mut ws = RawWs::connect(&circle.url()).await;
            let challenge = ws.fetch_nonce(fetch_as).await;
            let message = challenge["message"].as_str().expect("message");
            assert!(
                message.contains(&format!("\npublic-key: {compressed}\n")),
                "the message names the key normalised: {message}"
            );
            let result = ws
                .authenticate(claim_as, &key.sign_personal(message))
                .await
                .unwrap_or_else(|e| panic!("fetched as {fetch_as}, claimed as {claim_as}: {e:?}"));
            assert_eq!(
                result,
                json!({"authenticated": true, "public_key": compressed}),
                "fetched as {fetch_as}, claimed as {claim_as}"
            );
            assert_caller(&mut ws, &key, encoding).await;
        }
    }
}

#[tokio::test]
async fn every_accepted_signature_encoding_authenticates() {
    let circle = circle("sig-encodings").await;
    let key = SecretKey::generate();
    let mut ws = RawWs::connect(&circle.url()).await;

    type Encode = fn([u8; 65]) -> String;
    let encodings: [(&str, Encode); 5] = [
        ("64 bytes r||s, no prefix", |b| hex::encode(&b[..64])),
        ("64 bytes r||s, 0x", |b| {
            format!("0x{}", hex::encode(&b[..64]))
        }),
        ("v as 0/1", |b| {
            let mut b = b;
            b[64] -= 27;
            hex::encode(b)
        }),
        ("upper case, 0X", |b| format!("0X{}", hex::encode_upper(b))),
        ("as sign_personal writes it", |b| {
            format!("0x{}", hex::encode(b))
        }),
    ];
    for (what, encode) in encodings {
        let message = ws.challenge(&key).await;
        let bytes = signature_bytes(&key.sign_personal(&message));
        let result = ws
            .authenticate(&hex_of(&key), &encode(bytes))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(result["public_key"], json!(hex_of(&key)), "{what}");
    }

    // A 64-byte signature by another key of the same challenge is still refused.
    let other = SecretKey::generate();
    let message = ws.challenge(&key).await;
    let forged = signature_bytes(&other.sign_personal(&message));
    assert_auth_failed(
        ws.authenticate(&hex_of(&key), &hex::encode(&forged[..64]))
            .await,
        "64-byte signature by another key",
    );
    // The wrong v (recovering another key) is refused even though r||s verifies.
    let message = ws.challenge(&key).await;
    let mut flipped = signature_bytes(&key.sign_personal(&message));
    flipped[64] = if flipped[64] == 27 { 28 } else { 27 };
    assert_auth_failed(
        ws.authenticate(&hex_of(&key), &hex::encode(flipped)).await,
        "flipped v",
    );
}

#[tokio::test]
async fn authenticate_without_fetch_nonce_is_refused() {
    let circle = circle("no-challenge").await;
    let key = SecretKey::generate();
    let mut ws = RawWs::connect(&circle.url()).await;
    // A well-formed signature of a plausible message: there is no challenge to match.
    let signature = key.sign_personal("circles wants you to sign in");
    let reason = assert_auth_failed(
        ws.authenticate(&hex_of(&key), &signature).await,
        "no fetch_nonce",
    );
    assert!(reason.contains("fetch_nonce"), "reason: {reason}");
    assert_unauthenticated(&mut ws, "after the refused attempt").await;
    ws.assert_alive().await;
}

/// The typed client sees AuthenticationFailed with its typed `{reason}` data.
#[tokio::test]
async fn the_generated_client_sees_authentication_failed_with_a_reason() {
    let circle = circle("typed").await;
    let key = SecretKey::generate();
    let client = circle.connect().await;
    let signature = support::sign_in(&client, &key).await;
    let error = client
        .authenticate(support::authenticate_params(&key, signature))
        .await
        .expect_err("replay refused");
    match error {
        rpc_types::client::RequestError::Rpc(
            rpc_types::AuthenticateError::AuthenticationFailed(data),
        ) => {
            assert!(data.reason.contains("fetch_nonce"), "{data:?}");
        }
        other => panic!("expected AuthenticationFailed with data, got {other:?}"),
    }
}
