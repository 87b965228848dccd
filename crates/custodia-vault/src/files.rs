//! Small file helpers shared by the local object store, the key ring and
//! the remote store's staging area: atomic writes through a temporary
//! file, removal that syncs the directory, and "absent" as an answer
//! rather than an error.

use crate::VaultError;
use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

/// A file being written under a temporary name in `dir`. Removed when
/// dropped unless persisted, so an error (or panic) part-way through a
/// write leaves nothing behind.
pub(crate) struct TempFile {
    pub(crate) path: PathBuf,
    pub(crate) file: fs::File,
    persisted: bool,
}

/// Names of temporary files start with this, never a hash's first
/// character, so a leftover is never mistaken for an object.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

impl TempFile {
    pub(crate) fn create(dir: &Path) -> Result<Self, VaultError> {
        fs::create_dir_all(dir)?;
        let path = dir.join(format!(
            "{TEMP_PREFIX}{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        // `create_new`: never share a file with a concurrent writer. Read
        // too: the remote store uploads what it staged from this handle.
        let file = fs::OpenOptions::new()
            .read(true)
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
    pub(crate) fn persist(mut self, dest: &Path) -> Result<(), VaultError> {
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

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let dir = path.parent().expect("vault paths have a parent");
    let mut tmp = TempFile::create(dir)?;
    tmp.file.write_all(bytes)?;
    tmp.persist(path)
}

pub(crate) fn remove(path: &Path) -> Result<bool, VaultError> {
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

pub(crate) fn read(path: &Path) -> Result<Option<Vec<u8>>, VaultError> {
    not_found_as_none(fs::read(path))
}

/// A missing file is an answer (`None`), not an error.
pub(crate) fn not_found_as_none<T>(result: std::io::Result<T>) -> Result<Option<T>, VaultError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Remove temporary files left in `dir` by a process that stopped
/// mid-write (they can be as large as a file upload). Only for a
/// directory that one process owns.
pub(crate) fn remove_leftovers(dir: &Path) -> Result<(), VaultError> {
    let Some(entries) = not_found_as_none(fs::read_dir(dir))? else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}
