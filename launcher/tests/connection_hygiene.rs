//! Connections cannot be hoarded: every connection, WebSocket or console HTTP, counts
//! against `max_connections` and `max_connections_per_ip`; console connections are closed
//! after their answer, and those that do not send their headers in time (slowloris) are
//! closed; WebSocket connections that do not sign in within the challenge lifetime are
//! closed; out of file descriptors, the accept loop waits instead of spinning. Each attack
//! runs against a real launcher while a normal call goes through, with the launcher's
//! memory sampled.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rpc_client::SecretKey;
use serde_json::json;
use support::raw_ws::{RawWs, closed_within, read_head, tcp_from, upgrade_request};
use support::{MIB, World, play_as};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// What the attacks may add to the launcher's resident memory.
const BOUND: u64 = 48 * MIB;

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// `n` connections from `from` that send nothing.
async fn idle_connections(from: IpAddr, to: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut connections = Vec::new();
    for _ in 0..n {
        connections.push(tcp_from(from, to).await.expect("connect"));
    }
    // Let the server accept them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    connections
}

/// The HTTP status a WebSocket upgrade from `from` gets.
async fn upgrade_status(from: IpAddr, to: std::net::SocketAddr) -> u16 {
    match RawWs::connect(from, to).await {
        Ok(_) => 101,
        Err(status) => status,
    }
}

/// A normal call from `from`: sign in and play.
async fn plays(from: IpAddr, to: std::net::SocketAddr, key: &SecretKey) -> bool {
    let Ok(mut ws) = RawWs::connect(from, to).await else {
        return false;
    };
    ws.sign_in(key).await.is_ok() && ws.play("40 + 2").await.is_ok_and(|output| output == "42")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_slow_surplus_and_unsigned_connections_are_closed_or_refused() {
    let mut world = World::new(&["alpha"]);
    world.circles[0]["challenge_ttl_secs"] = json!(1);
    world.circles[0]["server"] = json!({
        "max_connections": 12,
        "max_connections_per_ip": 4,
        "header_timeout_secs": 1,
        "http_timeout_secs": 2,
        "ping_interval_secs": 5,
        "idle_timeout_secs": 10,
    });
    let console = world.path("console");
    std::fs::create_dir_all(&console).expect("mkdir");
    std::fs::write(
        console.join("index.html"),
        "<!doctype html><title>console</title>",
    )
    .expect("index.html");
    let console = console.display().to_string();
    let launcher = world.launch_limited(&["-d 1048576"], &["--console-dir", &console]);
    let addr = launcher.addr("alpha");
    let key = SecretKey::generate();
    let before = launcher.rss();
    let peak = launcher.sample_rss();

    // Per address: connections that send nothing take all of 127.0.0.2's places…
    let mut idle = idle_connections(loopback(2), addr, 4).await;
    assert_eq!(
        upgrade_status(loopback(2), addr).await,
        429,
        "a fifth from there"
    );
    // …while other addresses are served.
    assert!(plays(loopback(3), addr, &key).await, "during");
    // They are closed once the header timeout (1 s) has passed, and the address is served
    // again.
    let started = Instant::now();
    for connection in &mut idle {
        assert!(closed_within(connection, Duration::from_secs(3)).await);
    }
    eprintln!("idle connections closed after {:?}", started.elapsed());
    // (The server gives a place back just after closing its connection.)
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(plays(loopback(2), addr, &key).await, "after");

    // Overall: idle connections from three addresses fill max_connections (12); a
    // connection from a fourth address is refused, however few it holds itself.
    let mut fill = Vec::new();
    for last in [4, 5, 6] {
        fill.extend(idle_connections(loopback(last), addr, 4).await);
    }
    assert_eq!(
        upgrade_status(loopback(7), addr).await,
        429,
        "past max_connections"
    );
    for connection in &mut fill {
        assert!(closed_within(connection, Duration::from_secs(3)).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(plays(loopback(7), addr, &key).await, "after the flood");

    // Slowloris: a request head sent a byte at a time is cut off at the header timeout.
    let mut slow = tcp_from(loopback(8), addr).await.expect("connect");
    let started = Instant::now();
    let head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    let mut cut_off = false;
    for byte in head.iter().chain(std::iter::repeat(&b'a')).take(100) {
        if slow.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        if closed_within(&mut slow, Duration::from_millis(100)).await {
            cut_off = true;
            break;
        }
    }
    assert!(cut_off, "a slow request head is not waited for forever");
    let waited = started.elapsed();
    eprintln!("slowloris cut off after {waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");

    // The console answers, then closes the connection (no keep-alive)…
    let mut page = tcp_from(loopback(9), addr).await.expect("connect");
    page.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("request");
    let (status, head) = read_head(&mut page).await.expect("an answer");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert!(
        closed_within(&mut page, Duration::from_millis(500)).await,
        "closed after the answer"
    );
    // …and answers no other name than its own (DNS rebinding).
    let mut rebound = tcp_from(loopback(9), addr).await.expect("connect");
    rebound
        .write_all(
            format!(
                "GET / HTTP/1.1\r\nHost: evil.example:{}\r\n\r\n",
                addr.port()
            )
            .as_bytes(),
        )
        .await
        .expect("request");
    assert_eq!(read_head(&mut rebound).await.expect("an answer").0, 403);

    // A WebSocket that does not sign in within the challenge lifetime (1 s, plus a second's
    // grace) is closed; one that signed in stays open.
    let mut lurker = RawWs::connect(loopback(10), addr).await.expect("upgrade");
    let mut member = RawWs::connect(loopback(10), addr).await.expect("upgrade");
    member.sign_in(&key).await.expect("sign in");
    let started = Instant::now();
    let last = tokio::time::timeout(Duration::from_secs(4), lurker.next_text()).await;
    let waited = started.elapsed();
    assert!(
        matches!(last, Ok(Ok(None))),
        "the lurker's connection is closed: {last:?}"
    );
    assert!(waited > Duration::from_millis(1500), "{waited:?}");
    eprintln!("a connection that did not sign in was closed after {waited:?}");
    assert_eq!(member.play("40 + 2").await.expect("member").as_str(), "42");
    // A raw upgrade that never signs in: the same.
    let mut raw = tcp_from(loopback(11), addr).await.expect("connect");
    raw.write_all(upgrade_request(&addr.to_string()).as_bytes())
        .await
        .expect("upgrade");
    assert_eq!(read_head(&mut raw).await.expect("101").0, 101);
    assert!(closed_within(&mut raw, Duration::from_secs(4)).await);

    let after = play_as(&launcher.url("alpha"), &key, None, "40 + 2")
        .await
        .expect("after");
    assert_eq!(after.output, "42");
    let peak = peak.peak();
    eprintln!(
        "launcher RSS: {} MiB before, peak {} MiB (bound: +{} MiB)",
        before / MIB,
        peak / MIB,
        BOUND / MIB
    );
    assert!(peak < before + BOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_accept_loop_waits_instead_of_spinning() {
    let mut world = World::new(&["alpha"]);
    // More connections allowed than the launcher has file descriptors (64, below).
    world.circles[0]["server"] = json!({ "max_connections": 1000 });
    let launcher = world.launch_limited(&["-d 1048576", "-n 64"], &[]);
    let addr = launcher.addr("alpha");
    let key = SecretKey::generate();
    let before = launcher.rss();
    let peak = launcher.sample_rss();

    // 80 idle connections (20 from each of four addresses, under the per-address cap): the
    // launcher runs out of descriptors; the rest wait in the listen backlog.
    let mut hoard = Vec::new();
    for last in 2..6 {
        hoard.extend(idle_connections(loopback(last), addr, 20).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu = launcher.cpu_time();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let busy = launcher.cpu_time().saturating_sub(cpu);
    eprintln!("out of file descriptors: the launcher used {busy:?} of CPU in 1 s");
    assert!(
        busy < Duration::from_millis(300),
        "the accept loop spins: {busy:?} of CPU in 1 s"
    );

    drop(hoard);
    let started = Instant::now();
    let after = tokio::time::timeout(
        Duration::from_secs(10),
        play_as(&launcher.url("alpha"), &key, None, "40 + 2"),
    )
    .await
    .expect("served again within 10 s")
    .expect("play");
    assert_eq!(after.output, "42");
    eprintln!(
        "served again {:?} after the hoard let go",
        started.elapsed()
    );
    assert!(peak.peak() < before + BOUND);
}
