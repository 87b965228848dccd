//! A byzantine validator, for tests only: built with the `byzantine`
//! feature (never in a release binary) and chosen by `CUSTODIA_BYZANTINE`.
//! The process joins the consortium's p2p network with its real key and,
//! instead of honest consensus, misbehaves in one way:
//!
//! - `invalid-blocks`: the honest engine, proposing blocks whose state root
//!   is wrong when it leads;
//! - `equivocate`: when it leads, two different proposals for one view;
//! - `conflict`: a conflicting vote beside each honest one it sees;
//! - `nullify-finalize`: a nullify and a finalize for the same view;
//! - `impersonate`: votes with signatures that do not verify;
//! - `replay`: votes for views long past, replayed;
//! - `garbage`: undecodable messages of the largest size, without pause,
//!   on every consensus channel.
//!
//! The mocks are Commonware's own (`commonware_consensus::simplex::mocks`).

use commonware_consensus::{
    simplex::{
        elector::RoundRobin,
        mocks::{conflicter, equivocator, impersonator, nuller, outdated, relay::Relay},
    },
    types::{Epoch, ViewDelta},
};
use commonware_cryptography::sha256::Sha256;
use commonware_p2p::{utils::mux::Muxer, Recipients, Sender as _};
use commonware_runtime::{tokio as cw_tokio, Supervisor as _};
use custodia_engine::engine::{self, Channels};
use custodia_types::{Genesis, PrivateKey};

/// How the byzantine validator misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    InvalidBlocks,
    Equivocate,
    Conflict,
    NullifyFinalize,
    Impersonate,
    Replay,
    Garbage,
}

impl Mode {
    /// The mode `CUSTODIA_BYZANTINE` names, if it is set.
    pub fn from_env() -> Option<Mode> {
        let name = std::env::var("CUSTODIA_BYZANTINE").ok()?;
        let mode = match name.as_str() {
            "invalid-blocks" => Mode::InvalidBlocks,
            "equivocate" => Mode::Equivocate,
            "conflict" => Mode::Conflict,
            "nullify-finalize" => Mode::NullifyFinalize,
            "impersonate" => Mode::Impersonate,
            "replay" => Mode::Replay,
            "garbage" => Mode::Garbage,
            other => panic!("CUSTODIA_BYZANTINE={other} is not a mode (see byzantine.rs)"),
        };
        tracing::warn!(?mode, "this validator is BYZANTINE (a test build)");
        Some(mode)
    }

    /// Whether the honest engine runs (only proposing invalid blocks).
    pub fn runs_the_engine(self) -> bool {
        self == Mode::InvalidBlocks
    }
}

/// Misbehave on `channels` until the process is stopped.
pub async fn run<S, R>(
    context: cw_tokio::Context,
    mode: Mode,
    signer: PrivateKey,
    genesis: &Genesis,
    channels: Channels<S, R>,
    max_message: u32,
) where
    S: commonware_p2p::Sender<PublicKey = custodia_types::PublicKey>,
    R: commonware_p2p::Receiver<PublicKey = custodia_types::PublicKey>,
{
    let committee = commonware_utils::ordered::Set::from_iter_dedup(
        genesis.members.iter().map(|m| m.validator_key.clone()),
    );
    let scheme = engine::Scheme::signer(engine::NAMESPACE, committee, signer)
        .expect("the byzantine validator is in the genesis committee");
    // Honest validators multiplex consensus traffic by epoch.
    let (votes_mux, mut votes) = Muxer::new(
        context.child("liar_votes"),
        channels.votes.0,
        channels.votes.1,
    );
    votes_mux.start();
    let (certs_mux, mut certs) = Muxer::new(
        context.child("liar_certificates"),
        channels.certificates.0,
        channels.certificates.1,
    );
    certs_mux.start();
    let votes = votes.register(0).await.expect("epoch 0 votes");
    let certs = certs.register(0).await.expect("epoch 0 certificates");
    let liar = context.child("byzantine");
    let _task = match mode {
        Mode::InvalidBlocks => unreachable!("runs the honest engine"),
        Mode::Equivocate => equivocator::Equivocator::<_, _, RoundRobin<Sha256>, Sha256>::new(
            liar,
            equivocator::Config {
                scheme,
                elector: RoundRobin::default(),
                epoch: Epoch::new(0),
                relay: std::sync::Arc::new(Relay::new()),
            },
        )
        .start(votes, certs),
        Mode::Conflict => {
            conflicter::Conflicter::<_, _, Sha256>::new(liar, conflicter::Config { scheme })
                .start(votes)
        }
        Mode::NullifyFinalize => {
            nuller::Nuller::<_, _, Sha256>::new(liar, nuller::Config { scheme }).start(votes)
        }
        Mode::Impersonate => {
            impersonator::Impersonator::<_, _, Sha256>::new(liar, impersonator::Config { scheme })
                .start(votes)
        }
        Mode::Replay => outdated::Outdated::<_, _, Sha256>::new(
            liar,
            outdated::Config {
                scheme,
                view_delta: ViewDelta::new(5),
            },
        )
        .start(votes),
        Mode::Garbage => {
            let (mut votes, _) = votes;
            let (mut certs, _) = certs;
            let junk = bytes::Bytes::from(vec![0xA5u8; max_message as usize - 64]);
            loop {
                let _ = votes.send(Recipients::All, junk.clone(), false);
                let _ = certs.send(Recipients::All, junk.clone(), false);
                commonware_runtime::Clock::sleep(&context, std::time::Duration::from_millis(5))
                    .await;
            }
        }
    };
    futures::future::pending::<()>().await
}
