//! Which keys a write may use: their length, and the segments that reserve a key for one
//! caller (see the [crate documentation](crate#reserved-keys)).

use crate::{MAX_KEY_BYTES, StoreError};

pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::KeyInvalid("the key is empty".to_owned()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::KeyInvalid(format!(
            "the key is {} bytes, the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

/// Refuses a write of `key` by `author` when one of the key's `/`-separated segments starts
/// with `@` and names anyone else: `guestbook/@02ab…` can only be written by `02ab…`. An
/// anonymous caller (`""`) can write no reserved key: every anonymous caller is the same
/// author, so such a key would protect nothing.
pub(crate) fn check_reserved(key: &str, author: &str) -> Result<(), StoreError> {
    for segment in key.split('/') {
        if let Some(owner) = segment.strip_prefix('@')
            && (author.is_empty() || owner != author)
        {
            return Err(StoreError::Reserved {
                key: key.to_owned(),
                owner: owner.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_at_segment_reserves_the_key_for_the_caller_it_names() {
        let me = "02ab";
        for key in [
            "@02ab",
            "@02ab/x",
            "guestbook/@02ab",
            "notes/@02ab/3",
            "a@b",
            "x/y@z",
        ] {
            assert!(check_reserved(key, me).is_ok(), "{key}");
        }
        for key in [
            "@02abc",
            "@02a",
            "@02AB/x",
            "guestbook/@03cd",
            "notes/@02ab/@03cd",
            "@",
            "x/@/y",
        ] {
            let err = check_reserved(key, me).expect_err(key);
            assert!(matches!(err, StoreError::Reserved { .. }), "{key}: {err}");
        }
        assert!(check_reserved("plain/key", "").is_ok());
        for key in ["@", "@/x", "x/@02ab"] {
            assert!(check_reserved(key, "").is_err(), "anonymous: {key}");
        }
    }
}
