//! The spec's `pattern` checks give the same answers natively, where regress
//! runs them, and in the browser, where its own `RegExp` does (see
//! `circles_codegen_runtime::pattern`): the same cases run on both targets
//! (`cargo test` and `tools/wasm.sh`).

use rpc_types::{ChainLink, FunctionName, Nonce};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn function_names_follow_their_pattern() {
    for good in ["f", "_", "sign", "Sign_2", "_9"] {
        assert!(good.parse::<FunctionName>().is_ok(), "{good:?} refused");
    }
    // Not a letter or `_` first, characters outside the class (also beyond
    // the BMP, which JS sees as two UTF-16 units), and the anchors: the whole
    // text must match, a line break does not end it.
    for bad in [
        "9lives", "a-b", "a b", "fünf", "f😀", "😀", "", "f\n", "\nf", "f\ng",
    ] {
        let error = bad.parse::<FunctionName>().expect_err(bad);
        assert!(
            error.to_string().starts_with("doesn't match pattern"),
            "{bad:?}: {error}"
        );
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn counted_and_optional_patterns() {
    let nonce = "0123456789abcdef".repeat(4);
    assert!(nonce.parse::<Nonce>().is_ok());
    for bad in [
        nonce.to_uppercase(),
        nonce[1..].to_string(),
        format!("{nonce}0"),
        format!("{nonce}\n"),
    ] {
        assert!(bad.parse::<Nonce>().is_err(), "{bad:?} accepted");
    }

    let key = format!("02{nonce}");
    assert!(key.parse::<ChainLink>().is_ok());
    assert!("".parse::<ChainLink>().is_ok(), "the anonymous link");
    for bad in [format!("04{nonce}"), format!("{key}{key}"), " ".to_string()] {
        assert!(bad.parse::<ChainLink>().is_err(), "{bad:?} accepted");
    }
}
