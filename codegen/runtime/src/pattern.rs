//! The `pattern` checks of generated string types.
//!
//! A JSON Schema `pattern` is an ECMAScript regular expression. typify's
//! generated code checks it with `Regex::new(pattern).unwrap()` (once per
//! type, kept in a `static`) and `find(value).is_none()`; the generator points
//! that code here instead of at the `regress` crate, and this is:
//! - natively, regress itself (an ECMAScript regex engine in Rust);
//! - in the browser (`wasm32-unknown-unknown`), the browser's own `RegExp`:
//!   the same language, without a second regex engine and its Unicode tables
//!   (428 KB of the browser module after wasm-opt).

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub use regress::Regex;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub use browser::Regex;

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
mod browser {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_name = RegExp)]
        type JsRegExp;

        /// `new RegExp(pattern, flags)`; `Err` when JS refuses the pattern.
        #[wasm_bindgen(constructor, js_class = "RegExp", catch)]
        fn new(pattern: &str, flags: &str) -> Result<JsRegExp, JsValue>;

        #[wasm_bindgen(method)]
        fn test(this: &JsRegExp, text: &str) -> bool;
    }

    /// A pattern, compiled by the browser's `RegExp` when it is used: a JS
    /// object cannot live in the `static` the generated code keeps it in.
    #[derive(Clone, Debug)]
    pub struct Regex {
        pattern: String,
    }

    impl Regex {
        /// Keeps `pattern`. It cannot fail here: the generator has already
        /// compiled every pattern of the spec with regress.
        pub fn new(pattern: &str) -> Result<Regex, std::convert::Infallible> {
            Ok(Regex {
                pattern: pattern.to_owned(),
            })
        }

        /// `Some` when the pattern matches somewhere in `text` (the generated
        /// code only asks whether there is a match).
        ///
        /// Compiled with the `u` flag, so that characters are code points, as
        /// regress matches a `&str`; a pattern only valid without it (e.g.
        /// `\-` outside a class) is compiled without it. A pattern the browser
        /// refuses altogether matches nothing.
        pub fn find(&self, text: &str) -> Option<()> {
            let regexp = JsRegExp::new(&self.pattern, "u")
                .or_else(|_| JsRegExp::new(&self.pattern, ""))
                .ok()?;
            regexp.test(text).then_some(())
        }
    }
}
