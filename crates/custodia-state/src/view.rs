//! Reading state and collecting writes.

use std::collections::{BTreeMap, BTreeSet};

/// Read access to state as of some point. Implemented by the node over its
/// authenticated store (pre-loaded with a block's read set) and by tests.
pub trait StateRead {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
}

/// Writes produced by executing transactions: `None` deletes a key.
pub type WriteSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// A plain in-memory state; used for genesis, tests and offline replay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapState(pub BTreeMap<Vec<u8>, Vec<u8>>);

impl MapState {
    pub fn apply(&mut self, writes: &WriteSet) {
        for (key, value) in writes {
            match value {
                Some(value) => self.0.insert(key.clone(), value.clone()),
                None => self.0.remove(key),
            };
        }
    }

    /// Load `keys` into `into`, as a node loads a block's read set.
    pub fn preload<'k>(&self, keys: impl IntoIterator<Item = &'k Vec<u8>>, into: &mut Preloaded) {
        for key in keys {
            into.insert(key.clone(), self.0.get(key).cloned());
        }
    }
}

impl StateRead for MapState {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key).cloned()
    }
}

/// Uncommitted writes layered over a base state. Transactions write into a
/// per-transaction overlay that is merged into the block's only on success,
/// so a rejected transaction leaves no trace but its receipt.
pub struct Overlay<'a, R: StateRead + ?Sized> {
    base: &'a R,
    writes: WriteSet,
}

impl<'a, R: StateRead + ?Sized> Overlay<'a, R> {
    pub fn new(base: &'a R) -> Self {
        Self {
            base,
            writes: WriteSet::new(),
        }
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    pub fn into_writes(self) -> WriteSet {
        self.writes
    }

    pub fn merge(&mut self, writes: WriteSet) {
        self.writes.extend(writes);
    }
}

impl<R: StateRead + ?Sized> StateRead for Overlay<'_, R> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(value) => value.clone(),
            None => self.base.get(key),
        }
    }
}

/// State pre-loaded from a store for one block. Reads of keys that were not
/// loaded are remembered; the node loads them and executes again, so the
/// read set only has to be a good guess, never a complete one.
#[derive(Debug, Default)]
pub struct Preloaded {
    loaded: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    misses: std::cell::RefCell<BTreeSet<Vec<u8>>>,
}

impl Preloaded {
    pub fn insert(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.loaded.insert(key, value);
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.loaded.contains_key(key)
    }

    /// Keys read since the last call that were not loaded.
    pub fn take_misses(&self) -> BTreeSet<Vec<u8>> {
        std::mem::take(&mut self.misses.borrow_mut())
    }
}

impl StateRead for Preloaded {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.loaded.get(key) {
            Some(value) => value.clone(),
            None => {
                self.misses.borrow_mut().insert(key.to_vec());
                None
            }
        }
    }
}
