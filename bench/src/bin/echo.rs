//! The bench's anchor: a bare jsonrpsee 0.26 WebSocket server with its default settings and
//! one method, `echo`, which answers with its params. It prints its URL (`ws://127.0.0.1:PORT`)
//! on stdout and serves until it is killed.
//!
//!     circles-bench-echo [--max-connections N]
//!
//! `--max-connections` is the only setting it changes, and only when asked: jsonrpsee's
//! default is 100 connections, too few for the bench's memory row (10 000 idle connections).

use std::io::Write;

use jsonrpsee::server::{RpcModule, Server, ServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut max_connections = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--max-connections" => {
                let value = args.next().ok_or("--max-connections needs a number")?;
                max_connections = Some(value.parse::<u32>()?);
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let mut builder = Server::builder();
    if let Some(max) = max_connections {
        builder = builder.set_config(ServerConfig::builder().max_connections(max).build());
    }
    let server = builder.build("127.0.0.1:0").await?;
    let mut module = RpcModule::new(());
    module.register_method("echo", |params, _, _| params.parse::<serde_json::Value>())?;
    let addr = server.local_addr()?;
    let handle = server.start(module);
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ws://{addr}")?;
    stdout.flush()?;
    handle.stopped().await;
    Ok(())
}
