//! Key release between members. A node whose agent the chain permitted to
//! read another member's record asks that custodian's node for it, naming
//! the permitting audit event and a one-time X25519 key; the custodian
//! checks the event on its own copy of the chain and answers with the
//! ciphertext and the data key wrapped (HPKE) to that one-time key (for a
//! file: the key in a header, the ciphertext streamed as the body). The
//! request is signed with the asking node's validator key.

use super::{unavailable, Clinical};
use commonware_cryptography::{Signer as _, Verifier as _};
use custodia_engine::{
    engine::Runtime,
    peers::{with_causes, PeerError, PeerRequest},
};
use custodia_fhir::{IssueType, Outcome};
use custodia_state::{
    keys,
    records::{AuditEvent, Decision, Principal, RecordEntry, RecordHead},
};
use custodia_types::{key_hex, AccessAction, Digest, LogicalId, OrgId, ResourceType, Signature};
use custodia_vault::{EncryptionSecret, WrappedKey};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

const RELEASE_NAMESPACE: &[u8] = b"custodia/release/v1";
/// Where a custodian's node takes release requests.
const RELEASE_PATH: &str = "/v1/vault/release";
/// A permitting event older than this no longer releases keys.
const RELEASE_WINDOW_MS: u64 = 10 * 60 * 1000;

#[derive(Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub access_tx: String,
    pub resource_type: ResourceType,
    pub id: LogicalId,
    pub version: u64,
    /// One-time X25519 public key (hex) to wrap the data key to.
    pub recipient: String,
    /// The asking node's validator key (hex) and its signature (hex).
    pub requester: String,
    pub signature: String,
}

#[derive(Serialize, Deserialize)]
pub struct Released {
    pub ciphertext: String,
    pub wrapped_key: String,
}

/// A release the chain permits: which object, and its key for the asker.
pub(super) struct Releasable {
    pub hash: [u8; 32],
    pub wrapped_key: WrappedKey,
}

/// The header a file's release carries its wrapped data key in (the body
/// is the ciphertext, streamed).
pub(super) const WRAPPED_KEY_HEADER: &str = "x-custodia-wrapped-key";

fn message(r: &ReleaseRequest) -> Vec<u8> {
    format!(
        "{}|{}/{}|{}|{}",
        r.access_tx, r.resource_type, r.id, r.version, r.recipient
    )
    .into_bytes()
}

/// Why a request said to come from a member's node is refused.
#[derive(Debug)]
pub(super) enum NodeRequestError {
    BadKey,
    BadSignature,
    WrongSignature,
    NotANode,
    Unavailable(Outcome),
}

impl NodeRequestError {
    /// The answer to a refused request to `act` (`ask for keys`).
    pub(super) fn outcome(self, act: &str) -> Outcome {
        match self {
            Self::BadKey => Outcome::new(
                400,
                IssueType::Value,
                "requester is not hex of an ed25519 public key",
            ),
            Self::BadSignature => Outcome::new(
                400,
                IssueType::Value,
                "signature is not hex of an ed25519 signature",
            ),
            Self::WrongSignature => Outcome::new(
                401,
                IssueType::Security,
                "the request's signature does not match",
            ),
            Self::NotANode => refuse(format!("only members' nodes may {act}")),
            Self::Unavailable(outcome) => outcome,
        }
    }
}

fn refuse(reason: impl Into<String>) -> Outcome {
    Outcome::new(403, IssueType::Forbidden, reason)
}

impl<E: Runtime> Clinical<E> {
    /// Serve `POST /v1/vault/release` for a FHIR JSON version: its
    /// ciphertext and data key in one answer.
    pub(super) async fn release(&self, request: ReleaseRequest) -> Result<Released, Outcome> {
        let releasable = self.check_release(&request).await?;
        let gone = || Outcome::new(410, IssueType::Deleted, "this content's key was destroyed");
        let ciphertext = self
            .objects
            .get(&releasable.hash)
            .map_err(unavailable)?
            .ok_or_else(gone)?;
        Ok(Released {
            ciphertext: hex::encode(ciphertext),
            wrapped_key: releasable.wrapped_key.to_hex(),
        })
    }

    /// The member whose node signed `message` under `namespace`, with the
    /// validator key `requester` (hex) and `signature` (hex): requests
    /// between members' nodes (key release, search) are signed this way.
    pub(super) async fn signing_member(
        &self,
        requester: &str,
        signature: &str,
        namespace: &[u8],
        message: &[u8],
    ) -> Result<OrgId, NodeRequestError> {
        let requester =
            custodia_types::parse_public_key(requester).map_err(|_| NodeRequestError::BadKey)?;
        let signature: Signature = custodia_types::hexser::decode_fixed(signature)
            .ok_or(NodeRequestError::BadSignature)?;
        if !requester.verify(namespace, message, &signature) {
            return Err(NodeRequestError::WrongSignature);
        }
        match self.read(&keys::principal(&requester)).await {
            Ok(Some(Principal::Node { org })) => Ok(org),
            Ok(_) => Err(NodeRequestError::NotANode),
            Err(outcome) => Err(NodeRequestError::Unavailable(outcome)),
        }
    }

    /// Check a release request against this node's chain and rewrap the
    /// data key to the request's one-time key.
    pub(super) async fn check_release(
        &self,
        request: &ReleaseRequest,
    ) -> Result<Releasable, Outcome> {
        let org = self
            .signing_member(
                &request.requester,
                &request.signature,
                RELEASE_NAMESPACE,
                &message(request),
            )
            .await
            .map_err(|e| e.outcome("ask for keys"))?;
        let access_tx: Digest = custodia_types::hexser::decode_fixed(&request.access_tx)
            .ok_or_else(|| {
                Outcome::new(400, IssueType::Value, "access_tx is not a transaction id")
            })?;
        let seq = self.await_decision(&access_tx).await?;
        let event: AuditEvent = self
            .read(&keys::audit_event(seq))
            .await?
            .ok_or_else(|| unavailable("audit event missing"))?;
        let resource = format!("{}/{}", request.resource_type, request.id);
        let fits = event.decision == Decision::Permit
            && event.action == AccessAction::Read
            && event.recorded_by.as_ref() == Some(&org)
            && event.resource.as_deref() == Some(resource.as_str());
        if !fits {
            return Err(refuse(
                "that access decision does not permit this node to read this resource",
            ));
        }
        if self.now_ms().saturating_sub(event.time_ms) > RELEASE_WINDOW_MS {
            return Err(refuse(
                "that access decision is too old; ask the chain again",
            ));
        }
        let head: RecordHead = self
            .read(&keys::record_head(request.resource_type, &request.id))
            .await?
            .ok_or_else(|| Outcome::new(404, IssueType::NotFound, "no such record"))?;
        if head.custodian != self.org {
            return Err(refuse(format!(
                "{resource} is held by {}, not here",
                head.custodian
            )));
        }
        if head.erased_height.is_some() {
            return Err(Outcome::new(
                410,
                IssueType::Deleted,
                format!("{resource} was erased"),
            ));
        }
        let entry: RecordEntry = self
            .read(&keys::record_version(
                request.resource_type,
                &request.id,
                request.version,
            ))
            .await?
            .ok_or_else(|| Outcome::new(404, IssueType::NotFound, "no such version"))?;
        let hash: [u8; 32] = entry.ciphertext.as_ref().try_into().map_err(unavailable)?;
        let recipient: custodia_vault::EncryptionPublic =
            request
                .recipient
                .parse()
                .map_err(|e: custodia_vault::VaultError| {
                    Outcome::new(400, IssueType::Value, e.to_string())
                })?;
        // Unwrap ours, wrap to the reader's one-time key: on a blocking
        // thread, like all vault work.
        let wrapped_key = self
            .vault(move |_, keyring, own_keys| {
                let gone =
                    || Outcome::new(410, IssueType::Deleted, "this content's key was destroyed");
                let wrapped = keyring.get(&hash).map_err(unavailable)?.ok_or_else(gone)?;
                let key = own_keys.unwrap(&wrapped, &hash).map_err(unavailable)?;
                Ok(custodia_vault::wrap(&key, &recipient, &hash))
            })
            .await?;
        tracing::info!(to = %org, record = %resource, version = request.version, "released a data key");
        Ok(Releasable { hash, wrapped_key })
    }

    /// The asker may have seen the decision final a moment before this
    /// node did: give the chain `waits.decision` to catch up.
    async fn await_decision(&self, access_tx: &Digest) -> Result<u64, Outcome> {
        let deadline = self.context.current() + self.waits.decision;
        loop {
            let seq = self
                .read_raw(&keys::audit_of_tx(access_tx))
                .await?
                .and_then(|b| keys::decode_u64(&b));
            if let Some(seq) = seq {
                return Ok(seq);
            }
            if self.context.current() > deadline {
                return Err(refuse("no final access decision for that transaction here"));
            }
            self.context
                .sleep(std::time::Duration::from_millis(20))
                .await;
        }
    }

    /// Fetch and open a version held by another member.
    pub(super) async fn open_released(
        &self,
        entry: &RecordEntry,
        resource_type: ResourceType,
        id: &LogicalId,
        version: u64,
        access_tx: &Digest,
        aad: &[u8],
    ) -> Result<custodia_vault::Opened, Outcome> {
        let (custodian, request, one_time) =
            self.release_request(entry, resource_type, id, version, access_tx)?;
        let answer = self
            .ask_peer(
                custodian,
                PeerRequest::json(RELEASE_PATH, &request),
                self.waits.peer,
            )
            .await
            .map_err(|e| custodian_failed(entry, e))?;
        if !answer.is_success() {
            return Err(release_refused(entry, answer.status, &answer.text()));
        }
        let released: Released = answer.json().map_err(|e| custodian_failed(entry, e))?;
        let ciphertext = hex::decode(&released.ciphertext).map_err(unavailable)?;
        let hash: [u8; 32] = entry.ciphertext.into();
        // A replica, checked against the chain before it is kept.
        self.objects
            .put_verified(&hash, &ciphertext)
            .map_err(unavailable)?;
        let wrapped = WrappedKey::from_hex(&released.wrapped_key).map_err(unavailable)?;
        let key = custodia_vault::unwrap(&wrapped, &one_time, &hash).map_err(unavailable)?;
        custodia_vault::open(&key, &ciphertext, aad).map_err(unavailable)
    }

    /// Ask the custodian of a file (`entry`) to release a version this
    /// node's agent was permitted to read (by `access_tx`): its successful
    /// answer, whose body streams the ciphertext, and the one-time key the
    /// data key is wrapped to.
    pub(super) async fn ask_custodian_for_file(
        &self,
        entry: &RecordEntry,
        id: &LogicalId,
        version: u64,
        access_tx: &Digest,
    ) -> Result<(reqwest::Response, EncryptionSecret), Outcome> {
        let (custodian, request, one_time) =
            self.release_request(entry, ResourceType::Binary, id, version, access_tx)?;
        let response = self
            .file_releases
            .post(self.streams.url(custodian, RELEASE_PATH))
            .json(&request)
            .send()
            .await
            .map_err(|e| custodian_failed(entry, PeerError::Unreachable(with_causes(&e))))?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            return Err(release_refused(entry, status, &text));
        }
        Ok((response, one_time))
    }

    /// The signed request for a release, the custodian's API address, and
    /// the one-time key the answer is wrapped to.
    fn release_request(
        &self,
        entry: &RecordEntry,
        resource_type: ResourceType,
        id: &LogicalId,
        version: u64,
        access_tx: &Digest,
    ) -> Result<(SocketAddr, ReleaseRequest, EncryptionSecret), Outcome> {
        let custodian = self.peer_api(&entry.custodian).ok_or_else(|| {
            Outcome::new(
                502,
                IssueType::Exception,
                format!("no API address known for custodian {}", entry.custodian),
            )
        })?;
        let one_time = EncryptionSecret::from_bytes(&self.random::<32>())
            .expect("32 bytes are an X25519 secret");
        let mut request = ReleaseRequest {
            access_tx: hex::encode(access_tx),
            resource_type,
            id: id.clone(),
            version,
            recipient: one_time.public().to_string(),
            requester: key_hex(&self.node_key.public_key()),
            signature: String::new(),
        };
        request.signature = hex::encode(self.node_key.sign(RELEASE_NAMESPACE, &message(&request)));
        Ok((custodian, request, one_time))
    }
}

/// The custodian refused: gone (410) if the record was erased there.
fn release_refused(entry: &RecordEntry, status: u16, text: &str) -> Outcome {
    let erased = status == 410;
    Outcome::new(
        if erased { 410 } else { 502 },
        if erased {
            IssueType::Deleted
        } else {
            IssueType::Exception
        },
        format!(
            "custodian {} refused to release the key ({status}): {text}",
            entry.custodian
        ),
    )
}

fn custodian_failed(entry: &RecordEntry, error: PeerError) -> Outcome {
    Outcome::new(
        502,
        IssueType::Exception,
        format!("custodian {} did not answer: {error}", entry.custodian),
    )
}
