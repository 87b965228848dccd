//! A push of record replicas from a custodian's node to another member's
//! vault (`POST /v1/vault/replicas`): decoding never panics (a malformed push is
//! refused with what is wrong), and what decodes encodes back to exactly
//! the bytes sent.
#![no_main]
use bytes::Bytes;
use custodia_types::framing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(replicas) = framing::decode_replicas(Bytes::copy_from_slice(data)) {
        assert_eq!(
            framing::encode_replicas(&replicas).as_ref(),
            data,
            "decoded replicas encode back as sent"
        );
    }
});
