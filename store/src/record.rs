//! How an entry is kept: a small header, the author and the value's JSON text (see the
//! [crate documentation](crate#encoding)).

use serde_json::Value;

use crate::{Entry, StoreError};

pub(crate) const FORMAT_VERSION: u8 = 1;
/// Version, `written_at` and the author's length.
pub(crate) const HEADER_BYTES: usize = 1 + 8 + 2;

/// What an entry counts against quotas and listing budgets: the key and the record the store
/// keeps under it.
pub(crate) fn entry_bytes(key: &str, record_len: usize) -> u64 {
    u64::try_from(key.len().saturating_add(record_len)).unwrap_or(u64::MAX)
}

pub(crate) fn encode(written_at: u64, author: &str, json: &[u8]) -> Vec<u8> {
    // `author.len() <= MAX_AUTHOR_BYTES < u16::MAX`, checked by the caller.
    let author_len = u16::try_from(author.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(HEADER_BYTES + author.len() + json.len());
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&written_at.to_be_bytes());
    out.extend_from_slice(&author_len.to_be_bytes());
    out.extend_from_slice(&author.as_bytes()[..usize::from(author_len)]);
    out.extend_from_slice(json);
    out
}

/// The parts of a record: `(written_at, author, json)`, without parsing the JSON.
fn split<'a>(key: &str, bytes: &'a [u8]) -> Result<(u64, &'a str, &'a [u8]), StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: key.to_owned(),
        reason,
    };
    let (header, rest) = bytes
        .split_first_chunk::<HEADER_BYTES>()
        .ok_or_else(|| corrupt(format!("only {} bytes", bytes.len())))?;
    let [version, t0, t1, t2, t3, t4, t5, t6, t7, a0, a1] = *header;
    if version != FORMAT_VERSION {
        return Err(corrupt(format!("unknown format version {version}")));
    }
    let written_at = u64::from_be_bytes([t0, t1, t2, t3, t4, t5, t6, t7]);
    let author_len = usize::from(u16::from_be_bytes([a0, a1]));
    if rest.len() < author_len {
        return Err(corrupt("truncated author".to_owned()));
    }
    let (author, json) = rest.split_at(author_len);
    let author =
        std::str::from_utf8(author).map_err(|e| corrupt(format!("author is not UTF-8: {e}")))?;
    Ok((written_at, author, json))
}

/// The author of a record, without parsing its value.
pub(crate) fn author_of<'a>(key: &str, bytes: &'a [u8]) -> Result<&'a str, StoreError> {
    split(key, bytes).map(|(_, author, _)| author)
}

pub(crate) fn decode(key: &str, bytes: &[u8]) -> Result<Entry, StoreError> {
    let (written_at, author, json) = split(key, bytes)?;
    let value: Value = serde_json::from_slice(json).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: format!("value is not JSON: {e}"),
    })?;
    Ok(Entry {
        key: key.to_owned(),
        value,
        author: author.to_owned(),
        written_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let bytes = encode(1_700_000_000_123, "02ab", br#"{"a":[1,2.5,null]}"#);
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(bytes.len(), HEADER_BYTES + 4 + 18);
        let entry = decode("k", &bytes).expect("decode");
        assert_eq!(
            entry,
            Entry {
                key: "k".into(),
                value: json!({"a": [1, 2.5, null]}),
                author: "02ab".into(),
                written_at: 1_700_000_000_123,
            }
        );
        assert_eq!(author_of("k", &bytes).expect("author"), "02ab");
        assert_eq!(entry.stored_bytes(), entry_bytes("k", bytes.len()));
        for bad in [
            &b""[..],
            &bytes[..5],
            &bytes[..HEADER_BYTES + 2],
            &bytes[..bytes.len() - 1],
        ] {
            assert!(
                matches!(decode("k", bad), Err(StoreError::Corrupt { .. })),
                "{bad:?}"
            );
        }
        let mut other_version = bytes.clone();
        other_version[0] = 9;
        let err = decode("k", &other_version).expect_err("version");
        assert!(err.to_string().contains("format version 9"), "{err}");
    }
}
