//! A signed transaction (and so every body and batch) as a node receives
//! it on `POST /v1/tx` and in gossip: decoding never panics, and what
//! decodes has exactly these bytes as its encoding (one transaction, one id).
#![no_main]
use custodia_types::SignedTx;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTx::decode_untrusted(data) {
        assert_eq!(
            tx.to_bytes().as_ref(),
            data,
            "a decoded transaction re-encodes as sent"
        );
        let _ = tx.verify_signature();
    }
});
