//! Key files: round trip, permissions, refusal to overwrite, clear errors.
#![cfg(not(target_arch = "wasm32"))]

use circles_identity::{KeyError, KeyFileError, SecretKey};

#[test]
fn save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("circle.key");
    let key = SecretKey::generate();
    key.save_to_file(&path).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{}\n", key.to_hex())
    );
    let loaded = SecretKey::load_from_file(&path).unwrap();
    assert_eq!(loaded.to_hex(), key.to_hex());
    assert_eq!(loaded.public_key(), key.public_key());
}

#[cfg(unix)]
#[test]
fn key_file_mode_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("circle.key");
    SecretKey::generate().save_to_file(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
}

#[test]
fn existing_file_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("circle.key");
    let first = SecretKey::generate();
    first.save_to_file(&path).unwrap();
    let err = SecretKey::generate().save_to_file(&path).unwrap_err();
    assert!(matches!(err, KeyFileError::AlreadyExists { .. }), "{err:?}");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(
        SecretKey::load_from_file(&path).unwrap().to_hex(),
        first.to_hex()
    );
}

#[test]
fn save_into_missing_directory_is_a_write_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("circle.key");
    let err = SecretKey::generate().save_to_file(&path).unwrap_err();
    assert!(matches!(err, KeyFileError::Write { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("cannot write key file"),
        "{err}"
    );
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.key");
    let err = SecretKey::load_from_file(&path).unwrap_err();
    assert!(matches!(err, KeyFileError::Missing { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("key file {} does not exist", path.display())
    );
}

#[test]
fn unreadable_file() {
    // A directory can be opened but not read.
    let dir = tempfile::tempdir().unwrap();
    let err = SecretKey::load_from_file(dir.path()).unwrap_err();
    assert!(matches!(err, KeyFileError::Read { .. }), "{err:?}");
    assert!(err.to_string().starts_with("cannot read key file"), "{err}");
}

#[cfg(unix)]
#[test]
fn file_without_read_permission() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("circle.key");
    SecretKey::generate().save_to_file(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&path).is_ok() {
        // Running as root: permissions do not apply; nothing to test.
        return;
    }
    let err = SecretKey::load_from_file(&path).unwrap_err();
    assert!(matches!(err, KeyFileError::Read { .. }), "{err:?}");
}

fn load_content(content: &[u8]) -> Result<SecretKey, KeyFileError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("circle.key");
    std::fs::write(&path, content).unwrap();
    SecretKey::load_from_file(&path)
}

fn invalid(content: &[u8]) -> KeyError {
    match load_content(content) {
        Err(KeyFileError::Invalid { error, .. }) => error,
        other => panic!("{content:?}: expected Invalid, got {other:?}"),
    }
}

#[test]
fn bad_content_errors() {
    let key = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    assert_eq!(invalid(b""), KeyError::SecretKeyLength(0));
    assert_eq!(invalid(b"\n"), KeyError::SecretKeyLength(0));
    assert_eq!(invalid(b"not a key\n"), KeyError::SecretKeyNotHex);
    assert_eq!(invalid(&[0xff, 0xfe, 0x00]), KeyError::SecretKeyNotHex);
    assert_eq!(
        invalid(format!("{key}\n{key}\n").as_bytes()),
        KeyError::SecretKeyNotHex
    );
    assert_eq!(
        invalid(&key.as_bytes()[..62]),
        KeyError::SecretKeyLength(62)
    );
    assert_eq!(
        invalid(format!("{key}00\n").as_bytes()),
        KeyError::SecretKeyLength(66)
    );
    assert_eq!(
        invalid(format!("{}\n", "0".repeat(64)).as_bytes()),
        KeyError::SecretKeyOutOfRange
    );
    let err = load_content(b"zz\n").unwrap_err();
    assert!(
        err.to_string()
            .ends_with("does not hold a valid secret key: secret key is not valid hex"),
        "{err}"
    );
}

#[test]
fn huge_file_is_rejected() {
    let err = load_content(&vec![b'a'; 1 << 20]).unwrap_err();
    assert!(matches!(err, KeyFileError::TooLarge { .. }), "{err:?}");
}

#[test]
fn tolerant_of_whitespace_and_prefix() {
    let key = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    for content in [
        format!("{key}\r\n"),
        format!("0x{key}\n"),
        format!("  {}  \n\n", key.to_uppercase()),
        key.to_owned(),
    ] {
        assert_eq!(load_content(content.as_bytes()).unwrap().to_hex(), key);
    }
}

#[test]
fn saving_leaves_only_the_key_file_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("id.key");
    SecretKey::generate().save_to_file(&path).expect("save");
    SecretKey::generate()
        .save_to_file(&path)
        .expect_err("exists");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["id.key"], "no temporary file is left");
}
