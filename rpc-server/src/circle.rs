//! The circle: this server's implementation of the generated API.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use circles_identity::{ChallengeMessage, PublicKey, SecretKey, Signature, verify_personal};
use circles_sandbox::{
    Caller, Limits, Sandbox, SandboxBuilder, SandboxError, SandboxWorkers, ScriptError,
};
use jsonrpsee::types::error::{INTERNAL_ERROR_CODE, INTERNAL_ERROR_MSG};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use rpc_types::server::{Api, CallContext};
use rpc_types::{
    AuthenticateError, AuthenticateParams, AuthenticateResult, CompressedPublicKey,
    FetchNonceError, FetchNonceParams, FetchNonceResult, Nonce, PlayError, PlayParams, PlayResult,
};
use serde_json::json;

use crate::session::{Challenge, Session};

/// How a circle behaves; everything but `id` has a default.
#[derive(Debug, Clone)]
pub struct CircleSettings {
    /// `[a-z0-9-]+`, unique among the circles.
    pub id: String,
    /// When true (the default), `play` needs an authenticated connection;
    /// when false, anonymous callers run scripts with `CALLER_PUBLIC_KEY == ""`.
    pub require_auth: bool,
    /// How long a `fetch_nonce` challenge stays valid (default 300 s).
    pub challenge_ttl: Duration,
    /// The script sandbox's limits.
    pub limits: Limits,
}

impl CircleSettings {
    pub const DEFAULT_CHALLENGE_TTL: Duration = Duration::from_secs(300);

    /// Defaults for circle `id`.
    pub fn new(id: impl Into<String>) -> Self {
        CircleSettings {
            id: id.into(),
            require_auth: true,
            challenge_ttl: Self::DEFAULT_CHALLENGE_TTL,
            limits: Limits::default(),
        }
    }
}

/// One circle's API implementation: its identity, its sandbox, its rules.
pub struct Circle {
    settings: CircleSettings,
    public_key: PublicKey,
    sandbox: Sandbox,
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
            sandbox,
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

fn internal(reason: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(INTERNAL_ERROR_CODE, INTERNAL_ERROR_MSG, Some(reason.into()))
}

/// The connection's session; the session layer attaches one to every call.
fn session(ctx: &CallContext) -> Result<&Session, ErrorObjectOwned> {
    ctx.get::<Session>()
        .ok_or_else(|| internal("no session: the server was started without its session layer"))
}

fn unix_now() -> Result<u64, ErrorObjectOwned> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .map_err(|_| internal("the server clock is before 1970"))
}

fn auth_failed(reason: impl std::fmt::Display) -> AuthenticateError {
    AuthenticateError::AuthenticationFailed(Some(json!({ "reason": reason.to_string() })))
}

impl Api for Circle {
    async fn fetch_nonce(
        &self,
        ctx: CallContext,
        params: FetchNonceParams,
    ) -> Result<FetchNonceResult, FetchNonceError> {
        let caller = PublicKey::from_hex(&params.pubkey)
            .map_err(|e| FetchNonceError::InvalidParams(Some(json!(format!("pubkey: {e}")))))?;
        let session = session(&ctx).map_err(FetchNonceError::Other)?;
        let nonce = circles_identity::try_new_nonce()
            .map_err(|e| FetchNonceError::Other(internal(e.to_string())))?;
        let ttl = self.settings.challenge_ttl;
        let expires_at =
            unix_now().map_err(FetchNonceError::Other)? + ttl.as_secs_f64().ceil() as u64;
        let message = ChallengeMessage {
            circle_id: self.settings.id.clone(),
            circle_key: self.public_key,
            caller_key: caller,
            nonce: nonce.clone(),
            expires_at,
        }
        .render();
        let nonce =
            Nonce::try_from(nonce).map_err(|e| FetchNonceError::Other(internal(e.to_string())))?;
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
        let session = session(&ctx).map_err(AuthenticateError::Other)?;
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
        let caller =
            PublicKey::from_hex(&params.pubkey).map_err(|e| auth_failed(format!("pubkey: {e}")))?;
        if caller != challenge.caller {
            return Err(auth_failed(
                "the challenge on this connection was issued for another public key",
            ));
        }
        let signature = Signature::from_hex(&params.signature).map_err(auth_failed)?;
        verify_personal(&caller, &challenge.message, &signature).map_err(auth_failed)?;

        session.lock().caller = Some(caller);
        let public_key = CompressedPublicKey::try_from(caller.to_hex())
            .map_err(|e| AuthenticateError::Other(internal(e.to_string())))?;
        Ok(AuthenticateResult {
            authenticated: true,
            public_key,
        })
    }

    async fn play(&self, ctx: CallContext, params: PlayParams) -> Result<PlayResult, PlayError> {
        let caller = session(&ctx).map_err(PlayError::Other)?.lock().caller;
        let caller = match caller {
            Some(key) => Caller::new(key.to_hex()),
            None if self.settings.require_auth => {
                return Err(PlayError::Unauthenticated(Some(json!(
                    "this circle runs scripts for authenticated callers only: call fetch_nonce, then authenticate, on this connection"
                ))));
            }
            None => Caller::anonymous(),
        };
        match self.sandbox.run(params.script.0, caller).await {
            Ok(outcome) => Ok(PlayResult {
                output: outcome.output,
                value: outcome.value,
                logs: outcome.logs,
            }),
            Err(error) => Err(play_error(error)),
        }
    }
}

fn play_error(error: ScriptError) -> PlayError {
    let data = Some(error.data());
    match error {
        ScriptError::TooLarge { .. } => PlayError::InvalidParams(data),
        ScriptError::Compile { .. } => PlayError::ScriptCompileError(data),
        ScriptError::Runtime { .. } => PlayError::ScriptRuntimeError(data),
        ScriptError::LimitExceeded { .. } => PlayError::ScriptLimitExceeded(data),
        ScriptError::Panicked { .. } => PlayError::InternalError(data),
    }
}
