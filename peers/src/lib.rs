//! Circles calling circles, as themselves.
//!
//! A circle's scripts reach other circles through the Rhai module `peers`
//! ([`register`]): `peers::invoke(peer, module, function, args)` calls a published
//! function of peer `peer`, `peers::play(peer, script)` runs a script there. `peer` is a
//! name from the circle's [`Directory`]: nothing else can be reached. The calling circle
//! signs in to the peer with its own identity key, after checking that the peer's
//! challenge names the key pinned in the directory (nothing is signed otherwise), and
//! keeps that connection for later calls ([`Peers`]).
//!
//! Each request says how it came ([`rpc_client::Via`]): the calling run's `CALL_CHAIN`
//! (which the peer extends with the calling circle, proven by its sign-in) and the time the
//! run can still wait, which bounds the peer's run. The run's limits on peer calls
//! (`max_peer_calls`, `max_hops`, its deadline) are the sandbox's
//! ([`circles_sandbox::RunContext::peer_call`]).

mod directory;
mod module;
mod peers;

pub use directory::{Directory, PeerAddress};
pub use module::register;
pub use peers::{PeerError, Peers, peer_code};
