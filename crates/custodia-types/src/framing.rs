//! Byte framings that cross between nodes outside consensus: batches of
//! signed transactions (gossip, and the API's batch submission) and pushes
//! of record replicas. Decoding is total: malformed bytes are refused with
//! what is wrong, never a panic (fuzzed: `fuzz/fuzz_targets/tx_batch.rs`,
//! `replica_push.rs`).

use crate::{LogicalId, ResourceType, MAX_TX_BYTES};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};

/// Frame transactions as `u32 length, bytes` pairs.
pub fn encode_txs(batch: &[Bytes]) -> Bytes {
    let mut out = BytesMut::with_capacity(batch.iter().map(|t| t.len() + 4).sum());
    for tx in batch {
        out.put_u32(tx.len() as u32);
        out.put_slice(tx);
    }
    out.freeze()
}

/// Split a framed batch; `None` if it is malformed (cut short, or a frame
/// longer than a transaction may be).
pub fn decode_txs(mut bytes: Bytes) -> Option<Vec<Bytes>> {
    let mut txs = Vec::new();
    while bytes.has_remaining() {
        if bytes.remaining() < 4 {
            return None;
        }
        let len = bytes.get_u32() as usize;
        if len > MAX_TX_BYTES || len > bytes.remaining() {
            return None;
        }
        txs.push(bytes.split_to(len));
    }
    Some(txs)
}

/// One replica of a record version as it travels from its custodian to
/// another member's vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    pub resource_type: ResourceType,
    pub id: LogicalId,
    pub version: u64,
    pub ciphertext: Bytes,
}

/// `type, id, version, ciphertext` per replica: `u8` length and ASCII for
/// the type and the id, `u64` version, `u32` length and the bytes.
pub fn encode_replicas(replicas: &[Replica]) -> Bytes {
    let mut out = BytesMut::new();
    for replica in replicas {
        let type_name = replica.resource_type.to_string();
        out.put_u8(type_name.len() as u8);
        out.put_slice(type_name.as_bytes());
        out.put_u8(replica.id.as_str().len() as u8);
        out.put_slice(replica.id.as_str().as_bytes());
        out.put_u64(replica.version);
        out.put_u32(replica.ciphertext.len() as u32);
        out.put_slice(&replica.ciphertext);
    }
    out.freeze()
}

/// The replicas of a push; what is wrong with it if it is malformed.
pub fn decode_replicas(mut bytes: Bytes) -> Result<Vec<Replica>, String> {
    fn take(bytes: &mut Bytes, len: usize, what: &str) -> Result<Bytes, String> {
        if bytes.remaining() < len {
            return Err(format!("the push ends inside a replica's {what}"));
        }
        Ok(bytes.split_to(len))
    }
    fn text(bytes: &mut Bytes, what: &str) -> Result<String, String> {
        let len = take(bytes, 1, what)?[0] as usize;
        String::from_utf8(take(bytes, len, what)?.to_vec())
            .map_err(|_| format!("a replica's {what} is not text"))
    }
    let mut replicas = Vec::new();
    while bytes.has_remaining() {
        let resource_type = text(&mut bytes, "type")?
            .parse()
            .map_err(|_| "a replica names an unknown resource type".to_string())?;
        let id = LogicalId::new(text(&mut bytes, "id")?).map_err(|e| e.to_string())?;
        let version = take(&mut bytes, 8, "version")?.get_u64();
        let len = take(&mut bytes, 4, "length")?.get_u32() as usize;
        let ciphertext = take(&mut bytes, len, "ciphertext")?;
        replicas.push(Replica {
            resource_type,
            id,
            version,
            ciphertext,
        });
    }
    Ok(replicas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_garbage_is_refused() {
        let txs = vec![
            Bytes::from_static(b"one"),
            Bytes::from_static(b""),
            Bytes::from_static(b"three"),
        ];
        assert_eq!(decode_txs(encode_txs(&txs)).unwrap(), txs);
        assert!(decode_txs(Bytes::from_static(&[0, 0, 0, 9, 1])).is_none());
        assert!(decode_txs(Bytes::from_static(&[0, 0])).is_none());
        let huge = ((MAX_TX_BYTES + 1) as u32).to_be_bytes();
        assert!(decode_txs(Bytes::copy_from_slice(&huge)).is_none());
    }

    fn replica(
        resource_type: ResourceType,
        id: &str,
        version: u64,
        sealed: &'static [u8],
    ) -> Replica {
        Replica {
            resource_type,
            id: LogicalId::new(id).unwrap(),
            version,
            ciphertext: Bytes::from_static(sealed),
        }
    }

    #[test]
    fn replicas_round_trip_and_a_cut_push_is_refused() {
        let batch = vec![
            replica(ResourceType::Observation, "obs-1", 3, b"sealed one"),
            replica(ResourceType::Patient, "p", 1, b""),
        ];
        let encoded = encode_replicas(&batch);
        assert_eq!(decode_replicas(encoded.clone()).unwrap(), batch);
        // Cut anywhere but between replicas, a push is malformed.
        let boundary = encode_replicas(&batch[..1]).len();
        for cut in (1..encoded.len()).filter(|cut| *cut != boundary) {
            assert!(
                decode_replicas(encoded.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
        assert_eq!(decode_replicas(encoded.slice(..boundary)).unwrap().len(), 1);
        assert!(decode_replicas(Bytes::from_static(b"\x03Fooxx")).is_err());
    }
}
