//! Ethereum `personal_sign` (EIP-191 version `0x45`) signatures over secp256k1.

use std::fmt;
use std::str::FromStr;

use secp256k1::Message;
use secp256k1::constants::CURVE_ORDER;
use secp256k1::ecdsa::{self, RecoverableSignature, RecoveryId};
use sha3::{Digest, Keccak256};

use crate::hexutil::{self, HexProblem};
use crate::keys::PublicKey;

/// `n / 2` (rounded down), big-endian: the largest `s` of a low-S signature.
const HALF_CURVE_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// The EIP-191 `personal_sign` digest of `message`:
/// `keccak256("\x19Ethereum Signed Message:\n" + decimal byte length of message + message)`.
pub fn personal_sign_digest(message: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(b"\x19Ethereum Signed Message:\n");
    hasher.update(message.len().to_string().as_bytes());
    hasher.update(message);
    hasher.finalize().into()
}

/// Why a signature's encoding was rejected (before any cryptographic check).
///
/// The `Display` texts are shown to users and kept stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Characters other than hex digits (after an optional `0x`).
    #[error("signature is not valid hex")]
    NotHex,
    /// Hex of the wrong length; carries the number of hex digits found.
    #[error(
        "signature must be 65 bytes r||s||v (130 hex characters) or 64 bytes r||s \
         (128 hex characters), got {0} hex characters"
    )]
    Length(usize),
    /// The 65th byte `v` is not 0, 1, 27 or 28.
    #[error("signature recovery id v must be 0, 1, 27 or 28, got {0}")]
    RecoveryId(u8),
    /// `r` is zero or not below the curve order `n`.
    #[error("signature r value is out of range (zero, or not below the secp256k1 group order)")]
    ROutOfRange,
    /// `s` is zero or not below the curve order `n`.
    #[error("signature s value is out of range (zero, or not below the secp256k1 group order)")]
    SOutOfRange,
    /// `s > n/2`: a malleable high-S signature. Its low-S twin (`n - s`, `v` flipped) is the
    /// one to send.
    #[error("signature has a high s value (s > n/2); only canonical low-s signatures are accepted")]
    HighS,
}

/// Why [`verify_personal`] rejected a signature.
///
/// The `Display` texts are shown to users and kept stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The signature's encoding is malformed (from [`Signature::from_hex`]); lets callers use
    /// `?` on parsing and verification alike.
    #[error(transparent)]
    Malformed(#[from] SignatureError),
    /// `r‖s` is not a signature of this message by this key.
    #[error("signature is not valid for this message and public key")]
    InvalidSignature,
    /// `r‖s` is valid for the key, but the recovery id `v` recovers a different key.
    #[error("signature recovery id v does not match the public key (it recovers a different key)")]
    KeyMismatch,
}

/// A parsed, well-formed ECDSA signature: `r‖s` (with `r`, `s` in range and `s` low) and, if
/// it was given, the recovery id.
///
/// Parsed from hex with [`Signature::from_hex`]; written by [`Signature::to_hex`], `Display`
/// and serde as `0x`-prefixed lower-case hex (65 bytes with `v = 27 + recovery id`, or 64
/// bytes if there is none).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature {
    r: [u8; 32],
    s: [u8; 32],
    /// 0 or 1 (for parsed signatures); `None` for a 64-byte signature.
    recovery_id: Option<u8>,
}

impl Signature {
    /// Parses hex (optional `0x`/`0X`, any case) of 65 bytes `r‖s‖v` with `v` ∈ {0, 1, 27, 28}
    /// or 64 bytes `r‖s`. Rejects `r` or `s` equal to zero or not below the group order `n`,
    /// and high-S signatures (`s > n/2`) with [`SignatureError::HighS`].
    pub fn from_hex(text: &str) -> Result<Signature, SignatureError> {
        let bytes = hexutil::decode(text, &[64, 65]).map_err(|problem| match problem {
            HexProblem::NotHex => SignatureError::NotHex,
            HexProblem::Length(n) => SignatureError::Length(n),
        })?;
        let (mut r, mut s) = ([0u8; 32], [0u8; 32]);
        r.copy_from_slice(&bytes[..32]);
        s.copy_from_slice(&bytes[32..64]);
        let recovery_id = match bytes.get(64).copied() {
            None => None,
            Some(v @ (0 | 1)) => Some(v),
            Some(v @ (27 | 28)) => Some(v - 27),
            Some(v) => return Err(SignatureError::RecoveryId(v)),
        };
        if !in_range(&r) {
            return Err(SignatureError::ROutOfRange);
        }
        if !in_range(&s) {
            return Err(SignatureError::SOutOfRange);
        }
        if s > HALF_CURVE_ORDER {
            return Err(SignatureError::HighS);
        }
        Ok(Signature { r, s, recovery_id })
    }

    /// `0x` and lower-case hex: 65 bytes `r‖s‖v` with `v = 27 + recovery id`, or 64 bytes
    /// `r‖s` for a signature without recovery id.
    pub fn to_hex(&self) -> String {
        let mut bytes = self.to_rs_bytes().to_vec();
        if let Some(recovery_id) = self.recovery_id {
            bytes.push(27 + recovery_id);
        }
        format!("0x{}", hex::encode(bytes))
    }

    /// The recovery id (0 or 1; `v` minus 27 for `v` ∈ {27, 28}), if the signature had one.
    pub fn recovery_id(&self) -> Option<u8> {
        self.recovery_id
    }

    /// The 64 bytes `r‖s`.
    pub fn to_rs_bytes(&self) -> [u8; 64] {
        let mut rs = [0u8; 64];
        rs[..32].copy_from_slice(&self.r);
        rs[32..].copy_from_slice(&self.s);
        rs
    }
}

/// `0 < x < n` for a big-endian scalar.
fn in_range(x: &[u8; 32]) -> bool {
    *x != [0; 32] && *x < CURVE_ORDER
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

impl FromStr for Signature {
    type Err = SignatureError;

    fn from_str(s: &str) -> Result<Signature, SignatureError> {
        Signature::from_hex(s)
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Signature, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Signature::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Signs the `personal_sign` digest of `message`: RFC 6979 deterministic nonce, low-S (as
/// libsecp256k1 always produces), with recovery id.
///
/// The recovery id is 0 or 1 except with probability about 2^-127 (when `R.x >= n`), which
/// Ethereum cannot express either.
pub(crate) fn sign_personal(secret: &secp256k1::SecretKey, message: &[u8]) -> Signature {
    let digest = Message::from_digest(personal_sign_digest(message));
    let signature = RecoverableSignature::sign_ecdsa_recoverable(digest, secret);
    let (recovery_id, rs) = signature.serialize_compact();
    let (mut r, mut s) = ([0u8; 32], [0u8; 32]);
    r.copy_from_slice(&rs[..32]);
    s.copy_from_slice(&rs[32..]);
    Signature {
        r,
        s,
        recovery_id: Some(recovery_id.to_u8()),
    }
}

/// Verifies that `signature` is a `personal_sign` signature of `message` (its UTF-8 bytes) by
/// `public_key`.
///
/// `r‖s` is verified against `public_key` ([`VerifyError::InvalidSignature`] if not valid:
/// wrong key, wrong message, or a forged signature). If the signature has a recovery id `v`,
/// the key recovered with it must also be `public_key` ([`VerifyError::KeyMismatch`]
/// otherwise), so a signature with a wrong `v` is rejected just as Ethereum tooling would
/// reject it.
pub fn verify_personal(
    public_key: &PublicKey,
    message: &str,
    signature: &Signature,
) -> Result<(), VerifyError> {
    let digest = Message::from_digest(personal_sign_digest(message.as_bytes()));
    let rs = signature.to_rs_bytes();
    let standard =
        ecdsa::Signature::from_compact(&rs).map_err(|_| VerifyError::InvalidSignature)?;
    ecdsa::verify(&standard, digest, public_key.inner())
        .map_err(|_| VerifyError::InvalidSignature)?;
    if let Some(recovery_id) = signature.recovery_id {
        let recovery_id = RecoveryId::from_u8_masked(recovery_id);
        let recovered = RecoverableSignature::from_compact(&rs, recovery_id)
            .and_then(|recoverable| recoverable.recover(digest))
            .map_err(|_| VerifyError::KeyMismatch)?;
        if recovered != *public_key.inner() {
            return Err(VerifyError::KeyMismatch);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `HALF_CURVE_ORDER` really is floor(n / 2): 2 * half + 1 == n.
    #[test]
    fn half_order_is_half_of_the_curve_order() {
        let mut doubled = [0u8; 32];
        let mut carry = 1u16; // the "+ 1"
        for i in (0..32).rev() {
            let sum = u16::from(HALF_CURVE_ORDER[i]) * 2 + carry;
            doubled[i] = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert_eq!(doubled, CURVE_ORDER);
    }

    #[test]
    fn range_checks() {
        assert!(!in_range(&[0; 32]));
        let mut one = [0u8; 32];
        one[31] = 1;
        assert!(in_range(&one));
        assert!(!in_range(&CURVE_ORDER));
        assert!(!in_range(&[0xff; 32]));
        let mut below = CURVE_ORDER;
        below[31] -= 1;
        assert!(in_range(&below));
    }
}
