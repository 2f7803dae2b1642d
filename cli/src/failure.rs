//! Why a command failed, and the one place that decides its exit code, its
//! line on stderr and its JSON error object for `--json`.

use std::io::{self, Write};

use rpc_client::{
    AuthenticateError, CallError, Error, ListFunctionsError, PlayError, ScriptErrorData,
};
use serde_json::{Value, json};

/// The exit codes, each with what it means (the `--help` table is made from these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Internal = 1,
    Usage = 2,
    Transport = 3,
    Auth = 4,
    Script = 5,
    Rpc = 6,
    Key = 7,
}

impl Exit {
    const ALL: [Exit; 7] = [
        Exit::Internal,
        Exit::Usage,
        Exit::Transport,
        Exit::Auth,
        Exit::Script,
        Exit::Rpc,
        Exit::Key,
    ];

    fn meaning(self) -> &'static str {
        match self {
            Exit::Internal => "output could not be written, or the runtime could not start",
            Exit::Usage => {
                "usage: invalid arguments (a URL, a module or function name, JSON arguments), \
                 or the script file / stdin cannot be read"
            }
            Exit::Transport => "cannot connect to the circle, or the connection failed",
            Exit::Auth => {
                "authentication or authorization refused (AuthenticationFailed, \
                 Unauthenticated, Forbidden), wrong circle key (--expect-circle-key), \
                 malformed challenge"
            }
            Exit::Script => {
                "script error: ScriptCompileError, ScriptRuntimeError, ScriptLimitExceeded, \
                 NotCallable, or the script or arguments refused (InvalidParams)"
            }
            Exit::Rpc => "any other JSON-RPC error",
            Exit::Key => "key problem: key file unreadable, malformed or already existing",
        }
    }

    /// The `Exit codes:` section of `--help`.
    pub fn help() -> String {
        let mut text = String::from("Exit codes:\n  0  success\n");
        for exit in Exit::ALL {
            text.push_str(&format!("  {}  {}\n", exit as u8, exit.meaning()));
        }
        text.push_str(
            "\nErrors print one line `error: ...` on stderr; with --json also\n\
             {\"error\": {\"kind\", \"code\", \"message\", \"data\"}} on stdout \
             (codes by name in the circle's openrpc.json).",
        );
        text
    }
}

/// A failed command.
#[derive(Debug)]
pub enum Failure {
    /// The connection, the sign-in or the circle's answer (boxed: it is large,
    /// and every result of the command carries a `Failure`).
    Client(Box<Error>),
    /// A key file problem, or no key could be generated.
    Key(String),
    /// The script file or stdin could not be read.
    Input(String),
    /// Output could not be written (a reader that went away is not a failure).
    Output(io::Error),
    /// The async runtime could not start.
    Runtime(io::Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Client(Box::new(error))
    }
}

impl Failure {
    /// The process exit code.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Client(error) => client_exit(error),
            Failure::Key(_) => Exit::Key,
            Failure::Input(_) => Exit::Usage,
            Failure::Output(_) | Failure::Runtime(_) => Exit::Internal,
        }
    }

    /// A short machine-readable category.
    fn kind(&self) -> &'static str {
        match (self, self.exit()) {
            (Failure::Client(_), Exit::Transport) => "transport",
            (Failure::Client(_), Exit::Auth) => "auth",
            (Failure::Client(_), Exit::Script) => "script",
            (Failure::Client(_), _) => "rpc",
            (Failure::Key(_), _) => "key",
            (Failure::Input(_), _) => "input",
            (Failure::Output(_), _) => "output",
            (Failure::Runtime(_), _) => "runtime",
        }
    }

    /// The line shown on stderr after `error: `.
    fn line(&self) -> String {
        match self {
            Failure::Client(error) => client_line(error),
            Failure::Key(message) | Failure::Input(message) => message.clone(),
            Failure::Output(error) => format!("cannot write output: {error}"),
            Failure::Runtime(error) => format!("cannot start the async runtime: {error}"),
        }
    }

    /// The JSON object printed on stdout with `--json`: rpc-client's `code`,
    /// `message` and `data` for failures of the circle or the connection, null
    /// code and data for the command's own.
    pub fn to_json(&self) -> Value {
        let (code, message, data) = match self {
            Failure::Client(error) => (Some(error.code()), error.message(), error.data()),
            local => (None, local.line(), None),
        };
        json!({
            "error": {
                "kind": self.kind(),
                "code": code,
                "message": message,
                "data": data,
            }
        })
    }

    /// What a failed script printed before it failed (empty for other failures).
    pub fn logs(&self) -> &[String] {
        match self {
            Failure::Client(error) => match &**error {
                Error::Play(
                    PlayError::ScriptCompileError(data) | PlayError::ScriptRuntimeError(data),
                )
                | Error::Call(
                    CallError::ScriptCompileError(data) | CallError::ScriptRuntimeError(data),
                ) => &data.logs,
                Error::Play(PlayError::ScriptLimitExceeded(data))
                | Error::Call(CallError::ScriptLimitExceeded(data)) => &data.logs,
                _ => &[],
            },
            _ => &[],
        }
    }

    /// Reports the failure: one line on stderr and, with `--json`, the error
    /// object on stdout. Without `--json`, what a failed script printed comes
    /// first on stderr, as a successful run's `[log]` lines do (with `--json`
    /// they are in the error's `data.logs`). Write failures are ignored: there
    /// is nowhere left to report them, and the exit code still tells.
    pub fn report(&self, json: bool) {
        if json {
            let mut stdout = io::stdout().lock();
            let _ = writeln!(stdout, "{:#}", self.to_json());
            let _ = stdout.flush();
        }
        let mut stderr = io::stderr().lock();
        if !json {
            let _ = stderr.write_all(log_lines(self.logs()).as_bytes());
        }
        let _ = writeln!(stderr, "error: {}", self.line());
    }
}

/// A script's log lines as `circles` shows them on stderr: `[log] LINE` for each line of
/// each entry (`[log]` alone for an empty one), each ending in a newline.
pub fn log_lines(logs: &[String]) -> String {
    let mut text = String::new();
    for log in logs {
        if log.is_empty() {
            text.push_str("[log]\n");
        }
        for line in log.lines() {
            text.push_str("[log] ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

fn client_exit(error: &Error) -> Exit {
    match error {
        Error::Connect { .. } | Error::Transport(_) => Exit::Transport,
        Error::Authenticate(AuthenticateError::AuthenticationFailed(_))
        | Error::Play(PlayError::Unauthenticated | PlayError::Forbidden(_))
        | Error::Call(CallError::Unauthenticated | CallError::Forbidden(_))
        | Error::ListFunctions(
            ListFunctionsError::Unauthenticated | ListFunctionsError::Forbidden(_),
        )
        | Error::WrongCircleKey { .. }
        | Error::WrongCallerKey { .. }
        | Error::BadChallenge(_) => Exit::Auth,
        Error::Play(
            PlayError::ScriptCompileError(_)
            | PlayError::ScriptRuntimeError(_)
            | PlayError::ScriptLimitExceeded(_)
            | PlayError::InvalidParams(_),
        )
        | Error::Call(
            CallError::ScriptCompileError(_)
            | CallError::ScriptRuntimeError(_)
            | CallError::ScriptLimitExceeded(_)
            | CallError::InvalidParams(_)
            | CallError::NotCallable(_),
        ) => Exit::Script,
        Error::InvalidName { .. } => Exit::Usage,
        Error::Play(PlayError::InternalError(_) | PlayError::Other(_))
        | Error::Call(CallError::InternalError(_) | CallError::Other(_))
        | Error::ListFunctions(
            ListFunctionsError::InternalError(_) | ListFunctionsError::Other(_),
        )
        | Error::Discover(_)
        | Error::FetchNonce(_)
        | Error::Authenticate(_) => Exit::Rpc,
    }
}

fn client_line(error: &Error) -> String {
    let code = error.code();
    match error {
        Error::Authenticate(AuthenticateError::AuthenticationFailed(data)) => {
            format!(
                "authentication refused by the circle (code {code}): {}",
                data.reason
            )
        }
        Error::Play(PlayError::Unauthenticated)
        | Error::Call(CallError::Unauthenticated)
        | Error::ListFunctions(ListFunctionsError::Unauthenticated) => format!(
            "the circle requires you to sign in for this (unauthenticated, code {code}): \
             make your key once with `circles keygen` (then it is used by default), or pass \
             --key FILE"
        ),
        Error::Play(PlayError::Forbidden(data))
        | Error::Call(CallError::Forbidden(data))
        | Error::ListFunctions(ListFunctionsError::Forbidden(data)) => format!(
            "refused by the circle's access policy (forbidden, code {code}): {}",
            data.reason
        ),
        Error::Play(PlayError::ScriptCompileError(data) | PlayError::ScriptRuntimeError(data))
        | Error::Call(CallError::ScriptCompileError(data) | CallError::ScriptRuntimeError(data)) => {
            script_error_line(&error.message(), code, data)
        }
        Error::Play(PlayError::ScriptLimitExceeded(data))
        | Error::Call(CallError::ScriptLimitExceeded(data)) => format!(
            "script limit exceeded: {} (code {code}): {}",
            data.limit, data.message
        ),
        Error::Play(PlayError::InvalidParams(reason))
        | Error::Call(CallError::InvalidParams(reason)) => {
            format!("refused as invalid params (code {code}): {reason}")
        }
        Error::Call(CallError::NotCallable(data)) => format!(
            "{}::{} is not callable (code {code}): {}",
            data.module, data.function, data.message
        ),
        other => other.to_string(),
    }
}

/// `script compile error at line 3, column 7 (code N): message`; the position
/// is left out when unknown (0).
fn script_error_line(what: &str, code: i32, data: &ScriptErrorData) -> String {
    let ScriptErrorData {
        message,
        line,
        column,
        ..
    } = data;
    if *line > 0 {
        format!("{what} at line {line}, column {column} (code {code}): {message}")
    } else {
        format!("{what} (code {code}): {message}")
    }
}

#[cfg(test)]
mod tests {
    use rpc_client::{
        ApiError, AuthenticationFailedData, LimitExceededData, LimitName, RpcDiscoverError,
    };

    use super::*;

    fn play(error: PlayError) -> Failure {
        Failure::from(Error::Play(error))
    }

    fn script_data(line: u64, column: u64, message: &str) -> ScriptErrorData {
        ScriptErrorData {
            message: message.into(),
            line,
            column,
            logs: Vec::new(),
        }
    }

    #[test]
    fn compile_error_line_names_line_and_column() {
        let error = PlayError::ScriptCompileError(script_data(2, 9, "Expecting ';'"));
        let code = error.code();
        let failure = play(error);
        assert_eq!(failure.exit(), Exit::Script);
        assert_eq!(
            failure.line(),
            format!("script compile error at line 2, column 9 (code {code}): Expecting ';'")
        );
        let json = failure.to_json();
        assert_eq!(json["error"]["code"], code);
        assert_eq!(json["error"]["message"], "script compile error");
        assert_eq!(json["error"]["data"]["line"], 2);
    }

    #[test]
    fn unknown_position_is_left_out() {
        let error = PlayError::ScriptRuntimeError(script_data(0, 0, "boom"));
        let code = error.code();
        assert_eq!(
            play(error).line(),
            format!("script runtime error (code {code}): boom")
        );
    }

    #[test]
    fn errors_map_to_exit_codes() {
        let limit = PlayError::ScriptLimitExceeded(LimitExceededData {
            limit: LimitName::Time,
            message: "slow".into(),
            logs: Vec::new(),
        });
        let exits = [
            (PlayError::Unauthenticated, Exit::Auth),
            (limit, Exit::Script),
            (PlayError::InvalidParams("too large".into()), Exit::Script),
            (PlayError::InternalError("oops".into()), Exit::Rpc),
        ];
        for (error, exit) in exits {
            assert_eq!(play(error.clone()).exit(), exit, "{error}");
        }
        let refused = Failure::from(Error::Authenticate(
            AuthenticateError::AuthenticationFailed(AuthenticationFailedData {
                reason: "expired".into(),
            }),
        ));
        assert_eq!(refused.exit(), Exit::Auth);
        assert!(refused.line().ends_with("): expired"), "{}", refused.line());
        let internal = Failure::from(Error::Authenticate(AuthenticateError::InternalError(
            "x".into(),
        )));
        assert_eq!(internal.exit(), Exit::Rpc);
        let discover = Failure::from(Error::Discover(RpcDiscoverError::InternalError("x".into())));
        assert_eq!(discover.exit(), Exit::Rpc);
    }

    #[test]
    fn local_failures_have_null_code() {
        let failure = Failure::Key("key file x already exists".into());
        assert_eq!(failure.exit(), Exit::Key);
        assert_eq!(
            failure.to_json(),
            json!({"error": {"kind": "key", "code": null, "message": "key file x already exists", "data": null}})
        );
    }

    #[test]
    fn help_lists_every_exit_code_once() {
        let help = Exit::help();
        for exit in Exit::ALL {
            let row = format!("  {}  ", exit as u8);
            assert_eq!(help.matches(&row).count(), 1, "{row:?} in {help}");
        }
    }
}
