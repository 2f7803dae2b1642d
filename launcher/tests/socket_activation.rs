//! Socket activation: sockets bound by the parent (here the test) and passed down as
//! systemd does (fds 3.., LISTEN_FDS, LISTEN_FDNAMES) serve the circles they are named
//! after, on ports the parent knew before the launcher started; bad hand-overs are refused
//! with exit code 2 and a message that says what is wrong.

mod support;

use std::net::{TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use rpc_client::SecretKey;
use support::{Launcher, World, listening, pass_fds, play_as, port_in_use};

/// The launcher's exit code for a bad command line or socket activation.
const USAGE: i32 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circle_is_served_on_the_socket_named_after_it_and_the_table_shows_its_url() {
    let world = World::new(&["alice", "bob"]);
    assert_eq!(
        world.circles[0]["port"], 0,
        "the config's port is not the one served"
    );
    let (listener, port) = port_in_use();
    let passed_url = format!("ws://127.0.0.1:{port}");

    let launcher = world.launch_with_listeners([("alice", listener)]);
    assert_eq!(
        launcher.url("alice"),
        passed_url,
        "the table shows the passed socket"
    );
    assert_ne!(
        launcher.url("bob"),
        passed_url,
        "bob binds a port of its own"
    );
    assert!(
        launcher.printed.iter().any(|line| line
            == "alice: served on fd 3, passed by socket activation (its configured port 0 is not used)"),
        "the launcher says alice is served on the passed socket: {:?}",
        launcher.printed
    );

    let alice = launcher.row("alice").clone();
    let answer = play_as(
        &passed_url,
        &SecretKey::generate(),
        Some(&alice.public_key),
        "40 + 2",
    )
    .await
    .expect("alice answers on the test's port");
    assert_eq!(answer.value, 42);

    assert_eq!(launcher.signal("TERM"), Some(0), "SIGTERM exits 0");
    assert!(
        !listening(&passed_url),
        "the test's copy of the socket was closed: the port was the launcher's alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_port_is_not_checked_when_a_socket_holds_it() {
    // systemd's way: the socket unit binds the circle's own port, so the port is in use
    // (by the socket the launcher is given) when the launcher checks its config.
    let mut world = World::new(&["alice"]);
    let (listener, port) = port_in_use();
    world.circles[0]["port"] = port.into();

    let launcher = world.launch_with_listeners([("alice", listener)]);
    let url = launcher.url("alice");
    assert_eq!(url, format!("ws://127.0.0.1:{port}"));
    play_as(&url, &SecretKey::generate(), None, "1")
        .await
        .expect("alice answers on its port");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_launchers_can_know_each_others_port_before_either_starts() {
    let (for_alice, alice_port) = port_in_use();
    let (for_bob, bob_port) = port_in_use();
    // Each circle's script library knows where the other is, written before either starts.
    let alice_world = World::new(&["alice"]);
    alice_world.write_script(
        "alice",
        "peer.rhai",
        &format!("export const URL = \"ws://127.0.0.1:{bob_port}\";"),
    );
    let bob_world = World::new(&["bob"]);
    bob_world.write_script(
        "bob",
        "peer.rhai",
        &format!("export const URL = \"ws://127.0.0.1:{alice_port}\";"),
    );

    let alice = alice_world.launch_with_listeners([("alice", for_alice)]);
    let bob = bob_world.launch_with_listeners([("bob", for_bob)]);

    let key = SecretKey::generate();
    let peer_of_alice = play_as(
        &alice.url("alice"),
        &key,
        None,
        r#"import "peer" as p; p::URL"#,
    )
    .await
    .expect("alice answers");
    assert_eq!(peer_of_alice.value, bob.url("bob").as_str());
    let peer_of_bob = play_as(&bob.url("bob"), &key, None, r#"import "peer" as p; p::URL"#)
        .await
        .expect("bob answers");
    assert_eq!(peer_of_bob.value, alice.url("alice").as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_for_another_process_are_ignored() {
    let world = World::new(&["alice"]);
    let (listener, port) = port_in_use();
    let mut command = Command::new(support::launcher_binary());
    command
        .arg("--config")
        .arg(world.write())
        .arg("--no-console")
        .stderr(Stdio::inherit());
    pass_fds(&mut command, vec![("alice", OwnedFd::from(listener))]);
    // Not the launcher's pid (pid 1 is init): the variables were meant for another process.
    command.env("LISTEN_PID", "1");
    let launcher = Launcher::spawn(command, 1);
    assert_ne!(
        launcher.addr("alice").port(),
        port,
        "alice binds its configured port 0, not the passed socket"
    );
    play_as(&launcher.url("alice"), &SecretKey::generate(), None, "1")
        .await
        .expect("alice answers on its own port");
}

/// Runs the launcher on a one-circle (`alice`) world with `fds` and `env`, expecting it to
/// refuse to start with exit code 2; its stderr.
fn refused(fds: Vec<(&str, OwnedFd)>, env: &[(&str, &str)]) -> String {
    let world = World::new(&["alice"]);
    let out = world.run_with_fds(fds, env);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(USAGE), "{stderr}");
    assert!(
        stderr.starts_with("launcher: socket activation: "),
        "says what failed: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing started: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn a_socket_named_after_no_circle_is_refused() {
    let (listener, _) = port_in_use();
    let stderr = refused(vec![("carol", OwnedFd::from(listener))], &[]);
    assert!(
        stderr.contains(
            r#"fd 3 is named "carol", which is the id of no circle in the config (alice)"#
        ),
        "{stderr}"
    );
}

#[test]
fn a_malformed_listen_fds_is_refused() {
    let stderr = refused(vec![], &[("LISTEN_FDS", "many")]);
    assert!(
        stderr.contains(r#"LISTEN_FDS="many" is not a number of file descriptors"#),
        "{stderr}"
    );
    let stderr = refused(
        vec![],
        &[("LISTEN_FDS", "1"), ("LISTEN_FDNAMES", "alice:bob")],
    );
    assert!(
        stderr.contains("names 2 fd(s) but LISTEN_FDS=1"),
        "{stderr}"
    );
}

#[test]
fn an_fd_that_is_not_a_listening_tcp_socket_is_refused() {
    let file = std::fs::File::open("/dev/null").expect("/dev/null");
    let stderr = refused(vec![("alice", OwnedFd::from(file))], &[]);
    assert!(
        stderr.contains(r#"fd 3 ("alice") is not a listening TCP socket: it is not a socket"#),
        "{stderr}"
    );

    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    let stderr = refused(vec![("alice", OwnedFd::from(udp))], &[]);
    assert!(stderr.contains("is not a TCP socket"), "{stderr}");

    let (listener, port) = port_in_use();
    let connection = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    let stderr = refused(vec![("alice", OwnedFd::from(connection))], &[]);
    assert!(
        stderr.contains("is a TCP socket that does not listen"),
        "{stderr}"
    );
    drop(listener);

    // The second fd is checked too, and named in the message.
    let (good, _) = port_in_use();
    let file = std::fs::File::open("/dev/null").expect("/dev/null");
    let stderr = refused(
        vec![("alice", OwnedFd::from(good)), ("bob", OwnedFd::from(file))],
        &[],
    );
    assert!(
        stderr.contains(r#"fd 4 ("bob") is not a listening TCP socket"#),
        "{stderr}"
    );
}
