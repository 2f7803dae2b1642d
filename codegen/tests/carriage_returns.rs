//! A carriage return in any text that becomes a doc comment (title, descriptions, summaries,
//! error messages, schema descriptions that typify documents) still gives code that
//! compiles: prettyplease prints doc attributes as `///` comments, where rustc refuses a bare
//! CR. Found by the `openrpc` fuzz target (fuzz/README.md).

use circles_codegen::{Settings, generate};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("a fixture is JSON")
}

#[test]
fn carriage_returns_in_docs_give_code_that_compiles() {
    let cr = "first\rsecond\r\nthird";
    let mut spec = fixture("by_name");
    spec["info"]["title"] = cr.into();
    spec["info"]["description"] = cr.into();
    spec["methods"][0]["summary"] = cr.into();
    spec["methods"][0]["description"] = cr.into();
    spec["methods"][0]["params"][0]["description"] = cr.into();
    spec["methods"][0]["errors"][0]["message"] = cr.into();
    let mut schemas = fixture("schemas");
    let first = schemas["components"]["schemas"]
        .as_object_mut()
        .and_then(|schemas| schemas.values_mut().next())
        .expect("the fixture has schemas");
    first["description"] = cr.into();

    for spec in [spec, schemas] {
        let code = generate(&spec.to_string(), &Settings::default())
            .unwrap_or_else(|e| panic!("refused: {e}"))
            .code;
        if let Err(error) = syn::parse_file(&code) {
            panic!("the generated code does not parse: {error}");
        }
        for line in code.lines() {
            assert!(
                !(line.trim_start().starts_with("///") && line.contains('\r')),
                "a bare CR in a doc comment: {line:?}"
            );
        }
    }
}
