//! Who is calling a node's API: a bearer token (`custodia token`) signed by
//! a key registered on chain, for this chain and this organisation's node.
//! Shared by the node's services, which then decide what each kind of
//! principal may do there and answer refusals in their own error shape.

use crate::engine::{Runtime, SharedChain};
use axum::http::{HeaderMap, StatusCode};
use custodia_state::{keys, records::Principal};
use custodia_store::StoreError;
use custodia_types::{AuthToken, OrgId, PublicKey};

/// Why a request authenticates no one here.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("send `Authorization: Bearer <token>`; make a token with `custodia token`")]
    Missing,
    #[error("{0}")]
    BadToken(String),
    #[error("the token's key is not registered on the chain")]
    Unregistered,
    #[error("the token's agent key was revoked")]
    Revoked,
    #[error("the token's key is an agent of {0}; use {0}'s own node")]
    OtherOrganisation(OrgId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// 401 when no one is authenticated, 403 when someone is but may not
    /// call here, 503 when the node could not look.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Missing | AuthError::BadToken(_) | AuthError::Unregistered => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::Revoked | AuthError::OtherOrganisation(_) => StatusCode::FORBIDDEN,
            AuthError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The key a request's bearer token was signed with and what the chain
/// registered it as: unexpired, for this chain and `org`'s node, not a
/// revoked agent, not another organisation's agent or admin.
pub async fn authenticate<E: Runtime>(
    chain: &SharedChain<E>,
    chain_id: &str,
    org: &OrgId,
    headers: &HeaderMap,
) -> Result<(PublicKey, Principal), AuthError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(AuthError::Missing)?;
    let token = AuthToken::verify(token, chain_id, org, now_ms())
        .map_err(|e| AuthError::BadToken(e.to_string()))?;
    let principal = chain
        .lock()
        .await
        .get(&keys::principal(&token.key))
        .await?
        .and_then(|bytes| serde_json::from_slice::<Principal>(&bytes).ok())
        .ok_or(AuthError::Unregistered)?;
    match &principal {
        Principal::Agent { revoked: true, .. } => Err(AuthError::Revoked),
        Principal::Agent { org: other, .. } | Principal::Admin { org: other } if other != org => {
            Err(AuthError::OtherOrganisation(other.clone()))
        }
        _ => Ok((token.key, principal)),
    }
}

/// Milliseconds since the Unix epoch, by this machine's clock (token
/// expiry and record time stamps; never used for a chain decision).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
