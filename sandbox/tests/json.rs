//! The converter between Rhai values and JSON, in both modes.

use circles_sandbox::json::{JsonLimits, JsonMode, ToJsonError, from_json, to_json};
use circles_sandbox::rhai::{Array, Dynamic, Engine};
use serde_json::{Value, json};

const BOTH: [JsonMode; 2] = [JsonMode::Strict, JsonMode::Lenient];

fn value(script: &str) -> Dynamic {
    match Engine::new().eval::<Dynamic>(script) {
        Ok(v) => v,
        Err(e) => panic!("{script}: {e}"),
    }
}

fn convert(v: &Dynamic, mode: JsonMode) -> Result<Value, ToJsonError> {
    to_json(v, mode, JsonLimits::depth_only(64))
}

/// `inner` inside arrays, `levels` JSON levels deep in all.
fn nested(inner: Dynamic, levels: usize) -> Dynamic {
    (1..levels).fold(inner, |v, _| Dynamic::from_array(vec![v]))
}

#[test]
fn json_values_convert_the_same_in_both_modes() {
    for (script, expected) in [
        ("()", json!(null)),
        ("true", json!(true)),
        ("-7", json!(-7)),
        ("2.5", json!(2.5)),
        ("2.0", json!(2.0)),
        (r#""hé""#, json!("hé")),
        (
            r#"#{a: [1, "x", ()], b: #{}, c: []}"#,
            json!({"a": [1, "x", null], "b": {}, "c": []}),
        ),
    ] {
        for mode in BOTH {
            assert_eq!(
                convert(&value(script), mode),
                Ok(expected.clone()),
                "{script} {mode:?}"
            );
        }
    }
}

#[test]
fn strict_refuses_what_lenient_renders() {
    let not_finite = |f: f64| Err(ToJsonError::NotFinite(f));
    let unsupported = |type_name| Err(ToJsonError::Unsupported { type_name });
    for (script, lenient, strict) in [
        ("1.0 / 0.0", json!(null), not_finite(f64::INFINITY)),
        ("-1.0 / 0.0", json!(null), not_finite(f64::NEG_INFINITY)),
        ("'c'", json!("c"), unsupported("char")),
        (
            "let b = blob(2, 7); b.push(255); b",
            json!([7, 7, 255]),
            unsupported("blob"),
        ),
        (r#"Fn("f")"#, json!("f"), unsupported("Fn")),
        (
            r#"Fn("f").curry(1).curry("a")"#,
            json!(["f", 1, "a"]),
            unsupported("Fn"),
        ),
        ("timestamp()", json!("timestamp"), unsupported("timestamp")),
        // Inside containers too: strict refuses the whole value.
        (
            r#"[1, #{x: 'c'}]"#,
            json!([1, {"x": "c"}]),
            unsupported("char"),
        ),
    ] {
        let v = value(script);
        assert_eq!(convert(&v, JsonMode::Lenient), Ok(lenient), "{script}");
        assert_eq!(convert(&v, JsonMode::Strict), strict, "{script}");
    }
    // A closure is a curried pointer to a generated function: its captured variables show.
    let closure = value("let y = 5; |x| x + y");
    let rendered = convert(&closure, JsonMode::Lenient).expect("closure");
    assert!(rendered[0].is_string(), "{rendered}");
    assert_eq!(rendered[1], json!(5), "{rendered}");
    assert_eq!(convert(&closure, JsonMode::Strict), unsupported("Fn"));
    // NaN is not equal to itself: checked apart.
    let nan = Dynamic::from_float(f64::NAN);
    assert_eq!(convert(&nan, JsonMode::Lenient), Ok(json!(null)));
    assert!(matches!(
        convert(&nan, JsonMode::Strict),
        Err(ToJsonError::NotFinite(f)) if f.is_nan()
    ));
}

#[test]
fn the_depth_limit_counts_json_levels_in_both_modes() {
    let limits = JsonLimits::depth_only(5);
    let too_deep = Err(ToJsonError::TooDeep { max_depth: 5 });
    let scalar = || Dynamic::from_int(1);
    let containers = [
        Dynamic::from_array(Array::new()),
        Dynamic::from_array(vec![scalar()]),
        value("#{}"),
    ];
    for mode in BOTH {
        assert!(to_json(&nested(scalar(), 1), mode, JsonLimits::depth_only(0)).is_ok());
        for inner in &containers {
            assert!(
                to_json(&nested(inner.clone(), 5), mode, limits).is_ok(),
                "{mode:?}"
            );
            assert_eq!(
                to_json(&nested(inner.clone(), 6), mode, limits),
                too_deep,
                "{mode:?}"
            );
        }
    }
    // Lenient: a BLOB and a curried function pointer are levels too (JSON arrays).
    for inner in [value("blob(1)"), value(r#"Fn("f").curry(1)"#)] {
        assert!(to_json(&nested(inner.clone(), 5), JsonMode::Lenient, limits).is_ok());
        assert_eq!(
            to_json(&nested(inner, 6), JsonMode::Lenient, limits),
            too_deep
        );
    }
    // A cycle (a closure capturing the variable that holds it) ends at the limit.
    let cyclic = value("let f = 0; f = || f; f");
    assert_eq!(to_json(&cyclic, JsonMode::Lenient, limits), too_deep);
}

#[test]
fn the_size_budget_counts_everything_in_both_modes() {
    let limits = JsonLimits {
        max_depth: 10,
        max_items: 4,
        max_string_bytes: 5,
    };
    for mode in BOTH {
        let fits =
            |script: &str| assert!(to_json(&value(script), mode, limits).is_ok(), "{script}");
        let refused = |script: &str, e: ToJsonError| {
            assert_eq!(
                to_json(&value(script), mode, limits),
                Err(e),
                "{script} {mode:?}"
            );
        };
        fits("[1, 2, 3, 4]");
        fits("[[1], [2]]");
        refused("[1, 2, 3, 4, 5]", ToJsonError::TooManyItems);
        refused("[[1, 2], [3]]", ToJsonError::TooManyItems);
        fits(r#"["ab", "cde"]"#);
        fits(r#"#{abc: "de"}"#);
        refused(r#"["ab", "cdef"]"#, ToJsonError::TooManyStringBytes);
        refused(r#"#{abcd: "ef"}"#, ToJsonError::TooManyStringBytes);
    }
    // Lenient: BLOB bytes, and a curried pointer's name and arguments, are items.
    let lenient = |script: &str| to_json(&value(script), JsonMode::Lenient, limits);
    assert!(lenient("blob(4)").is_ok());
    assert_eq!(lenient("blob(5)"), Err(ToJsonError::TooManyItems));
    assert!(lenient(r#"Fn("f").curry(1).curry(2).curry(3)"#).is_ok());
    assert_eq!(
        lenient(r#"Fn("f").curry(1).curry(2).curry(3).curry(4)"#),
        Err(ToJsonError::TooManyItems)
    );
    // Lenient's stand-ins are strings of the budget too (found by the rhai_json fuzz target:
    // an array repeating one long function name rendered names far past the budget).
    assert!(lenient(r#"[Fn("abcde")]"#).is_ok());
    assert!(lenient("#{ab: 'c', d: 'e'}").is_ok());
    let over = Err(ToJsonError::TooManyStringBytes);
    assert_eq!(lenient(r#"[Fn("abcdef")]"#), over);
    assert_eq!(lenient(r#"[Fn("abc"), Fn("abc")]"#), over);
    assert_eq!(lenient(r#"Fn("abc").curry("def")"#), over);
    assert_eq!(lenient("#{ab: 'c', de: 'f'}"), over);
    assert_eq!(lenient("timestamp()"), over); // "timestamp"
}

#[test]
fn strict_json_reads_back_as_the_same_value() {
    let v = value(r#"#{i: -7, f: 2.0, s: "x", b: false, u: (), a: [1, [2.5]], m: #{}}"#);
    let json = convert(&v, JsonMode::Strict).expect("strict");
    let back = from_json(&json);
    assert_eq!(format!("{back:?}"), format!("{v:?}"));
    assert_eq!(convert(&back, JsonMode::Strict), Ok(json));

    // Numbers: an integer that fits is an int, any other number a float.
    for (json, type_name) in [
        (json!(-7), "i64"),
        (json!(i64::MAX), "i64"),
        (json!(u64::MAX), "f64"),
        (json!(2.0), "f64"),
        (json!(null), "()"),
        (json!({"k": 1}), "map"),
    ] {
        assert_eq!(from_json(&json).type_name(), type_name, "{json}");
    }
}
