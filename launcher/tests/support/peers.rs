//! Shared by the tests of circles calling circles (`peers.rs`, `two_launchers.rs`).

use circles_identity::SecretKey;
use serde_json::Value;

use super::{Launcher, World};

/// Signs in to circle `id` as a fresh key; the key and the connection.
pub async fn signed_in(
    launcher: &Launcher,
    id: &str,
) -> (SecretKey, rpc_client::CircleClient<rpc_client::Transport>) {
    let me = SecretKey::generate();
    let client = rpc_client::connect(&launcher.url(id))
        .await
        .expect("connect");
    client.authenticate(&me, None).await.expect("sign in");
    (me, client)
}

/// Circle `id` signs in with `key` (its identity file is written before the launch).
pub fn give_identity(world: &World, id: &str) -> SecretKey {
    let key = SecretKey::generate();
    let dir = world.path(&format!("data/{id}"));
    std::fs::create_dir_all(&dir).expect("mkdir db_path");
    key.save_to_file(dir.join("identity.key"))
        .expect("write the identity key");
    key
}

pub fn circle_mut<'w>(world: &'w mut World, id: &str) -> &'w mut Value {
    world
        .circles
        .iter_mut()
        .find(|c| c["id"] == id)
        .expect("a circle of the world")
}

/// Established TCP connections whose server end is `port` on this machine.
pub fn connections_to(port: u16) -> usize {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let local_port = fields
                        .get(1)
                        .and_then(|addr| addr.rsplit(':').next())
                        .and_then(|hex| u16::from_str_radix(hex, 16).ok());
                    local_port == Some(port) && fields.get(3) == Some(&"01")
                })
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .count()
}
