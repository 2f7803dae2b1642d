//! A session lives exactly as long as its connection: memory does not grow with
//! connection churn. (Its own test binary: the session count is process-wide.)

mod support;

use std::time::Duration;

use rpc_server::Session;
use support::{circle, sign_in};

const CONNECTIONS: usize = 50;
const ROUNDS: usize = 4;

async fn wait_for_sessions(expected: usize) -> usize {
    for _ in 0..200 {
        if Session::live() == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Session::live()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_dropped_when_their_connections_close() {
    let circle = circle("churn").await;
    assert_eq!(Session::live(), 0);
    for _ in 0..ROUNDS {
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            let client = circle.connect().await;
            sign_in(&client, &circle.key).await;
            clients.push(client);
        }
        assert_eq!(
            wait_for_sessions(CONNECTIONS).await,
            CONNECTIONS,
            "one session per open connection"
        );
        drop(clients);
        assert_eq!(
            wait_for_sessions(0).await,
            0,
            "closing the connections drops their sessions"
        );
    }
}
