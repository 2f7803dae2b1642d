//! The one converter between Rhai values and JSON.
//!
//! [`to_json`] turns a script value into JSON in one of two [`JsonMode`]s:
//! [`JsonMode::Strict`] refuses what JSON cannot hold as it is (values that are kept and read
//! back, like the store's, so that a script gets back what it wrote); [`JsonMode::Lenient`]
//! renders it readably instead (values that are only shown, like a `play` result). Both
//! modes share one traversal, one depth limit and one size budget ([`JsonLimits`]), so a
//! hostile value is bounded the same way wherever it is converted. [`from_json`] goes the
//! other way.
//!
//! The errors ([`ToJsonError`]) say what is wrong with the value; each caller words them for
//! its own users.

mod error;
mod from_json;
mod limits;
mod to_json;

pub use error::ToJsonError;
pub use from_json::from_json;
pub use limits::JsonLimits;
pub use to_json::{JsonMode, to_json};
