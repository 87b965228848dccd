//! Ciphertexts on local disk, addressed by SHA-256, and the custodian's
//! wrapped data keys. Small ciphertexts (record versions, replicas) live in
//! one embedded database, committed in groups (see `object_db`); large
//! ones (streamed files) are files, written to a temporary name, synced
//! and renamed, so a crash leaves either the whole object or none of it.
//!
//! ```text
//! <root>/objects/objects.redb   small ciphertexts (anyone's; replicas too)
//! <root>/objects/ab/abcdef…     large ciphertexts (streamed files)
//! <root>/objects/.tmp-…         large objects being streamed in
//! <root>/keys/ring              data keys this organisation holds, wrapped
//!                               to its own encryption key, in slots
//! <root>/keys/abcdef….type      a file's media type
//! ```
//! Large objects (imaging, PDFs) are streamed to and from disk chunk by
//! chunk ([`DiskStore::put_stream`], [`DiskStore::open_stream`],
//! [`DiskStore::reader`], [`DiskStore::put_verified_stream`]), so the node
//! never holds a whole file in memory.
//!
//! An S3-compatible object store can take the place of `objects/` for a
//! consortium that outgrows local disks; the keys stay local.

use crate::key_slots::KeySlots;
use crate::object_db::ObjectDb;
use crate::stream::{self, read_full, HashingWriter, StreamOpened, StreamSealed};
use crate::{sha256, DataKey, Hash, VaultError, WrappedKey};
use std::{
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

/// Bytes copied per step when a replica is streamed in.
const COPY_BUF: usize = 64 * 1024;

/// A file being written under a temporary name in `dir`. Removed when
/// dropped unless persisted, so an error (or panic) part-way through a
/// write leaves nothing behind.
struct TempFile {
    path: PathBuf,
    file: fs::File,
    persisted: bool,
}

impl TempFile {
    fn create(dir: &Path) -> Result<Self, VaultError> {
        fs::create_dir_all(dir)?;
        let path = dir.join(format!(
            ".tmp-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        // `create_new`: never share a file with a concurrent writer.
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Self {
            path,
            file,
            persisted: false,
        })
    }

    /// fsync, rename to `dest`, then fsync the directories whose entries
    /// changed (`dest`'s, and the temporary's if that is another one, which
    /// also records a newly created shard directory beneath it).
    fn persist(mut self, dest: &Path) -> Result<(), VaultError> {
        let dest_dir = dest.parent().expect("vault paths have a parent");
        fs::create_dir_all(dest_dir)?;
        self.file.sync_all()?;
        fs::rename(&self.path, dest)?;
        self.persisted = true;
        fs::File::open(dest_dir)?.sync_all()?;
        if let Some(tmp_dir) = self.path.parent().filter(|dir| *dir != dest_dir) {
            fs::File::open(tmp_dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            // Best effort: if even this fails, a stray `.tmp-` file is
            // garbage, never mistaken for an object (not a hash name).
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let dir = path.parent().expect("vault paths have a parent");
    let mut tmp = TempFile::create(dir)?;
    tmp.file.write_all(bytes)?;
    tmp.persist(path)
}

fn remove(path: &Path) -> Result<bool, VaultError> {
    match fs::remove_file(path) {
        Ok(()) => {
            if let Some(dir) = path.parent() {
                fs::File::open(dir)?.sync_all()?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, VaultError> {
    not_found_as_none(fs::read(path))
}

/// A missing file is an answer (`None`), not an error.
fn not_found_as_none<T>(result: std::io::Result<T>) -> Result<Option<T>, VaultError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn check_hash(expected: &Hash, got: &Hash) -> Result<(), VaultError> {
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
fn copy_hashing(mut reader: impl Read, writer: impl Write) -> Result<(Hash, u64), VaultError> {
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

/// Content-addressed ciphertexts.
#[derive(Clone, Debug)]
pub struct DiskStore {
    root: PathBuf,
    small: ObjectDb,
}

impl DiskStore {
    /// Open the store under `root`. One handle per directory in a process
    /// (clone it to share): the database refuses a second.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, VaultError> {
        let root = root.into().join("objects");
        fs::create_dir_all(&root)?;
        let small = ObjectDb::open(&root.join("objects.redb"))?;
        Ok(Self { root, small })
    }

    fn path(&self, hash: &Hash) -> PathBuf {
        let name = hex::encode(hash);
        self.root.join(&name[..2]).join(name)
    }

    /// Store `bytes`; its address is its hash. Storing twice is harmless.
    pub fn put(&self, bytes: &[u8]) -> Result<Hash, VaultError> {
        let hash = sha256(&[bytes]);
        if !self.contains(&hash) {
            self.small.put(hash, bytes.to_vec(), true)?;
        }
        Ok(hash)
    }

    /// Store a replica received from another member, refusing bytes that
    /// are not what the chain says they are.
    pub fn put_verified(&self, expected: &Hash, bytes: &[u8]) -> Result<(), VaultError> {
        check_hash(expected, &sha256(&[bytes]))?;
        self.put(bytes).map(|_| ())
    }

    /// Keep a copy pushed by the custodian, refusing bytes that are not
    /// what the chain says, without waiting for the disk: the custodian's
    /// copy is the synced one, and a read at this node fetches the
    /// ciphertext from the custodian again (with the key), so a replica
    /// lost in a crash costs nothing (the database keeps what it had
    /// before the lost commit whole).
    pub fn put_replica(&self, expected: &Hash, bytes: &[u8]) -> Result<(), VaultError> {
        check_hash(expected, &sha256(&[bytes]))?;
        if self.contains(expected) {
            return Ok(());
        }
        self.small.put(*expected, bytes.to_vec(), false)
    }

    pub fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, VaultError> {
        match self.small.get(hash)? {
            Some(bytes) => Ok(Some(bytes)),
            None => read(&self.path(hash)),
        }
    }

    /// Seal everything `reader` yields under `key` (see
    /// [`crate::seal_stream`]) straight into the store, in flat memory: to a
    /// temporary file first, renamed to its content address once complete
    /// and synced. Returns what the chain records about it.
    ///
    /// # Errors
    /// [`VaultError::Io`] if reading the plaintext or writing the disk
    /// fails; nothing is left in the store then.
    pub fn put_stream(
        &self,
        key: &DataKey,
        aad: &[u8],
        reader: impl Read,
    ) -> Result<StreamSealed, VaultError> {
        let mut tmp = TempFile::create(&self.root)?;
        let sealed = stream::seal_stream(key, aad, reader, &mut tmp.file)?;
        tmp.persist(&self.path(&sealed.ciphertext_hash))?;
        Ok(sealed)
    }

    /// Decrypt the object `hash` (made by [`Self::put_stream`] or
    /// [`crate::seal_stream`]) into `writer`, in flat memory, checking on the
    /// way that the bytes on disk are the ones addressed. `None` if absent.
    ///
    /// Plaintext reaches `writer` chunk by chunk, each authenticated, but
    /// the whole is verified only when this returns `Ok`: on an error,
    /// discard what was written (or abort the response carrying it).
    ///
    /// # Errors
    /// [`VaultError::HashMismatch`] if the file is not the object `hash`
    /// (corrupt or misplaced: delete it and fetch it again from a replica);
    /// otherwise as [`crate::open_stream`].
    pub fn open_stream(
        &self,
        hash: &Hash,
        key: &DataKey,
        aad: &[u8],
        writer: impl Write,
    ) -> Result<Option<StreamOpened>, VaultError> {
        let Some(file) = self.reader(hash)? else {
            return Ok(None);
        };
        let opened = stream::open_stream(key, aad, file, writer)?;
        check_hash(hash, &opened.ciphertext_hash)?;
        Ok(Some(opened))
    }

    /// The object's ciphertext as a reader, to send a large object to
    /// another member without loading it (a small one is read whole).
    /// `None` if absent. Not verified here: the receiver checks it with
    /// [`Self::put_verified_stream`].
    pub fn reader(&self, hash: &Hash) -> Result<Option<Box<dyn Read + Send>>, VaultError> {
        if let Some(file) = not_found_as_none(fs::File::open(self.path(hash)))? {
            return Ok(Some(Box::new(file)));
        }
        Ok(self
            .small
            .get(hash)?
            .map(|bytes| Box::new(std::io::Cursor::new(bytes)) as Box<dyn Read + Send>))
    }

    /// Store a replica received from another member, chunk by chunk in flat
    /// memory, keeping it only if its SHA-256 is `expected`. Returns its
    /// length. Storing an object already present replaces it with the same
    /// bytes, which is harmless.
    ///
    /// # Errors
    /// [`VaultError::HashMismatch`] if the bytes are not what the chain
    /// says (nothing is kept); [`VaultError::Io`] if reading or writing
    /// fails (nothing is kept either).
    pub fn put_verified_stream(
        &self,
        expected: &Hash,
        reader: impl Read,
    ) -> Result<u64, VaultError> {
        let mut tmp = TempFile::create(&self.root)?;
        let (got, len) = copy_hashing(reader, &mut tmp.file)?;
        // On a mismatch `tmp` is dropped, which deletes it.
        check_hash(expected, &got)?;
        tmp.persist(&self.path(expected))?;
        Ok(len)
    }

    /// The object's size on disk, if present (e.g. for Content-Length).
    pub fn len(&self, hash: &Hash) -> Result<Option<u64>, VaultError> {
        if let Some(len) = self.small.len(hash)? {
            return Ok(Some(len));
        }
        Ok(not_found_as_none(fs::metadata(self.path(hash)))?.map(|meta| meta.len()))
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.small.len(hash).is_ok_and(|len| len.is_some()) || self.path(hash).exists()
    }

    /// How many objects the store holds, small and large.
    pub fn count(&self) -> Result<u64, VaultError> {
        let mut files = 0u64;
        for shard in fs::read_dir(&self.root)? {
            let shard = shard?.path();
            if shard.is_dir() {
                files += fs::read_dir(&shard)?.count() as u64;
            }
        }
        Ok(self.small.count()? + files)
    }

    /// Remove the object wherever it is kept; whether it was there.
    pub fn delete(&self, hash: &Hash) -> Result<bool, VaultError> {
        let small = self.small.delete(hash)?;
        Ok(remove(&self.path(hash))? || small)
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

    pub fn put(&self, hash: &Hash, key: &WrappedKey) -> Result<(), VaultError> {
        self.slots.put(hash, key.as_bytes())
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
mod tests {
    use super::*;
    use crate::{seal, wrap, DataKey, EncryptionSecret};

    fn temp() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("custodia-vault-{:x}", rand::random::<u64>()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn objects_are_addressed_by_content_and_verified_on_replication() {
        let dir = temp();
        let store = DiskStore::open(&dir).unwrap();
        let hash = store.put(b"ciphertext").unwrap();
        assert_eq!(store.put(b"ciphertext").unwrap(), hash);
        assert_eq!(store.get(&hash).unwrap().unwrap(), b"ciphertext");
        assert!(matches!(
            store.put_verified(&hash, b"something else"),
            Err(VaultError::HashMismatch { .. })
        ));
        assert!(store.delete(&hash).unwrap());
        assert!(!store.contains(&hash));
        assert!(matches!(
            store.put_replica(&hash, b"not it"),
            Err(VaultError::HashMismatch { .. })
        ));
        assert!(!store.contains(&hash));
        store.put_replica(&hash, b"ciphertext").unwrap();
        assert_eq!(store.get(&hash).unwrap().unwrap(), b"ciphertext");
        store.delete(&hash).unwrap();
        let ring = KeyRing::open(&dir).unwrap();
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
        assert!(store.get(&hash).unwrap().is_none());
        store.put_verified(&hash, b"ciphertext").unwrap();
        assert!(store.contains(&hash));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn small_objects_create_no_file_each_and_survive_a_restart() {
        let dir = temp();
        let store = DiskStore::open(&dir).unwrap();
        let hashes: Vec<Hash> = (0..20u8).map(|i| store.put(&[i; 100]).unwrap()).collect();
        let replica = [7u8; 50];
        store
            .put_replica(&sha256(&[&replica[..]]), &replica)
            .unwrap();
        assert!(files_under(&dir.join("objects")).is_empty());
        assert_eq!(store.count().unwrap(), 21);
        assert_eq!(store.len(&hashes[3]).unwrap(), Some(100));
        let mut read = Vec::new();
        store
            .reader(&hashes[3])
            .unwrap()
            .unwrap()
            .read_to_end(&mut read)
            .unwrap();
        assert_eq!(read, [3u8; 100]);
        assert!(store.delete(&hashes[0]).unwrap());
        drop(store);

        let reopened = DiskStore::open(&dir).unwrap();
        assert!(!reopened.contains(&hashes[0]));
        for (i, hash) in hashes.iter().enumerate().skip(1) {
            assert_eq!(reopened.get(hash).unwrap().unwrap(), [i as u8; 100]);
        }
        drop(reopened);
        fs::remove_dir_all(dir).unwrap();
    }

    /// Every file under `dir`, at any depth (objects, shards, temporaries),
    /// but the small objects' database.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(files_under(&path));
            } else if !path.ends_with("objects.redb") {
                files.push(path);
            }
        }
        files
    }

    /// Yields `good` bytes of `data`, then fails, like a dropped upload.
    struct FailsAfter<'a> {
        data: &'a [u8],
        good: usize,
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
    fn streamed_objects_round_trip_through_disk() {
        let dir = temp();
        let store = DiskStore::open(&dir).unwrap();
        let key = DataKey::generate();
        let plaintext = big(3 * stream::CHUNK_SIZE + 123);

        let sealed = store.put_stream(&key, AAD, &plaintext[..]).unwrap();
        let hash = sealed.ciphertext_hash;
        assert_eq!(sealed.plaintext_len, plaintext.len() as u64);
        assert!(store.contains(&hash));
        assert_eq!(store.len(&hash).unwrap(), Some(sealed.ciphertext_len));
        // Only the object itself: the temporary was renamed, not copied.
        assert_eq!(files_under(&dir.join("objects")), vec![store.path(&hash)]);
        let mut on_disk = Vec::new();
        store
            .reader(&hash)
            .unwrap()
            .unwrap()
            .read_to_end(&mut on_disk)
            .unwrap();
        assert_eq!(sha256(&[&on_disk]), hash);

        let mut back = Vec::new();
        let opened = store
            .open_stream(&hash, &key, AAD, &mut back)
            .unwrap()
            .unwrap();
        assert_eq!(back, plaintext);
        assert_eq!(opened.ciphertext_hash, hash);
        assert!(opened.matches(&sealed.commitment));
        assert_eq!(
            crate::commitment(&opened.salt, &plaintext),
            sealed.commitment
        );

        let mut sink = Vec::new();
        assert!(matches!(
            store.open_stream(&hash, &DataKey::generate(), AAD, &mut sink),
            Err(VaultError::Decrypt)
        ));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn absent_objects_are_none() {
        let dir = temp();
        let store = DiskStore::open(&dir).unwrap();
        let hash = [7u8; 32];
        let mut sink = Vec::new();
        let opened = store.open_stream(&hash, &DataKey::generate(), AAD, &mut sink);
        assert!(opened.unwrap().is_none());
        assert!(store.reader(&hash).unwrap().is_none());
        assert_eq!(store.len(&hash).unwrap(), None);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_stream_under_the_wrong_address_is_a_hash_mismatch() {
        let dir = temp();
        let store = DiskStore::open(&dir).unwrap();
        let key = DataKey::generate();
        let sealed = store.put_stream(&key, AAD, &big(1000)[..]).unwrap();
        // A valid stream under the right key, but not the object asked for.
        let elsewhere = [0xab; 32];
        fs::create_dir_all(store.path(&elsewhere).parent().unwrap()).unwrap();
        fs::rename(store.path(&sealed.ciphertext_hash), store.path(&elsewhere)).unwrap();
        let mut sink = Vec::new();
        assert!(matches!(
            store.open_stream(&elsewhere, &key, AAD, &mut sink),
            Err(VaultError::HashMismatch { .. })
        ));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn replicas_are_streamed_in_only_if_they_hash_right() {
        let dir = temp();
        let store = DiskStore::open(&dir).unwrap();
        let ciphertext = big(2 * COPY_BUF + 5);
        let hash = sha256(&[&ciphertext]);

        let mut forged = ciphertext.clone();
        forged[COPY_BUF + 1] ^= 1;
        assert!(matches!(
            store.put_verified_stream(&hash, &forged[..]),
            Err(VaultError::HashMismatch { .. })
        ));
        assert!(!store.contains(&hash));
        assert!(files_under(&dir.join("objects")).is_empty());

        let len = store.put_verified_stream(&hash, &ciphertext[..]).unwrap();
        assert_eq!(len, ciphertext.len() as u64);
        assert_eq!(store.get(&hash).unwrap().unwrap(), ciphertext);
        // Again: harmless, same bytes.
        assert_eq!(
            store.put_verified_stream(&hash, &ciphertext[..]).unwrap(),
            len
        );
        assert_eq!(files_under(&dir.join("objects")), vec![store.path(&hash)]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_interrupted_stream_leaves_nothing_behind() {
        let dir = temp();
        let store = DiskStore::open(&dir).unwrap();
        let data = big(3 * stream::CHUNK_SIZE);
        let good = stream::CHUNK_SIZE + stream::CHUNK_SIZE / 2;

        let reader = FailsAfter { data: &data, good };
        let result = store.put_stream(&DataKey::generate(), AAD, reader);
        assert!(matches!(result, Err(VaultError::Io(_))));
        assert!(files_under(&dir.join("objects")).is_empty());

        let reader = FailsAfter { data: &data, good };
        let result = store.put_verified_stream(&sha256(&[&data]), reader);
        assert!(matches!(result, Err(VaultError::Io(_))));
        assert!(files_under(&dir.join("objects")).is_empty());
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
