//! Request params: decoding them in the form the spec allows.

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The spec's `paramStructure` of a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamStructure {
    ByName,
    ByPosition,
    Either,
}

impl ParamStructure {
    fn accepts(self, first: u8) -> bool {
        matches!(
            (self, first),
            (Self::ByName | Self::Either, b'{') | (Self::ByPosition | Self::Either, b'[')
        )
    }

    fn expected(self) -> &'static str {
        match self {
            Self::ByName => "an object (params by name)",
            Self::ByPosition => "an array (params by position)",
            Self::Either => "an object or an array",
        }
    }
}

/// Decodes the `params` member of a request to `method` (`None` when absent),
/// in the form `structure` allows. The error is the reason, for an
/// invalid-params answer.
pub fn decode_params<T: DeserializeOwned>(
    method: &str,
    structure: ParamStructure,
    params: Option<&str>,
) -> Result<T, String> {
    let empty = if structure == ParamStructure::ByPosition {
        "[]"
    } else {
        "{}"
    };
    let text = params.unwrap_or(empty);
    match text.trim_start().as_bytes().first() {
        Some(&first) if structure.accepts(first) => {
            serde_json::from_str(text).map_err(|error| error.to_string())
        }
        _ => Err(format!(
            "params of `{method}` must be {}",
            structure.expected()
        )),
    }
}

/// The params of a method that takes none: absent, `[]` or `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoParams;

impl<'de> serde::Deserialize<'de> for NoParams {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Empty;
        impl<'de> Visitor<'de> for Empty {
            type Value = NoParams;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("no params: this method takes none")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoParams, A::Error> {
                match seq.next_element::<IgnoredAny>()? {
                    None => Ok(NoParams),
                    Some(_) => Err(de::Error::custom("this method takes no params")),
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoParams, A::Error> {
                match map.next_key::<IgnoredAny>()? {
                    None => Ok(NoParams),
                    Some(_) => Err(de::Error::custom("this method takes no params")),
                }
            }
        }
        deserializer.deserialize_any(Empty)
    }
}

/// Params sent by position: the values in declaration order, and how many of
/// them are required (trailing absent optional ones are left out, not sent as
/// null). The generator implements it for methods whose params go by position.
pub trait Positional {
    /// How many leading params are required.
    const REQUIRED: usize;

    /// Every param's value, in declaration order.
    fn values(&self) -> Result<Vec<serde_json::Value>, serde_json::Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        a: u32,
        b: Option<String>,
    }

    #[test]
    fn structure_decides_the_accepted_form() {
        let by_name = decode_params::<Pair>("m", ParamStructure::ByName, Some(r#"{"a": 1}"#));
        assert_eq!(by_name, Ok(Pair { a: 1, b: None }));
        let refused = decode_params::<Pair>("m", ParamStructure::ByName, Some("[1]"));
        assert_eq!(
            refused,
            Err("params of `m` must be an object (params by name)".to_string())
        );
        let by_position = decode_params::<Pair>("m", ParamStructure::Either, Some(r#"[1, "x"]"#));
        assert_eq!(
            by_position,
            Ok(Pair {
                a: 1,
                b: Some("x".into())
            })
        );
        let unknown = decode_params::<Pair>("m", ParamStructure::Either, Some(r#"{"a":1,"c":2}"#));
        assert!(unknown.is_err_and(|e| e.contains("unknown field `c`")));
    }

    #[test]
    fn no_params_accepts_only_nothing() {
        for ok in [None, Some("[]"), Some("{}"), Some(" [ ] ")] {
            assert_eq!(
                decode_params::<NoParams>("m", ParamStructure::Either, ok),
                Ok(NoParams),
                "{ok:?}"
            );
        }
        for refused in [Some("[1]"), Some(r#"{"a":1}"#), Some("3"), Some("null")] {
            assert!(
                decode_params::<NoParams>("m", ParamStructure::Either, refused).is_err(),
                "{refused:?}"
            );
        }
    }
}
