//! A block as a node receives it from a peer (broadcast, backfill):
//! decoding never panics, and what decodes re-encodes to the same bytes.
#![no_main]
use commonware_codec::{Decode, Encode};
use custodia_types::{Block, MAX_BLOCK_TXS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = bytes::Bytes::copy_from_slice(data);
    if let Ok(block) = Block::decode_cfg(bytes, &MAX_BLOCK_TXS) {
        assert_eq!(
            block.encode().as_ref(),
            data,
            "a decoded block re-encodes as sent"
        );
    }
});
