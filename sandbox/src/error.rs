//! Errors of a script run, and how rhai's errors map onto them.

use std::fmt;

use rhai::{EvalAltResult, LexError, ParseError, ParseErrorType, Position};

/// Which limit a script ran into. [`LimitKind::as_str`] names it as the
/// configuration does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// `operations`: more than `max_operations`.
    Operations,
    /// `time`: more than `max_time_ms`.
    Time,
    /// `call_depth`: function calls nested more than `max_call_depth`.
    CallDepth,
    /// `expression_depth`: expressions nested more than `max_expr_depth` /
    /// `max_function_expr_depth` (or a result value nested too deeply to return).
    ExpressionDepth,
    /// `string_size`: a string over `max_string_size`.
    StringSize,
    /// `array_size`: an array or BLOB over `max_array_size`.
    ArraySize,
    /// `map_size`: an object map over `max_map_size`.
    MapSize,
    /// `script_size`: the script text over `max_script_bytes`.
    ScriptSize,
    /// `modules`: an import that is not allowed (no resolver, or over `max_modules`).
    Modules,
    /// `busy`: the circle's run queue is full.
    Busy,
    /// `memory`: the run allocated more than `max_memory_bytes`.
    Memory,
    /// `store_quota`: a store write over the author's or the circle's quota.
    StoreQuota,
    /// `hops`: a request that came through more circles than `max_hops`, or a peer call
    /// that would.
    Hops,
    /// `peer_calls`: more peer calls in one run than `max_peer_calls`.
    PeerCalls,
}

impl LimitKind {
    /// The limit's name (`call_depth`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Operations => "operations",
            Self::Time => "time",
            Self::CallDepth => "call_depth",
            Self::ExpressionDepth => "expression_depth",
            Self::StringSize => "string_size",
            Self::ArraySize => "array_size",
            Self::MapSize => "map_size",
            Self::ScriptSize => "script_size",
            Self::Modules => "modules",
            Self::Busy => "busy",
            Self::Memory => "memory",
            Self::StoreQuota => "store_quota",
            Self::Hops => "hops",
            Self::PeerCalls => "peer_calls",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a script run did not produce an [`Outcome`](crate::Outcome).
///
/// Lines and columns are 1-based; 0 means "no position".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The script text is longer than `max_script_bytes`.
    #[error("script too large: {actual} bytes, limit {limit}")]
    TooLarge {
        /// `max_script_bytes`.
        limit: usize,
        /// The script's length in bytes.
        actual: usize,
    },
    /// The script does not compile.
    #[error("script compile error: {message} (line {line}, column {column})")]
    Compile {
        /// What is wrong, without the position.
        message: String,
        /// 1-based line, 0 if unknown.
        line: usize,
        /// 1-based column, 0 if unknown.
        column: usize,
    },
    /// The script failed while running.
    #[error("script runtime error: {message} (line {line}, column {column})")]
    Runtime {
        /// What went wrong, without the position.
        message: String,
        /// 1-based line, 0 if unknown.
        line: usize,
        /// 1-based column, 0 if unknown.
        column: usize,
        /// What the run printed before it failed.
        logs: Vec<String>,
    },
    /// The script ran into a limit, or the circle is busy.
    #[error("script limit exceeded ({limit}): {message}")]
    LimitExceeded {
        /// Which limit.
        limit: LimitKind,
        /// A human-readable explanation.
        message: String,
        /// What the run printed before it hit the limit (none when it did not start).
        logs: Vec<String>,
    },
    /// `call` named a function the script library does not publish (or with another
    /// number of arguments).
    #[error("{module}::{function}: {reason}")]
    NotCallable {
        /// The module as given.
        module: String,
        /// The function as given.
        function: String,
        /// What does not match.
        reason: NotCallable,
    },
    /// A panic happened while running the script; the worker survived it.
    #[error("internal error while running the script: {message}")]
    Panicked {
        /// The panic's message, if it had one.
        message: String,
    },
}

/// Why a published function cannot be called as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCallable {
    /// No module of that name in the script library.
    #[error("the circle's script library has no such module")]
    NoModule,
    /// The module has no function of that name, or only a `private` one.
    #[error("the module publishes no function of that name")]
    NoFunction,
    /// The function exists, with other numbers of parameters.
    #[error("takes {} arguments, not {given}", join(expected))]
    Arity {
        /// The numbers of parameters it is published with.
        expected: Vec<usize>,
        /// The number of arguments given.
        given: usize,
    },
    /// The module or function name is not one `import` or a call could name.
    #[error("{0}")]
    BadName(String),
}

fn join(numbers: &[usize]) -> String {
    let texts: Vec<String> = numbers.iter().map(usize::to_string).collect();
    texts.join(" or ")
}

impl ScriptError {
    /// The limit this error reports, if it is a limit error (including [`ScriptError::TooLarge`]).
    pub const fn limit(&self) -> Option<LimitKind> {
        match self {
            Self::TooLarge { .. } => Some(LimitKind::ScriptSize),
            Self::LimitExceeded { limit, .. } => Some(*limit),
            _ => None,
        }
    }

    /// A limit error of a run that printed nothing.
    pub fn limit_exceeded(limit: LimitKind, message: impl Into<String>) -> Self {
        Self::LimitExceeded {
            limit,
            message: message.into(),
            logs: Vec::new(),
        }
    }

    /// A runtime error with no position, of a run that printed nothing.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self::Runtime {
            message: message.into(),
            line: 0,
            column: 0,
            logs: Vec::new(),
        }
    }

    /// What the run printed before it failed (runtime and limit errors carry it).
    pub fn logs(&self) -> &[String] {
        match self {
            Self::Runtime { logs, .. } | Self::LimitExceeded { logs, .. } => logs,
            _ => &[],
        }
    }

    /// The same error, carrying `printed` (runtime and limit errors; others have no run).
    #[must_use]
    pub(crate) fn with_logs(mut self, printed: Vec<String>) -> Self {
        if let Self::Runtime { logs, .. } | Self::LimitExceeded { logs, .. } = &mut self {
            *logs = printed;
        }
        self
    }
}

fn line_col(pos: Position) -> (usize, usize) {
    (pos.line().unwrap_or(0), pos.position().unwrap_or(0))
}

/// The longest error message kept, in bytes. A thrown value is part of its error's message,
/// and formatting it shows what rhai's printing functions leave out (function pointers'
/// curried arguments, captured variables): unbounded, it can be gigabytes.
pub(crate) const MAX_MESSAGE_BYTES: usize = 4096;

/// `value` as text, cut at [`MAX_MESSAGE_BYTES`] (ending in `…` when cut). Formatting stops
/// there: nothing past it is produced.
pub(crate) fn bounded_text(value: &impl fmt::Display) -> String {
    struct Cut {
        text: String,
        cut: bool,
    }
    impl fmt::Write for Cut {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let room = MAX_MESSAGE_BYTES.saturating_sub(self.text.len());
            if s.len() <= room {
                self.text.push_str(s);
                return Ok(());
            }
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.text.push_str(&s[..end]);
            self.cut = true;
            Err(fmt::Error)
        }
    }
    let mut out = Cut {
        text: String::new(),
        cut: false,
    };
    let _ = fmt::write(&mut out, format_args!("{value}"));
    if out.cut {
        out.text.push('…');
    }
    out.text
}

/// Which size limit an `ErrorDataTooLarge`/`LiteralTooLarge` text is about.
fn size_kind(what: &str) -> LimitKind {
    let what = what.to_ascii_lowercase();
    if what.contains("string") {
        LimitKind::StringSize
    } else if what.contains("map") {
        LimitKind::MapSize
    } else {
        // "Size of array/BLOB", "Size of BLOB", "Size of array literal"
        LimitKind::ArraySize
    }
}

/// Maps a parse error to a compile error or, for compile-time limits, a limit error.
pub(crate) fn from_parse_error(err: &ParseError) -> ScriptError {
    let (line, column) = line_col(err.position());
    let message = err.err_type().to_string();
    match err.err_type() {
        ParseErrorType::ExprTooDeep => ScriptError::limit_exceeded(
            LimitKind::ExpressionDepth,
            format!("expression nested too deeply (line {line}, column {column})"),
        ),
        ParseErrorType::LiteralTooLarge(what, _) => {
            ScriptError::limit_exceeded(size_kind(what), message)
        }
        ParseErrorType::BadInput(LexError::StringTooLong(_)) => {
            ScriptError::limit_exceeded(LimitKind::StringSize, message)
        }
        _ => ScriptError::Compile {
            message,
            line,
            column,
        },
    }
}

/// Maps an evaluation error to a [`ScriptError`].
///
/// Errors raised inside function calls are wrapped by rhai (`ErrorInFunctionCall`); the
/// innermost error decides the kind, and its position (inside the function) is reported.
pub(crate) fn from_eval_error(err: EvalAltResult) -> ScriptError {
    let outer_pos = err.position();
    let mut inner = err;
    while let EvalAltResult::ErrorInFunctionCall(.., next, _)
    | EvalAltResult::ErrorInModule(_, next, _) = inner
    {
        inner = *next;
    }
    // Position: the innermost one that is known, else the outermost.
    let pos = match inner.take_position() {
        p if p.is_none() => outer_pos,
        p => p,
    };
    let (line, column) = line_col(pos);
    let at = || {
        if line == 0 {
            String::new()
        } else {
            format!(" (line {line}, column {column})")
        }
    };
    match inner {
        EvalAltResult::ErrorTooManyOperations(..) => ScriptError::limit_exceeded(
            LimitKind::Operations,
            format!("too many operations{}", at()),
        ),
        EvalAltResult::ErrorStackOverflow(..) => ScriptError::limit_exceeded(
            LimitKind::CallDepth,
            format!("function calls nested too deeply{}", at()),
        ),
        EvalAltResult::ErrorDataTooLarge(ref what, ..) => {
            ScriptError::limit_exceeded(size_kind(what), format!("{what} too large{}", at()))
        }
        EvalAltResult::ErrorTooManyModules(..) => ScriptError::limit_exceeded(
            LimitKind::Modules,
            format!("too many modules imported{}", at()),
        ),
        EvalAltResult::ErrorParsing(perr, ppos) => {
            let ppos = if ppos.is_none() { pos } else { ppos };
            from_parse_error(&ParseError(Box::new(perr), ppos))
        }
        other => ScriptError::Runtime {
            message: bounded_text(&other),
            line,
            column,
            logs: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_reports_the_limit_of_limit_errors_only() {
        let busy = ScriptError::limit_exceeded(LimitKind::Busy, "x");
        assert_eq!(busy.limit(), Some(LimitKind::Busy));
        let too_large = ScriptError::TooLarge {
            limit: 1,
            actual: 2,
        };
        assert_eq!(too_large.limit(), Some(LimitKind::ScriptSize));
        let compile = ScriptError::Compile {
            message: "m".into(),
            line: 1,
            column: 2,
        };
        assert_eq!(compile.limit(), None);
    }

    #[test]
    fn size_texts_map_to_kinds() {
        assert_eq!(size_kind("Length of string"), LimitKind::StringSize);
        assert_eq!(size_kind("Size of array/BLOB"), LimitKind::ArraySize);
        assert_eq!(size_kind("Size of BLOB"), LimitKind::ArraySize);
        assert_eq!(size_kind("Size of object map"), LimitKind::MapSize);
        assert_eq!(
            size_kind("Number of properties in object map literal"),
            LimitKind::MapSize
        );
        assert_eq!(size_kind("Size of array literal"), LimitKind::ArraySize);
    }
}
