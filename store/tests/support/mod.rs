//! Shared by the store's kill -9 tests: run a writer as a child process and kill it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs test `child` of this test binary with `dir_var` = `dir` (the child writes there and
/// prints `ack <id>` for each acknowledged write), collects `acks` acknowledgements, then
/// kills it with SIGKILL. The acknowledged ids, in the order printed.
pub fn acks_before_kill_9(child: &str, dir_var: &str, dir: &Path, acks: usize) -> Vec<String> {
    let mut process = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", child, "--nocapture", "--test-threads=1"])
        .env(dir_var, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = process.stdout.take().expect("stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        // libtest may print "test <child> ... " on the same line as the first ack.
        if let Some((_, id)) = line.split_once("ack ") {
            acked.push(id.to_owned());
            if acked.len() == acks {
                break;
            }
        }
    }
    process.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    process.wait().expect("wait");
    assert_eq!(acked.len(), acks, "the child stopped early");
    acked
}
