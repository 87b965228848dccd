//! Who is asking the FHIR API: an agent or the admin of this node's
//! organisation, or a patient (authenticated by `custodia_engine::auth`), with the
//! purpose of use and any break-glass reason the request states.

use super::{unavailable, Clinical};
use axum::http::HeaderMap;
use custodia_engine::{
    auth::{authenticate, AuthError},
    engine::Runtime,
};
use custodia_fhir::{IssueType, Outcome};
use custodia_state::records::Principal;
use custodia_types::{AgentKind, PublicKey, Purpose};

#[derive(Clone)]
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
        let (key, principal) = authenticate(
            &self.committed,
            &self.chain_id,
            &self.org,
            headers,
            self.now_ms(),
        )
        .await
        .map_err(|error| {
            let code = match error {
                AuthError::Missing => IssueType::Login,
                AuthError::Store(_) => return unavailable(error),
                _ => IssueType::Security,
            };
            Outcome::new(error.status().as_u16(), code, error.to_string())
        })?;
        match &principal {
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
            key,
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
