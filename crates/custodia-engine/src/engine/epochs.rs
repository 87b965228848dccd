//! One simplex instance per epoch. When an epoch's last block is final the
//! next epoch's committee starts from it; a node that hears peers in a
//! later epoch asks marshal to fetch the finalized blocks it missed.

use crate::engine::{
    app::App, committees::Committees, finalizer::Transition, Marshal, Runtime, Scheme, Settings,
};
use commonware_consensus::{
    marshal::standard::Inline,
    simplex::{
        self,
        config::{Floor, ForwardPolicy, SkipPolicy},
        elector::RoundRobin,
    },
    types::{FixedEpocher, Height},
};
use commonware_cryptography::sha256::Sha256;
use commonware_p2p::{
    utils::mux::{Builder as _, Muxer},
    Blocker, Receiver, Sender,
};
use commonware_parallel::Sequential;
use commonware_runtime::{buffer::paged::CacheRef, Handle};
use commonware_utils::{channel::mpsc, vec::NonEmptyVec};
use custodia_types::PublicKey;

type Pair<S, R> = (S, R);

/// What a certificate from an epoch this node does not vote in was worth.
enum Followed {
    /// A verified finalization, handed to marshal.
    Finalization,
    /// Not a finalization (notarizations, nullifications), or an epoch whose
    /// committee this node does not know yet: ignored.
    Ignored,
    /// Undecodable or with signatures that do not verify: the sender lies.
    Forged,
}

/// Hand a verified finalization certificate of `epoch` to marshal. Marshal
/// trusts what it is told is final, so the certificate is checked here
/// against the committee this node derived from its own state.
fn follow(
    rng: &mut impl rand::CryptoRng,
    committees: &Committees,
    marshal: &mut Marshal,
    epoch: u64,
    bytes: commonware_runtime::IoBuf,
) -> Followed {
    use commonware_codec::Decode as _;
    use commonware_consensus::{
        simplex::types::{Activity, Certificate},
        Reporter as _,
    };
    use commonware_cryptography::certificate::{Provider as _, Verifier as _};
    let Some(scheme) = committees
        .scoped(commonware_consensus::types::Epoch::new(epoch))
        .and_then(|s| s.into_scheme())
    else {
        return Followed::Ignored;
    };
    let Ok(certificate) = Certificate::<Scheme, custodia_types::Digest>::decode_cfg(
        bytes,
        &scheme.certificate_codec_config(),
    ) else {
        return Followed::Forged;
    };
    let Certificate::Finalization(finalization) = certificate else {
        return Followed::Ignored;
    };
    if finalization.round().epoch().get() != epoch
        || !finalization.verify(rng, scheme.as_ref(), &Sequential)
    {
        return Followed::Forged;
    }
    let _ = marshal.report(Activity::Finalization(finalization));
    Followed::Finalization
}

/// Where epoch `epoch`'s consensus journal is kept.
pub fn simplex_partition(prefix: &str, epoch: u64) -> String {
    format!("{}{epoch}", simplex_partitions(prefix))
}

/// What every consensus journal's partition name starts with, the epoch
/// following.
pub fn simplex_partitions(prefix: &str) -> String {
    format!("{prefix}-simplex-")
}

pub struct Networks<S, R> {
    pub votes: Pair<S, R>,
    pub certificates: Pair<S, R>,
    pub resolver: Pair<S, R>,
}

struct Running {
    epoch: u64,
    engine: Option<Handle<()>>,
}

/// What the epoch manager runs each epoch's consensus engine with.
pub struct Epochs<E: Runtime, B, S, R> {
    pub settings: Settings,
    pub committees: Committees,
    pub app: App<E>,
    pub marshal: Marshal,
    pub blocker: B,
    /// Notes proven faults on their way to marshal.
    pub faults: super::faults::Faults,
    pub networks: Networks<S, R>,
    pub page_cache: CacheRef,
}

/// Run consensus from the epoch `first` names, starting each next epoch's
/// engine as `transitions` announces it.
pub async fn run<E, B, S, R>(
    context: E,
    epochs: Epochs<E, B, S, R>,
    first: Transition,
    mut transitions: mpsc::UnboundedReceiver<Transition>,
) where
    E: Runtime,
    B: Blocker<PublicKey = PublicKey> + Clone + Send + Sync,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let Epochs {
        settings,
        committees,
        app,
        marshal,
        blocker,
        faults,
        networks,
        page_cache,
    } = epochs;
    let (votes_mux, votes, mut later_epochs) = Muxer::builder(
        context.child("votes_mux"),
        networks.votes.0,
        networks.votes.1,
    )
    .with_backup()
    .build();
    votes_mux.start();
    let (certs_mux, certs, mut other_certificates) = Muxer::builder(
        context.child("certificates_mux"),
        networks.certificates.0,
        networks.certificates.1,
    )
    .with_backup()
    .build();
    certs_mux.start();
    let (resolver_mux, resolver) = Muxer::new(
        context.child("resolver_mux"),
        networks.resolver.0,
        networks.resolver.1,
    );
    resolver_mux.start();

    // Certificate verification draws randomness (batch verification).
    let mut rng = context.child("follow");
    let epocher = FixedEpocher::new(settings.epoch_length_nz());
    let mut running = Running {
        epoch: first.epoch,
        engine: None,
    };
    let start = |running: &mut Running, transition: Transition| {
        let committees = committees.clone();
        let app = app.clone();
        let marshal = marshal.clone();
        let blocker = blocker.clone();
        let faults = faults.clone();
        let epocher = epocher.clone();
        let page_cache = page_cache.clone();
        let settings = settings.clone();
        let (mut votes, mut certs, mut resolver) = (votes.clone(), certs.clone(), resolver.clone());
        if let Some(old) = running.engine.take() {
            old.abort();
        }
        running.epoch = transition.epoch;
        let Some(scheme) = committees.signer(transition.epoch) else {
            tracing::info!(
                epoch = transition.epoch,
                "not in this epoch's committee; following only"
            );
            return;
        };
        tracing::info!(epoch = transition.epoch, "starting consensus for epoch");
        running.engine = Some(context.child("epoch").spawn(move |context| async move {
            let epoch = transition.epoch;
            let (Ok(v), Ok(c), Ok(r)) = (
                votes.register(epoch).await,
                certs.register(epoch).await,
                resolver.register(epoch).await,
            ) else {
                tracing::error!(epoch, "epoch channels already registered");
                return;
            };
            // The consensus journal of the epoch two back is dead weight:
            // its engine stopped when the last epoch began, and nothing
            // reads it again (the last one's may still be closing).
            if let Some(stale) = epoch.checked_sub(2) {
                let _ = context
                    .remove(&simplex_partition(&settings.partition_prefix, stale), None)
                    .await;
            }
            let inline = Inline::new(context.child("inline"), app, marshal.clone(), epocher);
            let engine = simplex::Engine::new(
                context.child("simplex"),
                simplex::Config {
                    scheme: Scheme::clone(&scheme),
                    elector: RoundRobin::<Sha256>::default(),
                    blocker,
                    automaton: inline.clone(),
                    relay: inline,
                    reporter: super::faults::FaultReporter {
                        inner: marshal,
                        faults,
                    },
                    strategy: Sequential,
                    partition: simplex_partition(&settings.partition_prefix, epoch),
                    mailbox_size: settings.mailbox_size(),
                    epoch: commonware_consensus::types::Epoch::new(epoch),
                    floor: Floor::Genesis(transition.floor),
                    replay_buffer: settings.io_buffer(),
                    write_buffer: settings.io_buffer(),
                    page_cache,
                    leader_timeout: settings.leader_timeout,
                    certification_timeout: settings.certification_timeout,
                    timeout_retry: settings.timeout_retry,
                    view_retention: commonware_consensus::types::ViewDelta::new(256),
                    skip: SkipPolicy::Disabled,
                    fetch_timeout: commonware_utils::NZDuration!(std::time::Duration::from_secs(1)),
                    fetch_retry_delay: std::time::Duration::from_millis(100),
                    forward: ForwardPolicy::Disabled,
                    track_historical_votes: false,
                },
            );
            let _ = engine.start(v, c, r).await;
        }));
    };
    let first_epoch = first.epoch;
    start(&mut running, first);
    tracing::debug!(epoch = first_epoch, "epoch orchestrator running");

    loop {
        commonware_macros::select! {
            transition = transitions.recv() => {
                let Some(transition) = transition else { break };
                if transition.epoch > running.epoch {
                    start(&mut running, transition);
                }
            },
            message = later_epochs.recv() => {
                let Some((epoch, (peer, _))) = message else { break };
                // A peer is voting in an epoch we have not reached: the
                // boundary block before it is final; fetch up to there.
                if epoch > running.epoch {
                    let boundary = Height::new(epoch * settings.epoch_length - 1);
                    marshal.hint_finalized(boundary, NonEmptyVec::new(peer));
                }
            },
            message = other_certificates.recv() => {
                let Some((epoch, (peer, bytes))) = message else { break };
                // Certificates of an epoch this node does not vote in (it is
                // not in that committee): verified finalizations go to
                // marshal, which fetches their blocks. This is how a member
                // outside the committee, or one joining, follows the chain.
                if let Followed::Forged =
                    follow(&mut rng, &committees, &mut marshal.clone(), epoch, bytes)
                {
                    tracing::warn!(%peer, epoch, "forged finality certificate; blocking the peer");
                    let _ = blocker.clone().block(peer);
                }
            },
        }
    }
}
