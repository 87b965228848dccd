//! FHIR R4 for Custodia: checking that incoming resources have the
//! structure R4 requires before anything is stored, and building the
//! resources the server answers with (OperationOutcome,
//! CapabilityStatement, Bundle).

mod elements;
mod examples;
mod outcome;
mod resources;
pub mod search;
mod transaction;
mod validate;

pub use examples::example;
pub use outcome::{IssueType, Outcome};
pub use resources::{
    audit_event, bundle, capability_statement, consent, AuditFacts, BundleEntry, BundleKind,
    ConsentFacts,
};
pub use transaction::{
    parse_transaction, transaction_response, Method, TransactionEntry, TransactionResult,
};
pub use validate::{parse, set_meta, Resource, SUPPORTED};
