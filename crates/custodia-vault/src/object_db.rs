//! Small ciphertexts (record versions and replicas) in one embedded
//! log-structured store, `fjall`, instead of a file each. Creating files
//! was most of a node's CPU while writing records (ext4 allocating an inode
//! for every ciphertext and every replica), and a B-tree (`redb`, before)
//! rewrote a 4 KiB page for nearly every ciphertext, since content hashes
//! land on random leaves: about three times the processor time of an LSM
//! tree's appends and sorted flushes for the same objects. Writers hand
//! their changes to one committer thread, which writes everything waiting
//! as one batch and syncs the journal once (group commit), so concurrent
//! writes share the cost of making them durable.
//!
//! A deleted ciphertext lingers in older sorted files until compaction
//! rewrites them; erasure does not depend on it going, because the data key
//! is shredded.
//!
//! Large objects (streamed files) stay files: they are few, and streaming
//! them in and out of a database would hold them whole.

use crate::{Hash, VaultError};
use fjall::{Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode};
use std::{
    fs::File,
    path::Path,
    sync::{mpsc, Arc},
};

/// Changes committed together at most; more wait for the next commit.
const MAX_GROUP: usize = 512;
/// Memory for recently read blocks, and for writes not yet sorted to disk:
/// small, since a demo runs nine nodes on one machine.
const CACHE_BYTES: u64 = 32 << 20;
const WRITE_BUFFER_BYTES: u64 = 32 << 20;

enum Change {
    Put(Hash, Vec<u8>),
    Delete(Hash),
}

struct Job {
    change: Change,
    /// Must be on disk when `done` answers (a replica need not be: the
    /// custodian holds the synced copy).
    durable: bool,
    /// Whether the object was there (for a delete), or the commit's error.
    done: mpsc::SyncSender<Result<bool, String>>,
}

/// A handle on the store; clones share it. When the last one goes, the
/// committer finishes what is queued and the store's threads stop before
/// the drop returns, so the same vault can be opened again at once.
#[derive(Clone)]
pub(crate) struct ObjectDb(Arc<Shared>);

struct Shared {
    objects: PartitionHandle,
    jobs: Option<mpsc::Sender<Job>>,
    committer: Option<std::thread::JoinHandle<()>>,
    /// Held while open: two processes writing one store would corrupt it.
    _lock: File,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the queue ends the committer's loop.
        self.jobs.take();
        if let Some(committer) = self.committer.take() {
            let _ = committer.join();
        }
    }
}

impl std::fmt::Debug for ObjectDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectDb")
    }
}

impl ObjectDb {
    /// Open (or create) the store in directory `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self, VaultError> {
        std::fs::create_dir_all(dir)?;
        let lock = File::create(dir.join("lock"))?;
        lock.try_lock().map_err(|_| {
            VaultError::Database(format!(
                "{} is open in another process (is another node running on this home?)",
                dir.display()
            ))
        })?;
        let keyspace = fjall::Config::new(dir)
            .cache_size(CACHE_BYTES)
            .max_write_buffer_size(WRITE_BUFFER_BYTES)
            .flush_workers(1)
            .compaction_workers(1)
            .open()
            .map_err(database)?;
        let objects = keyspace
            .open_partition("objects", PartitionCreateOptions::default())
            .map_err(database)?;
        let (jobs, queue) = mpsc::channel();
        let (for_committer, table) = (keyspace.clone(), objects.clone());
        let committer = std::thread::Builder::new()
            .name("vault-commit".into())
            .spawn(move || commit_loop(&for_committer, &table, &queue))?;
        Ok(Self(Arc::new(Shared {
            objects,
            jobs: Some(jobs),
            committer: Some(committer),
            _lock: lock,
        })))
    }

    pub(crate) fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, VaultError> {
        Ok(self
            .0
            .objects
            .get(hash)
            .map_err(database)?
            .map(|v| v.to_vec()))
    }

    pub(crate) fn len(&self, hash: &Hash) -> Result<Option<u64>, VaultError> {
        Ok(self
            .0
            .objects
            .size_of(hash)
            .map_err(database)?
            .map(u64::from))
    }

    /// Counts by reading every key: for operators, not for hot paths.
    pub(crate) fn count(&self) -> Result<u64, VaultError> {
        Ok(self.0.objects.len().map_err(database)? as u64)
    }

    pub(crate) fn put(&self, hash: Hash, bytes: Vec<u8>, durable: bool) -> Result<(), VaultError> {
        self.submit(Change::Put(hash, bytes), durable).map(|_| ())
    }

    /// Remove `hash`, durably; whether it was there.
    pub(crate) fn delete(&self, hash: &Hash) -> Result<bool, VaultError> {
        self.submit(Change::Delete(*hash), true)
    }

    /// Put many at once: queued together, they share one commit (unless
    /// the queue already holds a full group). One result per object.
    pub(crate) fn put_many(
        &self,
        objects: Vec<(Hash, Vec<u8>)>,
        durable: bool,
    ) -> Vec<Result<(), VaultError>> {
        let pending: Vec<_> = objects
            .into_iter()
            .map(|(hash, bytes)| self.enqueue(Change::Put(hash, bytes), durable))
            .collect();
        pending
            .into_iter()
            .map(|answer| Self::answer(answer?).map(drop))
            .collect()
    }

    fn submit(&self, change: Change, durable: bool) -> Result<bool, VaultError> {
        Self::answer(self.enqueue(change, durable)?)
    }

    fn enqueue(&self, change: Change, durable: bool) -> Result<Answer, VaultError> {
        let (done, answer) = mpsc::sync_channel(1);
        self.0
            .jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(Job {
                change,
                durable,
                done,
            })
            .map_err(|_| stopped())?;
        Ok(answer)
    }

    fn answer(answer: Answer) -> Result<bool, VaultError> {
        answer
            .recv()
            .map_err(|_| stopped())?
            .map_err(VaultError::Database)
    }
}

type Answer = mpsc::Receiver<Result<bool, String>>;

fn stopped() -> VaultError {
    VaultError::Database("the vault's committer has stopped".into())
}

fn database(error: fjall::Error) -> VaultError {
    VaultError::Database(error.to_string())
}

/// Commit what is waiting, group by group, until every handle is gone.
fn commit_loop(keyspace: &Keyspace, objects: &PartitionHandle, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        match commit(keyspace, objects, &group) {
            Ok(found) => {
                for (job, found) in group.iter().zip(found) {
                    let _ = job.done.send(Ok(found));
                }
            }
            Err(error) => {
                let message = error.to_string();
                for job in &group {
                    let _ = job.done.send(Err(message.clone()));
                }
            }
        }
    }
}

fn commit(
    keyspace: &Keyspace,
    objects: &PartitionHandle,
    group: &[Job],
) -> Result<Vec<bool>, fjall::Error> {
    let mut found = Vec::with_capacity(group.len());
    let mut batch = keyspace.batch();
    for job in group {
        match &job.change {
            Change::Put(hash, bytes) => {
                batch.insert(objects, hash.as_slice(), bytes.as_slice());
                found.push(true);
            }
            Change::Delete(hash) => {
                // Whether it is there must count the puts queued before it
                // (deletes are rare: erasure).
                std::mem::replace(&mut batch, keyspace.batch()).commit()?;
                found.push(objects.contains_key(hash)?);
                batch.remove(objects, hash.as_slice());
            }
        }
    }
    batch.commit()?;
    // Unsynced, a batch has still reached the operating system: only a
    // crash of the machine can lose it. One sync covers every batch before.
    if group.iter().any(|job| job.durable) {
        keyspace.persist(PersistMode::SyncData)?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> Hash {
        [n; 32]
    }

    /// An empty directory of this test's own (tests run in parallel), and
    /// the database file's path in it.
    fn fresh(test: &str) -> (std::path::PathBuf, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("custodia-objdb-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("objects");
        (dir, path)
    }

    #[test]
    fn many_puts_are_each_answered_and_all_kept() {
        let (dir, path) = fresh("put-many");
        let db = ObjectDb::open(&path).unwrap();
        let objects: Vec<_> = (1..=40u8).map(|n| (hash(n), vec![n; 3])).collect();
        let results = db.put_many(objects, false);
        assert_eq!(results.len(), 40);
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(db.count().unwrap(), 40);
        assert_eq!(db.get(&hash(7)).unwrap(), Some(vec![7; 3]));
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn objects_survive_a_reopen_and_deletes_say_what_was_there() {
        let (dir, path) = fresh("reopen");
        {
            let db = ObjectDb::open(&path).unwrap();
            db.put(hash(1), b"one".to_vec(), true).unwrap();
            db.put(hash(2), b"two".to_vec(), true).unwrap();
            assert!(db.delete(&hash(2)).unwrap());
            assert!(!db.delete(&hash(2)).unwrap());
        }
        // Dropping the last handle closed the file: it opens again at once.
        let reopened = ObjectDb::open(&path).unwrap();
        assert_eq!(reopened.get(&hash(1)).unwrap(), Some(b"one".to_vec()));
        assert_eq!(reopened.len(&hash(1)).unwrap(), Some(3));
        assert_eq!(reopened.get(&hash(2)).unwrap(), None);
        assert_eq!(reopened.count().unwrap(), 1);
        drop(reopened);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_second_open_is_refused_until_the_first_is_closed() {
        let (dir, path) = fresh("locked");
        let db = ObjectDb::open(&path).unwrap();
        let refused = ObjectDb::open(&path).unwrap_err().to_string();
        assert!(refused.contains("open in another process"), "{refused}");
        drop(db);
        ObjectDb::open(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_delete_sees_a_put_queued_before_it() {
        let (dir, path) = fresh("put-then-delete");
        let db = ObjectDb::open(&path).unwrap();
        let put = db
            .enqueue(Change::Put(hash(9), b"nine".to_vec()), false)
            .unwrap();
        let delete = db.enqueue(Change::Delete(hash(9)), true).unwrap();
        ObjectDb::answer(put).unwrap();
        assert!(ObjectDb::answer(delete).unwrap(), "the put came first");
        assert_eq!(db.get(&hash(9)).unwrap(), None);
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_writers_all_land() {
        let (dir, path) = fresh("concurrent");
        let db = ObjectDb::open(&path).unwrap();
        let writers: Vec<_> = (0..8u8)
            .map(|w| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for i in 0..50u8 {
                        db.put(crate::sha256(&[&[w, i]]), vec![w, i], i % 2 == 0)
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        for w in 0..8u8 {
            for i in 0..50u8 {
                assert_eq!(
                    db.get(&crate::sha256(&[&[w, i]])).unwrap(),
                    Some(vec![w, i])
                );
            }
        }
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
