//! A bearer token from an `Authorization` header: checking it never
//! panics, whatever the text.
#![no_main]
use custodia_types::{AuthToken, OrgId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let audience = OrgId::new("st-mary").expect("a valid id");
    let _ = AuthToken::verify(text, "custodia-local", &audience, 1_800_000_000_000);
});
