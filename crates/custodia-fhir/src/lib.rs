//! FHIR R4 for Custodia: checking that incoming resources have the
//! structure R4 requires before anything is stored, and building the
//! resources the server answers with (OperationOutcome,
//! CapabilityStatement, Bundle).

mod examples;
mod outcome;
pub mod r4;
mod resources;
pub mod search;
mod transaction;
mod validate;

pub use examples::{example, EXAMPLE_TYPES};
pub use outcome::{IssueType, Outcome};
pub use resources::{
    audit_event, bundle, capability_statement, consent, provenance, search_bundle, AuditFacts,
    BundleEntry, BundleKind, ConsentFacts, ProvenanceFacts, SearchPage, LEDGER_VIEWS,
};
pub use transaction::{
    batch_response, parse_json, parse_transaction, transaction_response, Method, TransactionEntry,
    TransactionResult,
};
pub use validate::{parse, set_meta, Owner, Resource};

/// The version an ETag names: `W/"3"` (as this server sends them) or
/// `"3"`; `None` if it names none.
pub fn version_etag(etag: &str) -> Option<u64> {
    let etag = etag.trim();
    let quoted = etag.strip_prefix("W/").unwrap_or(etag);
    let digits = quoted.strip_prefix('"')?.strip_suffix('"')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::version_etag;

    #[test]
    fn an_etag_names_a_version_weak_or_strong_and_nothing_else() {
        assert_eq!(version_etag("W/\"3\""), Some(3));
        assert_eq!(version_etag(" \"12\" "), Some(12));
        for not_a_version in [
            "3",
            "W/3",
            "W/\"\"",
            "W/\"+3\"",
            "W/\"-1\"",
            "W/\"3 \"",
            "*",
            "W/\"99999999999999999999\"",
        ] {
            assert_eq!(version_etag(not_a_version), None, "{not_a_version}");
        }
    }
}
