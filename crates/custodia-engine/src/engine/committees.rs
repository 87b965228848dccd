//! Which validators sign in which epoch.
//!
//! Epoch 0's committee comes from genesis; each later one is read from the
//! state the finalized boundary block left behind (`gov/committee/{e}`), so
//! every node derives the same committees from the same chain.

use crate::engine::{Scheme, NAMESPACE};
use commonware_consensus::types::Epoch;
use commonware_cryptography::certificate::{Provider, Scoped};
use commonware_utils::ordered::Set;
use custodia_types::{PrivateKey, PublicKey};
use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
};

/// Signing schemes by epoch: a signer where this node is a member, a
/// verifier elsewhere (it still checks other epochs' certificates).
#[derive(Clone)]
pub struct Committees {
    me: PrivateKey,
    epochs: Arc<RwLock<BTreeMap<u64, Committee>>>,
}

#[derive(Clone)]
struct Committee {
    scheme: Arc<Scheme>,
    member: bool,
}

impl Committees {
    pub fn new(me: PrivateKey) -> Self {
        Self {
            me,
            epochs: Arc::default(),
        }
    }

    /// Record `epoch`'s committee. Returns whether this node is in it.
    pub fn insert(&self, epoch: u64, validators: Vec<PublicKey>) -> bool {
        let set = Set::from_iter_dedup(validators);
        let signer = Scheme::signer(NAMESPACE, set.clone(), self.me.clone());
        let member = signer.is_some();
        let scheme = signer.unwrap_or_else(|| Scheme::verifier(NAMESPACE, set));
        self.epochs
            .write()
            .expect("committee lock poisoned")
            .insert(
                epoch,
                Committee {
                    scheme: Arc::new(scheme),
                    member,
                },
            );
        member
    }

    fn get(&self, epoch: u64) -> Option<Committee> {
        self.epochs
            .read()
            .expect("committee lock poisoned")
            .get(&epoch)
            .cloned()
    }

    /// This node's signing scheme for `epoch`, if it is in that committee.
    pub fn signer(&self, epoch: u64) -> Option<Arc<Scheme>> {
        self.get(epoch).filter(|c| c.member).map(|c| c.scheme)
    }

    /// The validators of `epoch`, if known.
    pub fn validators(&self, epoch: u64) -> Option<Vec<PublicKey>> {
        use commonware_cryptography::certificate::Scheme as _;
        self.get(epoch)
            .map(|c| c.scheme.participants().iter().cloned().collect())
    }
}

impl Provider for Committees {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        self.get(epoch.get()).map(|c| Scoped::scheme(c.scheme))
    }
}
