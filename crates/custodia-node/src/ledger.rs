//! The node's answers to the HTTP API, read from the chain and marshal.

use commonware_codec::Encode as _;
use commonware_consensus::types::Height;
use custodia_api::{ApiError, Ledger};
use custodia_engine::{
    chain::check_tx,
    engine::{gossip::Gossip, Committees, Marshal, Runtime, SharedChain},
    submit::{admit_error, store_error},
};
use custodia_state::keys;
use custodia_types::{key_hex, Block, Digest, Genesis};
use serde_json::{json, Value};
use std::sync::Arc;

/// Static facts about this node shown in `/v1/status`.
pub struct NodeInfo {
    pub org: String,
    pub genesis: Genesis,
}

pub struct NodeLedger<E: Runtime> {
    /// For the metrics registry.
    pub context: Arc<E>,
    pub chain: SharedChain<E>,
    pub marshal: Marshal,
    pub committees: Committees,
    pub gossip: Gossip,
    /// For the stateless checks done before taking the chain's lock.
    pub machine: Arc<custodia_state::StateMachine>,
    pub info: Arc<NodeInfo>,
}

// Not derived: that would demand `E: Clone`.
impl<E: Runtime> Clone for NodeLedger<E> {
    fn clone(&self) -> Self {
        Self {
            context: self.context.clone(),
            chain: self.chain.clone(),
            marshal: self.marshal.clone(),
            committees: self.committees.clone(),
            gossip: self.gossip.clone(),
            machine: self.machine.clone(),
            info: self.info.clone(),
        }
    }
}

fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    custodia_types::hexser::decode_fixed(text).ok_or_else(|| {
        ApiError::bad_request("bad_id", format!("{text:?} is not a 64-hex-digit hash"))
    })
}

/// A stored value as JSON: records are JSON; anything else is hex.
fn value_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| json!({ "hex": hex::encode(bytes) }))
}

pub fn block_json(block: &Block) -> Value {
    let header = block.header();
    json!({
        "digest": block.digest().to_string(),
        "height": header.height,
        "parent": header.parent.to_string(),
        "timestamp_ms": header.timestamp_ms,
        "txs_root": header.txs_root.to_string(),
        "state_root": header.state_root.to_string(),
        "transactions": block.txs().iter().map(|tx| json!({
            "id": tx.id().to_string(),
            "signer": key_hex(tx.signer()),
            "nonce": tx.nonce(),
            "body": tx.body(),
        })).collect::<Vec<_>>(),
    })
}

impl<E: Runtime> Ledger for NodeLedger<E> {
    async fn status(&self) -> Value {
        let (tip, mempool, committed) = {
            let chain = self.chain.lock().await;
            (chain.tip().clone(), chain.mempool_len(), chain.committed())
        };
        // Read without the chain's lock: status is polled often, and the
        // lock is consensus's.
        let members = committed.get(keys::MEMBERS).await.ok().flatten();
        let epoch = (tip.height + 1) / self.info.genesis.params.epoch_length;
        let validators: Vec<String> = self
            .committees
            .validators(epoch)
            .unwrap_or_default()
            .iter()
            .map(key_hex)
            .collect();
        // The members as the chain records them now (those voted in after
        // genesis too).
        let members: Vec<custodia_types::Member> = members
            .and_then(|record| serde_json::from_slice(&record).ok())
            .unwrap_or_else(|| self.info.genesis.members.clone());
        let peers: Vec<Value> = members
            .iter()
            .filter(|m| m.id.as_str() != self.info.org)
            .map(|m| {
                json!({ "org": m.id.as_str(), "p2p": m.p2p.to_string(), "api": m.api.map(|a| a.to_string()) })
            })
            .collect();
        json!({
            "chain_id": self.info.genesis.chain_id,
            "org": self.info.org,
            "height": tip.height,
            "finalized_height": tip.height,
            "block": tip.digest.to_string(),
            "state_root": tip.header.state_root.to_string(),
            "epoch": epoch,
            "validators": validators,
            "peers": peers,
            "mempool": mempool,
        })
    }

    async fn submit(&self, bytes: bytes::Bytes) -> Result<String, ApiError> {
        let tx = match check_tx(&self.machine, &bytes) {
            Ok(tx) => tx,
            Err(error) => {
                self.chain.lock().await.count_refusal();
                return Err(admit_error(error));
            }
        };
        let id = self
            .chain
            .lock()
            .await
            .admit_checked(tx)
            .await
            .map_err(admit_error)?;
        self.gossip.publish(bytes);
        Ok(id.to_string())
    }

    async fn submit_batch(
        &self,
        bytes: bytes::Bytes,
    ) -> Result<Vec<Result<String, ApiError>>, ApiError> {
        let txs = custodia_types::framing::decode_txs(bytes).ok_or_else(|| {
            ApiError::bad_request(
                "malformed",
                "a batch is transactions framed as a 4-byte big-endian length then the encoded transaction",
            )
        })?;
        let checked: Vec<_> = txs.iter().map(|tx| check_tx(&self.machine, tx)).collect();
        let mut results = Vec::with_capacity(txs.len());
        let mut chain = self.chain.lock().await;
        for (bytes, checked) in txs.into_iter().zip(checked) {
            let result = match checked {
                Ok(tx) => chain.admit_checked(tx).await,
                Err(error) => {
                    chain.count_refusal();
                    Err(error)
                }
            };
            results.push(match result {
                Ok(id) => {
                    self.gossip.publish(bytes);
                    Ok(id.to_string())
                }
                Err(error) => Err(admit_error(error)),
            });
        }
        Ok(results)
    }

    async fn transaction(&self, id: String) -> Result<Value, ApiError> {
        let digest = parse_digest(&id)?;
        let chain = self.chain.lock().await;
        if let Some(bytes) = chain
            .get(&keys::receipt(&digest))
            .await
            .map_err(store_error)?
        {
            let receipt: custodia_state::Receipt = serde_json::from_slice(&bytes)
                .map_err(|e| store_error(format!("bad receipt: {e}")))?;
            let mut answer = json!({ "id": id, "height": receipt.height, "index": receipt.index, "kind": receipt.kind });
            match receipt.status {
                custodia_state::TxStatus::Applied => answer["status"] = json!("finalized"),
                custodia_state::TxStatus::Rejected { reason } => {
                    answer["status"] = json!("rejected");
                    answer["reason"] = json!(reason);
                }
            }
            if !receipt.entries.is_empty() {
                answer["entries"] = json!(receipt.entries);
            }
            return Ok(answer);
        }
        if chain.is_pending(&digest) {
            return Ok(json!({ "id": id, "status": "pending" }));
        }
        Err(ApiError::not_found(format!(
            "transaction {id} is neither pending on this node nor on the chain"
        )))
    }

    async fn account(&self, key: String) -> Result<Value, ApiError> {
        let public = custodia_types::parse_public_key(&key)
            .map_err(|e| ApiError::bad_request("bad_key", e.to_string()))?;
        let chain = self.chain.lock().await;
        let next_nonce = chain.next_nonce(&public).await.map_err(store_error)?;
        let principal = chain
            .get(&keys::principal(&public))
            .await
            .map_err(store_error)?
            .map(|b| value_json(&b));
        Ok(json!({ "key": key, "next_nonce": next_nonce, "principal": principal }))
    }

    async fn block(&self, height: u64) -> Result<Value, ApiError> {
        let Some(block) = self.marshal.get_block(Height::new(height)).await else {
            return Err(ApiError::not_found(format!(
                "no finalized block at height {height} on this node yet"
            )));
        };
        let mut answer = block_json(block.inner());
        if let Some(finalization) = self.marshal.get_finalization(Height::new(height)).await {
            answer["finalization"] = json!(hex::encode(finalization.encode()));
        }
        Ok(answer)
    }

    async fn state(&self, key: String, proof: bool) -> Result<Value, ApiError> {
        let chain = self.chain.lock().await;
        let tip = chain.tip().clone();
        let mut answer = json!({ "key": key, "height": tip.height, "state_root": tip.header.state_root.to_string() });
        if proof {
            let proven = chain.prove(key.as_bytes()).await.map_err(store_error)?;
            let Some(proven) = proven else {
                return Err(ApiError::not_found(format!(
                    "state key {key:?} holds no value (the state proves what a key holds, not that it holds nothing)"
                )));
            };
            answer["value"] = value_json(proven.value());
            answer["value_hex"] = json!(hex::encode(proven.value()));
            answer["proof"] = json!(proven.proof_hex());
            answer["block"] = json!(tip.digest.to_string());
        } else {
            let value = chain.get(key.as_bytes()).await.map_err(store_error)?;
            let Some(value) = value else {
                return Err(ApiError::not_found(format!(
                    "state key {key:?} holds no value"
                )));
            };
            answer["value"] = value_json(&value);
        }
        Ok(answer)
    }

    async fn metrics(&self) -> String {
        self.context.encode()
    }
}
