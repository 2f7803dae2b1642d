//! Cross-checks against Ethereum tooling: the constants in `vectors/mod.rs` were produced by
//! eth-account (see `vectors.py`). Our digest, our deterministic (RFC 6979) signatures and our
//! verification must agree with them byte for byte.

mod vectors;

use circles_identity::{
    ChallengeMessage, PublicKey, SecretKey, Signature, personal_sign_digest, verify_personal,
};
use vectors::*;

/// (message, eth-account digest, eth-account signature, eth-account v)
const CASES: [(&str, &str, &str, u8); 5] = [
    (HELLO_MESSAGE, HELLO_DIGEST, HELLO_SIGNATURE, HELLO_V),
    (
        GOODBYE_MESSAGE,
        GOODBYE_DIGEST,
        GOODBYE_SIGNATURE,
        GOODBYE_V,
    ),
    (EMPTY_MESSAGE, EMPTY_DIGEST, EMPTY_SIGNATURE, EMPTY_V),
    (
        UNICODE_MESSAGE,
        UNICODE_DIGEST,
        UNICODE_SIGNATURE,
        UNICODE_V,
    ),
    (
        CHALLENGE_MESSAGE,
        CHALLENGE_DIGEST,
        CHALLENGE_SIGNATURE,
        CHALLENGE_V,
    ),
];

fn key() -> SecretKey {
    SecretKey::from_hex(SECRET_KEY_HEX).unwrap()
}

#[test]
fn public_key_matches_eth_keys() {
    let public = key().public_key();
    assert_eq!(public.to_hex(), PUBLIC_KEY_COMPRESSED);
    assert_eq!(
        hex::encode(public.to_uncompressed_bytes()),
        PUBLIC_KEY_UNCOMPRESSED
    );
    assert_eq!(
        PublicKey::from_hex(PUBLIC_KEY_UNCOMPRESSED).unwrap(),
        public
    );
}

#[test]
fn digest_matches_eth_account() {
    for (message, digest, _, _) in CASES {
        assert_eq!(
            hex::encode(personal_sign_digest(message.as_bytes())),
            digest,
            "message {message:?}"
        );
    }
}

#[test]
fn signature_matches_eth_account_byte_for_byte() {
    let key = key();
    for (message, _, signature, _) in CASES {
        assert_eq!(
            key.sign_personal(message).to_hex(),
            signature,
            "message {message:?}"
        );
    }
}

#[test]
fn eth_account_signatures_verify() {
    let public = PublicKey::from_hex(PUBLIC_KEY_COMPRESSED).unwrap();
    for (message, _, signature, v) in CASES {
        let parsed = Signature::from_hex(signature).unwrap();
        assert_eq!(parsed.recovery_id(), Some(v - 27));
        assert_eq!(parsed.to_hex(), signature);
        assert_eq!(
            verify_personal(&public, message, &parsed),
            Ok(()),
            "message {message:?}"
        );
    }
}

#[test]
fn vectors_cover_both_recovery_ids() {
    assert_eq!(HELLO_V, 27);
    assert_eq!(GOODBYE_V, 28);
}

#[test]
fn challenge_vector_is_our_rendering() {
    let message = ChallengeMessage {
        circle_id: CIRCLE_ID.to_owned(),
        circle_key: PublicKey::from_hex(CIRCLE_PUBLIC_KEY).unwrap(),
        caller_key: key().public_key(),
        nonce: NONCE.to_owned(),
        expires_at: EXPIRES_AT,
    };
    assert_eq!(message.render(), CHALLENGE_MESSAGE);
    assert_eq!(ChallengeMessage::parse(CHALLENGE_MESSAGE), Ok(message));
}

#[test]
fn circle_key_vector_is_the_generator() {
    let one = SecretKey::from_hex(&format!("{:064x}", 1)).unwrap();
    assert_eq!(one.public_key().to_hex(), CIRCLE_PUBLIC_KEY);
}
