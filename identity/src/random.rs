//! The one place that draws randomness: the operating system's secure random source.
//!
//! Everything random in this crate (secret keys, nonces) comes from [`os_random_bytes`], which
//! uses `rand::rngs::OsRng`, i.e. getrandom. On `wasm32-unknown-unknown` getrandom's `wasm_js`
//! backend (enabled in `Cargo.toml`) uses the browser's `crypto.getRandomValues`. To use another
//! source, change only this function.

use rand::TryRngCore;

/// The operating system's secure random source failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's secure random number generator failed: {0}")]
pub struct RandomnessError(String);

/// `N` bytes from the OS's secure random source.
pub(crate) fn os_random_bytes<const N: usize>() -> Result<[u8; N], RandomnessError> {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|error| RandomnessError(error.to_string()))?;
    Ok(bytes)
}

/// For the infallible convenience constructors: the OS random source failing is as fatal here
/// as it is for `rand::rng()`.
pub(crate) fn or_panic<T>(result: Result<T, RandomnessError>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}

/// A fresh challenge nonce: 32 bytes from the OS's secure random source as 64 lower-case hex
/// characters (see `fetch_nonce` in the wire contract).
///
/// # Panics
///
/// If the OS random source fails; use [`try_new_nonce`] to handle that case.
pub fn new_nonce() -> String {
    or_panic(try_new_nonce())
}

/// Like [`new_nonce`], but reports a failure of the OS random source as an error.
pub fn try_new_nonce() -> Result<String, RandomnessError> {
    Ok(hex::encode(os_random_bytes::<32>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_64_lower_case_hex() {
        let nonce = new_nonce();
        assert_eq!(nonce.len(), 64);
        assert!(
            nonce
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{nonce}"
        );
    }

    #[test]
    fn nonces_differ() {
        let nonces: std::collections::HashSet<String> = (0..64).map(|_| new_nonce()).collect();
        assert_eq!(nonces.len(), 64);
    }

    #[test]
    fn random_bytes_are_not_constant() {
        let a = os_random_bytes::<32>().unwrap();
        let b = os_random_bytes::<32>().unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
    }
}
