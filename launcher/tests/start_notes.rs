//! What the launcher says when its circles have started, besides the table: the web
//! console's banner (only when the console is built) and no warning for loopback circles.

mod support;

use support::World;

/// A console folder with the page and, when `built`, the client module `tools/wasm.sh`
/// builds into `pkg/` (stand-ins: only their presence matters here).
fn console(world: &World, built: bool) -> String {
    let dir = world.path("console");
    std::fs::create_dir_all(dir.join("pkg")).expect("mkdir");
    for file in ["index.html", "console.js", "console.css"] {
        std::fs::write(dir.join(file), "stand-in").expect("write");
    }
    if built {
        for file in ["pkg/rpc_client.js", "pkg/rpc_client_bg.wasm"] {
            std::fs::write(dir.join(file), "stand-in").expect("write");
        }
    }
    dir.to_str().expect("utf-8").to_owned()
}

fn banner(printed: &[String]) -> Option<&String> {
    printed.iter().find(|line| line.starts_with("web console:"))
}

#[test]
fn the_console_banner_appears_only_when_the_console_is_built() {
    let world = World::new(&["alpha"]);
    let dir = console(&world, false);
    let launcher = support::Launcher::start_with(&world.write(), 1, &["--console-dir", &dir]);
    assert_eq!(banner(&launcher.printed), None, "{:?}", launcher.printed);
    drop(launcher);

    let dir = console(&world, true);
    let launcher = support::Launcher::start_with(&world.write(), 1, &["--console-dir", &dir]);
    let addr = launcher.addr("alpha");
    assert_eq!(
        banner(&launcher.printed).map(String::as_str),
        Some(format!("web console: http://{addr}/ (served on every circle's port)").as_str()),
        "{:?}",
        launcher.printed
    );
    drop(launcher);

    let launcher = support::Launcher::start_with(&world.write(), 1, &["--no-console"]);
    assert_eq!(banner(&launcher.printed), None, "{:?}", launcher.printed);
}

#[test]
fn a_loopback_circle_gets_no_warning() {
    let world = World::new(&["alpha"]);
    let mut command = std::process::Command::new(support::launcher_binary());
    command
        .arg("--config")
        .arg(world.write())
        .arg("--no-console")
        .stderr(std::process::Stdio::piped());
    let mut launcher = support::Launcher::spawn(command, 1);
    let mut stderr = launcher.child.stderr.take().expect("stderr");
    let stopped = launcher.signal("TERM");
    assert_eq!(stopped, Some(0));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut text).expect("read stderr");
    assert!(!text.contains("warning"), "{text}");
}
