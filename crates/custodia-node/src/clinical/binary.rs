//! Large files (imaging, PDFs) as FHIR `Binary`, streamed: the request
//! body is encrypted chunk by chunk into the vault as it arrives, and a
//! read decrypts chunk by chunk into the response, so memory stays flat
//! whatever the size. On chain a Binary is a record version like any
//! other: pseudonym, hashes, size, author, custodian. Its media type is
//! kept beside the vault object, off chain.

use super::{
    caller::Caller,
    now_ms,
    records::{aad, Prepared},
    rfc3339, unavailable, Clinical,
};
use crate::engine::Runtime;
use axum::body::{Body, Bytes};
use custodia_fhir::{IssueType, Outcome};
use custodia_state::{keys, records::RecordEntry};
use custodia_types::{Digest, LogicalId, Pseudonym, RecordVersion, ResourceType};
use custodia_vault::{unwrap, wrap, DataKey};
use futures::StreamExt as _;
use serde_json::{json, Value};
use std::io::{Read, Write};
use tokio::sync::mpsc;

/// Chunks buffered between the network and the cipher, each way.
const PIPE_CHUNKS: usize = 8;

/// A Binary about to be served: its media type, size and content stream.
pub struct BinaryContent {
    pub content_type: String,
    pub size: u64,
    pub version: u64,
    pub body: Body,
}

impl<E: Runtime> Clinical<E> {
    /// `POST /fhir/Binary` with the file as the raw body; the patient named
    /// by `X-Security-Context: Patient/<pseudonym>`.
    pub(super) async fn upload_binary(
        &self,
        caller: &Caller,
        patient: &str,
        content_type: String,
        body: Body,
    ) -> Result<Value, Outcome> {
        super::records::refuse_patient_writers(caller)?;
        let patient: Pseudonym = patient
            .strip_prefix("Patient/")
            .unwrap_or(patient)
            .parse()
            .map_err(|_| {
                Outcome::new(
                    400,
                    IssueType::Required,
                    "name the patient a Binary belongs to: X-Security-Context: Patient/<64-hex-digit pseudonym>",
                )
            })?;
        if self
            .read::<Value>(&keys::patient(&patient))
            .await?
            .is_none()
        {
            return Err(Outcome::new(
                422,
                IssueType::NotFound,
                format!("no Patient/{patient} on the chain; create the Patient first"),
            ));
        }
        let id = LogicalId::new(hex::encode(rand::random::<[u8; 16]>())).map_err(unavailable)?;
        let version = 1;
        let key = DataKey::generate();
        let context = aad(ResourceType::Binary, &id, version);

        // The network feeds a pipe; a blocking thread seals what comes out.
        let (sender, receiver) = mpsc::channel::<std::io::Result<Bytes>>(PIPE_CHUNKS);
        let objects = self.objects.clone();
        let seal_key = DataKey::from_bytes(*key.as_bytes());
        let sealing = tokio::task::spawn_blocking(move || {
            objects.put_stream(&seal_key, context.as_bytes(), PipeReader::new(receiver))
        });
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let item = chunk.map_err(|e| std::io::Error::other(e.to_string()));
            let failed = item.is_err();
            if sender.send(item).await.is_err() || failed {
                break;
            }
        }
        drop(sender);
        let sealed = sealing.await.map_err(unavailable)?.map_err(|e| {
            Outcome::new(
                400,
                IssueType::Structure,
                format!("the upload did not arrive whole ({e}); nothing was stored"),
            )
        })?;
        let wrapped = wrap(&key, &self.secret.public(), &sealed.ciphertext_hash);
        self.keyring
            .put(&sealed.ciphertext_hash, &wrapped)
            .map_err(unavailable)?;
        self.keyring
            .put_media_type(&sealed.ciphertext_hash, &content_type)
            .map_err(unavailable)?;
        let time_ms = now_ms();
        let json = json!({
            "resourceType": "Binary",
            "id": id.as_str(),
            "meta": { "versionId": version.to_string(), "lastUpdated": rfc3339(time_ms) },
            "contentType": content_type,
            "securityContext": { "reference": format!("Patient/{patient}") },
        });
        let prepared = Prepared {
            record: RecordVersion {
                patient,
                resource_type: ResourceType::Binary,
                id,
                version,
                ciphertext: Digest::from(sealed.ciphertext_hash),
                commitment: Digest::from(sealed.commitment),
                size: sealed.plaintext_len,
                time_ms,
                author: caller.key.clone(),
            },
            json: json.clone(),
        };
        self.record(vec![prepared]).await?;
        Ok(json)
    }

    /// `GET /fhir/Binary/{id}`: the raw file, streamed, after the read is
    /// permitted and audited. Served by the custodian's node.
    pub(super) async fn download_binary(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<BinaryContent, Outcome> {
        let id =
            LogicalId::new(id).map_err(|e| Outcome::new(400, IssueType::Value, e.to_string()))?;
        let (head, _) = self
            .permitted_read(caller, ResourceType::Binary, &id)
            .await?;
        let version = head.version;
        let entry: RecordEntry = self
            .read(&keys::record_version(ResourceType::Binary, &id, version))
            .await?
            .ok_or_else(|| unavailable("a Binary head without its version"))?;
        if entry.custodian != self.org {
            return Err(Outcome::new(
                409,
                IssueType::NotSupported,
                format!(
                    "large files are streamed from their custodian's node: read Binary/{id} at {}'s node (the read there is audited the same way)",
                    entry.custodian
                ),
            ));
        }
        let hash: [u8; 32] = entry.ciphertext.into();
        let wrapped = self
            .keyring
            .get(&hash)
            .map_err(unavailable)?
            .ok_or_else(|| unavailable("no data key for a Binary this node holds"))?;
        let key = unwrap(&wrapped, &self.secret, &hash).map_err(unavailable)?;
        let content_type = self
            .keyring
            .media_type(&hash)
            .map_err(unavailable)?
            .unwrap_or_else(|| "application/octet-stream".into());
        let context = aad(ResourceType::Binary, &id, version);
        let commitment: [u8; 32] = entry.commitment.into();
        let (sender, receiver) = mpsc::channel::<std::io::Result<Bytes>>(PIPE_CHUNKS);
        let objects = self.objects.clone();
        tokio::task::spawn_blocking(move || {
            let mut pipe = PipeWriter(sender);
            let result = objects.open_stream(&hash, &key, context.as_bytes(), &mut pipe);
            // A failure mid-stream aborts the response: the transfer breaks,
            // so no client receives a complete file the chain does not
            // vouch for (the commitment is known only at the end).
            let failure = match result {
                Ok(Some(opened)) if opened.matches(&commitment) => return,
                Ok(Some(_)) => "the content does not match its commitment on chain".to_string(),
                Ok(None) => "the vault no longer holds this content".to_string(),
                Err(e) => e.to_string(),
            };
            tracing::error!(error = %failure, "streaming a Binary failed");
            let _ = pipe.0.blocking_send(Err(std::io::Error::other(failure)));
        });
        let body = Body::from_stream(futures::stream::unfold(receiver, |mut receiver| async {
            receiver.recv().await.map(|item| (item, receiver))
        }));
        Ok(BinaryContent {
            content_type,
            size: entry.size,
            version,
            body,
        })
    }
}

/// The blocking end of an upload: reads chunks the network handed over.
struct PipeReader {
    receiver: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl PipeReader {
    fn new(receiver: mpsc::Receiver<std::io::Result<Bytes>>) -> Self {
        Self {
            receiver,
            current: Bytes::new(),
        }
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// The blocking end of a download: hands plaintext chunks to the network.
struct PipeWriter(mpsc::Sender<std::io::Result<Bytes>>);

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
