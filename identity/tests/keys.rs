//! Public and secret key parsing, canonical output, serde, Debug.

mod vectors;

use circles_identity::{KeyError, PublicKey, SecretKey};
use vectors::*;

#[test]
fn all_public_key_encodings_parse_to_the_same_key() {
    let canonical = PublicKey::from_hex(PUBLIC_KEY_COMPRESSED).unwrap();
    for form in [
        PUBLIC_KEY_COMPRESSED.to_owned(),
        format!("0x{PUBLIC_KEY_COMPRESSED}"),
        format!("0X{PUBLIC_KEY_COMPRESSED}"),
        PUBLIC_KEY_COMPRESSED.to_uppercase(),
        format!("0x{}", PUBLIC_KEY_COMPRESSED.to_uppercase()),
        PUBLIC_KEY_UNCOMPRESSED.to_owned(),
        format!("0x{PUBLIC_KEY_UNCOMPRESSED}"),
        format!("0X{}", PUBLIC_KEY_UNCOMPRESSED.to_uppercase()),
    ] {
        let key = PublicKey::from_hex(&form).unwrap();
        assert_eq!(key, canonical, "{form}");
        assert_eq!(key.to_hex(), PUBLIC_KEY_COMPRESSED, "{form}");
        assert_eq!(key.to_string(), PUBLIC_KEY_COMPRESSED, "{form}");
        assert_eq!(form.parse::<PublicKey>(), Ok(canonical));
    }
}

#[test]
fn equal_keys_hash_equally() {
    let set: std::collections::HashSet<PublicKey> = [
        PublicKey::from_hex(PUBLIC_KEY_COMPRESSED).unwrap(),
        PublicKey::from_hex(PUBLIC_KEY_UNCOMPRESSED).unwrap(),
    ]
    .into();
    assert_eq!(set.len(), 1);
}

#[test]
fn malformed_public_keys_are_errors() {
    let c = PUBLIC_KEY_COMPRESSED;
    let u = PUBLIC_KEY_UNCOMPRESSED;
    let cases: Vec<(String, KeyError)> = vec![
        (String::new(), KeyError::PublicKeyLength(0)),
        ("0x".into(), KeyError::PublicKeyLength(0)),
        (c[..65].to_owned(), KeyError::PublicKeyLength(65)),
        (format!("{c}00"), KeyError::PublicKeyLength(68)),
        (c[2..].to_owned(), KeyError::PublicKeyLength(64)),
        (format!(" {c}"), KeyError::PublicKeyNotHex),
        (format!("{c}\n"), KeyError::PublicKeyNotHex),
        (format!("0x0x{c}"), KeyError::PublicKeyNotHex),
        ("z".repeat(66), KeyError::PublicKeyNotHex),
        // wrong SEC1 prefix for the length, or hybrid
        (format!("04{}", &c[2..]), KeyError::PublicKeyPrefix(0x04)),
        (format!("05{}", &c[2..]), KeyError::PublicKeyPrefix(0x05)),
        (format!("00{}", &c[2..]), KeyError::PublicKeyPrefix(0x00)),
        (format!("02{}", &u[2..]), KeyError::PublicKeyPrefix(0x02)),
        (format!("06{}", &u[2..]), KeyError::PublicKeyPrefix(0x06)),
        (format!("07{}", &u[2..]), KeyError::PublicKeyPrefix(0x07)),
        // x = 5: 5^3 + 7 is not a square mod p
        (format!("02{:064x}", 5), KeyError::PublicKeyNotOnCurve),
        // x >= p
        (
            format!("03{}", "f".repeat(64)),
            KeyError::PublicKeyNotOnCurve,
        ),
        // right x, wrong y
        (
            format!("{}{}", &u[..129], if u.ends_with('0') { "1" } else { "0" }),
            KeyError::PublicKeyNotOnCurve,
        ),
        (
            format!("04{}", "0".repeat(128)),
            KeyError::PublicKeyNotOnCurve,
        ),
    ];
    for (input, error) in cases {
        assert_eq!(PublicKey::from_hex(&input), Err(error), "{input:?}");
    }
}

#[test]
fn public_key_serde_is_the_canonical_hex_string() {
    let key = PublicKey::from_hex(PUBLIC_KEY_UNCOMPRESSED).unwrap();
    assert_eq!(
        serde_json::to_string(&key).unwrap(),
        format!("\"{PUBLIC_KEY_COMPRESSED}\"")
    );
    let parsed: PublicKey =
        serde_json::from_str(&format!("\"0X{}\"", PUBLIC_KEY_UNCOMPRESSED.to_uppercase())).unwrap();
    assert_eq!(parsed, key);
    let err = serde_json::from_str::<PublicKey>("\"02abcd\"").unwrap_err();
    assert!(
        err.to_string().contains("public key must be 33 bytes"),
        "{err}"
    );
    assert!(serde_json::from_str::<PublicKey>("42").is_err());
}

#[test]
fn secret_key_hex_round_trip() {
    let key = SecretKey::from_hex(SECRET_KEY_HEX).unwrap();
    assert_eq!(key.to_hex(), SECRET_KEY_HEX);
    for form in [
        format!("0x{SECRET_KEY_HEX}"),
        format!("0X{}", SECRET_KEY_HEX.to_uppercase()),
        SECRET_KEY_HEX.to_uppercase(),
    ] {
        let parsed = SecretKey::from_hex(&form).unwrap();
        assert_eq!(parsed.to_hex(), SECRET_KEY_HEX, "{form}");
        assert_eq!(parsed.public_key(), key.public_key());
    }
}

#[test]
fn generated_keys_are_distinct_and_round_trip() {
    let a = SecretKey::generate();
    let b = SecretKey::try_generate().unwrap();
    assert_ne!(a.to_hex(), b.to_hex());
    assert_ne!(a.public_key(), b.public_key());
    let a2 = SecretKey::from_hex(&a.to_hex()).unwrap();
    assert_eq!(a2.public_key(), a.public_key());
    assert_eq!(a.to_hex().len(), 64);
}

#[test]
fn malformed_secret_keys_are_errors() {
    let n = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    let cases: Vec<(String, KeyError)> = vec![
        (String::new(), KeyError::SecretKeyLength(0)),
        (
            SECRET_KEY_HEX[..63].to_owned(),
            KeyError::SecretKeyLength(63),
        ),
        (format!("{SECRET_KEY_HEX}00"), KeyError::SecretKeyLength(66)),
        (format!("{SECRET_KEY_HEX} "), KeyError::SecretKeyNotHex),
        ("q".repeat(64), KeyError::SecretKeyNotHex),
        ("0".repeat(64), KeyError::SecretKeyOutOfRange),
        (n.to_owned(), KeyError::SecretKeyOutOfRange),
        ("f".repeat(64), KeyError::SecretKeyOutOfRange),
    ];
    for (input, error) in cases {
        assert!(
            matches!(SecretKey::from_hex(&input), Err(e) if e == error),
            "{input:?}"
        );
    }
    // n - 1 is the largest valid key.
    let n_minus_1 = format!("{}0", &n[..63]);
    assert!(SecretKey::from_hex(&n_minus_1).is_ok());
}

#[test]
fn debug_never_shows_the_secret() {
    let key = SecretKey::from_hex(SECRET_KEY_HEX).unwrap();
    let debug = format!("{key:?} {key:#?}");
    assert!(!debug.contains(SECRET_KEY_HEX), "{debug}");
    assert!(!debug.contains(&SECRET_KEY_HEX[..16]), "{debug}");
    assert!(debug.contains(PUBLIC_KEY_COMPRESSED), "{debug}");
}

#[test]
fn key_error_texts() {
    assert_eq!(
        KeyError::PublicKeyLength(64).to_string(),
        "public key must be 33 bytes (66 hex characters, compressed) or 65 bytes \
         (130 hex characters, uncompressed), got 64 hex characters"
    );
    assert_eq!(
        KeyError::PublicKeyPrefix(5).to_string(),
        "public key has an invalid SEC1 prefix byte 05 (expected 02 or 03 for a compressed \
         key, 04 for an uncompressed key)"
    );
    assert_eq!(
        KeyError::PublicKeyNotOnCurve.to_string(),
        "public key is not a valid secp256k1 point"
    );
}
