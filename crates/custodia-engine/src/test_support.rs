//! What the engine's unit tests share: a one-member chain.

use crate::chain::ChainSizing;
use commonware_cryptography::Signer as _;
use custodia_types::{Genesis, Member, OrgId, OrgRole, Params, PrivateKey};
use std::time::Duration;

/// A genesis with one member (validator key seed 1, admin key seed 2).
pub(crate) fn one_member_genesis(chain_id: &str) -> Genesis {
    Genesis {
        chain_id: chain_id.into(),
        genesis_time_ms: 1_800_000_000_000,
        params: Params::default(),
        members: vec![Member {
            id: OrgId::new("org-0").expect("a valid id"),
            name: "Organisation 0".into(),
            role: OrgRole::Provider,
            admin_key: PrivateKey::from_seed(2).public_key(),
            validator_key: PrivateKey::from_seed(1).public_key(),
            p2p: "127.0.0.1:31000".parse().expect("an address"),
            api: None,
        }],
    }
}

/// A small chain's sizing.
pub(crate) fn small_sizing() -> ChainSizing {
    ChainSizing {
        mempool_capacity: 16,
        execution_budget: Duration::from_secs(1),
        state_cache_pages: std::num::NonZeroUsize::new(64).expect("nonzero"),
    }
}
