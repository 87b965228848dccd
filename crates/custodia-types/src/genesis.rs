//! The genesis file: who the consortium is on day one.

use crate::{sha256, OrgId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Problems a person can fix in a genesis file.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("genesis names no members")]
    NoMembers,
    #[error("chain_id must be 1-64 characters of a-z, 0-9 and '-', got {0:?}")]
    BadChainId(String),
    #[error("member id {0} appears twice")]
    DuplicateMember(OrgId),
    #[error("key {0} is used twice (each member needs its own admin and validator keys)")]
    DuplicateKey(String),
    #[error("parameter {name} must be at least {min}, got {value}")]
    BadParameter {
        name: &'static str,
        min: u64,
        value: u64,
    },
}

/// Chain parameters; governance can change them later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Most transactions a proposer puts in one block.
    pub max_block_txs: u64,
    /// Blocks per epoch; validator-set changes take effect at epoch boundaries.
    pub epoch_length: u64,
    /// Blocks a governance proposal stays open for votes.
    pub proposal_ttl: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            max_block_txs: 4000,
            epoch_length: 10_000,
            proposal_ttl: 100_000,
        }
    }
}

/// The whole genesis document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub chain_id: String,
    /// Milliseconds since the Unix epoch; the timestamp of block 0.
    pub genesis_time_ms: u64,
    #[serde(default)]
    pub params: Params,
    pub members: Vec<crate::Member>,
}

impl Genesis {
    pub fn from_toml(text: &str) -> Result<Self, GenesisError> {
        let genesis: Genesis = toml::from_str(text)?;
        genesis.validate()?;
        Ok(genesis)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("genesis always serialises")
    }

    pub fn validate(&self) -> Result<(), GenesisError> {
        let chain_id_ok = !self.chain_id.is_empty()
            && self.chain_id.len() <= 64
            && self
                .chain_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !chain_id_ok {
            return Err(GenesisError::BadChainId(self.chain_id.clone()));
        }
        if self.members.is_empty() {
            return Err(GenesisError::NoMembers);
        }
        let mut ids = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for member in &self.members {
            if !ids.insert(member.id.clone()) {
                return Err(GenesisError::DuplicateMember(member.id.clone()));
            }
            for key in [&member.admin_key, &member.validator_key] {
                if !keys.insert(key.clone()) {
                    return Err(GenesisError::DuplicateKey(crate::key_hex(key)));
                }
            }
        }
        for (name, value) in [
            ("max_block_txs", self.params.max_block_txs),
            ("epoch_length", self.params.epoch_length),
            ("proposal_ttl", self.params.proposal_ttl),
        ] {
            if value < 1 {
                return Err(GenesisError::BadParameter {
                    name,
                    min: 1,
                    value,
                });
            }
        }
        Ok(())
    }

    /// A digest naming this exact genesis; nodes refuse peers with another.
    pub fn digest(&self) -> crate::Digest {
        sha256(&[self.to_toml().as_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrgRole;
    use commonware_cryptography::Signer as _;

    fn member(i: u64) -> crate::Member {
        crate::Member {
            id: OrgId::new(format!("org-{i}")).unwrap(),
            name: format!("Org {i}"),
            role: OrgRole::Provider,
            admin_key: crate::PrivateKey::from_seed(i * 2).public_key(),
            validator_key: crate::PrivateKey::from_seed(i * 2 + 1).public_key(),
            p2p: format!("127.0.0.1:{}", 3000 + i).parse().unwrap(),
            api: None,
        }
    }

    #[test]
    fn toml_round_trip() {
        let genesis = Genesis {
            chain_id: "custodia-test".into(),
            genesis_time_ms: 1,
            params: Params::default(),
            members: (0..4).map(member).collect(),
        };
        let parsed = Genesis::from_toml(&genesis.to_toml()).unwrap();
        assert_eq!(parsed, genesis);
        assert_eq!(parsed.digest(), genesis.digest());
    }

    #[test]
    fn refuses_duplicates_and_bad_ids() {
        let mut genesis = Genesis {
            chain_id: "custodia-test".into(),
            genesis_time_ms: 1,
            params: Params::default(),
            members: vec![member(0), member(0)],
        };
        assert!(matches!(
            genesis.validate(),
            Err(GenesisError::DuplicateMember(_))
        ));
        genesis.members.pop();
        genesis.chain_id = "Bad Chain".into();
        assert!(matches!(
            genesis.validate(),
            Err(GenesisError::BadChainId(_))
        ));
    }
}
