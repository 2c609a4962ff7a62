//! [`Signed`], the HTTP client of an upstream that may be signed in to.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::auth::{AuthClient, AuthError, AuthorizationManager};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};

use super::{Context, SIGN_INS_PER_REQUEST, clip, sign_in};

/// The HTTP client of a signed-in upstream: rmcp's `AuthClient` (the token, its refresh), and
/// a new sign-in when the server refuses it anyway.
#[derive(Clone)]
pub(crate) struct Signed {
    pub(crate) inner: AuthClient<reqwest::Client>,
    pub(crate) context: Arc<Context>,
}

type HttpError = StreamableHttpError<reqwest::Error>;

impl Signed {
    pub(crate) fn new(manager: AuthorizationManager, context: Context) -> Signed {
        Signed {
            inner: AuthClient::new(reqwest::Client::default(), manager),
            context: Arc::new(context),
        }
    }

    /// `send` once, and again after each sign-in that a refusal leads to.
    async fn signing_in<T, F, Fut>(&self, send: F) -> Result<T, HttpError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, HttpError>>,
    {
        let mut sign_ins = 0;
        loop {
            let (challenge, more) = match send().await {
                Err(StreamableHttpError::AuthRequired(refused)) if self.context.can_sign_in() => {
                    (refused.www_authenticate_header, None)
                }
                Err(StreamableHttpError::InsufficientScope(refused))
                    if self.context.can_sign_in() =>
                {
                    (refused.www_authenticate_header, refused.required_scope)
                }
                done => return done,
            };
            sign_ins += 1;
            if sign_ins > SIGN_INS_PER_REQUEST {
                return Err(StreamableHttpError::Auth(AuthError::AuthorizationFailed(
                    format!(
                        "the server still refused after {SIGN_INS_PER_REQUEST} sign-ins ({})",
                        clip(&challenge)
                    ),
                )));
            }
            // One sign-in at a time: a request refused while another signed in goes again
            // with the new token instead of signing in once more.
            let refused_with = self.token().await;
            let _one = self.context.signing.lock().await;
            if self.token().await != refused_with {
                continue;
            }
            // What was granted so far is asked for again, with what the server names now.
            let granted = self.granted().await;
            let more = [granted, more.unwrap_or_default()].join(" ");
            let manager = sign_in(&self.context, Some(&challenge), Some(more.trim()))
                .await
                .map_err(|m| StreamableHttpError::Auth(AuthError::AuthorizationFailed(m)))?;
            *self.inner.auth_manager.lock().await = manager;
        }
    }

    /// The access token kept now, to tell whether another request signed in meanwhile.
    async fn token(&self) -> Option<String> {
        let entry = self.context.store.get(&self.context.url).await.ok()??;
        let response = entry.credentials?.token_response?;
        Some(
            oauth2::TokenResponse::access_token(&response)
                .secret()
                .to_string(),
        )
    }

    async fn granted(&self) -> String {
        match self.context.store.get(&self.context.url).await {
            Ok(Some(entry)) => entry
                .credentials
                .map(|c| c.granted_scopes.join(" "))
                .unwrap_or_default(),
            _ => String::new(),
        }
    }
}

impl StreamableHttpClient for Signed {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.signing_in(|| {
            self.inner.post_message(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                auth_header.clone(),
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.signing_in(|| {
            self.inner.post_message_with_max_sse_event_size(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                auth_header.clone(),
                custom_headers.clone(),
                max_sse_event_size,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        self.inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<
        futures::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>,
        HttpError,
    > {
        self.inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<
        futures::stream::BoxStream<'static, Result<sse_stream::Sse, sse_stream::Error>>,
        HttpError,
    > {
        self.inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}
