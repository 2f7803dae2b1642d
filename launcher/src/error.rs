//! What can go wrong before and while starting circles, with the exit code of each.

use std::fmt;

/// Exit codes of the launcher (also listed in `launcher --help`).
pub mod exit {
    /// A circle failed while starting or running.
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap's own code), or bad socket activation (see
    /// [`crate::activation`]).
    pub const USAGE: u8 = 2;
    /// The config file cannot be read.
    pub const UNREADABLE: u8 = 3;
    /// The config file is not a valid circles.json.
    pub const INVALID: u8 = 4;
    /// The config is valid but this machine cannot run it (port in use, missing rhai_path…).
    pub const UNAVAILABLE: u8 = 5;
}

/// One problem with a config file, naming the file and, where there is one, the field
/// (`[1].port`).
#[derive(Debug)]
pub enum ConfigError {
    Unreadable {
        file: String,
        source: std::io::Error,
    },
    Invalid {
        file: String,
        at: String,
        message: String,
    },
    Unavailable {
        file: String,
        at: String,
        message: String,
    },
}

impl ConfigError {
    pub fn invalid(file: &str, at: &str, message: impl fmt::Display) -> Self {
        ConfigError::Invalid {
            file: file.to_owned(),
            at: at.to_owned(),
            message: message.to_string(),
        }
    }

    pub fn unavailable(file: &str, at: &str, message: impl fmt::Display) -> Self {
        ConfigError::Unavailable {
            file: file.to_owned(),
            at: at.to_owned(),
            message: message.to_string(),
        }
    }

    /// The circle's field the problem is about (`port` for `[1].port`, `limits` for
    /// `[0].limits.max_time_ms`), if it names one.
    pub fn field(&self) -> Option<&str> {
        let (ConfigError::Invalid { at, .. } | ConfigError::Unavailable { at, .. }) = self else {
            return None;
        };
        let (_, rest) = at.strip_prefix('[')?.split_once("].")?;
        rest.split(['.', '[']).next()
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            ConfigError::Unreadable { .. } => exit::UNREADABLE,
            ConfigError::Invalid { .. } => exit::INVALID,
            ConfigError::Unavailable { .. } => exit::UNAVAILABLE,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unreadable { file, source } => write!(f, "{file}: cannot read: {source}"),
            ConfigError::Invalid { file, at, message }
            | ConfigError::Unavailable { file, at, message } => {
                if at.is_empty() {
                    write!(f, "{file}: {message}")
                } else {
                    write!(f, "{file}: {at}: {message}")
                }
            }
        }
    }
}

impl std::error::Error for ConfigError {}
