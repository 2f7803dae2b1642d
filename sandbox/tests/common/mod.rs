#![allow(dead_code)]

use std::time::{Duration, Instant};

use circles_sandbox::{Caller, CircleInfo, Limits, Outcome, Sandbox, ScriptError};

pub const CIRCLE_ID: &str = "garden";
pub const CIRCLE_KEY: &str = "02aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const ALICE: &str = "03bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

pub fn circle() -> CircleInfo {
    CircleInfo {
        id: CIRCLE_ID.into(),
        public_key: CIRCLE_KEY.into(),
    }
}

pub fn limits() -> Limits {
    Limits {
        workers: 2,
        ..Limits::default()
    }
}

pub fn sandbox() -> Sandbox {
    Sandbox::new(circle(), limits()).expect("sandbox")
}

pub fn alice() -> Caller {
    Caller::new(ALICE)
}

pub async fn run(sb: &Sandbox, script: &str) -> Result<Outcome, ScriptError> {
    sb.run(script.to_owned(), alice()).await
}

pub async fn ok(sb: &Sandbox, script: &str) -> Outcome {
    match run(sb, script).await {
        Ok(outcome) => outcome,
        Err(e) => panic!("script {script:?} failed: {e:?}"),
    }
}

/// Runs `script`, returns the error and how long it took.
pub async fn fails(sb: &Sandbox, script: &str) -> (ScriptError, Duration) {
    let start = Instant::now();
    match run(sb, script).await {
        Ok(outcome) => panic!("script {script:?} should fail, got {outcome:?}"),
        Err(e) => (e, start.elapsed()),
    }
}

/// A trivial run still works.
pub async fn still_works(sb: &Sandbox) {
    let outcome = ok(sb, "print(\"alive\"); 40 + 2").await;
    assert_eq!(outcome.output, "42");
    assert_eq!(outcome.logs, ["alive"]);
}
