//! The Rhai module `peers`.

use std::sync::Arc;

use circles_sandbox::json::{JsonLimits, JsonMode, from_json, to_json};
use circles_sandbox::rhai::{
    Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Module, NativeCallContext,
    Position,
};
use circles_sandbox::{LimitKind, RunContext};
use rpc_client::{ChainLink, LimitName, Via};

use crate::peers::{PeerError, Peers, Request};

type RhaiResult<T> = Result<T, Box<EvalAltResult>>;

/// How deep and how big the arguments of one peer call may be (the peer's message size
/// limit applies on top).
const ARGS_LIMITS: JsonLimits = JsonLimits {
    max_depth: 64,
    max_items: 100_000,
    max_string_bytes: 4 * 1024 * 1024,
};

/// Registers the static module `peers` on `engine`:
///
/// - `peers::invoke(peer, module, function)` and `peers::invoke(peer, module, function, args)`
///   call a published function of `peer`, with `args` (an array) as its arguments (the
///   JSON-RPC method `call`: the name is a reserved word in Rhai);
/// - `peers::play(peer, script)` runs `script` on `peer` (if it lets this circle play);
/// - `peers::names()` lists the directory.
///
/// Both calls give back the peer's result as a value. A failure is thrown as a map
/// `#{peer, code, message, data}` (catchable), except the limits of the chain, which end the
/// run as any limit does: too many peer calls in this run (`peer_calls`), too many hops,
/// here or further on (`hops`), and the run's time running out, while waiting or in the
/// peer's run, which had only this run's time (`time`).
pub fn register(engine: &mut Engine, peers: Arc<Peers>) {
    engine.register_static_module("peers", module(peers).into());
}

/// The `peers` module on its own (what [`register`] installs).
pub fn module(peers: Arc<Peers>) -> Module {
    let mut m = Module::new();

    let p = Arc::clone(&peers);
    m.set_native_fn(
        "invoke",
        move |ctx: NativeCallContext,
              peer: ImmutableString,
              module: ImmutableString,
              function: ImmutableString|
              -> RhaiResult<Dynamic> {
            invoke(&p, &ctx, &peer, module, function, Array::new())
        },
    );

    let p = Arc::clone(&peers);
    m.set_native_fn(
        "invoke",
        move |ctx: NativeCallContext,
              peer: ImmutableString,
              module: ImmutableString,
              function: ImmutableString,
              args: Array|
              -> RhaiResult<Dynamic> { invoke(&p, &ctx, &peer, module, function, args) },
    );

    let p = Arc::clone(&peers);
    m.set_native_fn(
        "play",
        move |ctx: NativeCallContext,
              peer: ImmutableString,
              script: ImmutableString|
              -> RhaiResult<Dynamic> {
            let request = Request::Play {
                script: script.into(),
            };
            send(&p, &peer, request, ctx.call_position())
        },
    );

    let p = peers;
    m.set_native_fn("names", move || -> RhaiResult<Array> {
        Ok(p.directory()
            .names()
            .into_iter()
            .map(Dynamic::from)
            .collect())
    });

    m
}

/// `peers::invoke`: `function` of `module` at `peer`, with `args` as JSON.
fn invoke(
    peers: &Peers,
    ctx: &NativeCallContext,
    peer: &str,
    module: ImmutableString,
    function: ImmutableString,
    args: Array,
) -> RhaiResult<Dynamic> {
    let at = ctx.call_position();
    let args = args
        .iter()
        .map(|arg| to_json(arg, JsonMode::Strict, ARGS_LIMITS))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| thrown(peer, -32602, format!("peers::invoke: argument: {e}"), at))?;
    let request = Request::Call {
        module: module.into(),
        function: function.into(),
        args,
    };
    send(peers, peer, request, at)
}

/// Makes one peer call for the run on this thread, within its limits.
fn send(peers: &Peers, peer: &str, request: Request, at: Position) -> RhaiResult<Dynamic> {
    let call = RunContext::peer_call(at)?;
    let chain = call
        .chain
        .iter()
        .map(|key| key.parse::<ChainLink>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| thrown(peer, -32603, format!("the call chain: {e}"), at))?;
    let via = Via {
        chain,
        time_left_ms: std::num::NonZeroU64::new(
            u64::try_from(call.time_left.as_millis()).unwrap_or(u64::MAX),
        ),
    };
    match peers.request_blocking(peer, request, via, call.wait) {
        Ok(result) => Ok(from_json(&result.value)),
        Err(error @ PeerError::TimedOut { .. }) => Err(RunContext::exceed(
            LimitKind::Time,
            format!("time limit exceeded: {error}"),
            at,
        )),
        // The limits of the whole chain end this run too: the peer's run had only this run's
        // time, and a chain too long there is too long here.
        Err(error) if error.remote_limit() == Some(LimitName::Time) => Err(RunContext::exceed(
            LimitKind::Time,
            format!("time limit exceeded: peer {peer} ran out of the time this run gave it"),
            at,
        )),
        Err(error) if error.remote_limit() == Some(LimitName::Hops) => {
            let detail = error
                .data()
                .and_then(|data| Some(data.get("message")?.as_str()?.to_owned()))
                .unwrap_or_else(|| error.message());
            Err(RunContext::exceed(
                LimitKind::Hops,
                format!("at peer {peer}: {detail}"),
                at,
            ))
        }
        Err(error) => {
            let data = error.data();
            Err(thrown_with(peer, error.code(), error.message(), data, at))
        }
    }
}

fn thrown(peer: &str, code: i32, message: String, at: Position) -> Box<EvalAltResult> {
    thrown_with(peer, code, message, None, at)
}

/// A catchable error: `#{peer, code, message, data}`.
fn thrown_with(
    peer: &str,
    code: i32,
    message: String,
    data: Option<serde_json::Value>,
    at: Position,
) -> Box<EvalAltResult> {
    let mut map = Map::new();
    map.insert("peer".into(), Dynamic::from(ImmutableString::from(peer)));
    map.insert("code".into(), Dynamic::from(i64::from(code)));
    map.insert("message".into(), Dynamic::from(message));
    map.insert(
        "data".into(),
        data.as_ref().map_or(Dynamic::UNIT, from_json),
    );
    Box::new(EvalAltResult::ErrorRuntime(map.into(), at))
}
