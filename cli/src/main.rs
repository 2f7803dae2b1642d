//! `circles`: the command-line client of circles, over the [`rpc_client`] crate.
//!
//! ```text
//! circles keygen [--out FILE] [--json]
//! circles play --url ws://HOST:PORT [--key FILE] [--expect-circle-key HEX] [--json]
//!              ('SCRIPT' | -f FILE.rhai | -f -)
//! circles call --url ws://HOST:PORT [--key FILE] [--expect-circle-key HEX] [--json]
//!              MODULE FUNCTION ['[ARGS_JSON…]']
//! circles functions --url ws://HOST:PORT [--key FILE] [--expect-circle-key HEX] [--json]
//! circles discover --url ws://HOST:PORT [--json]
//! ```
//!
//! - `keygen` generates a secp256k1 key. With `--out` the secret key is written as hex to a
//!   new file readable by its owner only (mode 0600; an existing file is never overwritten)
//!   and the public key is printed; without it, the secret and public keys are printed.
//!   `--json` prints `{"public_key", "path"}` (plus `"secret_key"` without `--out`).
//! - `play` connects, signs in with `--key` when given (refusing to sign a challenge for
//!   another circle key than `--expect-circle-key`, if given; that check needs `--key`), runs
//!   the script, prints each log line on stderr as `[log] LINE` and the script's `output` on
//!   stdout. `--json` prints the whole result `{output, value, logs}` on stdout instead.
//!   `--url` defaults to `$CIRCLES_URL`, `--key` to `$CIRCLES_KEY`.
//! - `call` runs a function the circle's script library publishes, with the arguments given
//!   as a JSON array (`'["hello"]'`; none by default), and prints like `play`.
//! - `functions` lists the published functions: `module::name(params)` and the first line of
//!   the doc comment; `--json` prints them all.
//! - `discover` prints the circle's API (title, version, methods) or, with `--json`, its whole
//!   OpenRPC document.
//!
//! # Errors and exit codes
//!
//! A failure prints one line `error: …` on stderr (for script errors with the line, column
//! and message from the error's `data`); with `--json` it also prints
//! `{"error": {"kind", "code", "message", "data"}}` on stdout. `kind` is one of `transport`,
//! `auth`, `script`, `rpc`, `key`, `input`, `output`, `runtime`; `code`, `message` and `data`
//! are the circle's JSON-RPC error when it answered with one, [`rpc_client::Error::code`]'s
//! client-side code (`rpc_client::client_code`, e.g. 1001 cannot connect, 1004 wrong circle
//! key) for failures of the connection or sign-in, and null for the CLI's own failures (key
//! files, script file, output). Usage errors reported by the argument parser are never JSON.
//! The exit codes are listed by `circles --help` (from `failure::Exit`). A reader that goes
//! away (`circles … | head -1`) is not a failure: the command stops and exits 0.

mod failure;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand};
use rpc_client::{PlayResult, PublicKey, PublishedFunction, SecretKey};
use serde_json::{Value, json};

use crate::failure::{Exit, Failure};

/// The command-line client of circles.
#[derive(Debug, Parser)]
#[command(
    name = "circles",
    version,
    about = "The command-line client of circles: make keys, run Rhai scripts in circles, read their API",
    long_about = "The command-line client of circles: make keys, run Rhai scripts in circles, \
                  read their API.\n\nA circle is a JSON-RPC 2.0 server on a WebSocket \
                  (ws://HOST:PORT). `play` signs in with a secp256k1 key file (from \
                  `keygen --out`) and runs a script in the circle's context; the script sees \
                  your public key as CALLER_PUBLIC_KEY.",
    after_help = Exit::help()
)]
struct Cli {
    /// Print machine-readable JSON on stdout (results and errors)
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a secp256k1 key
    Keygen(KeygenArgs),
    /// Run a Rhai script in a circle
    Play(PlayArgs),
    /// Call a function the circle's script library publishes
    Call(CallArgs),
    /// List the functions the circle's script library publishes
    Functions(ConnectArgs),
    /// Show a circle's API (its OpenRPC document)
    Discover(DiscoverArgs),
}

#[derive(Debug, Args)]
struct KeygenArgs {
    /// Save the secret key to this new file (hex, mode 0600; never overwrites) and print only
    /// the public key
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Where to connect, and as whom.
#[derive(Debug, Args)]
struct ConnectArgs {
    /// The circle's WebSocket URL
    #[arg(long, env = "CIRCLES_URL", value_name = "URL")]
    url: String,

    /// Sign in with the secret key in this file (from `circles keygen --out`); without it the
    /// call is anonymous, which only circles whose access policy allows `anyone` accept
    #[arg(long, env = "CIRCLES_KEY", value_name = "FILE")]
    key: Option<PathBuf>,

    /// Refuse to sign in unless the circle's public key is this one (SEC1 hex); needs --key
    #[arg(long, value_name = "HEX")]
    expect_circle_key: Option<PublicKey>,
}

#[derive(Debug, Args)]
struct CallArgs {
    #[command(flatten)]
    connect: ConnectArgs,

    /// The module of the circle's script library (`guestbook`, `sub/util`)
    #[arg(value_name = "MODULE")]
    module: String,

    /// The function
    #[arg(value_name = "FUNCTION")]
    function: String,

    /// The arguments as a JSON array, e.g. '["hello", 3]' (default: none)
    #[arg(value_name = "ARGS_JSON")]
    args: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["script", "file"])))]
struct PlayArgs {
    #[command(flatten)]
    connect: ConnectArgs,

    /// Read the script from this file (`-` for stdin)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,

    /// The Rhai script
    #[arg(value_name = "SCRIPT")]
    script: Option<String>,
}

#[derive(Debug, Args)]
struct DiscoverArgs {
    /// The circle's WebSocket URL
    #[arg(long, env = "CIRCLES_URL", value_name = "URL")]
    url: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let connect = match &cli.command {
        Command::Play(args) => Some(&args.connect),
        Command::Call(args) => Some(&args.connect),
        Command::Functions(args) => Some(args),
        Command::Keygen(_) | Command::Discover(_) => None,
    };
    if let Some(args) = connect
        && args.expect_circle_key.is_some()
        && args.key.is_none()
    {
        Cli::command()
            .error(
                ErrorKind::MissingRequiredArgument,
                "--expect-circle-key needs --key (or CIRCLES_KEY): the circle key is checked \
                 when signing in",
            )
            .exit();
    }
    match run(cli.command, cli.json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report(cli.json);
            ExitCode::from(failure.exit() as u8)
        }
    }
}

fn run(command: Command, json: bool) -> Result<(), Failure> {
    match command {
        Command::Keygen(args) => keygen(&args, json),
        Command::Play(args) => {
            // Everything local first: a bad key file or script fails before connecting.
            let key = args.connect.key.as_deref().map(load_key).transpose()?;
            let script = read_script(&args)?;
            let result = block_on(async {
                let circle = connect(&args.connect, key.as_ref()).await?;
                Ok::<_, Failure>(circle.play(&script).await?)
            })??;
            print_play_result(&result, json)
        }
        Command::Call(args) => {
            let key = args.connect.key.as_deref().map(load_key).transpose()?;
            let call_args = parse_call_args(args.args.as_deref())?;
            let result = block_on(async {
                let circle = connect(&args.connect, key.as_ref()).await?;
                Ok::<_, Failure>(circle.call(&args.module, &args.function, call_args).await?)
            })??;
            print_play_result(&result, json)
        }
        Command::Functions(args) => {
            let key = args.key.as_deref().map(load_key).transpose()?;
            let functions = block_on(async {
                let circle = connect(&args, key.as_ref()).await?;
                Ok::<_, Failure>(circle.list_functions().await?)
            })??;
            print_functions(&functions, json)
        }
        Command::Discover(args) => {
            let document = block_on(discover(&args.url))??;
            print_discover(&document, json)
        }
    }
}

/// Runs `future` to completion on a single-threaded runtime.
fn block_on<F: Future>(future: F) -> Result<F::Output, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Failure::Runtime)?;
    Ok(runtime.block_on(future))
}

/// Connects to the circle and, with a key, signs in (checking the circle key if asked to).
async fn connect(
    args: &ConnectArgs,
    key: Option<&SecretKey>,
) -> Result<rpc_client::CircleClient<rpc_client::Transport>, Failure> {
    let circle = rpc_client::connect(&args.url).await?;
    if let Some(key) = key {
        circle
            .authenticate(key, args.expect_circle_key.as_ref())
            .await?;
    }
    Ok(circle)
}

/// `call`'s arguments: a JSON array (none when absent).
fn parse_call_args(text: Option<&str>) -> Result<Vec<Value>, Failure> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(args)) => Ok(args),
        Ok(other) => Err(Failure::Input(format!(
            "ARGS_JSON must be a JSON array of the arguments, e.g. '[{other}]', not {other}"
        ))),
        Err(error) => Err(Failure::Input(format!(
            "ARGS_JSON is not JSON ({error}): give the arguments as a JSON array, e.g. '[\"hello\", 3]'"
        ))),
    }
}

async fn discover(url: &str) -> Result<Value, Failure> {
    let circle = rpc_client::connect(url).await?;
    Ok(circle.discover().await?)
}

fn load_key(path: &Path) -> Result<SecretKey, Failure> {
    SecretKey::load_from_file(path).map_err(|error| Failure::Key(error.to_string()))
}

fn read_script(args: &PlayArgs) -> Result<String, Failure> {
    let unreadable = |what: String, error: io::Error| {
        Failure::Input(format!("cannot read the script from {what}: {error}"))
    };
    match (&args.script, &args.file) {
        (Some(script), _) => Ok(script.clone()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut script = String::new();
            io::stdin()
                .lock()
                .read_to_string(&mut script)
                .map_err(|error| unreadable("stdin".into(), error))?;
            Ok(script)
        }
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|error| unreadable(path.display().to_string(), error)),
        // clap's ArgGroup requires one of them.
        (None, None) => Err(Failure::Input(
            "no script given: pass SCRIPT or -f FILE".into(),
        )),
    }
}

fn keygen(args: &KeygenArgs, json: bool) -> Result<(), Failure> {
    let key = SecretKey::try_generate()
        .map_err(|error| Failure::Key(format!("cannot generate a key: {error}")))?;
    let public_key = key.public_key().to_hex();
    match &args.out {
        Some(path) => {
            key.save_to_file(path)
                .map_err(|error| Failure::Key(error.to_string()))?;
            if json {
                let path = path.display().to_string();
                write_stdout(&format!(
                    "{:#}\n",
                    json!({"public_key": public_key, "path": path})
                ))
            } else {
                note(&format!(
                    "secret key written to {} (readable by you only)",
                    path.display()
                ));
                write_stdout(&format!("public key: {public_key}\n"))
            }
        }
        None => {
            let secret_key = key.to_hex();
            if json {
                write_stdout(&format!(
                    "{:#}\n",
                    json!({"public_key": public_key, "path": null, "secret_key": secret_key})
                ))
            } else {
                note(
                    "the secret key below is SECRET: whoever has it can sign in as you; \
                     do not share it (`circles keygen --out FILE` stores it in an owner-only file)",
                );
                write_stdout(&format!(
                    "secret key: {secret_key}\npublic key: {public_key}\n"
                ))
            }
        }
    }
}

fn print_play_result(result: &PlayResult, json: bool) -> Result<(), Failure> {
    if json {
        let value = serde_json::to_value(result).map_err(|error| Failure::Output(error.into()))?;
        return write_stdout(&format!("{value:#}\n"));
    }
    let mut logs = String::new();
    for log in &result.logs {
        if log.is_empty() {
            logs.push_str("[log]\n");
        }
        for line in log.lines() {
            logs.push_str("[log] ");
            logs.push_str(line);
            logs.push('\n');
        }
    }
    note(logs.trim_end_matches('\n'));
    if result.output.is_empty() {
        return Ok(());
    }
    let newline = if result.output.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    write_stdout(&format!("{}{newline}", result.output))
}

fn print_functions(functions: &[PublishedFunction], json: bool) -> Result<(), Failure> {
    if json {
        let value =
            serde_json::to_value(functions).map_err(|error| Failure::Output(error.into()))?;
        return write_stdout(&format!("{value:#}\n"));
    }
    if functions.is_empty() {
        return write_stdout("(this circle publishes no functions)\n");
    }
    let signatures: Vec<String> = functions
        .iter()
        .map(|f| format!("{}::{}({})", *f.module, *f.name, f.params.join(", ")))
        .collect();
    let width = signatures.iter().map(String::len).max().unwrap_or(0);
    let mut out = String::new();
    for (signature, function) in signatures.iter().zip(functions) {
        let summary = function.doc.lines().next().unwrap_or("");
        out.push_str(format!("{signature:<width$}  {summary}").trim_end());
        out.push('\n');
    }
    write_stdout(&out)
}

fn print_discover(document: &Value, json: bool) -> Result<(), Failure> {
    if json {
        return write_stdout(&format!("{document:#}\n"));
    }
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let info = document.get("info").unwrap_or(&Value::Null);
    let title = text(info, "title").unwrap_or_else(|| "(untitled)".into());
    let version = text(info, "version").unwrap_or_else(|| "(no version)".into());
    let openrpc = text(document, "openrpc").unwrap_or_else(|| "?".into());
    let methods: Vec<(String, String)> = document
        .get("methods")
        .and_then(Value::as_array)
        .map(|methods| {
            methods
                .iter()
                .map(|method| {
                    (
                        text(method, "name").unwrap_or_else(|| "(unnamed)".into()),
                        text(method, "summary").unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let width = methods
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    let mut out = format!("{title} {version} (OpenRPC {openrpc})\n\nmethods:\n");
    for (name, summary) in &methods {
        out.push_str(format!("  {name:<width$}  {summary}").trim_end());
        out.push('\n');
    }
    if methods.is_empty() {
        out.push_str("  (none)\n");
    }
    write_stdout(&out)
}

/// Writes to stdout. A reader that went away (a closed pipe) is not a
/// failure: there is no one left to tell.
fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(Failure::Output(error)),
        _ => Ok(()),
    }
}

/// A line (or lines) for people on stderr; nothing when empty.
fn note(text: &str) {
    if !text.is_empty() {
        let _ = writeln!(io::stderr().lock(), "{text}");
    }
}
