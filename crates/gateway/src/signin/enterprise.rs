//! Enterprise-managed authorization (SEP-990, cross-app access), on rmcp's
//! `auth-enterprise-managed`: the ID token of the user's enterprise sign-in is exchanged at their
//! identity provider for an identity assertion grant (RFC 8693, an ID-JAG for the server's
//! authorization server and the server), which that authorization server takes for an access
//! token (RFC 7523's JWT bearer grant). No browser: the enterprise already decided.

use rmcp::transport::auth::enterprise::{
    EmaAuthorizationServer, EmaClientAuthentication, EmaExchangeRequest,
};
use rmcp::transport::auth::{
    AuthorizationMetadata, CredentialStore, OAuthTokenResponse, StoredCredentials,
};

use super::Context;
use crate::config::Enterprise;

/// Exchanges the ID token for an access token to the server, and keeps it.
pub(super) async fn exchange(
    context: &Context,
    enterprise: &Enterprise,
    metadata: &AuthorizationMetadata,
) -> Result<(), String> {
    let client_id = context.oauth.client_id.clone().unwrap_or_default();
    let issuer = metadata
        .issuer
        .clone()
        .ok_or("the server's authorization server names no issuer, which the grant is for")?;
    let idp_endpoint = match &enterprise.idp_token_endpoint {
        Some(endpoint) => endpoint.clone(),
        None => token_endpoint_of(&enterprise.idp_issuer).await?,
    };
    let idp = EmaAuthorizationServer::new(
        enterprise.idp_issuer.clone(),
        idp_endpoint,
        enterprise.idp_client_id.clone(),
    )
    .with_client_authentication(match &enterprise.idp_client_secret {
        Some(secret) => {
            EmaClientAuthentication::ClientSecretBasic(oauth2::ClientSecret::new(secret.clone()))
        }
        None => EmaClientAuthentication::None,
    });
    // The server's authorization server: HTTP Basic unless it takes only the request body.
    let methods: Vec<String> = metadata
        .additional_fields
        .get("token_endpoint_auth_methods_supported")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let authentication = match &context.oauth.client_secret {
        None => EmaClientAuthentication::None,
        Some(secret)
            if methods.iter().any(|m| m == "client_secret_post")
                && !methods.iter().any(|m| m == "client_secret_basic") =>
        {
            EmaClientAuthentication::ClientSecretPost(oauth2::ClientSecret::new(secret.clone()))
        }
        Some(secret) => {
            EmaClientAuthentication::ClientSecretBasic(oauth2::ClientSecret::new(secret.clone()))
        }
    };
    let server = EmaAuthorizationServer::new(
        issuer.clone(),
        metadata.token_endpoint.clone(),
        client_id.clone(),
    )
    .with_client_authentication(authentication);
    // Without its query, where a key may be.
    let resource = super::store::key(&context.url);
    let id_token = enterprise.id_token.clone();
    let scopes = context.oauth.scopes.clone();
    // rmcp's future holds a form that is not `Send` across an await: a thread of its own.
    let runtime = tokio::runtime::Handle::current();
    let token = tokio::task::spawn_blocking(move || {
        runtime.block_on(async {
            let http =
                rmcp::transport::auth::default_oauth_http_client().map_err(|e| e.to_string())?;
            EmaExchangeRequest::new_with_id_token(idp, server, &resource, &id_token)
                .with_scopes(scopes)
                .exchange(&http, &http)
                .await
                .map_err(|e| format!("the enterprise exchange failed: {e}"))
        })
    })
    .await
    .map_err(|e| format!("the enterprise exchange stopped: {e}"))??;
    let mut scopes: Vec<String> = token.scopes.iter().cloned().collect();
    scopes.sort();
    let response: OAuthTokenResponse = serde_json::from_value(serde_json::json!({
        "access_token": token.access_token.secret(),
        "token_type": "bearer",
        "expires_in": token.expires_in.map(|d| d.as_secs()),
    }))
    .map_err(|e| e.to_string())?;
    let received = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    context
        .store
        .server(&context.url)
        .save(
            StoredCredentials::new(client_id, Some(response), scopes, Some(received))
                .with_issuer(Some(issuer)),
        )
        .await
        .map_err(|e| e.to_string())
}

/// The token endpoint in the identity provider's metadata (OpenID, else RFC 8414).
async fn token_endpoint_of(issuer: &str) -> Result<String, String> {
    let client = super::metadata_client()?;
    let base = issuer.trim_end_matches('/');
    for well_known in ["openid-configuration", "oauth-authorization-server"] {
        let Ok(response) = client
            .get(format!("{base}/.well-known/{well_known}"))
            .send()
            .await
        else {
            continue;
        };
        let Ok(metadata) = response.error_for_status() else {
            continue;
        };
        if let Ok(metadata) = metadata.json::<serde_json::Value>().await
            && let Some(endpoint) = metadata["token_endpoint"].as_str()
        {
            return Ok(endpoint.to_string());
        }
    }
    Err(format!(
        "the identity provider {issuer} publishes no metadata with a token endpoint: give `idpTokenEndpoint`"
    ))
}
