//! A patient's consents as FHIR Consent resources (`GET
//! /fhir/Consent?patient=...`): a view of the consent transactions on
//! chain.

use super::{resource, Fhir};
use crate::{rfc3339, Clinical};
use axum::{http::StatusCode, response::Response};
use custodia_engine::engine::Runtime;
use custodia_fhir::{BundleEntry, BundleKind, Outcome};
use custodia_state::{keys, records::ConsentEntry};
use custodia_types::{Grantee, Pseudonym};

/// The patient's consents as FHIR Consent resources. Consents are chain
/// metadata (who may see what, for which purpose, until when), readable by
/// every member, so reading them is not an audited disclosure.
pub(super) async fn consents<E: Runtime>(
    service: &Clinical<E>,
    patient: Pseudonym,
    base: &str,
) -> Result<Response, Fhir> {
    let now = service.now_ms();
    let entries: Vec<BundleEntry> = service
        .consents(&patient)
        .await?
        .into_iter()
        .map(|(id, c)| {
            let active = c.revoked_height.is_none() && c.grant.is_active_at(now);
            let (kind, grantee) = match &c.grant.grantee {
                Grantee::Org { org } => ("org", org.to_string()),
                Grantee::Agent { key } => ("key", custodia_types::key_hex(key)),
            };
            let scope: Vec<String> = c.grant.scope.iter().map(ToString::to_string).collect();
            let resource = custodia_fhir::consent(&custodia_fhir::ConsentFacts {
                id: &id,
                patient: &patient.to_hex(),
                active,
                grantee: (kind, &grantee),
                purpose: c.grant.purpose.as_str(),
                scope: &scope,
                start: &rfc3339(c.grant.from_ms),
                end: &rfc3339(c.grant.until_ms.min(i64::MAX as u64)),
            });
            BundleEntry {
                full_url: format!("Consent/{id}"),
                resource,
            }
        })
        .collect();
    let total = entries.len();
    let bundle = custodia_fhir::bundle(
        BundleKind::Searchset,
        base,
        &format!("Consent?patient={patient}"),
        None,
        total,
        entries,
    );
    Ok(resource(StatusCode::OK, &bundle))
}

impl<E: Runtime> Clinical<E> {
    /// A patient's consents with their ids (the granting transactions).
    async fn consents(&self, patient: &Pseudonym) -> Result<Vec<(String, ConsentEntry)>, Outcome> {
        let ids: Vec<String> = self
            .read(&keys::patient_consents(patient))
            .await?
            .unwrap_or_default();
        let mut consents = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(digest) = custodia_types::hexser::decode_fixed(&id) else {
                continue;
            };
            if let Some(entry) = self.read(&keys::consent(&digest)).await? {
                consents.push((id, entry));
            }
        }
        Ok(consents)
    }
}
