//! A framed batch of transactions as a peer gossips it (and as `POST
//! /v1/txs` takes it): splitting never panics, what splits frames back to
//! exactly the bytes sent, and each frame is then decoded as a transaction.
#![no_main]
use bytes::Bytes;
use custodia_types::{framing, SignedTx};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(txs) = framing::decode_txs(Bytes::copy_from_slice(data)) else {
        return;
    };
    assert_eq!(
        framing::encode_txs(&txs).as_ref(),
        data,
        "a split batch frames back as sent"
    );
    for frame in &txs {
        if let Ok(tx) = SignedTx::decode_untrusted(frame) {
            assert_eq!(tx.to_bytes().as_ref(), frame.as_ref());
        }
    }
});
