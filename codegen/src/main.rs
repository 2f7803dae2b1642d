//! `codegen check SPEC` and `codegen generate SPEC`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use circles_codegen::{Settings, SpecErrors};
use clap::{Parser, Subcommand};

/// Exit code when the spec is invalid.
const EXIT_INVALID_SPEC: u8 = 1;
/// Exit code when the spec file cannot be read.
const EXIT_UNREADABLE: u8 = 3;

#[derive(Parser)]
#[command(
    name = "codegen",
    version,
    about = "Validates an OpenRPC document and generates the Rust API of circles from it",
    after_help = "Exit codes: 0 success, 1 invalid spec (each problem printed with its place, \
                  e.g. `methods[2].params[0].schema: ...`), 2 bad command line, 3 spec file unreadable."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate SPEC; print nothing on success.
    Check { spec: PathBuf },
    /// Validate SPEC and print the generated Rust code.
    Generate {
        spec: PathBuf,
        /// Gate the server module behind this cargo feature.
        #[arg(long)]
        server_feature: Option<String>,
        /// Gate the client module behind this cargo feature.
        #[arg(long)]
        client_feature: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (path, outcome) = match &cli.command {
        Command::Check { spec } => (
            spec,
            read(spec).map(|text| circles_codegen::check(&text).map(|_| None)),
        ),
        Command::Generate {
            spec,
            server_feature,
            client_feature,
        } => {
            // The document is included from the spec file, by its absolute path,
            // rather than pasted into the code as one enormous string.
            let document_path = std::fs::canonicalize(spec).unwrap_or_else(|_| spec.clone());
            let settings = Settings {
                server_feature: server_feature.clone(),
                client_feature: client_feature.clone(),
                document_path: Some(document_path.display().to_string()),
                ..Settings::default()
            };
            (
                spec,
                read(spec)
                    .map(|text| circles_codegen::generate(&text, &settings).map(|g| Some(g.code))),
            )
        }
    };
    match outcome {
        Err(message) => {
            eprintln!("codegen: {message}");
            ExitCode::from(EXIT_UNREADABLE)
        }
        Ok(Err(errors)) => {
            report(path, &errors);
            ExitCode::from(EXIT_INVALID_SPEC)
        }
        Ok(Ok(code)) => {
            if let Some(code) = code {
                print!("{code}");
            }
            ExitCode::SUCCESS
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn report(path: &Path, errors: &SpecErrors) {
    for error in errors.iter() {
        eprintln!("{}: {error}", path.display());
    }
    eprintln!(
        "codegen: {} is not a valid spec ({} problem{})",
        path.display(),
        errors.0.len(),
        if errors.0.len() == 1 { "" } else { "s" }
    );
}
