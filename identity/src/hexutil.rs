//! Strict hex decoding shared by keys and signatures.

/// Why a hex string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HexProblem {
    /// A character other than `0-9a-fA-F` (after the optional `0x` prefix).
    NotHex,
    /// Well-formed hex, but not one of the allowed lengths; carries the number of hex digits.
    Length(usize),
}

/// `bytes` as lower-case hex. (`hex::encode` builds the text a `char` at a time; a public key
/// is turned into hex for every call a signed-in caller makes.)
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    // The buffer is exactly twice as long as the input, which is all `encode_to_slice` needs.
    if hex::encode_to_slice(bytes, &mut out).is_err() {
        return hex::encode(bytes);
    }
    String::from_utf8(out).unwrap_or_else(|_| hex::encode(bytes))
}

/// Removes one optional `0x` or `0X` prefix.
pub(crate) fn strip_0x(s: &str) -> &str {
    s.strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s)
}

/// Decodes `s` (optional `0x`/`0X` prefix, upper or lower case, nothing else: no whitespace)
/// into bytes, requiring the byte length to be one of `allowed_lengths`.
pub(crate) fn decode(s: &str, allowed_lengths: &[usize]) -> Result<Vec<u8>, HexProblem> {
    let digits = strip_0x(s);
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HexProblem::NotHex);
    }
    if !digits.len().is_multiple_of(2) || !allowed_lengths.contains(&(digits.len() / 2)) {
        return Err(HexProblem::Length(digits.len()));
    }
    hex::decode(digits).map_err(|_| HexProblem::NotHex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_with_and_without_prefix_in_any_case() {
        assert_eq!(decode("0xAbCd", &[2]), Ok(vec![0xab, 0xcd]));
        assert_eq!(decode("0XABCD", &[2]), Ok(vec![0xab, 0xcd]));
        assert_eq!(decode("abcd", &[2]), Ok(vec![0xab, 0xcd]));
    }

    #[test]
    fn rejects_bad_characters_before_length() {
        assert_eq!(decode("0x0x", &[1]), Err(HexProblem::NotHex));
        assert_eq!(decode(" ab", &[1]), Err(HexProblem::NotHex));
        assert_eq!(decode("ab\n", &[1]), Err(HexProblem::NotHex));
        assert_eq!(decode("zz", &[1]), Err(HexProblem::NotHex));
        assert_eq!(decode("é", &[1]), Err(HexProblem::NotHex));
    }

    #[test]
    fn rejects_odd_and_unexpected_lengths() {
        assert_eq!(decode("abc", &[1, 2]), Err(HexProblem::Length(3)));
        assert_eq!(decode("0x", &[1]), Err(HexProblem::Length(0)));
        assert_eq!(decode("abcdef", &[1, 2]), Err(HexProblem::Length(6)));
    }
}
