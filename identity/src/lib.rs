//! secp256k1 identities for circles.
//!
//! This crate has one job: keys, the sign-in challenge message and Ethereum `personal_sign`
//! (EIP-191) signatures, exactly as the wire contract (`protocol.md`, "Keys and signatures"
//! and `fetch_nonce`) specifies them, so that any Ethereum wallet or library (eth-account,
//! ethers, viem) can authenticate to a circle.
//!
//! - [`PublicKey`]: SEC1 hex in (33 or 65 bytes, optional `0x`, any case), lower-case
//!   compressed hex out.
//! - [`SecretKey`]: generation, hex, [`SecretKey::sign_personal`], and (not on wasm) key files
//!   with mode 0600.
//! - [`personal_sign_digest`], [`Signature`] (65-byte `r‖s‖v` or 64-byte `r‖s`, low-S only) and
//!   [`verify_personal`].
//! - [`ChallengeMessage`]: the six-line text a caller signs, with [`ChallengeMessage::render`]
//!   and [`ChallengeMessage::parse`].
//! - [`new_nonce`]: 32 bytes from the OS's secure random source as 64 lower-case hex chars.
//!
//! The crate is runtime-agnostic (no async, no threads) and compiles for
//! `wasm32-unknown-unknown`; all randomness comes from one function in `random.rs`.
//!
//! Every error type's `Display` text is meant to be shown to users (for example in the `data`
//! of a JSON-RPC error) and is kept stable.
//!
//! ```
//! use circles_identity::{SecretKey, Signature, verify_personal};
//!
//! let key = SecretKey::generate();
//! let signature = key.sign_personal("hello");
//! assert_eq!(Signature::from_hex(&signature.to_hex()), Ok(signature));
//! assert!(verify_personal(&key.public_key(), "hello", &signature).is_ok());
//! assert!(verify_personal(&key.public_key(), "hello!", &signature).is_err());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod challenge;
mod hexutil;
mod keys;
mod random;
mod signature;

pub use challenge::{CHALLENGE_HEADER, ChallengeMessage, ChallengeParseError};
#[cfg(not(target_arch = "wasm32"))]
pub use keys::KeyFileError;
pub use keys::{KeyError, PublicKey, SecretKey};
pub use random::{RandomnessError, new_nonce, try_new_nonce};
pub use signature::{
    Signature, SignatureError, VerifyError, personal_sign_digest, verify_personal,
};
