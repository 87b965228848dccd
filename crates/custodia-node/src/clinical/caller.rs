//! Who is asking: a bearer token signed by a key registered on chain as an
//! agent or the admin of this node's organisation, or as a patient.

use super::{now_ms, Clinical};
use crate::engine::Runtime;
use axum::http::HeaderMap;
use custodia_fhir::{IssueType, Outcome};
use custodia_state::{keys, records::Principal};
use custodia_types::{AgentKind, AuthToken, PublicKey, Purpose};

pub struct Caller {
    pub key: PublicKey,
    pub principal: Principal,
    pub purpose: Purpose,
    pub break_glass: Option<String>,
}

impl Caller {
    pub fn is_patient(&self) -> bool {
        matches!(self.principal, Principal::Patient { .. })
    }
}

impl<E: Runtime> Clinical<E> {
    pub(super) async fn caller(&self, headers: &HeaderMap) -> Result<Caller, Outcome> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Outcome::new(
                    401,
                    IssueType::Login,
                    "send `Authorization: Bearer <token>`; make a token with `custodia token`",
                )
            })?;
        let token = AuthToken::verify(token, &self.chain_id, &self.org, now_ms())
            .map_err(|e| Outcome::new(401, IssueType::Security, e.to_string()))?;
        let principal: Principal =
            self.read(&keys::principal(&token.key))
                .await?
                .ok_or_else(|| {
                    Outcome::new(
                        401,
                        IssueType::Security,
                        "the token's key is not registered on the chain",
                    )
                })?;
        match &principal {
            Principal::Agent { revoked: true, .. } => {
                return Err(Outcome::new(
                    403,
                    IssueType::Security,
                    "the token's agent key was revoked",
                ))
            }
            Principal::Agent {
                kind: AgentKind::Device,
                ..
            } => {
                return Err(Outcome::new(
                    403,
                    IssueType::Forbidden,
                    "devices have no access to clinical records",
                ))
            }
            Principal::Agent { org, .. } | Principal::Admin { org } if *org != self.org => {
                return Err(Outcome::new(
                    403,
                    IssueType::Security,
                    format!("the token's key is an agent of {org}; use {org}'s own node"),
                ))
            }
            Principal::Node { .. } => {
                return Err(Outcome::new(
                    403,
                    IssueType::Security,
                    "validator keys do not call the FHIR API",
                ))
            }
            _ => {}
        }
        let purpose = match headers
            .get("x-purpose-of-use")
            .and_then(|v| v.to_str().ok())
        {
            None => Purpose::Treatment,
            Some(text) => text.parse().map_err(|_| {
                Outcome::new(
                    400,
                    IssueType::Value,
                    "X-Purpose-Of-Use must be treatment, payment or research",
                )
            })?,
        };
        let break_glass = headers
            .get("x-break-glass")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(|r| truncate(r, custodia_types::MAX_REASON_LEN));
        Ok(Caller {
            key: token.key,
            principal,
            purpose,
            break_glass,
        })
    }
}

/// At most `max` bytes of `text`, cut at a character boundary (the chain
/// bounds the reason in bytes).
fn truncate(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reasons_are_cut_to_the_byte_bound_on_a_character_boundary() {
        let reason = "é".repeat(200);
        let cut = super::truncate(&reason, 255);
        assert_eq!(cut.len(), 254);
        assert_eq!(super::truncate("short", 256), "short");
    }
}
