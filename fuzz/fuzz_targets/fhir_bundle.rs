//! A FHIR `transaction` Bundle (`POST /fhir`): checking it and resolving
//! its references never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut n = 0u32;
    let _ = custodia_fhir::parse_transaction(data, 32, |_| {
        n += 1;
        format!("{n:064x}")
    });
});
