//! Why a command failed: the exit code, the one-line message for stderr and the
//! JSON error object for `--json`.

use std::io::{self, Write};

use rpc_client::{AuthenticateError, Error, PlayError};
use serde_json::{Value, json};

/// The exit codes (documented in the crate docs and in `--help`).
pub mod exit {
    /// Output could not be written, or the async runtime could not start.
    pub const INTERNAL: u8 = 1;
    /// Usage: bad arguments (clap), or the script file / stdin cannot be read.
    pub const USAGE: u8 = 2;
    /// Cannot connect, or the connection failed (transport).
    pub const TRANSPORT: u8 = 3;
    /// Authentication refused or impossible.
    pub const AUTH: u8 = 4;
    /// The script failed: compile, runtime, limit, too large.
    pub const SCRIPT: u8 = 5;
    /// Any other JSON-RPC error.
    pub const RPC: u8 = 6;
    /// Key generation or key file problem.
    pub const KEY: u8 = 7;
}

/// A failed command.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code.
    pub exit: u8,
    /// A short machine-readable category (`"transport"`, `"auth"`, …).
    kind: &'static str,
    /// The JSON-RPC error code, when the circle answered with an error.
    code: Option<i32>,
    /// The JSON-RPC error message, or the local error's text.
    message: String,
    /// The JSON-RPC error's `data`, or local details.
    data: Option<Value>,
    /// The line shown on stderr after `error: `.
    line: String,
}

impl Failure {
    /// A failure that did not come from the circle.
    pub fn local(exit: u8, kind: &'static str, message: impl Into<String>) -> Failure {
        let message = message.into();
        Failure {
            exit,
            kind,
            code: None,
            line: message.clone(),
            message,
            data: None,
        }
    }

    /// Writing to stdout failed.
    pub fn output(error: &io::Error) -> Failure {
        Failure::local(
            exit::INTERNAL,
            "output",
            format!("cannot write output: {error}"),
        )
    }

    /// The JSON object printed on stdout with `--json`.
    pub fn to_json(&self) -> Value {
        json!({
            "error": {
                "kind": self.kind,
                "code": self.code,
                "message": self.message,
                "data": self.data,
            }
        })
    }

    /// Reports the failure: one line on stderr and, with `--json`, the error
    /// object on stdout. Write failures are ignored: there is nowhere left to
    /// report them, and the exit code still tells.
    pub fn report(&self, json: bool) {
        if json {
            let mut stdout = io::stdout().lock();
            let _ = writeln!(stdout, "{:#}", self.to_json());
            let _ = stdout.flush();
        }
        let _ = writeln!(io::stderr().lock(), "error: {}", self.line);
    }
}

/// `data` as text: a string as is, anything else as JSON.
fn data_text(data: &Value) -> String {
    match data {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// ` (code N)` plus `: data` when there is data.
fn with_data(code: i32, data: Option<&Value>) -> String {
    match data {
        Some(data) => format!(" (code {code}): {}", data_text(data)),
        None => format!(" (code {code})"),
    }
}

/// `compile error at line 3, column 7: message` from `{message, line, column}`.
fn script_error_line(what: &str, code: i32, data: Option<&Value>) -> String {
    let field = |name: &str| data.and_then(|data| data.get(name));
    let message = field("message").and_then(Value::as_str);
    let line = field("line").and_then(Value::as_u64);
    let column = field("column").and_then(Value::as_u64);
    match (message, line, column) {
        (Some(message), Some(line), Some(column)) if line > 0 => {
            format!("{what} at line {line}, column {column} (code {code}): {message}")
        }
        (Some(message), _, _) => format!("{what} (code {code}): {message}"),
        _ => format!("{what}{}", with_data(code, data)),
    }
}

/// Exit code, kind and stderr line of a `play` error.
fn play_failure(error: &PlayError) -> (u8, &'static str, String) {
    let code = error.code();
    let data = error.data();
    match error {
        PlayError::Unauthenticated(_) => (
            exit::AUTH,
            "auth",
            format!(
                "the circle requires authentication (unauthenticated, code {code}): \
                 pass --key FILE or set CIRCLES_KEY"
            ),
        ),
        PlayError::ScriptCompileError(_) | PlayError::ScriptRuntimeError(_) => (
            exit::SCRIPT,
            "script",
            script_error_line(error.message(), code, data.as_ref()),
        ),
        PlayError::ScriptLimitExceeded(_) => {
            let field = |name: &str| data.as_ref().and_then(|d| d.get(name)?.as_str());
            let line = match (field("limit"), field("message")) {
                (Some(limit), Some(message)) => {
                    format!("script limit exceeded: {limit} (code {code}): {message}")
                }
                _ => format!("script limit exceeded{}", with_data(code, data.as_ref())),
            };
            (exit::SCRIPT, "script", line)
        }
        PlayError::InvalidParams(_) => (
            exit::SCRIPT,
            "script",
            format!("script refused{}", with_data(code, data.as_ref())),
        ),
        PlayError::InternalError(_) | PlayError::Other(_) => (
            exit::RPC,
            "rpc",
            format!(
                "play failed: {}{}",
                error.message(),
                with_data(code, data.as_ref())
            ),
        ),
    }
}

/// The line for `-32001 authentication failed`, with the circle's reason.
fn refused_line(error: &AuthenticateError) -> String {
    let code = error.code();
    let data = error.data();
    let detail = match data.as_ref().and_then(|data| data.get("reason")) {
        Some(reason) => format!(" (code {code}): {}", data_text(reason)),
        None => with_data(code, data.as_ref()),
    };
    format!("authentication refused by the circle{detail}")
}

/// The JSON error object carries rpc-client's `code`, `message` and `data` (the
/// circle's JSON-RPC error, or rpc-client's `client_code` and details for errors
/// that arose on this side); the exit code and stderr line are the CLI's.
impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        let (exit, kind, line) = match &error {
            Error::Connect { .. } | Error::Transport(_) => {
                (exit::TRANSPORT, "transport", error.to_string())
            }
            Error::Authenticate(refused @ AuthenticateError::AuthenticationFailed(_)) => {
                (exit::AUTH, "auth", refused_line(refused))
            }
            Error::Play(play) => play_failure(play),
            Error::WrongCircleKey { .. }
            | Error::WrongCallerKey { .. }
            | Error::BadChallenge(_) => (exit::AUTH, "auth", error.to_string()),
            Error::Discover(_)
            | Error::FetchNonce(_)
            | Error::Authenticate(_)
            | Error::Encode { .. } => (exit::RPC, "rpc", error.to_string()),
        };
        Failure {
            exit,
            kind,
            code: Some(error.code()),
            message: error.message(),
            data: error.data(),
            line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(error: PlayError) -> Failure {
        Failure::from(Error::Play(error))
    }

    #[test]
    fn compile_error_line_names_line_and_column() {
        let failure = play(PlayError::ScriptCompileError(Some(
            json!({"message": "Expecting ';'", "line": 2, "column": 9}),
        )));
        assert_eq!(failure.exit, exit::SCRIPT);
        assert_eq!(
            failure.line,
            "script compile error at line 2, column 9 (code -32010): Expecting ';'"
        );
        let json = failure.to_json();
        assert_eq!(json["error"]["code"], -32010);
        assert_eq!(json["error"]["message"], "script compile error");
        assert_eq!(json["error"]["data"]["line"], 2);
    }

    #[test]
    fn unknown_position_is_left_out() {
        let failure = play(PlayError::ScriptRuntimeError(Some(
            json!({"message": "boom", "line": 0, "column": 0}),
        )));
        assert_eq!(failure.line, "script runtime error (code -32011): boom");
    }

    #[test]
    fn codes_map_to_exit_codes() {
        let exits = [
            (PlayError::Unauthenticated(None), exit::AUTH),
            (PlayError::ScriptLimitExceeded(None), exit::SCRIPT),
            (
                PlayError::InvalidParams(Some(json!("too large"))),
                exit::SCRIPT,
            ),
            (PlayError::InternalError(None), exit::RPC),
        ];
        for (error, code) in exits {
            assert_eq!(play(error.clone()).exit, code, "{error}");
        }
        let refused = Failure::from(Error::Authenticate(
            AuthenticateError::AuthenticationFailed(Some(json!({"reason": "expired"}))),
        ));
        assert_eq!(refused.exit, exit::AUTH);
        assert_eq!(
            refused.line,
            "authentication refused by the circle (code -32001): expired"
        );
        let internal = Failure::from(Error::Authenticate(AuthenticateError::InternalError(None)));
        assert_eq!(internal.exit, exit::RPC);
    }

    #[test]
    fn local_failures_have_null_code() {
        let failure = Failure::local(exit::KEY, "key", "key file x already exists");
        assert_eq!(
            failure.to_json(),
            json!({"error": {"kind": "key", "code": null, "message": "key file x already exists", "data": null}})
        );
    }
}
