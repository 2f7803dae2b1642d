//! OpenRPC documents into codegen: `check` and `generate` never panic (typify's panics are
//! caught inside codegen and reported as located errors, which is allowed), refuse a document
//! with a non-empty list of located errors, agree with each other, and what `generate`
//! accepts is Rust that parses.

use circles_codegen::{Settings, SpecErrors, check, generate};

pub fn run(data: &[u8]) {
    // codegen reads text (its CLI reads the file as UTF-8 first).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let checked = check(text);
    let generated = generate(text, &Settings::default());
    match (&checked, &generated) {
        (Err(checked), Err(generated)) => {
            assert_located(checked);
            assert_located(generated);
            assert_eq!(
                checked, generated,
                "check and generate refuse the same document differently"
            );
        }
        (Ok(_), Err(generated)) => assert_located(generated),
        (Err(checked), Ok(_)) => panic!("generate accepted what check refused: {checked}"),
        (Ok(_), Ok(generated)) => {
            if let Err(error) = syn::parse_file(&generated.code) {
                panic!("generate emitted Rust that does not parse: {error}");
            }
        }
    }
}

/// Every error says where (`methods[2].params[0].schema`, or `$` for the whole document) and
/// what.
fn assert_located(errors: &SpecErrors) {
    assert!(!errors.0.is_empty(), "an empty error list");
    for error in errors.iter() {
        assert!(
            !error.path.trim().is_empty(),
            "an error without a place: {error:?}"
        );
        assert!(
            !error.message.trim().is_empty(),
            "an error without a message: {error:?}"
        );
    }
}
