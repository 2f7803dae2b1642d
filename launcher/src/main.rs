//! `launcher`: starts every circle of a `circles.json` (see `launcher --help`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use launcher::{ConfigError, exit};
use rpc_server::ConsoleDir;

/// Counts what each thread allocates, so that every circle's sandbox can hold each script run
/// to its memory budget (`limits.max_memory_bytes`); without it the budget is not enforced.
#[global_allocator]
static ALLOCATOR: circles_sandbox::alloc::CountingAllocator =
    circles_sandbox::alloc::CountingAllocator;

const FORMAT_HELP: &str = "\
circles.json is a JSON array with one object per circle:

  [
    { \"id\": \"alice\", \"port\": 9101, \"db_path\": \"data/alice\", \"rhai_path\": \"scripts/alice\" },
    { \"id\": \"bob\",   \"port\": 9102, \"db_path\": \"data/bob\",   \"rhai_path\": \"scripts/bob\",
      \"members\": [\"02…your public key…\"], \"access\": { \"play\": \"members\", \"call\": \"anyone\" },
      \"limits\": { \"max_time_ms\": 500 } }
  ]

Required: id (unique, a-z 0-9 -), port (unique; 0 for any free port, chosen at start and
shown in the table), db_path (unique data directory, created if missing: identity.key and
store.redb live there), rhai_path (existing folder of .rhai scripts that `import` may load).
Optional: host (127.0.0.1; any other address, e.g. 0.0.0.0, lets other machines connect over
plain ws://, unencrypted: the launcher warns, put a TLS proxy in front), members ([], public keys), access {play, call} (who may run
scripts of their own and who may call the published functions of the script library: each
members, signed_in or anyone; default play members, call signed_in), challenge_ttl_secs
(300), limits {…} (script sandbox), server {…} (connection limits, timeouts, allowed web
origins), store {…} (store quotas and listings: max_bytes 1 GiB and max_entries 1 000 000
per circle, max_bytes_per_author 16 MiB and max_entries_per_author 10 000 per caller,
max_list_bytes 4 MiB per store::list call; a write over a quota fails with the limit error
store_quota).
Relative paths are taken from the config file's folder. circles.schema.json is the full
JSON Schema; the README lists every limit and its default. Every mistake of a file is
reported at once, with its place ([1].limits.max_time_ms), misspelled fields with the
field they most likely mean.

Socket activation (as systemd passes sockets): LISTEN_FDS=N hands over N listening TCP
sockets as fds 3 to 3+N-1, LISTEN_FDNAMES=alice:bob names them, one circle id per fd; each
such circle is served on its socket and its host and port are not used (the table shows the
socket's URL). When LISTEN_PID is set to another process's id, the sockets are ignored.

Exit codes: 0 stopped cleanly (SIGINT/SIGTERM) or config valid, 1 a circle failed to start
(or a second signal cut the shutdown short), 2 bad command line or socket activation
(LISTEN_FDS malformed, an fd that is not a listening TCP socket, a name that is no circle's
id), 3 config unreadable, 4 config invalid, 5 the machine cannot run the config (port in use,
by a running circle or another program: the message says which; rhai_path missing, db_path
unusable). Logs: RUST_LOG=info (or debug).";

#[derive(Parser)]
#[command(
    name = "launcher",
    version,
    about = "Starts every circle of a circles.json, each with its own port, identity, store and script library",
    after_long_help = FORMAT_HELP
)]
struct Cli {
    /// The circles to start.
    #[arg(long, value_name = "FILE", default_value = "circles.json")]
    config: PathBuf,
    /// Folder of the web console to serve on every circle's port (HTTP GET /); default: the
    /// `console` folder beside the config file, when there is one.
    #[arg(long, value_name = "DIR")]
    console_dir: Option<PathBuf>,
    /// Serve no web console.
    #[arg(long, conflicts_with = "console_dir")]
    no_console: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validates a config file without starting anything (exit 0 when every circle could start).
    Check {
        /// The file to check.
        file: PathBuf,
    },
    /// Prints the JSON Schema of circles.json (the committed circles.schema.json).
    Schema,
    /// Makes a public key a member of a circle of the config file (--config), e.g. your
    /// own key from `circles keygen`; restart the launcher for it to take effect.
    AddMember {
        /// The circle's id.
        circle: String,
        /// The public key (SEC1 hex).
        key: String,
    },
}

fn main() -> ExitCode {
    // Short runs are tried inline on the runtime's threads: give them a worker's stack, so
    // they run there without a stack switch.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(circles_sandbox::RUN_STACK_BYTES)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(launch()),
        Err(error) => {
            eprintln!("launcher: cannot start the async runtime: {error}");
            ExitCode::from(launcher::exit::FAILURE)
        }
    }
}

async fn launch() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Check { file }) => check(&file),
        Some(Command::Schema) => {
            println!("{:#}", launcher::schema());
            ExitCode::SUCCESS
        }
        Some(Command::AddMember { circle, key }) => add_member(&cli.config, &circle, &key),
        None => run(&cli.config, console_dir(&cli)).await,
    }
}

fn report(errors: &[ConfigError]) -> ExitCode {
    for error in errors {
        eprintln!("launcher: {error}");
    }
    let code = errors
        .iter()
        .map(ConfigError::exit_code)
        .min()
        .unwrap_or(exit::INVALID);
    ExitCode::from(code)
}

fn activation_failed(error: &launcher::ActivationError) -> ExitCode {
    eprintln!("launcher: socket activation: {error}");
    ExitCode::from(error.exit_code())
}

fn check(file: &Path) -> ExitCode {
    match launcher::check(file) {
        Ok(circles) => {
            for circle in &circles {
                let addr = std::net::SocketAddr::new(circle.host, circle.port);
                if let Some(warning) = launcher::beyond_loopback_warning(&circle.id, addr) {
                    eprintln!("launcher: warning: {warning}");
                }
            }
            println!(
                "{}: ok ({} circle{})",
                file.display(),
                circles.len(),
                if circles.len() == 1 { "" } else { "s" }
            );
            ExitCode::SUCCESS
        }
        Err(errors) => report(&errors),
    }
}

fn add_member(config: &Path, circle: &str, key: &str) -> ExitCode {
    let key = match circles_identity::PublicKey::from_hex(key.trim()) {
        Ok(key) => key,
        Err(error) => {
            eprintln!("launcher: {key:?} is not a public key: {error}");
            return ExitCode::from(exit::USAGE);
        }
    };
    match launcher::members::add_member(config, circle, &key) {
        Ok(launcher::members::Added::Added) => {
            println!(
                "{}: {key} is now a member of {circle} (restart the launcher for it to take effect)",
                config.display()
            );
            ExitCode::SUCCESS
        }
        Ok(launcher::members::Added::AlreadyMember) => {
            println!(
                "{}: {key} is a member of {circle} already",
                config.display()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => report(&errors),
    }
}

fn console_dir(cli: &Cli) -> Option<ConsoleDir> {
    if cli.no_console {
        return None;
    }
    let dir = match &cli.console_dir {
        Some(dir) => dir.clone(),
        None => {
            let beside = cli.config.parent().unwrap_or(Path::new("")).join("console");
            if !beside.join("index.html").is_file() {
                return None;
            }
            beside
        }
    };
    Some(ConsoleDir::new(dir))
}

/// Whether the web console in `dir` is built: its page and the client module
/// (`tools/wasm.sh --build-only` builds `pkg/`).
fn console_built(dir: &Path) -> bool {
    ["index.html", "pkg/rpc_client.js", "pkg/rpc_client_bg.wasm"]
        .iter()
        .all(|file| dir.join(file).is_file())
}

async fn run(config: &Path, console: Option<ConsoleDir>) -> ExitCode {
    // First, before the launcher opens sockets of its own (see `Activation::from_env`).
    let activation = match launcher::Activation::from_env() {
        Ok(activation) => activation,
        Err(error) => return activation_failed(&error),
    };
    let passed_names: Vec<&str> = activation.names().collect();
    let circles = match launcher::check_passed(config, &passed_names) {
        Ok(circles) => circles,
        Err(errors) => return report(&errors),
    };
    let passed = match activation.for_circles(&circles) {
        Ok(passed) => passed,
        Err(error) => return activation_failed(&error),
    };
    let started = match launcher::start_all_passed(&circles, console.as_ref(), passed).await {
        Ok(started) => started,
        Err((id, error)) => {
            eprintln!("launcher: circle {id}: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    print!("{}", launcher::table(&started));
    for circle in &started {
        if let Some(fd) = circle.passed_fd {
            println!(
                "{}: served on fd {fd}, passed by socket activation (its configured port {} is \
                 not used)",
                circle.config.id, circle.config.port
            );
        }
    }
    for circle in &started {
        let addr = circle.server.local_addr();
        if let Some(warning) = launcher::beyond_loopback_warning(&circle.config.id, addr) {
            eprintln!("launcher: warning: {warning}");
        }
    }
    // The banner only when the page can work: a console whose client is not built yet
    // (`tools/wasm.sh --build-only`) answers with a page that says how to build it.
    match (&console, started.first()) {
        (Some(console), Some(first)) if console_built(console.path()) => {
            let addr = first.server.local_addr();
            println!("web console: http://{addr}/ (served on every circle's port)");
        }
        (Some(console), Some(_)) => tracing::info!(
            dir = %console.path().display(),
            "the web console's client is not built (tools/wasm.sh --build-only builds it)"
        ),
        _ => {}
    }
    println!(
        "ready: {} circles; Ctrl-C or SIGTERM stops them",
        started.len()
    );
    let signal = match launcher::shutdown_signal().await {
        Ok(signal) => signal,
        Err(error) => {
            eprintln!("launcher: cannot listen for signals ({error}); stopping");
            "signal error"
        }
    };
    tracing::info!(%signal, "stopping");
    eprintln!("launcher: {signal}: stopping (send it again to stop at once)");
    tokio::select! {
        // (A circle still running scripts after the grace period is logged as a warning.)
        _ = launcher::stop_all(started, launcher::shutdown_grace(&circles)) => {
            eprintln!("launcher: {signal}: stopped");
            ExitCode::SUCCESS
        }
        second = launcher::shutdown_signal() => {
            let second = second.unwrap_or("signal error");
            eprintln!("launcher: {second} again: stopped at once, running scripts abandoned");
            ExitCode::from(exit::FAILURE)
        }
    }
}
