//! Blocks: an ordered batch of transactions and the state they lead to.

use crate::{sha256, Digest, SignedTx, MAX_TX_BYTES};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};

/// Hard cap on transactions per block, whatever governance sets. With
/// [`MAX_TX_BYTES`] it bounds the largest block message peers must accept.
pub const MAX_BLOCK_TXS: usize = 4_000;

/// What a block commits to besides its transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub parent: Digest,
    pub height: u64,
    /// Proposer's clock, milliseconds since the Unix epoch; never earlier
    /// than the parent's.
    pub timestamp_ms: u64,
    /// Commitment to the ordered transaction ids.
    pub txs_root: Digest,
    /// Root of the authenticated state after applying this block.
    pub state_root: Digest,
}

impl Header {
    pub fn digest(&self) -> Digest {
        use commonware_codec::Encode;
        sha256(&[b"custodia/block/v1", &self.encode()])
    }
}

impl Write for Header {
    fn write(&self, buf: &mut impl BufMut) {
        self.parent.write(buf);
        self.height.write(buf);
        self.timestamp_ms.write(buf);
        self.txs_root.write(buf);
        self.state_root.write(buf);
    }
}

impl EncodeSize for Header {
    fn encode_size(&self) -> usize {
        Self::SIZE
    }
}

impl Read for Header {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            parent: Digest::read(buf)?,
            height: u64::read(buf)?,
            timestamp_ms: u64::read(buf)?,
            txs_root: Digest::read(buf)?,
            state_root: Digest::read(buf)?,
        })
    }
}

/// A block. Its digest is the digest of its header; decoding recomputes the
/// transactions' root and refuses a body that does not match its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    header: Header,
    txs: Vec<SignedTx>,
    digest: Digest,
}

impl Block {
    pub fn new(
        parent: Digest,
        height: u64,
        timestamp_ms: u64,
        state_root: Digest,
        txs: Vec<SignedTx>,
    ) -> Self {
        let header = Header {
            parent,
            height,
            timestamp_ms,
            txs_root: txs_root(&txs),
            state_root,
        };
        let digest = header.digest();
        Self {
            header,
            txs,
            digest,
        }
    }

    /// Block 0: no transactions, the genesis state.
    pub fn genesis(genesis_digest: Digest, timestamp_ms: u64, state_root: Digest) -> Self {
        Self::new(genesis_digest, 0, timestamp_ms, state_root, Vec::new())
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn txs(&self) -> &[SignedTx] {
        &self.txs
    }

    pub fn height(&self) -> u64 {
        self.header.height
    }

    pub fn parent(&self) -> Digest {
        self.header.parent
    }

    pub fn digest(&self) -> Digest {
        self.digest
    }
}

/// Commitment to an ordered list of transactions.
pub fn txs_root(txs: &[SignedTx]) -> Digest {
    let ids: Vec<u8> = txs.iter().flat_map(|tx| tx.id().0).collect();
    sha256(&[b"custodia/txs/v1", &ids])
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        self.header.write(buf);
        self.txs.write(buf);
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        self.header.encode_size() + self.txs.encode_size()
    }
}

/// Decoding limit: the most transactions a block may carry.
pub type BlockCfg = usize;

impl Read for Block {
    type Cfg = BlockCfg;
    fn read_cfg(buf: &mut impl Buf, max_txs: &BlockCfg) -> Result<Self, Error> {
        let header = Header::read(buf)?;
        let txs = Vec::<SignedTx>::read_cfg(buf, &(RangeCfg::new(0..=*max_txs), ()))?;
        if txs_root(&txs) != header.txs_root {
            return Err(Error::Invalid(
                "Block",
                "transactions do not match the header",
            ));
        }
        let digest = header.digest();
        Ok(Self {
            header,
            txs,
            digest,
        })
    }
}

impl commonware_cryptography::Digestible for Block {
    type Digest = Digest;
    fn digest(&self) -> Digest {
        self.digest
    }
}

impl commonware_consensus::Heightable for Block {
    fn height(&self) -> commonware_consensus::types::Height {
        commonware_consensus::types::Height::new(self.header.height)
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        self.header.parent
    }
}

impl commonware_consensus::BoundedBlock for Block {
    fn max_encode_size(max_txs: &BlockCfg) -> usize {
        // Header, the vector's length prefix, then the largest transactions.
        Header::SIZE + 5 + max_txs * (MAX_TX_BYTES + 5)
    }
}

impl Header {
    pub const SIZE: usize = 32 * 3 + 8 * 2;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, PrivateKey, TxPayload};
    use commonware_codec::{Decode, Encode};
    use commonware_cryptography::Signer as _;

    #[test]
    fn round_trip_and_tamper_detection() {
        let key = PrivateKey::from_seed(3);
        let tx = TxPayload {
            chain_id: "c".into(),
            signer: key.public_key(),
            nonce: 0,
            body: Body::Note {
                data: bytes::Bytes::from_static(b"x"),
            },
        }
        .sign(&key);
        let block = Block::new(sha256(&[b"p"]), 1, 5, sha256(&[b"s"]), vec![tx]);
        let bytes = block.encode();
        let decoded = Block::decode_cfg(bytes.clone(), &10).unwrap();
        assert_eq!(decoded, block);
        assert_eq!(decoded.digest(), block.digest());

        // Flip a byte in the transaction body: the header no longer matches.
        let mut tampered = bytes.to_vec();
        let last = tampered.len() - 70;
        tampered[last] ^= 1;
        assert!(Block::decode_cfg(bytes::Bytes::from(tampered), &10).is_err());
        assert!(
            Block::decode_cfg(bytes, &0).is_err(),
            "more transactions than allowed"
        );
    }
}
