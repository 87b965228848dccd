//! An EPCIS 2.0 JSON document (`POST /v1/supply/epcis`): parsing never
//! panics, and a parsed document is written back as it was read.
#![no_main]
use custodia_supply::epcis::{self, EpcisDocument};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = epcis::parse_document(data);
    if let Ok(document) = EpcisDocument::parse(data) {
        let again = serde_json::to_vec(&document.to_json()).expect("JSON");
        let reparsed = EpcisDocument::parse(&again).expect("a written document parses");
        assert_eq!(reparsed.to_json(), document.to_json());
    }
});
