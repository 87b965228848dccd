//! What a validator saw others do wrong, made visible: consensus reports
//! a proven fault (two conflicting votes signed by one validator) to its
//! reporter, and blocks a peer that sent what no honest node sends (a bad
//! signature, an undecodable or oversized message). Both pass through
//! here on their way (to marshal, to the p2p oracle), as does each
//! proposal the application refuses: each is logged with the offender's
//! organisation and counted in `/metrics`.

use super::Committees;
use commonware_actor::Feedback;
use commonware_consensus::{
    simplex::types::{Activity, Attributable as _},
    Epochable as _, Reporter,
};
use commonware_p2p::{BlockedSubscription, Blocker};
use commonware_runtime::{
    telemetry::metrics::{raw::Counter, Registered},
    Metrics,
};
use custodia_types::{Digest, Genesis, PublicKey};
use std::{collections::HashMap, sync::Arc};

/// The fault log and its counters, shared by the reporter and the blocker.
#[derive(Clone)]
pub struct Faults {
    /// Each genesis validator's organisation (a later member is named by
    /// its key).
    names: Arc<HashMap<PublicKey, String>>,
    committees: Committees,
    proven: Registered<Counter>,
    blocked: Registered<Counter>,
    invalid: Registered<Counter>,
}

impl Faults {
    pub fn new(metrics: &impl Metrics, genesis: &Genesis, committees: Committees) -> Self {
        Self {
            names: Arc::new(
                genesis
                    .members
                    .iter()
                    .map(|m| (m.validator_key.clone(), m.id.to_string()))
                    .collect(),
            ),
            committees,
            proven: metrics.register(
                "faults",
                "Proven consensus faults seen: one validator signing two conflicting votes",
                Counter::default(),
            ),
            blocked: metrics.register(
                "peers_blocked",
                "Peers blocked for sending what no honest validator sends",
                Counter::default(),
            ),
            invalid: metrics.register(
                "invalid_proposals",
                "Proposals refused as invalid (bad state root, links, timestamps)",
                Counter::default(),
            ),
        }
    }

    fn name(&self, key: &PublicKey) -> String {
        self.names
            .get(key)
            .cloned()
            .unwrap_or_else(|| format!("validator {}", custodia_types::key_hex(key)))
    }

    /// A proposal `leader` made that this validator refused.
    pub fn invalid_proposal(&self, leader: &PublicKey) {
        self.invalid.inc();
        let offender = self.name(leader);
        tracing::warn!(%offender, "a leader proposed an invalid block");
    }

    fn proven(&self, kind: &'static str, epoch: u64, participant: u32) {
        self.proven.inc();
        let offender = self
            .committees
            .validators(epoch)
            .and_then(|keys| keys.get(participant as usize).cloned())
            .map(|key| self.name(&key))
            .unwrap_or_else(|| format!("participant {participant} of epoch {epoch}"));
        tracing::warn!(%offender, kind, epoch, "a validator signed conflicting votes");
    }
}

/// Marshal's reporter, noting proven faults on the way.
#[derive(Clone)]
pub struct FaultReporter<R> {
    pub inner: R,
    pub faults: Faults,
}

impl<R> Reporter for FaultReporter<R>
where
    R: Reporter<Activity = Activity<super::Scheme, Digest>>,
{
    type Activity = Activity<super::Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match &activity {
            Activity::ConflictingNotarize(fault) => self.faults.proven(
                "conflicting notarize",
                fault.epoch().get(),
                fault.signer().get(),
            ),
            Activity::ConflictingFinalize(fault) => self.faults.proven(
                "conflicting finalize",
                fault.epoch().get(),
                fault.signer().get(),
            ),
            Activity::NullifyFinalize(fault) => self.faults.proven(
                "nullify and finalize",
                fault.epoch().get(),
                fault.signer().get(),
            ),
            _ => {}
        }
        self.inner.report(activity)
    }
}

/// The p2p oracle's blocker, noting each block on the way.
#[derive(Clone)]
pub struct FaultBlocker<B> {
    pub inner: B,
    pub faults: Faults,
}

impl<B: Blocker<PublicKey = PublicKey>> Blocker for FaultBlocker<B> {
    type PublicKey = PublicKey;

    fn block(&mut self, peer: PublicKey) -> Feedback {
        self.faults.blocked.inc();
        let offender = self.faults.name(&peer);
        tracing::warn!(%offender, "blocked a peer that sent what no honest validator sends");
        self.inner.block(peer)
    }

    fn blocked(&mut self) -> BlockedSubscription<PublicKey> {
        self.inner.blocked()
    }
}
