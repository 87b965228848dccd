//! The vault's storage: ciphertexts addressed by SHA-256 ([`DiskStore`])
//! and the custodian's wrapped data keys ([`KeyRing`]).
//!
//! Ciphertexts live on local disk by default (`local`: small ones in an
//! embedded database, streamed files as files) or, as a configuration
//! switch, in an S3-compatible object store (`remote`), under a prefix of
//! the member's own. Keys always stay on local disk:
//!
//! ```text
//! <root>/objects/…              ciphertexts, when they are kept locally
//! <root>/staging/.tmp-…         files being sealed before an upload (remote)
//! <root>/keys/ring              data keys this organisation holds, wrapped
//!                               to its own encryption key, in slots
//! <root>/keys/abcdef….type      a file's media type
//! ```
//! Large objects (imaging, PDFs) are streamed to and from either backend
//! chunk by chunk ([`DiskStore::put_stream`], [`DiskStore::open_stream`],
//! [`DiskStore::reader`], [`DiskStore::put_verified_stream`]), so the node
//! never holds a whole file in memory.

use crate::files::{read, remove, write_atomically};
use crate::key_slots::KeySlots;
use crate::local::LocalObjects;
use crate::remote::RemoteObjects;
use crate::stream::{self, read_full, HashingWriter, StreamOpened, StreamSealed};
use crate::{sha256, DataKey, Hash, VaultError, WrappedKey};
use std::{
    fs,
    io::{Read, Write},
    path::PathBuf,
    sync::Arc,
};

/// Bytes copied per step when a replica is streamed in.
const COPY_BUF: usize = 64 * 1024;

pub(crate) fn check_hash(expected: &Hash, got: &Hash) -> Result<(), VaultError> {
    if got != expected {
        return Err(VaultError::HashMismatch {
            expected: hex::encode(expected),
            got: hex::encode(got),
        });
    }
    Ok(())
}

/// Copy `reader` to `writer` through one 64 KiB buffer; returns the SHA-256
/// and length of what was copied.
pub(crate) fn copy_hashing(
    mut reader: impl Read,
    writer: impl Write,
) -> Result<(Hash, u64), VaultError> {
    let mut out = HashingWriter::new(writer);
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        let n = read_full(&mut reader, &mut buf)?;
        out.write_all(&buf[..n])?;
        if n < buf.len() {
            out.flush()?;
            return Ok(out.finish());
        }
    }
}

/// Content-addressed ciphertexts, on local disk (the default) or in an
/// S3-compatible object store. Clones share one store.
#[derive(Clone, Debug)]
pub struct DiskStore(Backend);

#[derive(Clone, Debug)]
enum Backend {
    Local(LocalObjects),
    Remote(RemoteObjects),
}

/// Run the same call on whichever backend the store has.
macro_rules! on_backend {
    ($store:expr, $objects:ident => $call:expr) => {
        match &$store.0 {
            Backend::Local($objects) => $call,
            Backend::Remote($objects) => $call,
        }
    };
}

impl DiskStore {
    /// Open the local store under `root` (`<root>/objects`). One handle
    /// per directory in a process (clone it to share): the database
    /// refuses a second.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, VaultError> {
        Ok(Self(Backend::Local(LocalObjects::open(&root.into())?)))
    }

    /// Keep ciphertexts in `store` (e.g. an S3 bucket), as objects named
    /// `<prefix>/<hex sha256>`: a prefix of the member's own, so members
    /// can share a bucket. Files are sealed in the local directory
    /// `staging` before they are uploaded (their name is their hash).
    ///
    /// # Errors
    /// [`VaultError::Settings`] for an empty or invalid prefix;
    /// [`VaultError::Remote`] if the store cannot be listed (unreachable,
    /// no such bucket, credentials refused): checked here, at start.
    pub fn remote(
        store: Arc<dyn object_store::ObjectStore>,
        prefix: &str,
        staging: impl Into<PathBuf>,
    ) -> Result<Self, VaultError> {
        Ok(Self(Backend::Remote(RemoteObjects::open(
            store, prefix, staging,
        )?)))
    }

    /// Store `bytes`; its address is its hash. Storing twice is harmless.
    pub fn put(&self, bytes: &[u8]) -> Result<Hash, VaultError> {
        on_backend!(self, objects => objects.put(bytes))
    }

    /// Store a replica received from another member, refusing bytes that
    /// are not what the chain says they are.
    pub fn put_verified(&self, expected: &Hash, bytes: &[u8]) -> Result<(), VaultError> {
        check_hash(expected, &sha256(&[bytes]))?;
        self.put(bytes).map(|_| ())
    }

    /// One replica: [`Self::put_replicas`] of one pair (for tests).
    #[cfg(test)]
    pub(crate) fn put_replica(&self, expected: &Hash, bytes: &[u8]) -> Result<(), VaultError> {
        self.put_replicas(&[(*expected, bytes)])
            .pop()
            .unwrap_or(Ok(()))
    }

    /// Keep copies pushed by custodians, (expected hash, bytes) pairs,
    /// refusing bytes that are not what the chain says; stored together
    /// (one commit locally) and, locally, without waiting for the disk: the
    /// custodian's copy is the durable one, and a read at this node fetches
    /// the ciphertext from the custodian again (with the key), so a replica
    /// lost in a crash costs nothing. One result per pair, in order.
    pub fn put_replicas(&self, replicas: &[(Hash, &[u8])]) -> Vec<Result<(), VaultError>> {
        on_backend!(self, objects => objects.put_replicas(replicas))
    }

    pub fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, VaultError> {
        on_backend!(self, objects => objects.get(hash))
    }

    /// Seal everything `reader` yields under `key` (see
    /// [`crate::seal_stream`]) straight into the store, in flat memory:
    /// into a temporary file first (its address is known only at the
    /// end), then renamed to its content address once complete and
    /// synced, or uploaded from it. Returns what the chain records about
    /// it.
    ///
    /// # Errors
    /// [`VaultError::Io`] if reading the plaintext or writing the disk
    /// fails, [`VaultError::Remote`] if the upload fails; nothing is left
    /// in the store then.
    pub fn put_stream(
        &self,
        key: &DataKey,
        aad: &[u8],
        reader: impl Read,
    ) -> Result<StreamSealed, VaultError> {
        on_backend!(self, objects => objects.put_stream(key, aad, reader))
    }

    /// Decrypt the object `hash` (made by [`Self::put_stream`] or
    /// [`crate::seal_stream`]) into `writer`, in flat memory, checking on the
    /// way that the bytes stored are the ones addressed. `None` if absent.
    ///
    /// Plaintext reaches `writer` chunk by chunk, each authenticated, but
    /// the whole is verified only when this returns `Ok`: on an error,
    /// discard what was written (or abort the response carrying it).
    ///
    /// # Errors
    /// [`VaultError::HashMismatch`] if the stored bytes are not the object
    /// `hash` (corrupt or misplaced: delete it and fetch it again from a
    /// replica); otherwise as [`crate::open_stream`].
    pub fn open_stream(
        &self,
        hash: &Hash,
        key: &DataKey,
        aad: &[u8],
        writer: impl Write,
    ) -> Result<Option<StreamOpened>, VaultError> {
        let Some(ciphertext) = self.reader(hash)? else {
            return Ok(None);
        };
        let opened = stream::open_stream(key, aad, ciphertext, writer)?;
        check_hash(hash, &opened.ciphertext_hash)?;
        Ok(Some(opened))
    }

    /// The object's ciphertext as a reader, to send a large object to
    /// another member without loading it (a small local one is read
    /// whole). `None` if absent. Not verified here: the receiver checks it
    /// with [`Self::put_verified_stream`].
    pub fn reader(&self, hash: &Hash) -> Result<Option<Box<dyn Read + Send>>, VaultError> {
        on_backend!(self, objects => objects.reader(hash))
    }

    /// Store a replica received from another member, chunk by chunk in flat
    /// memory, keeping it only if its SHA-256 is `expected`. Returns its
    /// length. Storing an object already present replaces it with the same
    /// bytes, which is harmless.
    ///
    /// # Errors
    /// [`VaultError::HashMismatch`] if the bytes are not what the chain
    /// says (nothing is kept); [`VaultError::Io`] or
    /// [`VaultError::Remote`] if reading or writing fails (nothing is kept
    /// either).
    pub fn put_verified_stream(
        &self,
        expected: &Hash,
        reader: impl Read,
    ) -> Result<u64, VaultError> {
        on_backend!(self, objects => objects.put_verified_stream(expected, reader))
    }

    /// The object's stored size, if present (e.g. for Content-Length).
    pub fn len(&self, hash: &Hash) -> Result<Option<u64>, VaultError> {
        on_backend!(self, objects => objects.len(hash))
    }

    /// Whether the object is there (an unanswered lookup counts as no).
    pub fn contains(&self, hash: &Hash) -> bool {
        on_backend!(self, objects => objects.contains(hash))
    }

    /// How many objects the store holds, small and large (remotely: under
    /// this member's prefix).
    pub fn count(&self) -> Result<u64, VaultError> {
        on_backend!(self, objects => objects.count())
    }

    /// Remove the object wherever it is kept; whether it was there.
    pub fn delete(&self, hash: &Hash) -> Result<bool, VaultError> {
        on_backend!(self, objects => objects.delete(hash))
    }
}

/// The data keys an organisation holds, wrapped to its own key, by the
/// hash of the ciphertext they open: in slots of one file (`keys/ring`,
/// see `key_slots`), or, written by earlier versions, a file each.
#[derive(Clone)]
pub struct KeyRing {
    root: PathBuf,
    slots: Arc<KeySlots>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("root", &self.root).finish()
    }
}

/// A key [`KeyRing::put_unsynced`] stored, not yet durable.
#[must_use = "a key is durable only once KeyRing::sync returns for it"]
pub struct UnsyncedKey(crate::key_slots::Written);

impl KeyRing {
    /// Open the key ring under `root`. One handle per directory (clone it
    /// to share): a second open is refused.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, VaultError> {
        let root = root.into().join("keys");
        fs::create_dir_all(&root)?;
        let slots = Arc::new(KeySlots::open(&root.join("ring"))?);
        Ok(Self { root, slots })
    }

    /// Where an earlier version kept a key, a file each.
    fn path(&self, hash: &Hash) -> PathBuf {
        self.root.join(hex::encode(hash))
    }

    /// Store `key` for `hash`, durably.
    pub fn put(&self, hash: &Hash, key: &WrappedKey) -> Result<(), VaultError> {
        let unsynced = self.put_unsynced(hash, key)?;
        self.sync(unsynced)
    }

    /// Store `key` for `hash`, durable once [`Self::sync`] returns for it:
    /// a writer can store its ciphertext meanwhile, and the writers that
    /// did the same share one sync of the key file.
    pub fn put_unsynced(&self, hash: &Hash, key: &WrappedKey) -> Result<UnsyncedKey, VaultError> {
        self.slots.write(hash, key.as_bytes()).map(UnsyncedKey)
    }

    /// Make a key stored by [`Self::put_unsynced`] durable.
    pub fn sync(&self, key: UnsyncedKey) -> Result<(), VaultError> {
        self.slots.sync(key.0)
    }

    pub fn get(&self, hash: &Hash) -> Result<Option<WrappedKey>, VaultError> {
        match self.slots.get(hash)? {
            Some(bytes) => Some(bytes),
            None => read(&self.path(hash))?,
        }
        .map(WrappedKey::from_bytes)
        .transpose()
    }

    fn media_type_path(&self, hash: &Hash) -> PathBuf {
        self.root.join(format!("{}.type", hex::encode(hash)))
    }

    /// Remember the media type of a file (e.g. `application/dicom`) so it
    /// is served back as it came. Local to this node, like the key.
    pub fn put_media_type(&self, hash: &Hash, media_type: &str) -> Result<(), VaultError> {
        write_atomically(&self.media_type_path(hash), media_type.as_bytes())
    }

    pub fn media_type(&self, hash: &Hash) -> Result<Option<String>, VaultError> {
        Ok(read(&self.media_type_path(hash))?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Destroy a key: overwrite, sync, remove. After this the ciphertext it
    /// opened is unreadable by anyone, wherever copies of it survive.
    pub fn shred(&self, hash: &Hash) -> Result<bool, VaultError> {
        remove(&self.media_type_path(hash))?;
        let in_slot = self.slots.shred(hash)?;
        let path = self.path(hash);
        let Ok(meta) = fs::metadata(&path) else {
            return Ok(in_slot);
        };
        let mut file = fs::OpenOptions::new().write(true).open(&path)?;
        file.write_all(&vec![0u8; meta.len() as usize])?;
        file.sync_all()?;
        remove(&path)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Behaviour every backend shares, run on local disk and on an
    //! in-memory object store (which serves reads in small chunks, as a
    //! network would).
    use super::*;
    use crate::{seal, wrap, DataKey, EncryptionSecret};
    use object_store::{chunked::ChunkedStore, memory::InMemory, ObjectStore};

    pub(crate) fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("custodia-vault-{:x}", rand::random::<u64>()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A store of each kind, with its directory (removed when dropped).
    struct Case {
        name: &'static str,
        store: DiskStore,
        /// The object store under a remote one, to look at directly.
        bucket: Option<Arc<dyn ObjectStore>>,
        dir: PathBuf,
    }

    impl Drop for Case {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    /// Reads come back 1000 bytes at a time: several chunks per object.
    pub(crate) fn chunked_memory() -> Arc<dyn ObjectStore> {
        Arc::new(ChunkedStore::new(Arc::new(InMemory::new()), 1000))
    }

    fn cases() -> Vec<Case> {
        let local = temp();
        let remote = temp();
        let bucket = chunked_memory();
        vec![
            Case {
                name: "local",
                store: DiskStore::open(&local).unwrap(),
                bucket: None,
                dir: local,
            },
            Case {
                name: "remote",
                store: DiskStore::remote(bucket.clone(), "st-mary", remote.join("staging"))
                    .unwrap(),
                bucket: Some(bucket),
                dir: remote,
            },
        ]
    }

    /// Yields `good` bytes of `data`, then fails, like a dropped upload.
    pub(crate) struct FailsAfter<'a> {
        pub(crate) data: &'a [u8],
        pub(crate) good: usize,
    }

    impl Read for FailsAfter<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.good == 0 {
                return Err(std::io::Error::other("connection reset"));
            }
            let n = buf.len().min(self.good).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.good -= n;
            Ok(n)
        }
    }

    fn big(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    const AAD: &[u8] = b"Media/scan/_history/1";

    #[test]
    fn objects_are_addressed_by_content_and_verified_on_replication() {
        for case in cases() {
            let store = &case.store;
            let name = case.name;
            let hash = store.put(b"ciphertext").unwrap();
            assert_eq!(hash, sha256(&[b"ciphertext"]), "{name}");
            assert_eq!(store.put(b"ciphertext").unwrap(), hash, "{name}");
            assert_eq!(store.get(&hash).unwrap().unwrap(), b"ciphertext", "{name}");
            assert_eq!(store.len(&hash).unwrap(), Some(10), "{name}");
            assert!(store.contains(&hash), "{name}");
            assert_eq!(
                store.count().unwrap(),
                1,
                "{name}: stored twice, one object"
            );
            assert!(matches!(
                store.put_verified(&hash, b"something else"),
                Err(VaultError::HashMismatch { .. })
            ));
            assert_eq!(store.get(&hash).unwrap().unwrap(), b"ciphertext", "{name}");
            assert!(store.delete(&hash).unwrap(), "{name}");
            assert!(!store.delete(&hash).unwrap(), "{name}: already gone");
            assert!(!store.contains(&hash), "{name}");
            assert_eq!(store.get(&hash).unwrap(), None, "{name}");
            assert_eq!(store.len(&hash).unwrap(), None, "{name}");
            assert_eq!(store.count().unwrap(), 0, "{name}");
            assert!(matches!(
                store.put_replica(&hash, b"not it"),
                Err(VaultError::HashMismatch { .. })
            ));
            assert!(
                !store.contains(&hash),
                "{name}: a refused replica is not kept"
            );
            assert_eq!(store.count().unwrap(), 0, "{name}");
            if let Some(bucket) = &case.bucket {
                assert_eq!(everything_in(bucket), Vec::<String>::new(), "{name}");
            }
            store.put_replica(&hash, b"ciphertext").unwrap();
            assert_eq!(store.get(&hash).unwrap().unwrap(), b"ciphertext", "{name}");
            store.delete(&hash).unwrap();
            store.put_verified(&hash, b"ciphertext").unwrap();
            assert!(store.contains(&hash), "{name}");
            let other = store.put(b"another").unwrap();
            assert_eq!(store.count().unwrap(), 2, "{name}");
            if let Some(bucket) = &case.bucket {
                let mut expected = vec![
                    format!("st-mary/{}", hex::encode(hash)),
                    format!("st-mary/{}", hex::encode(other)),
                ];
                expected.sort();
                assert_eq!(everything_in(bucket), expected, "{name}");
            }
        }
    }

    /// Every object's location in `bucket`, sorted.
    pub(crate) fn everything_in(bucket: &Arc<dyn ObjectStore>) -> Vec<String> {
        use futures::StreamExt as _;
        let mut all: Vec<String> = futures::executor::block_on(
            bucket
                .list(None)
                .map(|meta| meta.unwrap().location.to_string())
                .collect(),
        );
        all.sort();
        all
    }

    #[test]
    fn streamed_objects_round_trip() {
        for case in cases() {
            let (store, name) = (&case.store, case.name);
            let key = DataKey::generate();
            // A few MiB: several parts of a multipart upload remotely.
            let plaintext = big(crate::remote::PART_SIZE * 2 + 12_345);

            let sealed = store.put_stream(&key, AAD, &plaintext[..]).unwrap();
            let hash = sealed.ciphertext_hash;
            assert_eq!(sealed.plaintext_len, plaintext.len() as u64, "{name}");
            assert!(store.contains(&hash), "{name}");
            assert_eq!(
                store.len(&hash).unwrap(),
                Some(sealed.ciphertext_len),
                "{name}"
            );
            assert_eq!(store.count().unwrap(), 1, "{name}");
            // Read back in odd-sized pieces, across the store's chunks.
            let mut stored = Vec::new();
            let mut reader = store.reader(&hash).unwrap().unwrap();
            let mut piece = [0u8; 777];
            loop {
                let n = reader.read(&mut piece).unwrap();
                if n == 0 {
                    break;
                }
                stored.extend_from_slice(&piece[..n]);
            }
            assert_eq!(stored.len() as u64, sealed.ciphertext_len, "{name}");
            assert_eq!(sha256(&[&stored]), hash, "{name}");

            let mut back = Vec::new();
            let opened = store
                .open_stream(&hash, &key, AAD, &mut back)
                .unwrap()
                .unwrap();
            assert!(back == plaintext, "{name}: the plaintext came back changed");
            assert_eq!(opened.ciphertext_hash, hash, "{name}");
            assert!(opened.matches(&sealed.commitment), "{name}");
            assert_eq!(
                crate::commitment(&opened.salt, &plaintext),
                sealed.commitment,
                "{name}"
            );

            let mut sink = Vec::new();
            assert!(matches!(
                store.open_stream(&hash, &DataKey::generate(), AAD, &mut sink),
                Err(VaultError::Decrypt)
            ));
            // The staging area is empty again.
            let staging = case.dir.join("staging");
            if staging.exists() {
                assert_eq!(fs::read_dir(&staging).unwrap().count(), 0, "{name}");
            }
        }
    }

    #[test]
    fn absent_objects_are_none() {
        for case in cases() {
            let (store, name) = (&case.store, case.name);
            let hash = [7u8; 32];
            let mut sink = Vec::new();
            let opened = store.open_stream(&hash, &DataKey::generate(), AAD, &mut sink);
            assert!(opened.unwrap().is_none(), "{name}");
            assert!(store.reader(&hash).unwrap().is_none(), "{name}");
            assert_eq!(store.len(&hash).unwrap(), None, "{name}");
            assert_eq!(store.get(&hash).unwrap(), None, "{name}");
            assert!(!store.delete(&hash).unwrap(), "{name}");
        }
    }

    #[test]
    fn replicas_are_streamed_in_only_if_they_hash_right() {
        for case in cases() {
            let (store, name) = (&case.store, case.name);
            // Larger than a part remotely: the refused one had parts sent.
            let ciphertext = big(crate::remote::PART_SIZE + 2 * COPY_BUF + 5);
            let hash = sha256(&[&ciphertext]);

            let mut forged = ciphertext.clone();
            forged[COPY_BUF + 1] ^= 1;
            assert!(matches!(
                store.put_verified_stream(&hash, &forged[..]),
                Err(VaultError::HashMismatch { .. })
            ));
            assert!(!store.contains(&hash), "{name}");
            assert_eq!(store.count().unwrap(), 0, "{name}");
            if let Some(bucket) = &case.bucket {
                assert!(everything_in(bucket).is_empty(), "{name}");
            }

            let len = store.put_verified_stream(&hash, &ciphertext[..]).unwrap();
            assert_eq!(len, ciphertext.len() as u64, "{name}");
            assert!(store.get(&hash).unwrap().unwrap() == ciphertext, "{name}");
            // Again: harmless, same bytes.
            assert_eq!(
                store.put_verified_stream(&hash, &ciphertext[..]).unwrap(),
                len
            );
            assert_eq!(store.count().unwrap(), 1, "{name}");
            // A forgery of an object already held leaves it as it was.
            assert!(store.put_verified_stream(&hash, &forged[..]).is_err());
            assert!(store.get(&hash).unwrap().unwrap() == ciphertext, "{name}");
        }
    }

    #[test]
    fn an_interrupted_stream_leaves_nothing_behind() {
        for case in cases() {
            let (store, name) = (&case.store, case.name);
            let data = big(3 * stream::CHUNK_SIZE);
            let good = stream::CHUNK_SIZE + stream::CHUNK_SIZE / 2;

            let reader = FailsAfter { data: &data, good };
            let result = store.put_stream(&DataKey::generate(), AAD, reader);
            assert!(matches!(result, Err(VaultError::Io(_))), "{name}");
            let reader = FailsAfter { data: &data, good };
            let result = store.put_verified_stream(&sha256(&[&data]), reader);
            assert!(matches!(result, Err(VaultError::Io(_))), "{name}");
            assert_eq!(store.count().unwrap(), 0, "{name}");
            if let Some(bucket) = &case.bucket {
                assert!(everything_in(bucket).is_empty(), "{name}");
                let staging = case.dir.join("staging");
                assert_eq!(fs::read_dir(&staging).unwrap().count(), 0, "{name}");
            }
        }
    }

    #[test]
    fn media_types_are_kept_until_shredded() {
        let dir = temp();
        let ring = KeyRing::open(&dir).unwrap();
        let hash = sha256(&[b"a file"]);
        ring.put_media_type(&hash, "application/dicom").unwrap();
        assert_eq!(
            ring.media_type(&hash).unwrap().as_deref(),
            Some("application/dicom")
        );
        ring.shred(&hash).unwrap();
        assert_eq!(
            ring.media_type(&hash).unwrap(),
            None,
            "shredding forgets it too"
        );
        drop(ring);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn shredded_keys_are_gone() {
        let dir = temp();
        let ring = KeyRing::open(&dir).unwrap();
        let org = EncryptionSecret::generate();
        let sealed = seal(&DataKey::generate(), b"x", b"");
        let wrapped = wrap(&DataKey::generate(), &org.public(), &sealed.ciphertext_hash);
        ring.put(&sealed.ciphertext_hash, &wrapped).unwrap();
        assert_eq!(ring.get(&sealed.ciphertext_hash).unwrap(), Some(wrapped));
        assert!(ring.shred(&sealed.ciphertext_hash).unwrap());
        assert_eq!(ring.get(&sealed.ciphertext_hash).unwrap(), None);
        assert!(!ring.shred(&sealed.ciphertext_hash).unwrap());
        fs::remove_dir_all(dir).unwrap();
    }
}
