//! A FHIR resource as a client sends it (`POST`/`PUT /fhir/{type}`):
//! validation never panics; it accepts or answers an OperationOutcome.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = custodia_fhir::parse(data, None);
    let _ = custodia_fhir::parse(data, Some("Observation"));
});
