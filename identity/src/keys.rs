//! Public and secret keys, their hex forms, and (not on wasm) key files.

use std::fmt;
use std::str::FromStr;

use crate::hexutil::{self, HexProblem};
use crate::random::{self, RandomnessError};
use crate::signature::{self, Signature};

/// Why a public or secret key was rejected.
///
/// The `Display` texts are shown to users and kept stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The public key contains characters other than hex digits (after an optional `0x`).
    #[error("public key is not valid hex")]
    PublicKeyNotHex,
    /// The public key is hex of the wrong length; carries the number of hex digits found.
    #[error(
        "public key must be 33 bytes (66 hex characters, compressed) or 65 bytes \
         (130 hex characters, uncompressed), got {0} hex characters"
    )]
    PublicKeyLength(usize),
    /// The first byte is not a SEC1 prefix matching the length (`02`/`03` for 33 bytes,
    /// `04` for 65 bytes).
    #[error(
        "public key has an invalid SEC1 prefix byte {0:02x} (expected 02 or 03 for a \
         compressed key, 04 for an uncompressed key)"
    )]
    PublicKeyPrefix(u8),
    /// Well-formed bytes that do not encode a point on the secp256k1 curve.
    #[error("public key is not a valid secp256k1 point")]
    PublicKeyNotOnCurve,
    /// The secret key contains characters other than hex digits (after an optional `0x`).
    #[error("secret key is not valid hex")]
    SecretKeyNotHex,
    /// The secret key is hex of the wrong length; carries the number of hex digits found.
    #[error("secret key must be 32 bytes (64 hex characters), got {0} hex characters")]
    SecretKeyLength(usize),
    /// The secret key is zero or not below the secp256k1 group order.
    #[error("secret key is out of range (zero, or not below the secp256k1 group order)")]
    SecretKeyOutOfRange,
}

/// A secp256k1 public key.
///
/// Parsed from SEC1 hex ([`PublicKey::from_hex`]); always reported as lower-case compressed
/// hex without prefix ([`PublicKey::to_hex`], `Display`, serde). Two keys are equal when they
/// are the same point, whichever encoding they were parsed from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(secp256k1::PublicKey);

impl PublicKey {
    /// Parses SEC1 hex: 33 bytes compressed (66 hex chars, prefix `02`/`03`) or 65 bytes
    /// uncompressed (130 hex chars, prefix `04`), with an optional `0x`/`0X` prefix, in upper,
    /// lower or mixed case. Nothing else is accepted (no whitespace, no hybrid `06`/`07` keys).
    pub fn from_hex(s: &str) -> Result<PublicKey, KeyError> {
        let bytes = hexutil::decode(s, &[33, 65]).map_err(|problem| match problem {
            HexProblem::NotHex => KeyError::PublicKeyNotHex,
            HexProblem::Length(n) => KeyError::PublicKeyLength(n),
        })?;
        let prefix = bytes.first().copied().unwrap_or_default();
        match (bytes.len(), prefix) {
            (33, 0x02 | 0x03) | (65, 0x04) => secp256k1::PublicKey::from_slice(&bytes)
                .map(PublicKey)
                .map_err(|_| KeyError::PublicKeyNotOnCurve),
            _ => Err(KeyError::PublicKeyPrefix(prefix)),
        }
    }

    /// The canonical form: lower-case hex of the 33-byte compressed encoding, no prefix.
    pub fn to_hex(&self) -> String {
        crate::hexutil::encode(&self.to_compressed_bytes())
    }

    /// The 33-byte SEC1 compressed encoding.
    pub fn to_compressed_bytes(&self) -> [u8; 33] {
        self.0.serialize()
    }

    /// The 65-byte SEC1 uncompressed encoding (`04‖x‖y`).
    pub fn to_uncompressed_bytes(&self) -> [u8; 65] {
        self.0.serialize_uncompressed()
    }

    pub(crate) fn inner(&self) -> &secp256k1::PublicKey {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<PublicKey, KeyError> {
        PublicKey::from_hex(s)
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<PublicKey, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        PublicKey::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// A secp256k1 secret key together with its public key.
///
/// `Debug` shows only the public key; the secret is only revealed by [`SecretKey::to_hex`]
/// and [`SecretKey::save_to_file`].
#[derive(Clone)]
pub struct SecretKey {
    secret: secp256k1::SecretKey,
    public: PublicKey,
}

impl SecretKey {
    /// Generates a new key from the operating system's secure random source.
    ///
    /// # Panics
    ///
    /// If the OS random source fails (as `rand::rng()` would); use
    /// [`SecretKey::try_generate`] to handle that case.
    pub fn generate() -> SecretKey {
        random::or_panic(SecretKey::try_generate())
    }

    /// Generates a new key from the operating system's secure random source, reporting a
    /// failure of that source as an error.
    pub fn try_generate() -> Result<SecretKey, RandomnessError> {
        loop {
            // Rejection sampling: all but ~2^-128 of 32-byte strings are valid keys.
            let bytes = random::os_random_bytes::<32>()?;
            if let Ok(secret) = secp256k1::SecretKey::from_secret_bytes(bytes) {
                return Ok(SecretKey::from_inner(secret));
            }
        }
    }

    /// Parses 32 bytes of hex (64 hex chars, optional `0x`/`0X`, any case): a scalar in
    /// `1..n`.
    pub fn from_hex(s: &str) -> Result<SecretKey, KeyError> {
        let bytes = hexutil::decode(s, &[32]).map_err(|problem| match problem {
            HexProblem::NotHex => KeyError::SecretKeyNotHex,
            HexProblem::Length(n) => KeyError::SecretKeyLength(n),
        })?;
        let bytes = <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| KeyError::SecretKeyLength(bytes.len() * 2))?;
        secp256k1::SecretKey::from_secret_bytes(bytes)
            .map(SecretKey::from_inner)
            .map_err(|_| KeyError::SecretKeyOutOfRange)
    }

    /// The secret as 64 lower-case hex chars, no prefix. Handle with care.
    pub fn to_hex(&self) -> String {
        crate::hexutil::encode(&self.secret.to_secret_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Signs `message` (its UTF-8 bytes) like Ethereum's `personal_sign` / eth-account's
    /// `sign_message(encode_defunct(text=message))`: ECDSA over [`crate::personal_sign_digest`]
    /// with an RFC 6979 deterministic nonce, always low-S.
    ///
    /// The signature has a recovery id; as text ([`Signature::to_hex`]) it is `0x`
    /// followed by 130 lower-case hex chars: 65 bytes `r‖s‖v` with `v = 27 + recovery id`.
    pub fn sign_personal(&self, message: &str) -> Signature {
        signature::sign_personal(&self.secret, message.as_bytes())
    }

    fn from_inner(secret: secp256k1::SecretKey) -> SecretKey {
        let public = PublicKey(secp256k1::PublicKey::from_secret_key(&secret));
        SecretKey { secret, public }
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("public_key", &self.public)
            .finish_non_exhaustive()
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub use keyfile::KeyFileError;

#[cfg(not(target_arch = "wasm32"))]
mod keyfile {
    use std::fs::{self, File, OpenOptions};
    use std::io::{self, Read, Write};
    use std::path::{Path, PathBuf};

    use super::{KeyError, SecretKey};

    /// Makes a new directory entry in `path`'s parent durable (best effort: not every
    /// platform can sync a directory).
    fn sync_parent(path: &Path) {
        if let Some(parent) = path.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            if let Ok(dir) = File::open(parent) {
                let _ = dir.sync_all();
            }
        }
    }

    /// Key files are one line of hex; anything much longer is not a key file.
    const MAX_KEY_FILE_LEN: u64 = 1024;

    /// Why a key file could not be saved or loaded.
    ///
    /// The `Display` texts name the file and the reason.
    #[derive(Debug, thiserror::Error)]
    pub enum KeyFileError {
        /// Loading: the file does not exist.
        #[error("key file {} does not exist", path.display())]
        Missing {
            /// The key file.
            path: PathBuf,
        },
        /// Saving: the file already exists; key files are never overwritten.
        #[error("key file {} already exists; refusing to overwrite it", path.display())]
        AlreadyExists {
            /// The key file.
            path: PathBuf,
        },
        /// Loading: the file exists but could not be read.
        #[error("cannot read key file {}: {error}", path.display())]
        Read {
            /// The key file.
            path: PathBuf,
            /// The I/O error.
            error: io::Error,
        },
        /// Saving: the file could not be created or written.
        #[error("cannot write key file {}: {error}", path.display())]
        Write {
            /// The key file.
            path: PathBuf,
            /// The I/O error.
            error: io::Error,
        },
        /// Loading: the file is far larger than a key file.
        #[error("key file {} is too large to be a key file", path.display())]
        TooLarge {
            /// The key file.
            path: PathBuf,
        },
        /// Loading: the content is not a valid secret key (not hex, wrong length, or not a
        /// valid scalar).
        #[error("key file {} does not hold a valid secret key: {error}", path.display())]
        Invalid {
            /// The key file.
            path: PathBuf,
            /// What is wrong with the content.
            error: KeyError,
        },
    }

    impl SecretKey {
        /// Writes the key to a new file at `path`: 64 lower-case hex chars and a newline.
        ///
        /// On unix the file is created with mode 0600 (further restricted by the umask), so
        /// it is never readable by others, not even briefly. An existing file is never
        /// overwritten ([`KeyFileError::AlreadyExists`]); the parent directory must exist.
        /// The key is written and synced to a temporary file beside `path` that is then
        /// linked into place, so a crash never leaves a truncated key at `path`.
        ///
        /// Not available on wasm.
        pub fn save_to_file(&self, path: impl AsRef<Path>) -> Result<(), KeyFileError> {
            let path = path.as_ref();
            let write_error = |error| KeyFileError::Write {
                path: path.to_owned(),
                error,
            };
            if path.exists() {
                return Err(KeyFileError::AlreadyExists {
                    path: path.to_owned(),
                });
            }
            let mut temp_name = path.as_os_str().to_owned();
            temp_name.push(format!(".{}.tmp", std::process::id()));
            let temp = PathBuf::from(temp_name);
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options.open(&temp).map_err(write_error)?;
            let content = format!("{}\n", self.to_hex());
            let linked = file
                .write_all(content.as_bytes())
                .and_then(|()| file.sync_all())
                .and_then(|()| fs::hard_link(&temp, path));
            drop(file);
            // The temporary name goes either way; `path` now holds the whole key or nothing.
            let _ = fs::remove_file(&temp);
            match linked {
                Ok(()) => {
                    sync_parent(path);
                    Ok(())
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    Err(KeyFileError::AlreadyExists {
                        path: path.to_owned(),
                    })
                }
                Err(error) => Err(write_error(error)),
            }
        }

        /// Reads a key written by [`SecretKey::save_to_file`]: hex of a 32-byte secret key
        /// (optional `0x`), surrounding whitespace such as the trailing newline ignored.
        ///
        /// Not available on wasm.
        pub fn load_from_file(path: impl AsRef<Path>) -> Result<SecretKey, KeyFileError> {
            let path = path.as_ref();
            let read_error = |error: io::Error| {
                if error.kind() == io::ErrorKind::NotFound {
                    KeyFileError::Missing {
                        path: path.to_owned(),
                    }
                } else {
                    KeyFileError::Read {
                        path: path.to_owned(),
                        error,
                    }
                }
            };
            let file = File::open(path).map_err(read_error)?;
            let mut content = Vec::new();
            file.take(MAX_KEY_FILE_LEN + 1)
                .read_to_end(&mut content)
                .map_err(read_error)?;
            if content.len() as u64 > MAX_KEY_FILE_LEN {
                return Err(KeyFileError::TooLarge {
                    path: path.to_owned(),
                });
            }
            let invalid = |error: KeyError| KeyFileError::Invalid {
                path: path.to_owned(),
                error,
            };
            let text =
                std::str::from_utf8(&content).map_err(|_| invalid(KeyError::SecretKeyNotHex))?;
            SecretKey::from_hex(text.trim()).map_err(invalid)
        }
    }
}
