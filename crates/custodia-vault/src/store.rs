//! Ciphertexts on local disk, addressed by SHA-256, and the custodian's
//! wrapped data keys. Files are written to a temporary name, synced and
//! renamed, so a crash leaves either the whole object or none of it.
//!
//! ```text
//! <root>/objects/ab/abcdef…   ciphertexts (anyone's; replicas too)
//! <root>/keys/abcdef…         data keys this organisation holds, wrapped
//!                             to its own encryption key
//! ```
//! An S3-compatible object store can take the place of `objects/` for a
//! consortium that outgrows local disks; the keys stay local.

use crate::{sha256, Hash, VaultError, WrappedKey};
use std::{
    fs,
    io::Write as _,
    path::{Path, PathBuf},
};

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let dir = path.parent().expect("vault paths have a parent");
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()?;
    Ok(())
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
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Content-addressed ciphertexts.
#[derive(Clone, Debug)]
pub struct DiskStore {
    root: PathBuf,
}

impl DiskStore {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, VaultError> {
        let root = root.into().join("objects");
        fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    fn path(&self, hash: &Hash) -> PathBuf {
        let name = hex::encode(hash);
        self.root.join(&name[..2]).join(name)
    }

    /// Store `bytes`; its address is its hash. Storing twice is harmless.
    pub fn put(&self, bytes: &[u8]) -> Result<Hash, VaultError> {
        let hash = sha256(&[bytes]);
        let path = self.path(&hash);
        if !path.exists() {
            write_atomically(&path, bytes)?;
        }
        Ok(hash)
    }

    /// Store a replica received from another member, refusing bytes that
    /// are not what the chain says they are.
    pub fn put_verified(&self, expected: &Hash, bytes: &[u8]) -> Result<(), VaultError> {
        let got = sha256(&[bytes]);
        if &got != expected {
            return Err(VaultError::HashMismatch {
                expected: hex::encode(expected),
                got: hex::encode(got),
            });
        }
        self.put(bytes).map(|_| ())
    }

    pub fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, VaultError> {
        read(&self.path(hash))
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.path(hash).exists()
    }

    pub fn delete(&self, hash: &Hash) -> Result<bool, VaultError> {
        remove(&self.path(hash))
    }
}

/// The data keys an organisation holds, wrapped to its own key, by the
/// hash of the ciphertext they open.
#[derive(Clone, Debug)]
pub struct KeyRing {
    root: PathBuf,
}

impl KeyRing {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, VaultError> {
        let root = root.into().join("keys");
        fs::create_dir_all(&root)?;
        Ok(Self { root })
    }

    fn path(&self, hash: &Hash) -> PathBuf {
        self.root.join(hex::encode(hash))
    }

    pub fn put(&self, hash: &Hash, key: &WrappedKey) -> Result<(), VaultError> {
        write_atomically(&self.path(hash), key.as_bytes())
    }

    pub fn get(&self, hash: &Hash) -> Result<Option<WrappedKey>, VaultError> {
        read(&self.path(hash))?
            .map(WrappedKey::from_bytes)
            .transpose()
    }

    /// Destroy a key: overwrite, sync, remove. After this the ciphertext it
    /// opened is unreadable by anyone, wherever copies of it survive.
    pub fn shred(&self, hash: &Hash) -> Result<bool, VaultError> {
        let path = self.path(hash);
        let Ok(meta) = fs::metadata(&path) else {
            return Ok(false);
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
        assert!(store.get(&hash).unwrap().is_none());
        store.put_verified(&hash, b"ciphertext").unwrap();
        assert!(store.contains(&hash));
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
