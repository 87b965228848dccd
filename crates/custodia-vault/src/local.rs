//! Ciphertexts on local disk, the vault's default backend. Small ones
//! (record versions, replicas) live in one embedded store, committed in
//! groups (see `object_db`); large ones (streamed files) are files,
//! written to a temporary name, synced and renamed, so a crash leaves
//! either the whole object or none of it.
//!
//! ```text
//! <root>/objects/small/        small ciphertexts (anyone's; replicas too)
//! <root>/objects/ab/abcdef…     large ciphertexts (streamed files)
//! <root>/objects/.tmp-…         large objects being streamed in
//! ```

use crate::files::{not_found_as_none, remove, TempFile};
use crate::object_db::ObjectDb;
use crate::store::{check_hash, copy_hashing};
use crate::stream::{self, StreamSealed};
use crate::{sha256, DataKey, Hash, VaultError};
use std::{
    fs,
    io::Read,
    path::{Path, PathBuf},
};

/// The small objects' store, under `objects`.
const SMALL: &str = "small";

/// Whether `dir` is a shard of large objects (named by two hex digits).
fn is_shard(dir: &Path) -> bool {
    dir.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Where a large object `hash` is kept under `objects`: sharded by its
/// first byte, so no directory grows too large.
fn object_path(objects: &Path, hash: &Hash) -> PathBuf {
    let name = hex::encode(hash);
    objects.join(&name[..2]).join(name)
}

/// Content-addressed ciphertexts under `<root>/objects`.
#[derive(Clone, Debug)]
pub(crate) struct LocalObjects {
    root: PathBuf,
    small: ObjectDb,
}

impl LocalObjects {
    /// One handle per directory in a process (clone it to share): the
    /// database refuses a second.
    pub(crate) fn open(root: &Path) -> Result<Self, VaultError> {
        let root = root.join("objects");
        fs::create_dir_all(&root)?;
        if root.join("objects.redb").exists() {
            return Err(VaultError::Database(format!(
                "{} holds a vault from an earlier version of custodia (objects.redb); \
                 initialise this node's home again",
                root.display()
            )));
        }
        let small = ObjectDb::open(&root.join(SMALL))?;
        Ok(Self { root, small })
    }

    fn path(&self, hash: &Hash) -> PathBuf {
        object_path(&self.root, hash)
    }

    /// Content-addressed, so putting an object again rewrites the same
    /// bytes: cheaper than asking first (a lookup in the store, and a
    /// `stat` of the large object's path, for every new object).
    pub(crate) fn put(&self, bytes: &[u8]) -> Result<Hash, VaultError> {
        let hash = sha256(&[bytes]);
        self.small.put(hash, bytes.to_vec(), true)?;
        Ok(hash)
    }

    /// Without waiting for the disk: the custodian's copy is the synced
    /// one, and a read at this node fetches the ciphertext from the
    /// custodian again (with the key), so a replica lost in a crash costs
    /// nothing (the store keeps what it had before the lost batch whole).
    pub(crate) fn put_replicas(&self, replicas: &[(Hash, &[u8])]) -> Vec<Result<(), VaultError>> {
        let mut results: Vec<Result<(), VaultError>> = Vec::with_capacity(replicas.len());
        let mut genuine = Vec::new();
        let mut genuine_at = Vec::new();
        for (index, (expected, bytes)) in replicas.iter().enumerate() {
            results.push(check_hash(expected, &sha256(&[bytes])));
            if results[index].is_ok() {
                genuine.push((*expected, bytes.to_vec()));
                genuine_at.push(index);
            }
        }
        for (index, result) in genuine_at
            .into_iter()
            .zip(self.small.put_many(genuine, false))
        {
            results[index] = result;
        }
        results
    }

    pub(crate) fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, VaultError> {
        match self.small.get(hash)? {
            Some(bytes) => Ok(Some(bytes)),
            None => crate::files::read(&self.path(hash)),
        }
    }

    /// To a temporary file first, renamed to its content address once
    /// complete and synced.
    pub(crate) fn put_stream(
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

    /// A large object as its file; a small one is read whole.
    pub(crate) fn reader(&self, hash: &Hash) -> Result<Option<Box<dyn Read + Send>>, VaultError> {
        if let Some(file) = not_found_as_none(fs::File::open(self.path(hash)))? {
            return Ok(Some(Box::new(file)));
        }
        Ok(self
            .small
            .get(hash)?
            .map(|bytes| Box::new(std::io::Cursor::new(bytes)) as Box<dyn Read + Send>))
    }

    /// Through a temporary file, renamed only if the bytes hash right.
    pub(crate) fn put_verified_stream(
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

    pub(crate) fn len(&self, hash: &Hash) -> Result<Option<u64>, VaultError> {
        if let Some(len) = self.small.len(hash)? {
            return Ok(Some(len));
        }
        Ok(not_found_as_none(fs::metadata(self.path(hash)))?.map(|meta| meta.len()))
    }

    pub(crate) fn contains(&self, hash: &Hash) -> bool {
        self.small.len(hash).is_ok_and(|len| len.is_some()) || self.path(hash).exists()
    }

    pub(crate) fn count(&self) -> Result<u64, VaultError> {
        let mut files = 0u64;
        for shard in fs::read_dir(&self.root)? {
            let shard = shard?.path();
            if shard.is_dir() && is_shard(&shard) {
                files += fs::read_dir(&shard)?.count() as u64;
            }
        }
        Ok(self.small.count()? + files)
    }

    pub(crate) fn delete(&self, hash: &Hash) -> Result<bool, VaultError> {
        let small = self.small.delete(hash)?;
        Ok(remove(&self.path(hash))? || small)
    }
}

#[cfg(test)]
mod tests {
    //! What only the disk shows: where objects land, what is left behind.
    //! Behaviour common to every backend is tested in `store`.
    use super::*;
    use crate::store::tests::temp;
    use crate::stream::CHUNK_SIZE;
    use crate::DiskStore;

    /// Every file under `dir`, at any depth (objects, shards, temporaries),
    /// but the small objects' store.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.ends_with(SMALL) {
                continue;
            }
            if path.is_dir() {
                files.extend(files_under(&path));
            } else {
                files.push(path);
            }
        }
        files
    }

    fn big(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    const AAD: &[u8] = b"Media/scan/_history/1";

    #[test]
    fn replicas_pushed_together_are_each_checked_and_kept() {
        let dir = temp();
        let store = DiskStore::open(&dir).unwrap();
        let held = store.put(b"already here").unwrap();
        let (one, two) = (b"replica one".as_slice(), b"replica two".as_slice());
        let results = store.put_replicas(&[
            (sha256(&[one]), one),
            (sha256(&[one]), two), // not what the chain records
            (held, b"already here"),
            (sha256(&[two]), two),
        ]);
        assert!(results[0].is_ok() && results[2].is_ok() && results[3].is_ok());
        assert!(
            matches!(results[1], Err(VaultError::HashMismatch { .. })),
            "{results:?}"
        );
        assert_eq!(store.count().unwrap(), 3);
        assert_eq!(store.get(&sha256(&[two])).unwrap().as_deref(), Some(two));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
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

    #[test]
    fn a_streamed_object_is_one_file_renamed_into_place() {
        let dir = temp();
        let store = LocalObjects::open(&dir).unwrap();
        let sealed = store
            .put_stream(&DataKey::generate(), AAD, &big(3 * CHUNK_SIZE + 123)[..])
            .unwrap();
        // Only the object itself: the temporary was renamed, not copied.
        assert_eq!(
            files_under(&dir.join("objects")),
            vec![store.path(&sealed.ciphertext_hash)]
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_stream_under_the_wrong_address_is_a_hash_mismatch() {
        let dir = temp();
        let store = DiskStore::open(&dir).unwrap();
        let path = |hash| object_path(&dir.join("objects"), hash);
        let key = DataKey::generate();
        let sealed = store.put_stream(&key, AAD, &big(1000)[..]).unwrap();
        // A valid stream under the right key, but not the object asked for.
        let elsewhere = [0xab; 32];
        fs::create_dir_all(path(&elsewhere).parent().unwrap()).unwrap();
        fs::rename(path(&sealed.ciphertext_hash), path(&elsewhere)).unwrap();
        let mut sink = Vec::new();
        assert!(matches!(
            store.open_stream(&elsewhere, &key, AAD, &mut sink),
            Err(VaultError::HashMismatch { .. })
        ));
        drop(store);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn replicas_streamed_in_leave_only_the_object() {
        let dir = temp();
        let store = LocalObjects::open(&dir).unwrap();
        let ciphertext = big(2 * CHUNK_SIZE + 5);
        let hash = sha256(&[&ciphertext]);
        let mut forged = ciphertext.clone();
        forged[CHUNK_SIZE + 1] ^= 1;
        assert!(store.put_verified_stream(&hash, &forged[..]).is_err());
        assert!(files_under(&dir.join("objects")).is_empty());
        store.put_verified_stream(&hash, &ciphertext[..]).unwrap();
        // Again: harmless, same bytes, still one file.
        store.put_verified_stream(&hash, &ciphertext[..]).unwrap();
        assert_eq!(files_under(&dir.join("objects")), vec![store.path(&hash)]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_interrupted_stream_leaves_no_file() {
        let dir = temp();
        let store = DiskStore::open(&dir).unwrap();
        let data = big(3 * CHUNK_SIZE);
        let good = CHUNK_SIZE + CHUNK_SIZE / 2;
        let cut = || crate::store::tests::FailsAfter { data: &data, good };
        assert!(store.put_stream(&DataKey::generate(), AAD, cut()).is_err());
        assert!(store.put_verified_stream(&sha256(&[&data]), cut()).is_err());
        assert!(files_under(&dir.join("objects")).is_empty());
        fs::remove_dir_all(dir).unwrap();
    }
}
