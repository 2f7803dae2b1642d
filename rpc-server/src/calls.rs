//! From one WebSocket message to its answer: a call, a notification or a batch, decoded
//! and answered exactly as jsonrpsee 0.26's own server does (same errors, same ids, same
//! size limits), through the circle's RPC middleware and then its [`Methods`].
//!
//! The server drives its WebSocket connections itself (see [`crate::websocket`]) so that it
//! can bound what each connection holds; this module is the part of jsonrpsee's connection
//! task that turns a message into an answer.

use std::future::Future;

use futures_util::future::Either;
use jsonrpsee::Extensions;
use jsonrpsee::core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT};
use jsonrpsee::core::server::helpers::prepare_error;
use jsonrpsee::server::{
    BatchResponseBuilder, ConnectionId, MethodCallback, MethodResponse, Methods,
};
use jsonrpsee::types::error::{ErrorCode, reject_too_big_batch_request};
use jsonrpsee::types::{ErrorObject, Id, InvalidRequest, Params, Request};
use serde_json::value::RawValue;

/// The answer to `message` (`None` for notifications, which get none), passing `extensions`
/// to every call.
pub(crate) async fn answer<S>(
    message: &[u8],
    service: &S,
    max_batch_calls: u32,
    extensions: &Extensions,
) -> Option<String>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        >,
{
    let first = message
        .iter()
        .enumerate()
        .take(128)
        .find(|(_, byte)| !byte.is_ascii_whitespace());
    let response = match first {
        Some((at, b'{')) => single(&message[at..], service, extensions).await,
        Some((at, b'[')) => batch(&message[at..], service, max_batch_calls, extensions).await,
        _ => MethodResponse::error(Id::Null, ErrorObject::from(ErrorCode::ParseError)),
    };
    (response.is_method_call() || response.is_batch())
        .then(|| String::from(Box::<str>::from(response.into_json())))
}

async fn single<S>(body: &[u8], service: &S, extensions: &Extensions) -> MethodResponse
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        >,
{
    if let Ok(mut request) = serde_json::from_slice::<Request>(body) {
        *request.extensions_mut() = extensions.clone();
        service.call(request).await
    } else if let Ok(mut notification) = serde_json::from_slice::<Notification>(body) {
        *notification.extensions_mut() = extensions.clone();
        service.notification(notification).await
    } else {
        let (id, code) = prepare_error(body);
        MethodResponse::error(id, ErrorObject::from(code))
    }
}

async fn batch<S>(
    body: &[u8],
    service: &S,
    max_batch_calls: u32,
    extensions: &Extensions,
) -> MethodResponse
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        >,
{
    let Ok(entries) = serde_json::from_slice::<Vec<&RawValue>>(body) else {
        return MethodResponse::error(Id::Null, ErrorObject::from(ErrorCode::ParseError));
    };
    let max = max_batch_calls as usize;
    if entries.len() > max {
        return MethodResponse::error(Id::Null, reject_too_big_batch_request(max));
    }
    let mut batch = Vec::with_capacity(entries.len());
    for entry in entries {
        if let Ok(mut request) = serde_json::from_str::<Request>(entry.get()) {
            *request.extensions_mut() = extensions.clone();
            batch.push(Ok(BatchEntry::Call(request)));
        } else if let Ok(mut notification) = serde_json::from_str::<Notification>(entry.get()) {
            *notification.extensions_mut() = extensions.clone();
            batch.push(Ok(BatchEntry::Notification(notification)));
        } else {
            let id = serde_json::from_str::<InvalidRequest>(entry.get())
                .map(|invalid| invalid.id)
                .unwrap_or(Id::Null);
            batch.push(Err(BatchEntryErr::new(
                id,
                ErrorCode::InvalidRequest.into(),
            )));
        }
    }
    service.batch(Batch::from(batch)).await
}

/// The innermost RPC service: runs calls with the registered methods (what jsonrpsee's own
/// `RpcService` does for a connection without subscriptions; circles have none).
#[derive(Clone, Debug)]
pub(crate) struct MethodsService {
    methods: Methods,
    max_response_bytes: usize,
    connection: ConnectionId,
}

impl MethodsService {
    pub(crate) fn new(
        methods: Methods,
        max_response_bytes: usize,
        connection: ConnectionId,
    ) -> Self {
        MethodsService {
            methods,
            max_response_bytes,
            connection,
        }
    }
}

impl RpcServiceT for MethodsService {
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let Request {
            id,
            method,
            params,
            extensions,
            ..
        } = request;
        let params = Params::new(params.as_ref().map(|p| RawValue::get(p)));
        let ready = |response: MethodResponse| Either::Left(std::future::ready(response));
        match self.methods.method_with_name(&method) {
            None => ready(
                MethodResponse::error(id, ErrorObject::from(ErrorCode::MethodNotFound))
                    .with_extensions(extensions),
            ),
            Some((_, MethodCallback::Async(callback))) => Either::Right((callback)(
                id.into_owned(),
                params.into_owned(),
                self.connection,
                self.max_response_bytes,
                extensions,
            )),
            Some((_, MethodCallback::Sync(callback))) => {
                ready((callback)(id, params, self.max_response_bytes, extensions))
            }
            Some((_, MethodCallback::Subscription(_) | MethodCallback::Unsubscription(_))) => {
                tracing::warn!(%method, "subscriptions are not supported");
                ready(
                    MethodResponse::error(id, ErrorObject::from(ErrorCode::InternalError))
                        .with_extensions(extensions),
                )
            }
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let service = self.clone();
        async move {
            let mut answers = BatchResponseBuilder::new_with_limit(service.max_response_bytes);
            let mut got_notification = false;
            for entry in batch.into_iter() {
                let response = match entry {
                    Ok(BatchEntry::Call(request)) => service.call(request).await,
                    Ok(BatchEntry::Notification(notification)) => {
                        got_notification = true;
                        service.notification(notification).await;
                        continue;
                    }
                    Err(error) => {
                        let (error, id) = error.into_parts();
                        MethodResponse::error(id, error)
                    }
                };
                if let Err(too_big) = answers.append(response) {
                    return too_big;
                }
            }
            if answers.is_empty() && got_notification {
                MethodResponse::notification()
            } else {
                MethodResponse::from_batch(answers.finish())
            }
        }
    }

    fn notification<'a>(
        &self,
        notification: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        std::future::ready(MethodResponse::notification().with_extensions(notification.extensions))
    }
}
