//! `circles`: the command-line client of circles, over the [`rpc_client`] crate.
//!
//! ```text
//! circles keygen [--out FILE | --out -] [--json]
//! circles play --url URL [--key FILE | --anonymous] [--expect-circle-key HEX] [--json]
//!              ('SCRIPT' | -f FILE.rhai | -f -)
//! circles call --url URL [--key FILE | --anonymous] [--expect-circle-key HEX] [--json]
//!              MODULE FUNCTION ['[ARGS_JSON…]']
//! circles functions --url URL [--key FILE | --anonymous] [--expect-circle-key HEX] [--json]
//! circles discover --url URL [--json]
//! ```
//!
//! - `keygen` generates a secp256k1 key and saves the secret key as hex in a new file readable
//!   by its owner only (mode 0600; an existing file is never overwritten), then prints the
//!   public key. Without `--out` the file is your **default key**,
//!   `$XDG_CONFIG_HOME/circles/key` (`~/.config/circles/key`; the `dirs` crate's config
//!   folder elsewhere): when it exists already, keygen says where it is and what its public
//!   key is, and exits 7. `--out -` prints the secret and public keys instead of saving
//!   anything. `--json` prints `{"public_key", "path"}` (plus `"secret_key"` with `--out -`).
//! - `play` connects, signs in (see below; refusing to sign a challenge for another circle key
//!   than `--expect-circle-key`, if given), runs the script, prints each log line on stderr
//!   as `[log] LINE` and the script's `output` on stdout. `--json` prints the whole result
//!   `{output, value, logs}` on stdout instead. A script that fails has its log lines printed
//!   the same way before the error (with `--json` they are the error's `data.logs`).
//! - `call` runs a function the circle's script library publishes, with the arguments given
//!   as a JSON array (`'["hello"]'`; none by default), and prints like `play`.
//! - `functions` lists the published functions: `module::name(params)` and the first line of
//!   the doc comment; `--json` prints them all.
//! - `discover` prints the circle's API (title, version, methods) or, with `--json`, its whole
//!   OpenRPC document.
//!
//! `--url` (default `$CIRCLES_URL`) takes the web console's forms (`url::circle_url`):
//! `ws://HOST:PORT`, `http://HOST:PORT` (the same circle) or a bare `HOST:PORT`, and `wss://`
//! (`https://`) for a circle behind TLS; any other scheme is a usage error with a hint.
//!
//! Who `play`, `call` and `functions` sign in as: `--key FILE` (default `$CIRCLES_KEY`), else
//! the default key when it exists, else nobody (an anonymous call, which only circles whose
//! access policy allows `anyone` accept). `--anonymous` never signs in, whatever key there is.
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
//! The exit codes are listed by `circles --help` (from `failure::Exit`), and only there. A
//! reader that goes away (`circles … | head -1`) is not a failure: the command stops and
//! exits 0.

mod failure;
mod url;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgGroup, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use rpc_client::{PlayResult, PublicKey, PublishedFunction, SecretKey};
use serde_json::{Value, json};

use crate::failure::{Exit, Failure, log_lines};

/// The command-line client of circles.
#[derive(Debug, Parser)]
#[command(
    name = "circles",
    version,
    about = "The command-line client of circles: make keys, run Rhai scripts in circles, read their API",
    long_about = "The command-line client of circles: make keys, run Rhai scripts in circles, \
                  read their API.\n\nA circle is a JSON-RPC 2.0 server on a WebSocket \
                  (ws://HOST:PORT). `circles keygen` makes your key once; `play`, `call` and \
                  `functions` sign in with it (or with --key FILE) and run in the circle's \
                  context, where scripts see your public key as CALLER_PUBLIC_KEY.",
    after_help = main_help_tail()
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
    /// Generate a secp256k1 key (by default your own, used by play, call and functions)
    #[command(after_help = keygen_examples())]
    Keygen(KeygenArgs),
    /// Run a Rhai script in a circle
    #[command(after_help = PLAY_EXAMPLES)]
    Play(PlayArgs),
    /// Call a function the circle's script library publishes
    #[command(after_help = CALL_EXAMPLES)]
    Call(CallArgs),
    /// List the functions the circle's script library publishes
    #[command(after_help = FUNCTIONS_EXAMPLES)]
    Functions(ConnectArgs),
    /// Show a circle's API (its OpenRPC document)
    #[command(after_help = DISCOVER_EXAMPLES)]
    Discover(DiscoverArgs),
}

/// After the main help's options: the exit codes (here only, not on every subcommand).
fn main_help_tail() -> String {
    format!(
        "Examples:\n  circles keygen\n  circles play --url ws://127.0.0.1:9101 'store::get(\"colour\")'\n  \
         circles play --help    (and keygen, call, functions, discover: each has examples)\n\n{}",
        Exit::help()
    )
}

fn keygen_examples() -> String {
    let default = default_key_path().map_or_else(
        || "$XDG_CONFIG_HOME/circles/key".to_owned(),
        |path| path.display().to_string(),
    );
    format!(
        "Examples:\n  \
         circles keygen                  # your key, saved to {default}\n  \
         circles keygen --out bot.key    # another key, in a file of its own (use it with --key bot.key)\n  \
         circles keygen --out -          # print a throwaway key, save nothing\n\n\
         Your key (without --out) is never overwritten: a second keygen says where it is.\n\
         Exit codes: see `circles --help`."
    )
}

const PLAY_EXAMPLES: &str = "Examples:
  circles play --url ws://127.0.0.1:9101 '40 + 2'
  circles play --url 127.0.0.1:9101 'print(CALLER_PUBLIC_KEY); store::get(\"colour\")'
  circles play --url ws://127.0.0.1:9101 -f script.rhai
  echo 'CIRCLE_ID' | circles play --url ws://127.0.0.1:9101 -f -
  circles play --url ws://127.0.0.1:9101 --json '#{answer: 42}'     # {output, value, logs}
  circles play --url ws://127.0.0.1:9101 --anonymous '1'            # without signing in

The script's print lines go to stderr as `[log] LINE` (also when it fails), its value to
stdout (nothing when the value is `()`, e.g. store::get of an absent key; --json: null).
Exit codes: see `circles --help`.";

const CALL_EXAMPLES: &str = "Examples:
  circles call --url ws://127.0.0.1:9101 guestbook read
  circles call --url ws://127.0.0.1:9101 guestbook sign '[\"hi\"]'
  circles call --url ws://127.0.0.1:9102 --json notes add '[\"buy milk\"]'
  circles call --url ws://127.0.0.1:9101 --key bot.key guestbook read    # as another key

Exit codes: see `circles --help`.";

const FUNCTIONS_EXAMPLES: &str = "Examples:
  circles functions --url ws://127.0.0.1:9101
  circles functions --url ws://127.0.0.1:9101 --json

Exit codes: see `circles --help`.";

const DISCOVER_EXAMPLES: &str = "Examples:
  circles discover --url ws://127.0.0.1:9101
  circles discover --url ws://127.0.0.1:9101 --json > openrpc.json

Exit codes: see `circles --help`.";

#[derive(Debug, Args)]
struct KeygenArgs {
    /// Save the secret key to this new file instead of your default key (hex, mode 0600;
    /// never overwrites); `-` prints the secret and public keys and saves nothing
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Where to connect, and as whom.
#[derive(Debug, Args)]
struct ConnectArgs {
    /// The circle's URL: ws://HOST:PORT (http://HOST:PORT and HOST:PORT mean the same)
    #[arg(long, env = "CIRCLES_URL", value_name = "URL", value_parser = url::circle_url)]
    url: String,

    /// Sign in with the secret key in this file; default: your key from `circles keygen`,
    /// when you have one (else the call is anonymous)
    #[arg(long, env = "CIRCLES_KEY", value_name = "FILE")]
    key: Option<PathBuf>,

    /// Do not sign in, whatever key there is: only circles whose access policy allows
    /// `anyone` accept anonymous calls
    #[arg(long, conflicts_with = "expect_circle_key")]
    anonymous: bool,

    /// Refuse to sign in unless the circle's public key is this one (SEC1 hex)
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
    /// The circle's URL: ws://HOST:PORT (http://HOST:PORT and HOST:PORT mean the same)
    #[arg(long, env = "CIRCLES_URL", value_name = "URL", value_parser = url::circle_url)]
    url: String,
}

/// The key file `play`, `call` and `functions` sign in with when no `--key` is given, and
/// `keygen` writes without `--out`: `circles/key` in the user's config folder
/// (`$XDG_CONFIG_HOME`, else `~/.config`, on Linux). None when there is no such folder
/// (no home).
fn default_key_path() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("circles").join("key"))
}

/// The key file to sign in with, if any: `--key` (or `CIRCLES_KEY`), else the default key
/// when it exists; none with `--anonymous`.
fn key_file(args: &ConnectArgs) -> Option<PathBuf> {
    if args.anonymous {
        return None;
    }
    args.key
        .clone()
        .or_else(|| default_key_path().filter(|path| path.exists()))
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    // `--anonymous` wins over CIRCLES_KEY (the environment's default), not over a `--key`
    // given with it: that is a contradiction.
    let key_given = matches.subcommand().is_some_and(|(_, sub)| {
        sub.try_get_raw("key").is_ok_and(|raw| raw.is_some())
            && sub.value_source("key") == Some(ValueSource::CommandLine)
    });
    let anonymous = matches
        .subcommand()
        .is_some_and(|(_, sub)| sub.try_get_one::<bool>("anonymous").ok().flatten() == Some(&true));
    let subcommand = matches.subcommand_name().unwrap_or_default();
    if key_given && anonymous {
        usage_error(
            subcommand,
            ErrorKind::ArgumentConflict,
            "--anonymous does not sign in, --key signs in: pass one of them",
        );
    }
    let connect = match &cli.command {
        Command::Play(args) => Some(&args.connect),
        Command::Call(args) => Some(&args.connect),
        Command::Functions(args) => Some(args),
        Command::Keygen(_) | Command::Discover(_) => None,
    };
    if let Some(args) = connect
        && args.expect_circle_key.is_some()
        && key_file(args).is_none()
    {
        usage_error(
            subcommand,
            ErrorKind::MissingRequiredArgument,
            "--expect-circle-key needs a key to sign in with (the circle key is checked when \
             signing in): make yours with `circles keygen`, or pass --key FILE",
        );
    }
    match run(cli.command, cli.json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report(cli.json);
            ExitCode::from(failure.exit() as u8)
        }
    }
}

/// Exits with clap's usage error (exit 2, like every other usage error), under the usage
/// line of `subcommand`.
fn usage_error(subcommand: &str, kind: ErrorKind, message: &str) -> ! {
    let mut command = Cli::command();
    command.build();
    match command.find_subcommand_mut(subcommand) {
        Some(subcommand) => subcommand.error(kind, message).exit(),
        None => command.error(kind, message).exit(),
    }
}

fn run(command: Command, json: bool) -> Result<(), Failure> {
    match command {
        Command::Keygen(args) => keygen(&args, json),
        Command::Play(args) => {
            // Everything local first: a bad key file or script fails before connecting.
            let key = load_key(&args.connect)?;
            let script = read_script(&args)?;
            let result = block_on(async {
                let circle = connect(&args.connect, key.as_ref()).await?;
                Ok::<_, Failure>(circle.play(&script).await?)
            })??;
            print_play_result(&result, json)
        }
        Command::Call(args) => {
            let key = load_key(&args.connect)?;
            let call_args = parse_call_args(args.args.as_deref())?;
            let result = block_on(async {
                let circle = connect(&args.connect, key.as_ref()).await?;
                Ok::<_, Failure>(circle.call(&args.module, &args.function, call_args).await?)
            })??;
            print_play_result(&result, json)
        }
        Command::Functions(args) => {
            let key = load_key(&args)?;
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

/// The key to sign in with (see [`key_file`]), loaded; none for an anonymous call.
fn load_key(args: &ConnectArgs) -> Result<Option<SecretKey>, Failure> {
    let Some(path) = key_file(args) else {
        return Ok(None);
    };
    SecretKey::load_from_file(&path).map(Some).map_err(|error| {
        let default = args.key.is_none();
        Failure::Key(if default {
            format!(
                "{error} (your default key, used when no --key is given): fix or remove it, \
                 or pass --key FILE or --anonymous"
            )
        } else {
            error.to_string()
        })
    })
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
    match &args.out {
        Some(path) if path.as_os_str() == "-" => print_new_key(json),
        Some(path) => save_new_key(path, json, false),
        None => {
            let path = default_key_path().ok_or_else(|| {
                Failure::Key(
                    "cannot tell where your config folder is (neither XDG_CONFIG_HOME nor HOME \
                     is set): pass --out FILE"
                        .into(),
                )
            })?;
            if path.exists() {
                let public_key = SecretKey::load_from_file(&path)
                    .map(|key| format!(" (public key {})", key.public_key().to_hex()))
                    .unwrap_or_default();
                return Err(Failure::Key(format!(
                    "you have a key already: {}{public_key}; play, call and functions sign in \
                     with it when no --key is given. It is never overwritten: to make another \
                     key, pass --out FILE",
                    path.display()
                )));
            }
            if let Some(folder) = path.parent() {
                create_private_dir(folder).map_err(|error| {
                    Failure::Key(format!(
                        "cannot create the folder {} for your key: {error} (or pass --out FILE)",
                        folder.display()
                    ))
                })?;
            }
            save_new_key(&path, json, true)
        }
    }
}

fn new_key() -> Result<SecretKey, Failure> {
    SecretKey::try_generate()
        .map_err(|error| Failure::Key(format!("cannot generate a key: {error}")))
}

/// `keygen --out FILE`, or without `--out` (`default`: the file is the default key).
fn save_new_key(path: &Path, json: bool, default: bool) -> Result<(), Failure> {
    let key = new_key()?;
    let public_key = key.public_key().to_hex();
    key.save_to_file(path)
        .map_err(|error| Failure::Key(error.to_string()))?;
    if json {
        let path = path.display().to_string();
        return write_stdout(&format!(
            "{:#}\n",
            json!({"public_key": public_key, "path": path})
        ));
    }
    let use_it = if default {
        "play, call and functions sign in with it unless you pass --key FILE or --anonymous"
            .to_owned()
    } else {
        format!("sign in with it: --key {}", path.display())
    };
    note(&format!(
        "secret key written to {} (readable by you only); {use_it}",
        path.display()
    ));
    write_stdout(&format!("public key: {public_key}\n"))
}

/// `keygen --out -`: the keys on stdout, nothing saved.
fn print_new_key(json: bool) -> Result<(), Failure> {
    let key = new_key()?;
    let public_key = key.public_key().to_hex();
    let secret_key = key.to_hex();
    if json {
        return write_stdout(&format!(
            "{:#}\n",
            json!({"public_key": public_key, "path": null, "secret_key": secret_key})
        ));
    }
    note(
        "the secret key below is SECRET: whoever has it can sign in as you; do not share it \
         (`circles keygen` keeps yours in an owner-only file)",
    );
    write_stdout(&format!(
        "secret key: {secret_key}\npublic key: {public_key}\n"
    ))
}

/// Creates `path` (and missing parents) readable by its owner only: it holds secret keys.
fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

fn print_play_result(result: &PlayResult, json: bool) -> Result<(), Failure> {
    if json {
        let value = serde_json::to_value(result).map_err(|error| Failure::Output(error.into()))?;
        return write_stdout(&format!("{value:#}\n"));
    }
    note(log_lines(&result.logs).trim_end_matches('\n'));
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
