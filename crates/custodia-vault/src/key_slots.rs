//! The key ring's storage: wrapped data keys in fixed-size slots of one
//! file, overwritten in place.
//!
//! Two needs pull against each other. Every record version brings a new
//! key that must be durable before the write is answered, and a sync per
//! key (a file per key, as before) made key storage a large share of a
//! writing node's work. And erasure must *destroy* a key: a database that
//! writes updates elsewhere (copy-on-write, log-structured) leaves a
//! deleted key readable in freed pages until they happen to be reused. So
//! keys live in slots of one file: a new key is written into a fresh slot
//! and made durable by a sync shared with every writer waiting at the same
//! moment (group commit); shredding writes zeros over the slot itself.
//! The index from ciphertext hash to slot is rebuilt by reading the file at
//! start; each slot carries a checksum, so a slot torn by a crash is
//! ignored (its write was never acknowledged).

use crate::{sha256, Hash, VaultError};
use std::{
    collections::HashMap,
    fs,
    os::unix::fs::FileExt as _,
    path::Path,
    sync::{Condvar, Mutex},
};

/// `live (1) || hash (32) || key length (1) || key (≤ 86) || checksum (8)`.
const SLOT: usize = 128;
const MAX_KEY: usize = SLOT - 1 - 32 - 1 - 8;
const CHECKED: usize = SLOT - 8;

pub(crate) struct KeySlots {
    file: fs::File,
    slots: Mutex<Slots>,
    syncs: GroupSync,
}

struct Slots {
    by_hash: HashMap<Hash, u64>,
    next: u64,
}

impl KeySlots {
    pub(crate) fn open(path: &Path) -> Result<Self, VaultError> {
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // Two handles would hand out the same slots: a second open (in this
        // process or another) is refused instead.
        file.try_lock().map_err(|_| {
            VaultError::Database(format!(
                "{} is already open (one key ring per vault; clone the handle)",
                path.display()
            ))
        })?;
        let len = file.metadata()?.len();
        let count = len / SLOT as u64;
        let mut by_hash = HashMap::new();
        let mut slot = [0u8; SLOT];
        for index in 0..count {
            file.read_exact_at(&mut slot, index * SLOT as u64)?;
            if let Some((hash, _)) = decode(&slot) {
                by_hash.insert(hash, index);
            }
        }
        Ok(Self {
            file,
            slots: Mutex::new(Slots {
                by_hash,
                // A torn last slot (shorter than a slot) is written over.
                next: count,
            }),
            syncs: GroupSync::default(),
        })
    }

    /// Store `key` for `hash`, durably (in place if one is there already).
    #[cfg(test)]
    pub(crate) fn put(&self, hash: &Hash, key: &[u8]) -> Result<(), VaultError> {
        let written = self.write(hash, key)?;
        self.sync(written)
    }

    /// Store `key` for `hash` (in place if one is there already), durable
    /// once [`Self::sync`] returns for what this returns.
    pub(crate) fn write(&self, hash: &Hash, key: &[u8]) -> Result<Written, VaultError> {
        if key.len() > MAX_KEY {
            return Err(VaultError::Database(format!(
                "a wrapped key of {} bytes does not fit a key slot ({MAX_KEY})",
                key.len()
            )));
        }
        let index = {
            let mut slots = self.lock();
            match slots.by_hash.get(hash) {
                Some(index) => *index,
                None => {
                    let index = slots.next;
                    slots.next += 1;
                    index
                }
            }
        };
        self.file
            .write_all_at(&encode(hash, key), index * SLOT as u64)?;
        let written = self.syncs.wrote();
        self.lock().by_hash.insert(*hash, index);
        Ok(written)
    }

    /// Make the write `written` durable, sharing one sync with whoever
    /// else is waiting; a sync that began after it covers it already.
    pub(crate) fn sync(&self, written: Written) -> Result<(), VaultError> {
        Ok(self.syncs.sync(&self.file, written)?)
    }

    pub(crate) fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, VaultError> {
        let Some(index) = self.lock().by_hash.get(hash).copied() else {
            return Ok(None);
        };
        let mut slot = [0u8; SLOT];
        self.file.read_exact_at(&mut slot, index * SLOT as u64)?;
        Ok(decode(&slot)
            .filter(|(stored, _)| stored == hash)
            .map(|(_, key)| key))
    }

    /// Overwrite `hash`'s slot with zeros, durably; whether it held a key.
    pub(crate) fn shred(&self, hash: &Hash) -> Result<bool, VaultError> {
        let Some(index) = self.lock().by_hash.remove(hash) else {
            return Ok(false);
        };
        self.file.write_all_at(&[0u8; SLOT], index * SLOT as u64)?;
        self.sync(self.syncs.wrote())?;
        Ok(true)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // The map is only ever left consistent: a panic elsewhere while it
        // was held does not make it wrong.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn encode(hash: &Hash, key: &[u8]) -> [u8; SLOT] {
    let mut slot = [0u8; SLOT];
    slot[0] = 1;
    slot[1..33].copy_from_slice(hash);
    slot[33] = key.len() as u8;
    slot[34..34 + key.len()].copy_from_slice(key);
    let checksum = sha256(&[&slot[..CHECKED]]);
    slot[CHECKED..].copy_from_slice(&checksum[..8]);
    slot
}

fn decode(slot: &[u8; SLOT]) -> Option<(Hash, Vec<u8>)> {
    let checksum = sha256(&[&slot[..CHECKED]]);
    if slot[0] != 1 || slot[CHECKED..] != checksum[..8] {
        return None;
    }
    let len = usize::from(slot[33]);
    if len > MAX_KEY {
        return None;
    }
    let hash: Hash = slot[1..33].try_into().ok()?;
    Some((hash, slot[34..34 + len].to_vec()))
}

/// A write to the key file, numbered in the order writes completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Written(u64);

/// Group commit: writes are numbered as they complete; a writer that needs
/// its bytes on disk asks for a sync up to its number. One sync at a time
/// runs, covering every write completed before it started, so a writer
/// whose write a running or finished sync covers waits for no other.
#[derive(Default)]
struct GroupSync {
    state: Mutex<SyncState>,
    done: Condvar,
}

#[derive(Default)]
struct SyncState {
    written: u64,
    synced: u64,
    running: bool,
    /// Syncs run so far.
    runs: u64,
}

impl GroupSync {
    fn lock(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Number a write that has just completed.
    fn wrote(&self) -> Written {
        let mut state = self.lock();
        state.written += 1;
        Written(state.written)
    }

    fn sync(&self, file: &fs::File, Written(mine): Written) -> std::io::Result<()> {
        let mut state = self.lock();
        loop {
            if state.synced >= mine {
                return Ok(());
            }
            if state.running {
                state = self
                    .done
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                continue;
            }
            state.running = true;
            let covers = state.written;
            drop(state);
            let result = file.sync_data();
            state = self.lock();
            state.running = false;
            state.runs += 1;
            if result.is_ok() {
                state.synced = state.synced.max(covers);
            }
            self.done.notify_all();
            result?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_covers_every_write_completed_before_it_began() {
        let dir = temp("covers");
        let slots = KeySlots::open(&dir.join("ring")).unwrap();
        let first = slots.write(&[1; 32], &[1; 80]).unwrap();
        let second = slots.write(&[2; 32], &[2; 80]).unwrap();
        slots.sync(first).unwrap();
        slots.sync(second).unwrap();
        assert_eq!(slots.syncs.lock().runs, 1, "one sync covered both writes");
        let third = slots.write(&[3; 32], &[3; 80]).unwrap();
        slots.sync(third).unwrap();
        assert_eq!(slots.syncs.lock().runs, 2);
        drop(slots);
        let reopened = KeySlots::open(&dir.join("ring")).unwrap();
        for n in 1..=3u8 {
            assert_eq!(reopened.get(&[n; 32]).unwrap(), Some(vec![n; 80]));
        }
        fs::remove_dir_all(dir).unwrap();
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("custodia-keyslots-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn keys_survive_a_reopen_and_a_shredded_key_is_gone_from_the_file() {
        let dir = temp("reopen");
        let path = dir.join("ring");
        let key = [0xabu8; 80];
        {
            let slots = KeySlots::open(&path).unwrap();
            slots.put(&[1; 32], &key).unwrap();
            slots.put(&[2; 32], &[0xcd; 80]).unwrap();
            assert!(slots.shred(&[2; 32]).unwrap());
            assert!(!slots.shred(&[2; 32]).unwrap());
        }
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 2 * SLOT);
        assert!(
            !bytes.windows(80).any(|w| w == [0xcd; 80]),
            "a shredded key's bytes are overwritten, not just forgotten"
        );
        let slots = KeySlots::open(&path).unwrap();
        assert_eq!(slots.get(&[1; 32]).unwrap(), Some(key.to_vec()));
        assert_eq!(slots.get(&[2; 32]).unwrap(), None);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_second_handle_on_the_same_file_is_refused() {
        let dir = temp("twice");
        let first = KeySlots::open(&dir.join("ring")).unwrap();
        assert!(KeySlots::open(&dir.join("ring")).is_err());
        drop(first);
        assert!(KeySlots::open(&dir.join("ring")).is_ok());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_torn_slot_is_ignored_and_written_over() {
        let dir = temp("torn");
        let path = dir.join("ring");
        {
            let slots = KeySlots::open(&path).unwrap();
            slots.put(&[1; 32], &[7; 80]).unwrap();
        }
        // A crash in the middle of the next slot's write.
        let mut torn = encode(&[2; 32], &[8; 80]).to_vec();
        torn.truncate(60);
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend(torn);
        fs::write(&path, bytes).unwrap();
        let slots = KeySlots::open(&path).unwrap();
        assert_eq!(slots.get(&[2; 32]).unwrap(), None);
        slots.put(&[3; 32], &[9; 80]).unwrap();
        drop(slots);
        let slots = KeySlots::open(&path).unwrap();
        assert_eq!(slots.get(&[1; 32]).unwrap(), Some(vec![7; 80]));
        assert_eq!(slots.get(&[3; 32]).unwrap(), Some(vec![9; 80]));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn concurrent_writers_share_syncs_and_all_land() {
        let dir = temp("many");
        let slots = std::sync::Arc::new(KeySlots::open(&dir.join("ring")).unwrap());
        let writers: Vec<_> = (0..8u8)
            .map(|w| {
                let slots = slots.clone();
                std::thread::spawn(move || {
                    for i in 0..40u8 {
                        slots.put(&crate::sha256(&[&[w, i]]), &[w ^ i; 80]).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        for w in 0..8u8 {
            for i in 0..40u8 {
                assert_eq!(
                    slots.get(&crate::sha256(&[&[w, i]])).unwrap(),
                    Some(vec![w ^ i; 80])
                );
            }
        }
        fs::remove_dir_all(dir).unwrap();
    }
}
