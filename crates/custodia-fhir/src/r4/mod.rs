//! FHIR R4 (4.0.1) as the specification defines it.
//!
//! Structure (element names to the leaves, data types, cardinality, choice
//! types, primitive formats) is checked by `fhirkit`, whose models are
//! generated from the official `hl7.fhir.r4.core` package. What fhirkit
//! does not check yet — required value-set bindings on `code` elements,
//! the resource types a Reference may target — and the Patient
//! compartment come from `rules.json`, generated from the official
//! package by `tools/fhir-r4/generate.py` and checked against it in CI.
//! No rule here is kept by hand.

mod bindings;
pub(crate) mod rules;

pub use bindings::check_bindings_and_references;
pub use rules::{compartment_paths, is_resource_type, resource_types};
