//! Signature parsing and verification: accepted encodings, malleability, wrong keys and
//! messages, malformed input.

mod vectors;

use circles_identity::{
    PublicKey, SecretKey, Signature, SignatureError, VerifyError, verify_personal,
};
use vectors::*;

/// The secp256k1 group order n, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

fn public() -> PublicKey {
    PublicKey::from_hex(PUBLIC_KEY_COMPRESSED).unwrap()
}

fn bytes(signature: &str) -> Vec<u8> {
    hex::decode(signature.trim_start_matches("0x")).unwrap()
}

fn with_v(signature: &str, v: u8) -> String {
    let mut b = bytes(signature);
    b[64] = v;
    hex::encode(b)
}

/// big-endian a - b for a >= b
fn sub(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    assert_eq!(borrow, 0);
    out
}

/// The malleated twin of a valid signature: s' = n - s, v flipped. Mathematically valid for
/// the same message and key, but high-S.
fn high_s_twin(signature: &str) -> String {
    let mut b = bytes(signature);
    let s = sub(&N, &b[32..64]);
    b[32..64].copy_from_slice(&s);
    b[64] = if b[64] == 27 { 28 } else { 27 };
    format!("0x{}", hex::encode(b))
}

fn verify_hex(key: &PublicKey, message: &str, signature: &str) -> Result<(), VerifyError> {
    let signature = Signature::from_hex(signature)?;
    verify_personal(key, message, &signature)
}

#[test]
fn all_four_v_encodings_are_accepted() {
    // HELLO has recovery id 0, GOODBYE recovery id 1.
    for v in [0, 27] {
        let sig = with_v(HELLO_SIGNATURE, v);
        assert_eq!(verify_hex(&public(), HELLO_MESSAGE, &sig), Ok(()), "v={v}");
        assert_eq!(Signature::from_hex(&sig).unwrap().recovery_id(), Some(0));
    }
    for v in [1, 28] {
        let sig = with_v(GOODBYE_SIGNATURE, v);
        assert_eq!(
            verify_hex(&public(), GOODBYE_MESSAGE, &sig),
            Ok(()),
            "v={v}"
        );
        assert_eq!(Signature::from_hex(&sig).unwrap().recovery_id(), Some(1));
    }
}

#[test]
fn v_is_written_as_27_or_28() {
    let sig = Signature::from_hex(&with_v(GOODBYE_SIGNATURE, 1)).unwrap();
    assert_eq!(sig.to_hex(), GOODBYE_SIGNATURE);
    assert_eq!(sig.to_string(), GOODBYE_SIGNATURE);
}

#[test]
fn other_v_values_are_rejected() {
    for v in [2, 3, 26, 29, 30, 35, 36, 255] {
        assert_eq!(
            Signature::from_hex(&with_v(HELLO_SIGNATURE, v)),
            Err(SignatureError::RecoveryId(v)),
            "v={v}"
        );
    }
}

#[test]
fn wrong_v_is_a_key_mismatch() {
    // r||s is valid for the key, but v = 1 recovers another key.
    assert_eq!(
        verify_hex(&public(), HELLO_MESSAGE, &with_v(HELLO_SIGNATURE, 28)),
        Err(VerifyError::KeyMismatch)
    );
    assert_eq!(
        verify_hex(&public(), GOODBYE_MESSAGE, &with_v(GOODBYE_SIGNATURE, 0)),
        Err(VerifyError::KeyMismatch)
    );
}

#[test]
fn sixty_four_byte_signature_verifies() {
    let rs = &HELLO_SIGNATURE[..2 + 128];
    let sig = Signature::from_hex(rs).unwrap();
    assert_eq!(sig.recovery_id(), None);
    assert_eq!(sig.to_hex(), rs);
    assert_eq!(verify_personal(&public(), HELLO_MESSAGE, &sig), Ok(()));
    // Without v nothing but r||s is checked, and that still binds key and message.
    assert_eq!(
        verify_personal(&public(), GOODBYE_MESSAGE, &sig),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn prefix_and_case_do_not_matter() {
    let bare = HELLO_SIGNATURE.trim_start_matches("0x");
    for form in [
        bare.to_owned(),
        format!("0X{bare}"),
        bare.to_uppercase(),
        format!("0x{}", bare.to_uppercase()),
    ] {
        assert_eq!(
            verify_hex(&public(), HELLO_MESSAGE, &form),
            Ok(()),
            "{form}"
        );
    }
}

#[test]
fn high_s_twin_is_rejected_with_the_high_s_error() {
    for (message, signature) in [
        (HELLO_MESSAGE, HELLO_SIGNATURE),
        (GOODBYE_MESSAGE, GOODBYE_SIGNATURE),
        (CHALLENGE_MESSAGE, CHALLENGE_SIGNATURE),
    ] {
        let twin = high_s_twin(signature);
        assert_ne!(twin, signature);
        assert_eq!(Signature::from_hex(&twin), Err(SignatureError::HighS));
        assert_eq!(
            verify_hex(&public(), message, &twin),
            Err(VerifyError::Malformed(SignatureError::HighS))
        );
        // Also without v.
        assert_eq!(
            Signature::from_hex(&twin[..2 + 128]),
            Err(SignatureError::HighS)
        );
    }
}

#[test]
fn r_and_s_must_be_in_range() {
    let b = bytes(HELLO_SIGNATURE);
    let set = |range: std::ops::Range<usize>, value: &[u8]| {
        let mut b = b.clone();
        b[range].copy_from_slice(value);
        hex::encode(b)
    };
    assert_eq!(
        Signature::from_hex(&set(0..32, &[0; 32])),
        Err(SignatureError::ROutOfRange)
    );
    assert_eq!(
        Signature::from_hex(&set(0..32, &N)),
        Err(SignatureError::ROutOfRange)
    );
    assert_eq!(
        Signature::from_hex(&set(0..32, &[0xff; 32])),
        Err(SignatureError::ROutOfRange)
    );
    assert_eq!(
        Signature::from_hex(&set(32..64, &[0; 32])),
        Err(SignatureError::SOutOfRange)
    );
    assert_eq!(
        Signature::from_hex(&set(32..64, &N)),
        Err(SignatureError::SOutOfRange)
    );
    assert_eq!(
        Signature::from_hex(&set(32..64, &[0xff; 32])),
        Err(SignatureError::SOutOfRange)
    );
    // s = 1 and r = n - 1 are well-formed (but of course not a valid signature here).
    let mut r = N;
    r[31] -= 1;
    let mut s = [0u8; 32];
    s[31] = 1;
    let odd = Signature::from_hex(&set(32..64, &s)).unwrap();
    assert_eq!(
        verify_personal(&public(), HELLO_MESSAGE, &odd),
        Err(VerifyError::InvalidSignature)
    );
    assert!(Signature::from_hex(&set(0..32, &r)).is_ok());
}

#[test]
fn signature_by_another_key_does_not_verify() {
    let other = SecretKey::generate();
    let sig = other.sign_personal(HELLO_MESSAGE);
    assert_eq!(
        verify_personal(&other.public_key(), HELLO_MESSAGE, &sig),
        Ok(())
    );
    assert_eq!(
        verify_personal(&public(), HELLO_MESSAGE, &sig),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn tampered_message_does_not_verify() {
    let sig = Signature::from_hex(CHALLENGE_SIGNATURE).unwrap();
    let tampered = CHALLENGE_MESSAGE.replace("1700000300", "1700000301");
    assert_eq!(
        verify_personal(&public(), &tampered, &sig),
        Err(VerifyError::InvalidSignature)
    );
    for message in ["", "hello circles ", "Hello circles", "hello circles\n"] {
        assert_eq!(
            verify_hex(&public(), message, HELLO_SIGNATURE),
            Err(VerifyError::InvalidSignature),
            "{message:?}"
        );
    }
}

#[test]
fn tampered_signature_does_not_verify() {
    let b = bytes(HELLO_SIGNATURE);
    for i in [0, 17, 31, 32, 50, 63] {
        let mut t = b.clone();
        t[i] ^= 0x01;
        let t = hex::encode(t);
        let result = verify_hex(&public(), HELLO_MESSAGE, &t);
        assert!(
            matches!(
                result,
                Err(VerifyError::InvalidSignature | VerifyError::Malformed(_))
            ),
            "byte {i}: {result:?}"
        );
    }
}

#[test]
fn malformed_hex_and_lengths_are_errors() {
    let sig = HELLO_SIGNATURE.trim_start_matches("0x");
    let cases: Vec<(String, SignatureError)> = vec![
        (String::new(), SignatureError::Length(0)),
        ("0x".into(), SignatureError::Length(0)),
        ("0x0x".into(), SignatureError::NotHex),
        (format!("0x{}", &sig[..129]), SignatureError::Length(129)),
        (format!("{sig}00"), SignatureError::Length(132)),
        (sig[..126].to_owned(), SignatureError::Length(126)),
        (format!(" {sig}"), SignatureError::NotHex),
        (format!("{sig}\n"), SignatureError::NotHex),
        (format!("g{}", &sig[1..]), SignatureError::NotHex),
        ("é".repeat(65), SignatureError::NotHex),
        ("xyz".into(), SignatureError::NotHex),
    ];
    for (input, error) in cases {
        assert_eq!(Signature::from_hex(&input), Err(error), "{input:?}");
    }
}

#[test]
fn random_garbage_never_panics() {
    use rand::{Rng, RngCore};
    let mut rng = rand::rng();
    let alphabet = b"0123456789abcdefABCDEFxX \n";
    for _ in 0..2000 {
        let len = rng.random_range(0..200);
        let s: String = (0..len)
            .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
            .collect();
        let _ = Signature::from_hex(&s);
        let _ = PublicKey::from_hex(&s);
        let _ = SecretKey::from_hex(&s);
        let _ = circles_identity::ChallengeMessage::parse(&s);
        let mut raw = [0u8; 65];
        rng.fill_bytes(&mut raw);
        let raw = hex::encode(&raw[..rng.random_range(0..=65)]);
        if let Ok(sig) = Signature::from_hex(&raw) {
            assert!(verify_personal(&public(), "x", &sig).is_err());
        }
        let _ = PublicKey::from_hex(&raw);
    }
}

#[test]
fn our_signatures_are_low_s_and_verify() {
    for i in 0..200 {
        let key = SecretKey::generate();
        let message = format!("message {i}");
        let signature = key.sign_personal(&message).to_hex();
        assert!(signature.starts_with("0x") && signature.len() == 132);
        assert!(signature[2..].bytes().all(|b| !b.is_ascii_uppercase()));
        let v = bytes(&signature)[64];
        assert!(v == 27 || v == 28, "v={v}");
        // from_hex rejects high-S, so parsing proves low-S.
        let parsed = Signature::from_hex(&signature).unwrap();
        assert_eq!(
            verify_personal(&key.public_key(), &message, &parsed),
            Ok(())
        );
    }
}

#[test]
fn signing_is_deterministic() {
    let key = SecretKey::generate();
    assert_eq!(key.sign_personal("same"), key.sign_personal("same"));
    assert_ne!(key.sign_personal("same"), key.sign_personal("other"));
}

#[test]
fn serde_uses_the_hex_string() {
    let sig = Signature::from_hex(HELLO_SIGNATURE).unwrap();
    let json = serde_json::to_string(&sig).unwrap();
    assert_eq!(json, format!("\"{HELLO_SIGNATURE}\""));
    let back: Signature = serde_json::from_str(&json).unwrap();
    assert_eq!(back, sig);
    let err = serde_json::from_str::<Signature>(&format!("\"{}\"", high_s_twin(HELLO_SIGNATURE)))
        .unwrap_err();
    assert!(err.to_string().contains("high s"), "{err}");
}

#[test]
fn error_texts_are_human_readable_and_distinct() {
    let texts = [
        VerifyError::Malformed(SignatureError::NotHex).to_string(),
        VerifyError::Malformed(SignatureError::Length(12)).to_string(),
        VerifyError::Malformed(SignatureError::RecoveryId(29)).to_string(),
        VerifyError::Malformed(SignatureError::ROutOfRange).to_string(),
        VerifyError::Malformed(SignatureError::SOutOfRange).to_string(),
        VerifyError::Malformed(SignatureError::HighS).to_string(),
        VerifyError::InvalidSignature.to_string(),
        VerifyError::KeyMismatch.to_string(),
    ];
    assert_eq!(texts[0], "signature is not valid hex");
    assert_eq!(
        texts[1],
        "signature must be 65 bytes r||s||v (130 hex characters) or 64 bytes r||s \
         (128 hex characters), got 12 hex characters"
    );
    assert_eq!(
        texts[2],
        "signature recovery id v must be 0, 1, 27 or 28, got 29"
    );
    assert_eq!(
        texts[5],
        "signature has a high s value (s > n/2); only canonical low-s signatures are accepted"
    );
    assert_eq!(
        texts[6],
        "signature is not valid for this message and public key"
    );
    let unique: std::collections::HashSet<_> = texts.iter().collect();
    assert_eq!(unique.len(), texts.len());
}
