//! Who is calling a node's API: a bearer token (`custodia token`) signed by
//! a key registered on chain, for this chain and this organisation's node.
//! Shared by the node's services, which then decide what each kind of
//! principal may do there and answer refusals in their own error shape.

use crate::{chain::CommittedState, engine::Runtime};
use axum::http::{HeaderMap, StatusCode};
use custodia_state::{keys, records::Principal};
use custodia_store::StoreError;
use custodia_types::{AuthToken, Digest, OrgId, PublicKey, TokenError};
use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
};

/// Most checked tokens remembered; the memory is forgotten whole when full.
const REMEMBERED_TOKENS: usize = 4096;

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
/// registered it as: unexpired at `now_ms` (the service's clock), for this
/// chain and `org`'s node, not a revoked agent, not another
/// organisation's agent or admin.
pub async fn authenticate<E: Runtime>(
    state: &CommittedState<E>,
    chain_id: &str,
    org: &OrgId,
    headers: &HeaderMap,
    now_ms: u64,
) -> Result<(PublicKey, Principal), AuthError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .ok_or(AuthError::Missing)?;
    let token =
        checked(token, chain_id, org, now_ms).map_err(|e| AuthError::BadToken(e.to_string()))?;
    let principal = state
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

/// The key that signed `authorization` (an `Authorization` header's
/// value), when it is a bearer token that checks out for this chain and
/// `org`'s node now. Whether the chain registered the key is not looked
/// at: this names who a request claims to be, provably, for rate limits.
pub fn bearer_signer(authorization: &str, chain_id: &str, org: &OrgId) -> Option<PublicKey> {
    let token = bearer(authorization)?;
    checked(token, chain_id, org, now_ms())
        .ok()
        .map(|token| token.key)
}

/// The token of an `Authorization: Bearer <token>` header's value.
fn bearer(authorization: &str) -> Option<&str> {
    authorization.strip_prefix("Bearer ")
}

/// `AuthToken::verify`, remembering tokens that passed: a client sends the
/// same token with every request, and its ed25519 signature costs more to
/// check than the rest of a request's authentication. What is remembered
/// is a pure function of the token's bytes, the chain and the audience (all
/// three hashed into the memory's key); expiry is checked at every use, and
/// the key's standing on chain is read every time by the caller.
fn checked(token: &str, chain_id: &str, org: &OrgId, now_ms: u64) -> Result<AuthToken, TokenError> {
    static CHECKED: OnceLock<Mutex<HashMap<Digest, AuthToken>>> = OnceLock::new();
    let memory = CHECKED.get_or_init(Default::default);
    let id = custodia_types::sha256(&[
        chain_id.as_bytes(),
        &[0],
        org.as_str().as_bytes(),
        &[0],
        token.trim().as_bytes(),
    ]);
    let remembered = memory.lock().ok().and_then(|m| m.get(&id).cloned());
    if let Some(token) = remembered.filter(|t| t.expires_ms > now_ms) {
        return Ok(token);
    }
    let token_checked = AuthToken::verify(token, chain_id, org, now_ms)?;
    if let Ok(mut memory) = memory.lock() {
        if memory.len() >= REMEMBERED_TOKENS {
            memory.clear();
        }
        memory.insert(id, token_checked.clone());
    }
    Ok(token_checked)
}

/// Milliseconds since the Unix epoch, by this machine's clock (the API's
/// front door, outside any service's runtime; never a chain decision).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer as _;
    use custodia_types::PrivateKey;

    fn token(key: &PrivateKey, audience: &str, expires_ms: u64) -> String {
        AuthToken {
            chain_id: "chain".into(),
            audience: OrgId::new(audience).unwrap(),
            key: key.public_key(),
            expires_ms,
        }
        .sign(key)
    }

    #[test]
    fn a_remembered_token_still_expires_and_stays_bound_to_its_chain_and_node() {
        let key = PrivateKey::from_seed(7);
        let org = OrgId::new("st-mary").unwrap();
        let text = token(&key, "st-mary", 1_000);
        assert_eq!(
            checked(&text, "chain", &org, 500).unwrap().key,
            key.public_key()
        );
        // Remembered now; the same answer again, and expiry still applies.
        assert!(checked(&text, "chain", &org, 999).is_ok());
        assert_eq!(
            checked(&text, "chain", &org, 1_000),
            Err(TokenError::Expired)
        );
        // Another chain or node never gets the remembered answer.
        let fresh = token(&key, "st-mary", 5_000);
        assert!(checked(&fresh, "chain", &org, 0).is_ok());
        assert!(checked(&fresh, "other-chain", &org, 0).is_err());
        let riverside = OrgId::new("riverside").unwrap();
        assert!(checked(&fresh, "chain", &riverside, 0).is_err());
        // A forged signature is refused, remembered or not.
        let mut forged = fresh.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == '0' { '1' } else { '0' });
        assert_eq!(
            checked(&forged, "chain", &org, 0),
            Err(TokenError::BadSignature)
        );
    }
}
