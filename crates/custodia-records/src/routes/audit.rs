//! The audit trail over FHIR: a patient's accounting of disclosures
//! (`GET /fhir/AuditEvent?patient=...`) and a regulator's view across
//! patients, as AuditEvent Bundles or exported as NDJSON or CSV.

use super::{resource, Fhir};
use crate::{caller::Caller, rfc3339, Clinical};
use axum::{
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use custodia_engine::engine::Runtime;
use custodia_fhir::{BundleEntry, BundleKind, IssueType, Outcome};
use custodia_state::{
    keys,
    records::{AuditEvent, Decision},
};
use custodia_types::{AccessAction, Pseudonym};
use serde_json::Value;
use std::collections::HashMap;

/// The patient's accounting of disclosures: every access, as AuditEvents.
/// Reading it is itself audited. `_format=ndjson` or `csv` exports it.
pub(super) async fn audit<E: Runtime>(
    service: &Clinical<E>,
    caller: &Caller,
    patient: Pseudonym,
    params: &HashMap<String, String>,
    base: &str,
) -> Result<Response, Fhir> {
    let (_, event) = service
        .access(caller, Some(patient), None, AccessAction::ReadAudit)
        .await?;
    if event.decision == Decision::Deny {
        return Err(Outcome::new(
            403,
            IssueType::Forbidden,
            "only the patient, their custodian and regulators read this audit trail",
        )
        .into());
    }
    let events = service.audit_trail(&patient).await?;
    let total = events.len();
    Ok(audit_answer(
        events,
        total,
        params,
        (base, &format!("AuditEvent?patient={patient}")),
        None,
    ))
}

/// Audit events across every patient, newest first: a regulator's
/// oversight. The query is decided by policy and is itself an event.
/// `_count` (default 100, at most 1000) and `_offset` page through it.
pub(super) async fn audit_log<E: Runtime>(
    service: &Clinical<E>,
    caller: &Caller,
    params: &HashMap<String, String>,
    base: &str,
) -> Result<Response, Fhir> {
    let event = service.query_audit(caller).await?;
    if event.decision == Decision::Deny {
        return Err(Outcome::new(
            403,
            IssueType::Forbidden,
            "only regulators read audit events across patients; others name one: /fhir/AuditEvent?patient=<pseudonym>",
        )
        .into());
    }
    let count: u64 = params
        .get("_count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let offset: u64 = params
        .get("_offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    // Everything up to the query's own event, which is the newest it sees;
    // or, when paging on, up to where the first page ended. Every query is
    // itself an event, so the end must be fixed or pages would shift.
    let total = params
        .get("_before")
        .and_then(|b| b.parse::<u64>().ok())
        .map_or(event.seq + 1, |before| before.min(event.seq + 1));
    let events = service
        .audit_events(total.saturating_sub(offset), count)
        .await?;
    let format = params
        .get("_format")
        .map(|f| format!("&_format={f}"))
        .unwrap_or_default();
    let page =
        |offset: u64| format!("AuditEvent?_count={count}&_before={total}&_offset={offset}{format}");
    let next = Some(offset.saturating_add(count))
        .filter(|n| *n < total)
        .map(page);
    Ok(audit_answer(
        events,
        total as usize,
        params,
        (base, &page(offset)),
        next.as_deref(),
    ))
}

/// Audit events as a searchset Bundle, or exported as NDJSON or CSV.
fn audit_answer(
    events: Vec<AuditEvent>,
    total: usize,
    params: &HashMap<String, String>,
    (base, self_path): (&str, &str),
    next_path: Option<&str>,
) -> Response {
    match params.get("_format").map(String::as_str) {
        Some("ndjson") | Some("application/fhir+ndjson") => {
            let mut text = String::new();
            for e in &events {
                text.push_str(&serde_json::to_string(e).unwrap_or_default());
                text.push('\n');
            }
            ([(header::CONTENT_TYPE, "application/x-ndjson")], text).into_response()
        }
        Some("csv") | Some("text/csv") => {
            ([(header::CONTENT_TYPE, "text/csv")], audit_csv(&events)).into_response()
        }
        _ => {
            let entries: Vec<BundleEntry> = events
                .iter()
                .map(|e| {
                    let id = e.seq.to_string();
                    BundleEntry {
                        full_url: format!("AuditEvent/{id}"),
                        resource: fhir_audit_event(e),
                    }
                })
                .collect();
            let bundle = custodia_fhir::bundle(
                BundleKind::Searchset,
                base,
                self_path,
                next_path,
                total,
                entries,
            );
            resource(StatusCode::OK, &bundle)
        }
    }
}

fn fhir_audit_event(e: &AuditEvent) -> Value {
    let tx = hex::encode(e.tx);
    let patient = e.patient.map(Pseudonym::to_hex);
    let org = e.org.as_ref().map(|o| o.to_string());
    custodia_fhir::audit_event(&custodia_fhir::AuditFacts {
        id: &e.seq.to_string(),
        recorded: &rfc3339(e.time_ms),
        action: e.action.as_str(),
        permitted: e.decision == Decision::Permit,
        agent: &e.agent,
        org: org.as_deref(),
        patient: patient.as_deref(),
        resource: e.resource.as_deref(),
        purpose: e.purpose.as_str(),
        break_glass: e.break_glass.as_deref(),
        reasons: &e.reasons,
        tx: &tx,
        entry: e.entry,
        height: e.height,
    })
}

fn audit_csv(events: &[AuditEvent]) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut out = String::from(
        "seq,time,height,action,decision,agent,org,patient,resource,purpose,break_glass,reasons,tx,entry\n",
    );
    for e in events {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            e.seq,
            rfc3339(e.time_ms),
            e.height,
            e.action,
            if e.decision == Decision::Permit {
                "permit"
            } else {
                "deny"
            },
            e.agent,
            e.org
                .as_ref()
                .map(|o| o.to_string())
                .unwrap_or_else(|| "patient".into()),
            e.patient.map(Pseudonym::to_hex).unwrap_or_default(),
            e.resource.as_deref().unwrap_or(""),
            e.purpose,
            quote(e.break_glass.as_deref().unwrap_or("")),
            quote(&e.reasons.join("; ")),
            hex::encode(e.tx),
            e.entry.map(|i| i.to_string()).unwrap_or_default(),
        ));
    }
    out
}

impl<E: Runtime> Clinical<E> {
    /// Up to `count` events of the whole log before sequence `end`,
    /// newest first.
    pub(crate) async fn audit_events(
        &self,
        end: u64,
        count: u64,
    ) -> Result<Vec<AuditEvent>, Outcome> {
        let mut events = Vec::new();
        for seq in (end.saturating_sub(count)..end).rev() {
            if let Some(event) = self.read(&keys::audit_event(seq)).await? {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Every audit event about a patient, oldest first.
    pub(crate) async fn audit_trail(
        &self,
        patient: &Pseudonym,
    ) -> Result<Vec<AuditEvent>, Outcome> {
        let count = self
            .read_raw(&keys::patient_audit_count(patient))
            .await?
            .and_then(|b| keys::decode_u64(&b))
            .unwrap_or(0);
        let mut events = Vec::with_capacity(count as usize);
        for index in 0..count {
            let Some(seq) = self
                .read_raw(&keys::patient_audit(patient, index))
                .await?
                .and_then(|b| keys::decode_u64(&b))
            else {
                continue;
            };
            if let Some(event) = self.read(&keys::audit_event(seq)).await? {
                events.push(event);
            }
        }
        Ok(events)
    }
}
