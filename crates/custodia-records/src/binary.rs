//! Large files (imaging, PDFs) as FHIR `Binary`, streamed: the request
//! body is encrypted chunk by chunk into the vault as it arrives, and a
//! read decrypts chunk by chunk into the response, so memory stays flat
//! whatever the size. On chain a Binary is a record version like any
//! other: pseudonym, hashes, size, author, custodian. Its media type is
//! kept beside the vault object, off chain. Another member's node serves a
//! permitted read by streaming the ciphertext from the custodian (a key
//! release answered as a stream) and decrypting it on the way through.

use super::{
    caller::Caller,
    pending::Unrecorded,
    records::{aad, Prepared},
    release::{ReleaseRequest, WRAPPED_KEY_HEADER},
    rfc3339, unavailable, Clinical,
};
use axum::body::{Body, Bytes};
use custodia_engine::engine::Runtime;
use custodia_fhir::{IssueType, Outcome};
use custodia_state::{keys, records::RecordEntry};
use custodia_types::{Digest, LogicalId, Pseudonym, RecordVersion, ResourceType};
use custodia_vault::{open_stream, unwrap, DataKey, WrappedKey};
use futures::StreamExt as _;
use serde_json::{json, Value};
use std::{
    io::{Read, Write},
    time::Duration,
};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// Chunks buffered between the network and the cipher, each way.
const PIPE_CHUNKS: usize = 8;
/// Bytes read from the vault at a time when a file is sent as it is.
const CHUNK_BYTES: usize = 64 << 10;
/// A transfer whose client sends or reads nothing for this long is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Limits on file transfers, from the node's configuration.
#[derive(Clone, Copy, Debug)]
pub struct FileLimits {
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Uploads and downloads running at once; more are refused (503).
    pub max_transfers: usize,
}

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
        let transfer = self.file_transfer()?;
        let id = self.new_logical_id();
        let version = 1;
        let key = DataKey::generate();
        let context = aad(ResourceType::Binary, &id, version);
        let objects = self.objects.clone();
        let seal_key = DataKey::from_bytes(*key.as_bytes());
        let sealed = receive(body, self.files.max_bytes, transfer, move |pipe| {
            objects.put_stream(&seal_key, context.as_bytes(), pipe)
        })
        .await?
        .map_err(not_stored)?;
        let mut content = Unrecorded::new(&self.objects, &self.keyring);
        content.add(sealed.ciphertext_hash);
        let wrapped = self.own_keys.wrap(&key, &sealed.ciphertext_hash);
        self.keyring
            .put(&sealed.ciphertext_hash, &wrapped)
            .map_err(not_stored)?;
        self.keyring
            .put_media_type(&sealed.ciphertext_hash, &content_type)
            .map_err(not_stored)?;
        let time_ms = self.now_ms();
        let json = json!({
            "resourceType": "Binary",
            "id": id.as_str(),
            "meta": { "versionId": version.to_string(), "lastUpdated": rfc3339(time_ms) },
            "contentType": content_type,
            "securityContext": { "reference": format!("Patient/{patient}") },
        });
        let prepared = Prepared {
            record: RecordVersion {
                patient: Some(patient),
                resource_type: ResourceType::Binary,
                id,
                version,
                ciphertext: Digest::from(sealed.ciphertext_hash),
                commitment: Digest::from(sealed.commitment),
                size: sealed.plaintext_len,
                time_ms,
                author: (&caller.key).into(),
            },
            json: json.clone(),
        };
        self.record(vec![prepared], content).await?;
        Ok(json)
    }

    /// `GET /fhir/Binary/{id}`: the raw file, streamed, after the read is
    /// permitted and audited. At the custodian's node it streams from the
    /// vault; elsewhere the custodian streams the ciphertext over (with the
    /// data key wrapped to a one-time key), and this node decrypts it on
    /// the way through, checking it against the chain's hashes.
    pub(super) async fn download_binary(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<BinaryContent, Outcome> {
        let id =
            LogicalId::new(id).map_err(|e| Outcome::new(400, IssueType::Value, e.to_string()))?;
        let transfer = self.file_transfer()?;
        let (head, access_tx) = self
            .permitted_read(caller, ResourceType::Binary, &id)
            .await?;
        let version = head.version;
        let entry: RecordEntry = self
            .read(&keys::record_version(ResourceType::Binary, &id, version))
            .await?
            .ok_or_else(|| unavailable("a Binary head without its version"))?;
        let hash: [u8; 32] = entry.ciphertext.into();
        let (key, content_type, source) = if entry.custodian == self.org {
            self.own_file(&hash)?
        } else {
            self.released_file(&entry, &id, version, &access_tx).await?
        };
        let context = aad(ResourceType::Binary, &id, version);
        let commitment: [u8; 32] = entry.commitment.into();
        let (sender, receiver) = mpsc::channel::<std::io::Result<Bytes>>(PIPE_CHUNKS);
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let _transfer = transfer;
            let mut pipe = PipeWriter { sender, runtime };
            let result = open_stream(&key, context.as_bytes(), source, &mut pipe);
            // A failure mid-stream aborts the response: the transfer breaks,
            // so no client receives a complete file the chain does not
            // vouch for (the hashes are known only at the end).
            let failure = match result {
                Ok(opened) if opened.ciphertext_hash != hash => {
                    "the content is not the one the chain records".to_string()
                }
                Ok(opened) if opened.matches(&commitment) => return,
                Ok(_) => "the content does not match its commitment on chain".to_string(),
                Err(e) => e.to_string(),
            };
            tracing::error!(error = %failure, "streaming a Binary failed");
            let _ = pipe
                .sender
                .blocking_send(Err(std::io::Error::other(failure)));
        });
        Ok(BinaryContent {
            content_type,
            size: entry.size,
            version,
            body: body_of(receiver),
        })
    }

    /// A file this node is custodian of: its key, media type and content.
    fn own_file(&self, hash: &[u8; 32]) -> Result<(DataKey, String, FileSource), Outcome> {
        let gone = || Outcome::new(410, IssueType::Deleted, "this file was erased");
        let wrapped = self
            .keyring
            .get(hash)
            .map_err(unavailable)?
            .ok_or_else(gone)?;
        let key = self.own_keys.unwrap(&wrapped, hash).map_err(unavailable)?;
        let content_type = self
            .keyring
            .media_type(hash)
            .map_err(unavailable)?
            .unwrap_or_else(|| "application/octet-stream".into());
        let file = self
            .objects
            .reader(hash)
            .map_err(unavailable)?
            .ok_or_else(gone)?;
        Ok((key, content_type, Box::new(file)))
    }

    /// A file another member holds, released by it for the read the chain
    /// just permitted (`access_tx`): its key, media type and a stream of
    /// its ciphertext as it arrives.
    async fn released_file(
        &self,
        entry: &RecordEntry,
        id: &LogicalId,
        version: u64,
        access_tx: &Digest,
    ) -> Result<(DataKey, String, FileSource), Outcome> {
        let (response, one_time) = self
            .ask_custodian_for_file(entry, id, version, access_tx)
            .await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let hash: [u8; 32] = entry.ciphertext.into();
        let wrapped = header(WRAPPED_KEY_HEADER)
            .and_then(|hex| WrappedKey::from_hex(&hex).ok())
            .ok_or_else(|| unavailable("the custodian's answer has no wrapped key"))?;
        let key = unwrap(&wrapped, &one_time, &hash).map_err(unavailable)?;
        let content_type =
            header("content-type").unwrap_or_else(|| "application/octet-stream".into());
        let (sender, receiver) = mpsc::channel::<Piece>(PIPE_CHUNKS);
        let expected = custodia_vault::stream::ciphertext_len(entry.size);
        let chunks = futures::stream::unfold(response, |mut response| async {
            response
                .chunk()
                .await
                .transpose()
                .map(|chunk| (chunk, response))
        });
        tokio::spawn(async move {
            if let Some(refusal) = pump(chunks, &sender, expected, IDLE_TIMEOUT).await {
                tracing::warn!(?refusal, "a custodian's file stream broke off");
            }
        });
        Ok((key, content_type, Box::new(PipeReader::new(receiver))))
    }

    /// `POST /v1/vault/replica/Binary/{id}/{version}`: keep another
    /// member's file as a replica, streamed into the vault in flat memory,
    /// only if it is exactly the ciphertext this node's chain records.
    pub(super) async fn accept_file_replica(
        &self,
        id: &LogicalId,
        version: u64,
        body: Body,
    ) -> Result<(), Outcome> {
        let entry = self
            .replica_entry(ResourceType::Binary, id, version)
            .await?;
        let hash: [u8; 32] = entry.ciphertext.into();
        let transfer = self.file_transfer()?;
        let objects = self.objects.clone();
        let expected = custodia_vault::stream::ciphertext_len(entry.size);
        receive(body, expected, transfer, move |pipe| {
            objects.put_verified_stream(&hash, pipe)
        })
        .await?
        .map_err(|e| match e {
            custodia_vault::VaultError::HashMismatch { .. } => {
                Outcome::new(422, IssueType::Invalid, e.to_string())
            }
            other => not_stored(other),
        })?;
        self.unless_erased_meanwhile(ResourceType::Binary, id, &hash)
            .await
    }

    /// Serve `POST /v1/vault/release` for a file: the data key wrapped to
    /// the asker's one-time key, and the ciphertext streamed from the vault.
    pub(super) async fn release_file(
        &self,
        request: &ReleaseRequest,
    ) -> Result<ReleasedFile, Outcome> {
        let transfer = self.file_transfer()?;
        let releasable = self.check_release(request).await?;
        let (_, content_type, file) = self.own_file(&releasable.hash)?;
        let length = self
            .objects
            .len(&releasable.hash)
            .map_err(unavailable)?
            .unwrap_or_default();
        let (sender, receiver) = mpsc::channel::<std::io::Result<Bytes>>(PIPE_CHUNKS);
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let _transfer = transfer;
            let mut pipe = PipeWriter { sender, runtime };
            let mut file = std::io::BufReader::with_capacity(CHUNK_BYTES, file);
            if let Err(error) = std::io::copy(&mut file, &mut pipe) {
                tracing::warn!(%error, "streaming a released file failed");
                let _ = pipe.sender.blocking_send(Err(error));
            }
        });
        Ok(ReleasedFile {
            wrapped_key: releasable.wrapped_key.to_hex(),
            content_type,
            length,
            body: body_of(receiver),
        })
    }
}

/// Where a download's ciphertext comes from: the vault, or a custodian.
type FileSource = Box<dyn Read + Send>;

/// A file's release, as the custodian answers it.
pub struct ReleasedFile {
    pub wrapped_key: String,
    pub content_type: String,
    pub length: u64,
    pub body: Body,
}

/// A response body fed by a blocking thread.
fn body_of(receiver: mpsc::Receiver<std::io::Result<Bytes>>) -> Body {
    Body::from_stream(futures::stream::unfold(receiver, |mut receiver| async {
        receiver.recv().await.map(|item| (item, receiver))
    }))
}

impl<E: Runtime> Clinical<E> {
    /// A place among the node's concurrent file transfers, held for as
    /// long as the transfer runs; refused when all are taken.
    fn file_transfer(&self) -> Result<OwnedSemaphorePermit, Outcome> {
        self.transfers.clone().try_acquire_owned().map_err(|_| {
            Outcome::new(
                503,
                IssueType::Throttled,
                format!(
                    "this node is already moving {} files (its max_file_transfers); retry shortly",
                    self.files.max_transfers
                ),
            )
        })
    }
}

/// What the network hands the sealing thread. The end is marked: a pipe
/// that closes without `End` means the upload was cut short (its handler
/// dropped), and nothing may be stored.
enum Piece {
    Data(Bytes),
    End,
}

/// Receive a request body of at most `max_bytes` into `store`, which runs
/// on a blocking thread reading the body from a pipe as it arrives. The
/// client's fault (cut off, too long, idle) is the answer first: `store`
/// then saw only the pipe break, and its own error is moot. The thread
/// holds the transfer's slot, so if the client vanishes and the handler
/// is dropped, the slot frees only once `store` has cleaned up.
async fn receive<T: Send + 'static>(
    body: Body,
    max_bytes: u64,
    transfer: OwnedSemaphorePermit,
    store: impl FnOnce(PipeReader) -> Result<T, custodia_vault::VaultError> + Send + 'static,
) -> Result<Result<T, custodia_vault::VaultError>, Outcome> {
    let (sender, receiver) = mpsc::channel::<Piece>(PIPE_CHUNKS);
    let storing = tokio::task::spawn_blocking(move || {
        let _transfer = transfer;
        store(PipeReader::new(receiver))
    });
    let refused = feed(body, &sender, max_bytes).await;
    drop(sender);
    let stored = storing.await.map_err(unavailable);
    match refused {
        Some(refusal) => Err(refusal),
        None => stored,
    }
}

/// Pass an upload's body into the pipe; the refusal to answer if the
/// client is at fault.
async fn feed(body: Body, pipe: &mpsc::Sender<Piece>, max_bytes: u64) -> Option<Outcome> {
    // A declared length over the limit is refused before reading any of it.
    if axum::body::HttpBody::size_hint(&body).lower() > max_bytes {
        return Some(too_long(max_bytes));
    }
    pump(body.into_data_stream(), pipe, max_bytes, IDLE_TIMEOUT).await
}

fn too_long(max_bytes: u64) -> Outcome {
    Outcome::new(
        413,
        IssueType::TooLong,
        format!(
            "files at this node are limited to {max_bytes} bytes (its max_file_bytes); nothing was stored"
        ),
    )
}

/// Pass what arrives from the network into the pipe, at most `max_bytes`,
/// giving up when nothing comes for `idle` (`IDLE_TIMEOUT`); why it
/// stopped early, if it did (the pipe then closes without its end marker).
async fn pump<E: std::fmt::Display>(
    chunks: impl futures::Stream<Item = Result<Bytes, E>>,
    pipe: &mpsc::Sender<Piece>,
    max_bytes: u64,
    idle: Duration,
) -> Option<Outcome> {
    let mut chunks = std::pin::pin!(chunks);
    let mut received = 0u64;
    loop {
        let next = match tokio::time::timeout(idle, chunks.next()).await {
            Ok(next) => next,
            Err(_) => {
                return Some(Outcome::new(
                    408,
                    IssueType::Timeout,
                    format!(
                        "the transfer sent nothing for {} s and was abandoned; nothing was stored",
                        idle.as_secs()
                    ),
                ))
            }
        };
        let piece = match next {
            None => Piece::End,
            Some(Err(error)) => {
                return Some(Outcome::new(
                    400,
                    IssueType::Structure,
                    format!("the transfer did not arrive whole ({error}); nothing was stored"),
                ))
            }
            Some(Ok(chunk)) => {
                received += chunk.len() as u64;
                if received > max_bytes {
                    return Some(too_long(max_bytes));
                }
                Piece::Data(chunk)
            }
        };
        let end = matches!(piece, Piece::End);
        // A closed pipe means the thread at its other end failed: its
        // error says why.
        if pipe.send(piece).await.is_err() || end {
            return None;
        }
    }
}

/// A vault failure while storing: the node's fault, not the request's.
fn not_stored(error: custodia_vault::VaultError) -> Outcome {
    let full = matches!(&error, custodia_vault::VaultError::Io(e) if e.kind() == std::io::ErrorKind::StorageFull);
    tracing::error!(%error, "storing a file failed");
    if full {
        Outcome::new(
            507,
            IssueType::NoStore,
            "the node's vault is full; nothing was stored",
        )
    } else {
        Outcome::new(
            503,
            IssueType::NoStore,
            "the node could not store the file; nothing was stored; see its log",
        )
    }
}

/// The blocking end of an upload: reads chunks the network handed over.
struct PipeReader {
    receiver: mpsc::Receiver<Piece>,
    current: Bytes,
    ended: bool,
}

impl PipeReader {
    fn new(receiver: mpsc::Receiver<Piece>) -> Self {
        Self {
            receiver,
            current: Bytes::new(),
            ended: false,
        }
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.receiver.blocking_recv() {
                Some(Piece::Data(chunk)) => self.current = chunk,
                Some(Piece::End) => self.ended = true,
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the upload stopped before its end",
                    ))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// The blocking end of a download: hands plaintext chunks to the network,
/// giving up on a client that stops reading.
struct PipeWriter {
    sender: mpsc::Sender<std::io::Result<Bytes>>,
    runtime: tokio::runtime::Handle,
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let chunk = Ok(Bytes::copy_from_slice(buf));
        let sent = self
            .runtime
            .block_on(tokio::time::timeout(IDLE_TIMEOUT, self.sender.send(chunk)));
        match sent {
            Ok(Ok(())) => Ok(buf.len()),
            Ok(Err(_)) => Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the client left",
            )),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            )),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `pump` passed into the pipe: the data, and whether it ended
    /// with the end marker.
    async fn drained(mut receiver: mpsc::Receiver<Piece>) -> (Vec<u8>, bool) {
        let (mut data, mut ended) = (Vec::new(), false);
        while let Some(piece) = receiver.recv().await {
            match piece {
                Piece::Data(chunk) => data.extend_from_slice(&chunk),
                Piece::End => ended = true,
            }
        }
        (data, ended)
    }

    async fn run(
        chunks: impl futures::Stream<Item = Result<Bytes, String>> + Send + 'static,
        max_bytes: u64,
    ) -> (Option<Outcome>, Vec<u8>, bool) {
        let (sender, receiver) = mpsc::channel(PIPE_CHUNKS);
        let collector = tokio::spawn(drained(receiver));
        let refusal = pump(chunks, &sender, max_bytes, Duration::from_millis(50)).await;
        drop(sender);
        let (data, ended) = collector.await.expect("the collector runs to the end");
        (refusal, data, ended)
    }

    fn chunks(parts: &[&'static [u8]]) -> Vec<Result<Bytes, String>> {
        parts.iter().map(|p| Ok(Bytes::from_static(p))).collect()
    }

    #[tokio::test]
    async fn a_whole_transfer_passes_every_byte_and_its_end() {
        let stream = futures::stream::iter(chunks(&[b"abc", b"def"]));
        let (refusal, data, ended) = run(stream, 6).await;
        assert!(refusal.is_none());
        assert_eq!(data, b"abcdef");
        assert!(ended);
    }

    #[tokio::test]
    async fn a_client_that_goes_quiet_is_dropped_with_408_and_no_end() {
        let stream = futures::stream::iter(chunks(&[b"abc"])).chain(futures::stream::pending());
        let (refusal, data, ended) = run(stream, 100).await;
        let refusal = refusal.expect("an idle transfer is abandoned");
        assert_eq!(refusal.status, 408);
        assert!(refusal.issues[0].diagnostics.contains("nothing was stored"));
        assert_eq!(data, b"abc");
        assert!(!ended, "a cut transfer must not look complete");
    }

    #[tokio::test]
    async fn more_than_the_limit_is_refused_with_413_and_no_end() {
        let stream = futures::stream::iter(chunks(&[b"abcd", b"efgh"]));
        let (refusal, _, ended) = run(stream, 6).await;
        assert_eq!(refusal.map(|r| r.status), Some(413));
        assert!(!ended);
    }

    #[tokio::test]
    async fn a_broken_stream_is_refused_with_400_and_no_end() {
        let stream = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err("connection reset".to_string()),
        ]);
        let (refusal, _, ended) = run(stream, 100).await;
        let refusal = refusal.expect("a broken transfer is refused");
        assert_eq!(refusal.status, 400);
        assert!(refusal.issues[0].diagnostics.contains("connection reset"));
        assert!(!ended);
    }
}
