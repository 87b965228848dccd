//! Small ciphertexts (record versions) in one embedded database, `redb`,
//! instead of a file each. Creating files was most of a node's CPU while
//! writing records: ext4 allocating an inode for every ciphertext and every
//! replica. Writers hand their changes to one committer thread, which
//! commits everything waiting in one transaction and one sync (group
//! commit), so concurrent writes share the cost of making them durable.
//!
//! Large objects (streamed files) stay files: they are few, and streaming
//! them in and out of a database would hold them whole.

use crate::{Hash, VaultError};
use redb::{Database, Durability, ReadableDatabase as _, TableDefinition};
use std::{
    path::Path,
    sync::{mpsc, Arc},
};

const OBJECTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("objects");

/// Changes committed together at most; more wait for the next commit.
const MAX_GROUP: usize = 512;

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

/// A handle on the database; clones share it. When the last one goes,
/// the committer finishes what is queued and the file is closed before
/// the drop returns, so the same vault can be opened again at once.
#[derive(Clone)]
pub(crate) struct ObjectDb(Arc<Shared>);

struct Shared {
    db: Arc<Database>,
    jobs: Option<mpsc::Sender<Job>>,
    committer: Option<std::thread::JoinHandle<()>>,
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
    pub(crate) fn open(path: &Path) -> Result<Self, VaultError> {
        let db = Arc::new(Database::create(path).map_err(database)?);
        // Reads of an empty store find the table, not an error.
        let tx = db.begin_write().map_err(database)?;
        tx.open_table(OBJECTS).map_err(database)?;
        tx.commit().map_err(database)?;
        let (jobs, queue) = mpsc::channel();
        let for_committer = db.clone();
        let committer = std::thread::Builder::new()
            .name("vault-commit".into())
            .spawn(move || commit_loop(&for_committer, &queue))?;
        Ok(Self(Arc::new(Shared {
            db,
            jobs: Some(jobs),
            committer: Some(committer),
        })))
    }

    /// Run `read` on the table in a read transaction.
    fn read<T>(
        &self,
        read: impl FnOnce(&redb::ReadOnlyTable<&[u8; 32], &[u8]>) -> Result<T, redb::StorageError>,
    ) -> Result<T, VaultError> {
        let tx = self.0.db.begin_read().map_err(database)?;
        let table = tx.open_table(OBJECTS).map_err(database)?;
        read(&table).map_err(database)
    }

    pub(crate) fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, VaultError> {
        self.read(|t| Ok(redb::ReadableTable::get(t, hash)?.map(|v| v.value().to_vec())))
    }

    pub(crate) fn len(&self, hash: &Hash) -> Result<Option<u64>, VaultError> {
        self.read(|t| Ok(redb::ReadableTable::get(t, hash)?.map(|v| v.value().len() as u64)))
    }

    pub(crate) fn count(&self) -> Result<u64, VaultError> {
        self.read(|t| redb::ReadableTableMetadata::len(t))
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

fn database(error: impl Into<redb::Error>) -> VaultError {
    VaultError::Database(error.into().to_string())
}

/// Commit what is waiting, group by group, until every handle is gone.
fn commit_loop(db: &Database, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        match commit(db, &group) {
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

fn commit(db: &Database, group: &[Job]) -> Result<Vec<bool>, redb::Error> {
    let mut tx = db.begin_write()?;
    let durable = group.iter().any(|job| job.durable);
    tx.set_durability(match durable {
        true => Durability::Immediate,
        false => Durability::None,
    })?;
    let mut found = Vec::with_capacity(group.len());
    {
        let mut table = tx.open_table(OBJECTS)?;
        for job in group {
            found.push(match &job.change {
                Change::Put(hash, bytes) => {
                    table.insert(hash, bytes.as_slice())?;
                    true
                }
                Change::Delete(hash) => table.remove(hash)?.is_some(),
            });
        }
    }
    tx.commit()?;
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
        let path = dir.join("objects.redb");
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
