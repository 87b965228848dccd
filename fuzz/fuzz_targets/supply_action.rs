//! A supply action's payload (a `Body::Domain` named supply, from any
//! signer): decoding never panics, and only the canonical bytes of an
//! action decode.
#![no_main]
use custodia_supply::body::{SupplyTx, DOMAIN};
use custodia_types::DomainTx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(tx) = DomainTx::new(DOMAIN, None, bytes::Bytes::copy_from_slice(data)) else {
        return;
    };
    if let Ok(supply) = SupplyTx::decode(&tx) {
        assert_eq!(supply.json(), data, "only canonical JSON decodes");
    }
});
