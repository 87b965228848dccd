//! Ciphertexts in an S3-compatible object store (any `object_store`
//! backend), the vault's alternative to local disk. Only ciphertexts go
//! there: keys stay in the local key ring, so whoever reads the bucket
//! reads noise, and shredding a key still erases its content.
//!
//! ```text
//! <prefix>/abcdef…   one object per ciphertext, named by its SHA-256
//! ```
//!
//! The prefix is the member's own (by default its org id), so members can
//! share a bucket: each lists, counts and deletes only its own objects.
//!
//! The API is the local store's, synchronous; every request runs on the
//! store's own runtime (see `bridge`). Large objects never sit whole in
//! memory: uploads go through a bounded channel into a buffered multipart
//! upload (parts of [`PART_SIZE`]), downloads come through a bounded
//! channel chunk by chunk.

use crate::bridge::Bridge;
use crate::files::{remove_leftovers, TempFile};
use crate::store::{check_hash, copy_hashing};
use crate::stream::{self, StreamSealed};
use crate::{sha256, DataKey, Hash, VaultError};
use bytes::Bytes;
use futures::StreamExt as _;
use object_store::{buffered::BufWriter, path::Path, ObjectStore, ObjectStoreExt as _, PutPayload};
use std::{
    future::Future,
    io::{Read, Seek as _, Write},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};
use tokio::sync::{mpsc, oneshot};

/// Bytes per part of a multipart upload: above S3's 5 MiB minimum; with
/// S3's 10 000 parts, objects up to 78 GiB. An upload holds at most
/// `PART_SIZE * (1 + PARTS_IN_FLIGHT)` in memory.
pub(crate) const PART_SIZE: usize = 8 << 20;
/// Parts of one upload sent at once.
const PARTS_IN_FLIGHT: usize = 2;
/// Chunks (about 64 KiB each) queued between a writer and its upload.
const UPLOAD_AHEAD: usize = 4;
/// Chunks of a download (as the server sends them, typically a few KiB
/// to 64 KiB) fetched ahead of the reader.
const READ_AHEAD: usize = 16;
/// How long opening the store may take to show the store answers.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Content-addressed ciphertexts under one prefix of an object store.
/// Clones share the store and its runtime, which stops when the last
/// clone (or reader) goes.
#[derive(Clone)]
pub(crate) struct RemoteObjects(Arc<Inner>);

struct Inner {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    /// The store and prefix, to name them in errors and logs.
    name: String,
    /// Where `put_stream` seals a file before uploading it (its address
    /// is its hash, known only at the end).
    staging: PathBuf,
    bridge: Arc<Bridge>,
}

impl std::fmt::Debug for RemoteObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RemoteObjects").field(&self.0.name).finish()
    }
}

impl RemoteObjects {
    /// Objects under `prefix` of `store`; files are sealed in `staging`
    /// (a local directory of this vault's own) before they are uploaded.
    /// Lists the prefix once, so a store that cannot be reached, a bucket
    /// that does not exist or credentials it refuses fail here, at start.
    pub(crate) fn open(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        staging: impl Into<PathBuf>,
    ) -> Result<Self, VaultError> {
        let name = format!("{store} under {prefix:?}");
        let settings = |reason: String| VaultError::Settings(format!("{name}: {reason}"));
        let prefix = Path::parse(prefix).map_err(|e| settings(e.to_string()))?;
        if prefix.is_root() {
            return Err(settings(
                "the prefix is empty; each member needs its own (its org id by default) so that members can share a bucket".into(),
            ));
        }
        let staging = staging.into();
        std::fs::create_dir_all(&staging)?;
        remove_leftovers(&staging)?;
        let objects = Self(Arc::new(Inner {
            store,
            prefix,
            name,
            staging,
            bridge: Arc::new(Bridge::new()?),
        }));
        objects.probe()?;
        Ok(objects)
    }

    fn probe(&self) -> Result<(), VaultError> {
        let (store, prefix) = (self.0.store.clone(), self.0.prefix.clone());
        self.call("list its objects at start", async move {
            let first = tokio::time::timeout(PROBE_TIMEOUT, store.list(Some(&prefix)).next())
                .await
                .map_err(|_| object_store::Error::Generic {
                    store: "vault",
                    source: format!("no answer within {PROBE_TIMEOUT:?}").into(),
                })?;
            first.transpose().map(drop)
        })
    }

    fn location(&self, hash: &Hash) -> Path {
        self.0.prefix.clone().join(hex::encode(hash))
    }

    fn error(&self, operation: &'static str, reason: impl std::fmt::Display) -> VaultError {
        VaultError::Remote {
            store: self.0.name.clone(),
            operation,
            reason: reason.to_string(),
        }
    }

    /// Run a request on the store's runtime and wait for its answer.
    fn call<T: Send + 'static>(
        &self,
        operation: &'static str,
        request: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> Result<T, VaultError> {
        match self.0.bridge.run(request) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.error(operation, error)),
            Err(failed) => Err(self.error(operation, failed)),
        }
    }

    /// As [`Self::call`], with "not found" an answer (`None`).
    fn call_found<T: Send + 'static>(
        &self,
        operation: &'static str,
        request: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> Result<Option<T>, VaultError> {
        self.call(operation, async move {
            match request.await {
                Ok(value) => Ok(Some(value)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(error) => Err(error),
            }
        })
    }

    /// The store and the location of `hash`, for a request to own.
    fn target(&self, hash: &Hash) -> (Arc<dyn ObjectStore>, Path) {
        (self.0.store.clone(), self.location(hash))
    }

    pub(crate) fn put(&self, bytes: &[u8]) -> Result<Hash, VaultError> {
        let hash = sha256(&[bytes]);
        let (store, location) = self.target(&hash);
        let payload = PutPayload::from(bytes.to_vec());
        self.call("store an object", async move {
            store.put(&location, payload).await.map(drop)
        })?;
        Ok(hash)
    }

    /// A PUT is durable once answered: a replica costs the same as any.
    pub(crate) fn put_replicas(&self, replicas: &[(Hash, &[u8])]) -> Vec<Result<(), VaultError>> {
        replicas
            .iter()
            .map(|(expected, bytes)| {
                check_hash(expected, &sha256(&[bytes]))?;
                self.put(bytes).map(drop)
            })
            .collect()
    }

    pub(crate) fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, VaultError> {
        let (store, location) = self.target(hash);
        let bytes = self.call_found("read an object", async move {
            store.get(&location).await?.bytes().await
        })?;
        Ok(bytes.map(|bytes| bytes.to_vec()))
    }

    /// Sealed into a staging file first (the address is the ciphertext's
    /// hash, known only at the end), then uploaded from it.
    pub(crate) fn put_stream(
        &self,
        key: &DataKey,
        aad: &[u8],
        reader: impl Read,
    ) -> Result<StreamSealed, VaultError> {
        let mut staged = TempFile::create(&self.0.staging)?;
        let sealed = stream::seal_stream(key, aad, reader, &mut staged.file)?;
        staged.file.rewind()?;
        // Hashed again on the way up: what lands is what was sealed.
        self.upload(&sealed.ciphertext_hash, &staged.file)?;
        Ok(sealed)
    }

    /// The object's bytes as the store sends them, pulled chunk by chunk.
    pub(crate) fn reader(&self, hash: &Hash) -> Result<Option<Box<dyn Read + Send>>, VaultError> {
        let (store, location) = self.target(hash);
        let Some(found) =
            self.call_found("read an object", async move { store.get(&location).await })?
        else {
            return Ok(None);
        };
        let (sender, chunks) = mpsc::channel(READ_AHEAD);
        self.0.bridge.spawn(forward(found.into_stream(), sender));
        Ok(Some(Box::new(Download {
            chunks,
            current: Bytes::new(),
            ended: false,
            name: self.0.name.clone(),
            _bridge: self.0.bridge.clone(),
        })))
    }

    /// Straight into a multipart upload at its address, completed only if
    /// the bytes hash to `expected` (aborted otherwise: nothing is kept).
    pub(crate) fn put_verified_stream(
        &self,
        expected: &Hash,
        reader: impl Read,
    ) -> Result<u64, VaultError> {
        self.upload(expected, reader)
    }

    /// Upload what `reader` yields to the address `expected`, keeping it
    /// only if its SHA-256 is `expected`. Returns its length.
    fn upload(&self, expected: &Hash, reader: impl Read) -> Result<u64, VaultError> {
        let (store, location) = self.target(expected);
        let (sender, chunks) = mpsc::channel(UPLOAD_AHEAD);
        let (verdict, verified) = oneshot::channel();
        let task = self
            .0
            .bridge
            .spawn(upload(store, location, chunks, verified));
        let copied = copy_hashing(reader, ChannelWriter(sender));
        let checked = copied.and_then(|(got, len)| check_hash(expected, &got).map(|()| len));
        if checked.is_ok() {
            let _ = verdict.send(());
        } else {
            // Dropped unsent: the upload aborts.
            drop(verdict);
        }
        let uploaded = Bridge::wait(task);
        match (checked, uploaded) {
            (Ok(len), Ok(Ok(()))) => Ok(len),
            (Err(mismatch @ VaultError::HashMismatch { .. }), _) => Err(mismatch),
            // The upload failed first (the copy then only saw the channel
            // close): its error is the one that says why.
            (_, Ok(Err(error))) => Err(self.error("upload an object", error)),
            (_, Err(failed)) => Err(self.error("upload an object", failed)),
            (Err(error), Ok(Ok(()))) => Err(error),
        }
    }

    pub(crate) fn len(&self, hash: &Hash) -> Result<Option<u64>, VaultError> {
        let (store, location) = self.target(hash);
        self.call_found("look up an object", async move {
            store.head(&location).await.map(|meta| meta.size)
        })
    }

    pub(crate) fn contains(&self, hash: &Hash) -> bool {
        matches!(self.len(hash), Ok(Some(_)))
    }

    /// Objects directly under the prefix whose name is a hash: not a
    /// member's whose prefix happens to lie beneath this one.
    pub(crate) fn count(&self) -> Result<u64, VaultError> {
        let (store, prefix) = (self.0.store.clone(), self.0.prefix.clone());
        self.call("list objects", async move {
            let mut listing = store.list(Some(&prefix));
            let mut count = 0u64;
            while let Some(meta) = listing.next().await {
                if is_object_under(&prefix, &meta?.location) {
                    count += 1;
                }
            }
            Ok(count)
        })
    }

    /// Whether it was there: S3 answers a DELETE the same either way, so
    /// a HEAD asks first.
    pub(crate) fn delete(&self, hash: &Hash) -> Result<bool, VaultError> {
        let (store, location) = self.target(hash);
        let deleted = self.call_found("delete an object", async move {
            store.head(&location).await?;
            store.delete(&location).await
        })?;
        Ok(deleted.is_some())
    }
}

fn is_object_under(prefix: &Path, location: &Path) -> bool {
    let Some(mut rest) = location.prefix_match(prefix) else {
        return false;
    };
    match (rest.next(), rest.next()) {
        (Some(name), None) => {
            let name = name.as_ref();
            name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
        }
        _ => false,
    }
}

/// The upload side of [`RemoteObjects::upload`]: bytes from `chunks` into
/// a buffered writer (one PUT if small, a multipart upload otherwise),
/// completed once `verified` says the bytes are the ones addressed.
async fn upload(
    store: Arc<dyn ObjectStore>,
    location: Path,
    mut chunks: mpsc::Receiver<Bytes>,
    verified: oneshot::Receiver<()>,
) -> object_store::Result<()> {
    let mut writer =
        BufWriter::with_capacity(store, location, PART_SIZE).with_max_concurrency(PARTS_IN_FLIGHT);
    while let Some(chunk) = chunks.recv().await {
        if let Err(error) = writer.put(chunk).await {
            let _ = writer.abort().await;
            return Err(error);
        }
    }
    if verified.await.is_err() {
        // Not the bytes addressed, or reading them failed: the caller has
        // its error; leave nothing (parts already sent are discarded).
        return writer.abort().await;
    }
    tokio::io::AsyncWriteExt::shutdown(&mut writer)
        .await
        .map_err(|error| object_store::Error::Generic {
            store: "vault",
            source: Box::new(error),
        })
}

/// Feeds an upload: each write becomes one chunk on the channel, waiting
/// while the channel is full (flat memory whatever the size).
struct ChannelWriter(mpsc::Sender<Bytes>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Bridge::wait(self.0.send(Bytes::copy_from_slice(buf))).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Chunk {
    Data(Bytes),
    Failed(String),
    End,
}

/// The download side of [`RemoteObjects::reader`]: the body's chunks into
/// a bounded channel, as fast as the reader takes them. An async channel,
/// not a blocking one: a slow reader must not hold one of the runtime's
/// two workers.
async fn forward(
    mut body: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
    chunks: mpsc::Sender<Chunk>,
) {
    while let Some(next) = body.next().await {
        let chunk = match next {
            Ok(bytes) => Chunk::Data(bytes),
            Err(error) => {
                let _ = chunks.send(Chunk::Failed(error.to_string())).await;
                return;
            }
        };
        if chunks.send(chunk).await.is_err() {
            // The reader was dropped: stop downloading.
            return;
        }
    }
    let _ = chunks.send(Chunk::End).await;
}

/// A download as a blocking reader. The end is the sender's explicit
/// `End`; a channel closed without it (the runtime stopped) is an error,
/// never a silently short object.
struct Download {
    chunks: mpsc::Receiver<Chunk>,
    current: Bytes,
    ended: bool,
    name: String,
    /// Keeps the runtime that runs the download alive.
    _bridge: Arc<Bridge>,
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match Bridge::wait(self.chunks.recv()) {
                Some(Chunk::Data(bytes)) => self.current = bytes,
                Some(Chunk::End) => self.ended = true,
                Some(Chunk::Failed(reason)) => {
                    return Err(std::io::Error::other(format!(
                        "vault object store {}: reading an object failed: {reason}",
                        self.name
                    )))
                }
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "vault object store {}: the download stopped before the end",
                            self.name
                        ),
                    ))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{chunked_memory, everything_in, temp};
    use crate::DiskStore;

    #[test]
    fn members_sharing_a_bucket_keep_to_their_prefixes() {
        let dir = temp();
        let bucket = chunked_memory();
        let open = |prefix: &str| {
            DiskStore::remote(bucket.clone(), prefix, dir.join(prefix).join("staging")).unwrap()
        };
        let (st_mary, riverside) = (open("st-mary"), open("riverside"));
        // A prefix beneath another's is still another member's.
        let nested = open("st-mary/archive");

        // The same ciphertext at two members (a replica), one only at one.
        let shared = st_mary.put(b"version 1").unwrap();
        riverside.put_replica(&shared, b"version 1").unwrap();
        let own = st_mary.put(b"version 2").unwrap();
        nested.put(b"archived").unwrap();
        assert_eq!(st_mary.count().unwrap(), 2);
        assert_eq!(riverside.count().unwrap(), 1);
        assert_eq!(nested.count().unwrap(), 1);
        assert!(!riverside.contains(&own));
        assert_eq!(riverside.get(&own).unwrap(), None);

        // Erasure at one member leaves the other's copy alone.
        assert!(st_mary.delete(&shared).unwrap());
        assert!(!st_mary.contains(&shared));
        assert_eq!(riverside.get(&shared).unwrap().unwrap(), b"version 1");
        assert!(
            !riverside.delete(&own).unwrap(),
            "not riverside's to delete"
        );
        assert!(st_mary.contains(&own));
        let hex = |hash: &Hash| hex::encode(hash);
        let mut expected = vec![
            format!("riverside/{}", hex(&shared)),
            format!("st-mary/{}", hex(&own)),
            format!("st-mary/archive/{}", hex(&sha256(&[b"archived"]))),
        ];
        expected.sort();
        assert_eq!(everything_in(&bucket), expected);
        drop((st_mary, riverside, nested));
        let _ = std::fs::remove_dir_all(dir);
    }

    fn download(chunks: mpsc::Receiver<Chunk>) -> Download {
        Download {
            chunks,
            current: Bytes::new(),
            ended: false,
            name: "test".into(),
            _bridge: Arc::new(Bridge::new().unwrap()),
        }
    }

    #[test]
    fn a_download_cut_off_is_an_error_never_a_short_object() {
        let (sender, chunks) = mpsc::channel(4);
        let mut reader = download(chunks);
        Bridge::wait(sender.send(Chunk::Data(Bytes::from_static(b"abc")))).ok();
        drop(sender);
        let mut got = Vec::new();
        let error = reader.read_to_end(&mut got).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(got, b"abc");

        let (sender, chunks) = mpsc::channel(4);
        let mut reader = download(chunks);
        Bridge::wait(sender.send(Chunk::Failed("connection reset".into()))).ok();
        let error = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("connection reset"), "{error}");

        let (sender, chunks) = mpsc::channel(4);
        let mut reader = download(chunks);
        for chunk in [Chunk::Data(Bytes::from_static(b"ab")), Chunk::End] {
            Bridge::wait(sender.send(chunk)).ok();
        }
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"ab");
    }

    #[test]
    fn a_reader_outliving_its_store_still_reads_to_the_end() {
        let dir = temp();
        let store = DiskStore::remote(chunked_memory(), "st-mary", dir.join("staging")).unwrap();
        let object: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
        let hash = store.put(&object).unwrap();
        let mut reader = store.reader(&hash).unwrap().unwrap();
        // The reader keeps the store's runtime: its download goes on.
        drop(store);
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert!(got == object);
        let _ = std::fs::remove_dir_all(dir);
    }
}
