//! The circle: this server's implementation of the generated API.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use circles_identity::{ChallengeMessage, PublicKey, SecretKey, verify_personal};
use circles_sandbox::{
    Caller, LimitKind, Limits, NotCallable, Sandbox, SandboxBuilder, SandboxError, SandboxWorkers,
    ScriptError,
};
use rpc_types::server::{Api, CallContext};
use rpc_types::{
    AuthenticateError, AuthenticateParams, AuthenticateResult, AuthenticationFailedData, CallError,
    CallParams, FetchNonceError, FetchNonceParams, FetchNonceResult, ForbiddenData, FunctionList,
    LimitExceededData, LimitName, ListFunctionsError, Nonce, NotCallableData, NotCallableProblem,
    PlayError, PlayParams, PlayResult, PublishedFunction, ScriptErrorData,
};

use crate::access::{AccessPolicy, Action, Audience, Refusal};
use crate::session::{Challenge, Session};

/// How a circle behaves; everything but `id` has a default.
#[derive(Debug, Clone)]
pub struct CircleSettings {
    /// `[a-z0-9-]+`, unique among the circles.
    pub id: String,
    /// Members, and who may `play` and `call` (default: members play, any
    /// signed-in caller calls published functions).
    pub access: AccessPolicy,
    /// How long a `fetch_nonce` challenge stays valid (default 300 s).
    pub challenge_ttl: Duration,
    /// The script sandbox's limits.
    pub limits: Limits,
}

impl CircleSettings {
    /// The default lifetime of a challenge; configuration defaults refer to it.
    pub const DEFAULT_CHALLENGE_TTL: Duration = Duration::from_secs(300);

    /// Defaults for circle `id`.
    pub fn new(id: impl Into<String>) -> Self {
        CircleSettings {
            id: id.into(),
            access: AccessPolicy::default(),
            challenge_ttl: Self::DEFAULT_CHALLENGE_TTL,
            limits: Limits::default(),
        }
    }
}

/// One circle's API implementation: its identity, its sandbox, its rules.
pub struct Circle {
    settings: CircleSettings,
    public_key: PublicKey,
    sandbox: Arc<Sandbox>,
}

impl Circle {
    /// A circle with identity `key` and a sandbox with the settings' limits.
    pub fn new(settings: CircleSettings, key: &SecretKey) -> Result<Circle, SandboxError> {
        Circle::with_sandbox(settings, key, |builder| builder)
    }

    /// Like [`Circle::new`], letting the caller add to the sandbox (host
    /// functions, a module resolver) before it is built.
    pub fn with_sandbox(
        settings: CircleSettings,
        key: &SecretKey,
        customize: impl FnOnce(SandboxBuilder) -> SandboxBuilder,
    ) -> Result<Circle, SandboxError> {
        let public_key = key.public_key();
        let info = circles_sandbox::CircleInfo {
            id: settings.id.clone(),
            public_key: public_key.to_hex(),
        };
        let sandbox = customize(Sandbox::builder(info, settings.limits.clone())).build()?;
        Ok(Circle {
            settings,
            public_key,
            sandbox: Arc::new(sandbox),
        })
    }

    pub fn id(&self) -> &str {
        &self.settings.id
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    pub fn settings(&self) -> &CircleSettings {
        &self.settings
    }

    /// The sandbox's worker threads: they exit once the circle is dropped (a server drops
    /// its circle when it stops) and the scripts still running have ended. Take this before
    /// serving the circle, to wait for them at shutdown.
    pub fn sandbox_workers(&self) -> SandboxWorkers {
        self.sandbox.workers()
    }
}

/// The connection's session; the session layer attaches one to every call.
/// Without it the server was assembled wrongly: an internal error, the reason
/// being the error's `data`.
fn session(ctx: &CallContext) -> Result<&Session, String> {
    ctx.get::<Session>()
        .ok_or_else(|| "no session: the server was started without its session layer".to_string())
}

fn unix_now() -> Result<u64, String> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .map_err(|_| "the server clock is before 1970".to_string())
}

fn auth_failed(reason: impl std::fmt::Display) -> AuthenticateError {
    AuthenticateError::AuthenticationFailed(AuthenticationFailedData {
        reason: reason.to_string(),
    })
}

impl Api for Circle {
    async fn fetch_nonce(
        &self,
        ctx: CallContext,
        params: FetchNonceParams,
    ) -> Result<FetchNonceResult, FetchNonceError> {
        let caller = params.pubkey;
        let session = session(&ctx).map_err(FetchNonceError::InternalError)?;
        let nonce = circles_identity::try_new_nonce()
            .map_err(|e| FetchNonceError::InternalError(e.to_string()))?;
        let ttl = self.settings.challenge_ttl;
        let expires_at =
            unix_now().map_err(FetchNonceError::InternalError)? + ttl.as_secs_f64().ceil() as u64;
        let message = ChallengeMessage {
            circle_id: self.settings.id.clone(),
            circle_key: self.public_key,
            caller_key: caller,
            nonce: nonce.clone(),
            expires_at,
        }
        .render();
        let nonce =
            Nonce::try_from(nonce).map_err(|e| FetchNonceError::InternalError(e.to_string()))?;
        session.lock().challenge = Some(Challenge {
            caller,
            message: message.clone(),
            deadline: Instant::now() + ttl,
        });
        Ok(FetchNonceResult {
            expires_at,
            message,
            nonce,
        })
    }

    async fn authenticate(
        &self,
        ctx: CallContext,
        params: AuthenticateParams,
    ) -> Result<AuthenticateResult, AuthenticateError> {
        let session = session(&ctx).map_err(AuthenticateError::InternalError)?;
        // The first attempt consumes the challenge, whatever its outcome: a
        // signature is never accepted twice.
        let challenge = session.lock().challenge.take();
        let Some(challenge) = challenge else {
            return Err(auth_failed(
                "no challenge on this connection: call fetch_nonce first (each challenge allows one attempt)",
            ));
        };
        if Instant::now() >= challenge.deadline {
            return Err(auth_failed(
                "the challenge has expired: call fetch_nonce again",
            ));
        }
        let caller = params.pubkey;
        if caller != challenge.caller {
            return Err(auth_failed(
                "the challenge on this connection was issued for another public key",
            ));
        }
        verify_personal(&caller, &challenge.message, &params.signature).map_err(auth_failed)?;

        session.lock().caller = Some(caller);
        Ok(AuthenticateResult {
            authenticated: true,
            public_key: caller,
        })
    }

    async fn play(&self, ctx: CallContext, params: PlayParams) -> Result<PlayResult, PlayError> {
        let caller = self
            .admit(&ctx, Action::Play)
            .map_err(|refusal| match refusal {
                Admission::Refused(Refusal::Unauthenticated) => PlayError::Unauthenticated,
                Admission::Refused(Refusal::Forbidden { allowed, reason }) => {
                    PlayError::Forbidden(forbidden(rpc_types::Action::Play, allowed, reason))
                }
                Admission::Internal(reason) => PlayError::InternalError(reason),
            })?;
        let outcome = self
            .sandbox
            .run(params.script.0, via(caller, params.via))
            .await;
        outcome.map(play_result).map_err(play_error)
    }

    async fn call(&self, ctx: CallContext, params: CallParams) -> Result<PlayResult, CallError> {
        let caller = self
            .admit(&ctx, Action::Call)
            .map_err(|refusal| match refusal {
                Admission::Refused(Refusal::Unauthenticated) => CallError::Unauthenticated,
                Admission::Refused(Refusal::Forbidden { allowed, reason }) => {
                    CallError::Forbidden(forbidden(rpc_types::Action::Call, allowed, reason))
                }
                Admission::Internal(reason) => CallError::InternalError(reason),
            })?;
        let CallParams {
            module,
            function,
            args,
            via: through,
        } = params;
        let outcome = self
            .sandbox
            .call(
                module.into(),
                function.into(),
                args.unwrap_or_default(),
                via(caller, through),
            )
            .await;
        outcome.map(play_result).map_err(call_error)
    }

    async fn list_functions(&self, ctx: CallContext) -> Result<FunctionList, ListFunctionsError> {
        self.admit(&ctx, Action::Call)
            .map_err(|refusal| match refusal {
                Admission::Refused(Refusal::Unauthenticated) => ListFunctionsError::Unauthenticated,
                Admission::Refused(Refusal::Forbidden { allowed, reason }) => {
                    ListFunctionsError::Forbidden(forbidden(
                        rpc_types::Action::Call,
                        allowed,
                        reason,
                    ))
                }
                Admission::Internal(reason) => ListFunctionsError::InternalError(reason),
            })?;
        // Listing compiles the modules not compiled yet: off the async runtime.
        let sandbox = Arc::clone(&self.sandbox);
        let listed = tokio::task::spawn_blocking(move || sandbox.published_functions())
            .await
            .map_err(|e| ListFunctionsError::InternalError(e.to_string()))?
            .map_err(|e| ListFunctionsError::InternalError(e.to_string()))?;
        let functions = listed
            .into_iter()
            .filter_map(|f| {
                // A name the spec's types cannot hold cannot be called either: leave it out.
                Some(PublishedFunction {
                    module: f.module.try_into().ok()?,
                    name: f.name.try_into().ok()?,
                    params: f.params,
                    doc: f.doc,
                })
            })
            .collect();
        Ok(FunctionList { functions })
    }
}

/// Why a call was not admitted.
enum Admission {
    Refused(Refusal),
    /// The server was assembled wrongly (no session).
    Internal(String),
}

impl Circle {
    /// The sandbox's caller for this call, if the policy admits it for `action`.
    fn admit(&self, ctx: &CallContext, action: Action) -> Result<Caller, Admission> {
        let caller = session(ctx).map_err(Admission::Internal)?.lock().caller;
        let is_member = self
            .settings
            .access
            .admit(action, caller.as_ref())
            .map_err(Admission::Refused)?;
        Ok(match caller {
            Some(key) => Caller::new(key.to_hex()).member(is_member),
            None => Caller::anonymous(),
        })
    }
}

/// The caller as the sandbox sees it, with what another circle's request says of how it
/// came (see `Via` in the spec).
fn via(caller: Caller, through: Option<rpc_types::Via>) -> Caller {
    match through {
        None => caller,
        Some(through) => caller.via(
            through.chain.into_iter().map(String::from).collect(),
            through
                .time_left_ms
                .map(|ms| Duration::from_millis(ms.get())),
        ),
    }
}

fn forbidden(action: rpc_types::Action, allowed: Audience, reason: String) -> ForbiddenData {
    ForbiddenData {
        action,
        allowed: match allowed {
            Audience::Members => rpc_types::Audience::Members,
            Audience::SignedIn => rpc_types::Audience::SignedIn,
            Audience::Anyone => rpc_types::Audience::Anyone,
        },
        reason,
    }
}

fn play_result(outcome: circles_sandbox::Outcome) -> PlayResult {
    PlayResult {
        output: outcome.output,
        value: outcome.value,
        logs: outcome.logs,
    }
}

/// `call`'s errors: those of `play`, and a function the library does not publish.
fn call_error(error: ScriptError) -> CallError {
    let ScriptError::NotCallable {
        module,
        function,
        reason,
    } = error
    else {
        return match play_error(error) {
            PlayError::InvalidParams(data) => CallError::InvalidParams(data),
            PlayError::Unauthenticated => CallError::Unauthenticated,
            PlayError::Forbidden(data) => CallError::Forbidden(data),
            PlayError::ScriptCompileError(data) => CallError::ScriptCompileError(data),
            PlayError::ScriptRuntimeError(data) => CallError::ScriptRuntimeError(data),
            PlayError::ScriptLimitExceeded(data) => CallError::ScriptLimitExceeded(data),
            PlayError::InternalError(data) => CallError::InternalError(data),
            PlayError::Other(error) => CallError::Other(error),
        };
    };
    let message = reason.to_string();
    let (problem, arities) = match reason {
        NotCallable::NoModule => (NotCallableProblem::NoModule, Vec::new()),
        NotCallable::NoFunction => (NotCallableProblem::NoFunction, Vec::new()),
        NotCallable::Arity { expected, .. } => (
            NotCallableProblem::Arity,
            expected.into_iter().map(|n| n as u64).collect(),
        ),
        NotCallable::BadName(_) => (NotCallableProblem::BadName, Vec::new()),
    };
    CallError::NotCallable(NotCallableData {
        module,
        function,
        problem,
        arities,
        message,
    })
}

/// The one mapping from the sandbox's errors to the wire's.
fn play_error(error: ScriptError) -> PlayError {
    match error {
        ScriptError::TooLarge { .. } => {
            PlayError::InvalidParams(format!("script: {error} ({})", LimitName::ScriptSize))
        }
        ScriptError::Compile {
            message,
            line,
            column,
        } => PlayError::ScriptCompileError(script_error_data(message, line, column, Vec::new())),
        ScriptError::Runtime {
            message,
            line,
            column,
            logs,
        } => PlayError::ScriptRuntimeError(script_error_data(message, line, column, logs)),
        ScriptError::LimitExceeded {
            limit,
            message,
            logs,
        } => PlayError::ScriptLimitExceeded(LimitExceededData {
            limit: limit_name(limit),
            message,
            logs,
        }),
        ScriptError::Panicked { message } => {
            PlayError::InternalError(format!("the script run panicked: {message}"))
        }
        // `play` runs no published function by name.
        error @ ScriptError::NotCallable { .. } => PlayError::InternalError(error.to_string()),
    }
}

fn script_error_data(
    message: String,
    line: usize,
    column: usize,
    logs: Vec<String>,
) -> ScriptErrorData {
    ScriptErrorData {
        message,
        line: line as u64,
        column: column as u64,
        logs,
    }
}

fn limit_name(limit: LimitKind) -> LimitName {
    match limit {
        LimitKind::Operations => LimitName::Operations,
        LimitKind::Time => LimitName::Time,
        LimitKind::CallDepth => LimitName::CallDepth,
        LimitKind::ExpressionDepth => LimitName::ExpressionDepth,
        LimitKind::StringSize => LimitName::StringSize,
        LimitKind::ArraySize => LimitName::ArraySize,
        LimitKind::MapSize => LimitName::MapSize,
        LimitKind::ScriptSize => LimitName::ScriptSize,
        LimitKind::Modules => LimitName::Modules,
        LimitKind::Busy => LimitName::Busy,
        LimitKind::Memory => LimitName::Memory,
        LimitKind::StoreQuota => LimitName::StoreQuota,
        LimitKind::Hops => LimitName::Hops,
        LimitKind::PeerCalls => LimitName::PeerCalls,
    }
}
