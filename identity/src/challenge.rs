//! The sign-in challenge message of `fetch_nonce` (wire contract v1).

use std::fmt;

use crate::keys::{KeyError, PublicKey};

/// The first line of every challenge message.
pub const CHALLENGE_HEADER: &str = "circles wants you to sign in";

const CIRCLE_PREFIX: &str = "circle: ";
const CIRCLE_KEY_PREFIX: &str = "circle-key: ";
const PUBLIC_KEY_PREFIX: &str = "public-key: ";
const NONCE_PREFIX: &str = "nonce: ";
const EXPIRES_AT_PREFIX: &str = "expires-at: ";

/// The text a caller signs to authenticate, as returned by `fetch_nonce`:
///
/// ```text
/// circles wants you to sign in
/// circle: <circle id>
/// circle-key: <the circle's public key, compressed hex>
/// public-key: <the caller's public key, compressed hex>
/// nonce: <nonce>
/// expires-at: <expires_at>
/// ```
///
/// Lines are joined by `\n`, with no trailing newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeMessage {
    /// The circle's id (`[a-z0-9-]+`).
    pub circle_id: String,
    /// The circle's public key.
    pub circle_key: PublicKey,
    /// The caller's public key: the key that must sign.
    pub caller_key: PublicKey,
    /// The nonce: 64 lower-case hex characters (see [`crate::new_nonce`]).
    pub nonce: String,
    /// Unix time in seconds after which the challenge is no longer accepted.
    pub expires_at: u64,
}

/// Why a text is not a well-formed challenge message.
///
/// The `Display` texts are shown to users and kept stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeParseError {
    /// Not exactly six `\n`-separated lines (a trailing newline counts as an extra line).
    #[error("challenge message must have exactly 6 lines, found {0}")]
    LineCount(usize),
    /// The first line is not [`CHALLENGE_HEADER`].
    #[error("challenge message must start with the line \"circles wants you to sign in\"")]
    Header,
    /// Line `line` (1-based) does not start with the expected `"<field>: "`.
    #[error("challenge message line {line} must start with \"{expected}\"")]
    Field {
        /// 1-based line number.
        line: usize,
        /// The expected beginning of the line, e.g. `"nonce: "`.
        expected: &'static str,
    },
    /// The circle id is empty or has characters other than `a-z`, `0-9` and `-`.
    #[error("challenge message has an invalid circle id (expected [a-z0-9-]+)")]
    CircleId,
    /// The circle key is not a valid public key.
    #[error("challenge message has an invalid circle key: {0}")]
    CircleKey(KeyError),
    /// The caller's public key is not a valid public key.
    #[error("challenge message has an invalid public key: {0}")]
    CallerKey(KeyError),
    /// The nonce is not 64 lower-case hex characters.
    #[error("challenge message has an invalid nonce (expected 64 lower-case hex characters)")]
    Nonce,
    /// The expiry is not a decimal unix time in seconds.
    #[error("challenge message has an invalid expires-at (expected unix time in seconds)")]
    ExpiresAt,
    /// The fields are valid but not written exactly as a server renders them (for example a
    /// key in upper case, uncompressed or with `0x`, or an expiry with leading zeros).
    #[error("challenge message is not in canonical form")]
    NotCanonical,
}

impl ChallengeMessage {
    /// The exact text to sign: the six lines joined by `\n`, no trailing newline. Keys are
    /// written as lower-case compressed hex.
    pub fn render(&self) -> String {
        [
            CHALLENGE_HEADER.to_owned(),
            format!("{CIRCLE_PREFIX}{}", self.circle_id),
            format!("{CIRCLE_KEY_PREFIX}{}", self.circle_key),
            format!("{PUBLIC_KEY_PREFIX}{}", self.caller_key),
            format!("{NONCE_PREFIX}{}", self.nonce),
            format!("{EXPIRES_AT_PREFIX}{}", self.expires_at),
        ]
        .join("\n")
    }

    /// Parses a challenge message, strictly: it must be exactly what [`ChallengeMessage::render`]
    /// produces for valid fields (circle id `[a-z0-9-]+`, valid keys in canonical form, a
    /// 64-hex-char lower-case nonce, a decimal expiry). Clients use this to check the circle
    /// key, their own key and the expiry before signing.
    pub fn parse(text: &str) -> Result<ChallengeMessage, ChallengeParseError> {
        let lines: Vec<&str> = text.split('\n').collect();
        let [header, circle, circle_key, caller_key, nonce, expires_at] = lines[..] else {
            return Err(ChallengeParseError::LineCount(lines.len()));
        };
        if header != CHALLENGE_HEADER {
            return Err(ChallengeParseError::Header);
        }
        let circle_id = field(circle, 2, CIRCLE_PREFIX)?;
        let circle_key = field(circle_key, 3, CIRCLE_KEY_PREFIX)?;
        let caller_key = field(caller_key, 4, PUBLIC_KEY_PREFIX)?;
        let nonce = field(nonce, 5, NONCE_PREFIX)?;
        let expires_at = field(expires_at, 6, EXPIRES_AT_PREFIX)?;

        if circle_id.is_empty()
            || !circle_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ChallengeParseError::CircleId);
        }
        let circle_key = PublicKey::from_hex(circle_key).map_err(ChallengeParseError::CircleKey)?;
        let caller_key = PublicKey::from_hex(caller_key).map_err(ChallengeParseError::CallerKey)?;
        if nonce.len() != 64
            || !nonce
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(ChallengeParseError::Nonce);
        }
        if expires_at.is_empty() || !expires_at.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ChallengeParseError::ExpiresAt);
        }
        let expires_at = expires_at
            .parse::<u64>()
            .map_err(|_| ChallengeParseError::ExpiresAt)?;

        let message = ChallengeMessage {
            circle_id: circle_id.to_owned(),
            circle_key,
            caller_key,
            nonce: nonce.to_owned(),
            expires_at,
        };
        if message.render() != text {
            return Err(ChallengeParseError::NotCanonical);
        }
        Ok(message)
    }
}

/// The value of a `"<name>: <value>"` line.
fn field<'a>(
    line: &'a str,
    number: usize,
    prefix: &'static str,
) -> Result<&'a str, ChallengeParseError> {
    line.strip_prefix(prefix).ok_or(ChallengeParseError::Field {
        line: number,
        expected: prefix,
    })
}

impl fmt::Display for ChallengeMessage {
    /// The same text as [`ChallengeMessage::render`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}
