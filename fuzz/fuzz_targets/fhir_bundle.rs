//! A FHIR `transaction` Bundle (`POST /fhir`): checking it and resolving
//! its internal and conditional references never panics.
#![no_main]
use custodia_fhir::search::IdentifierToken;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut n = 0u32;
    // The server "holds" one resource of every type, identifier value "1".
    let held = |t: &str, token: &IdentifierToken| (token.value == "1").then(|| format!("{t}-1"));
    let Ok(bundle) = custodia_fhir::parse_json(data) else {
        return;
    };
    let _ = custodia_fhir::parse_transaction(
        bundle,
        32,
        |_| {
            n += 1;
            format!("{n:064x}")
        },
        held,
    );
});
