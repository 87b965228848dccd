//! Typed transaction bodies of the core (identity, governance, clinical
//! records, consent, access) and the one body every plugged-in domain
//! travels in ([`DomainTx`]); tags are never reused.

use crate::{
    codec_util::{read_str, str_size, write_str},
    hexser,
    ids::tagged_enum,
    AccessRequest, ConsentGrant, Digest, DomainTx, KeyId, LogicalId, OrgId, OrgRole, Pseudonym,
    PublicKey, Purpose, RecordVersion, ResourceType,
};
use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};
use std::{fmt, net::SocketAddr};

/// Largest access policy (Cedar text) a `set_policy` proposal may carry.
pub const MAX_POLICY_BYTES: usize = 7 * 1024;
/// Largest payload a `Note` may carry.
pub const MAX_NOTE_BYTES: usize = 4096;
/// Most record versions one `WriteRecords` carries (a FHIR transaction
/// Bundle's entries): as many as fit in a transaction (`MAX_TX_BYTES`)
/// with the longest logical ids.
pub const MAX_BUNDLE_VERSIONS: usize = 32;
/// Most parts one staged write (`StageRecords` .. `CommitRecords`) is made
/// of: 256 parts of `MAX_BUNDLE_VERSIONS` versions, 8 192 versions (a FHIR
/// transaction Bundle of that many entries).
pub const MAX_STAGED_PARTS: u32 = 256;
/// Most actions one `Batch` carries. A batch is bounded by the transaction
/// size anyway (`MAX_TX_BYTES`); this bounds decoding before that.
pub const MAX_BATCH_ENTRIES: usize = 256;
const MAX_LABEL_LEN: usize = 64;
const MAX_NAME_LEN: usize = 128;

tagged_enum! {
    /// What an organisation's registered agent is.
    AgentKind {
        Clinician = 0 => "clinician",
        Device = 1 => "device",
        Service = 2 => "service",
    }
}

tagged_enum! {
    /// Chain parameters that governance may change. (The epoch length is
    /// fixed at genesis: consensus derives epochs from it. Tag 1 is retired.)
    Parameter {
        MaxBlockTxs = 0 => "max_block_txs",
        ProposalTtl = 2 => "proposal_ttl",
    }
}

/// The action a transaction asks the chain to take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    /// An opaque note, used to exercise the chain (tests, benchmarks).
    Note {
        #[serde(with = "note_hex")]
        data: Bytes,
    },
    /// An organisation registers one of its agents (signed by the org's admin key).
    RegisterAgent {
        #[serde(with = "hexser")]
        key: PublicKey,
        kind: AgentKind,
        label: String,
    },
    /// An organisation revokes one of its agents.
    RevokeAgent {
        #[serde(with = "hexser")]
        key: PublicKey,
    },
    /// A member proposes a governance change.
    Propose { proposal: Proposal },
    /// A member votes on an open proposal.
    Vote { proposal_id: u64, approve: bool },
    /// A custodian records a new version of a clinical resource (hashes
    /// only; the content is encrypted in the vaults).
    WriteRecord(RecordVersion),
    /// Several versions recorded together or not at all (a FHIR
    /// `transaction` Bundle): if any is refused, none is kept.
    WriteRecords { versions: Vec<RecordVersion> },
    /// A node asks, for one of its agents, to read the audit log across all
    /// patients (a regulator's oversight). Decided by policy; the query is
    /// itself an audit event.
    QueryAudit {
        #[serde(with = "hexser")]
        agent: KeyId,
        purpose: Purpose,
    },
    /// The custodian erases a resource: every version's keys and
    /// ciphertext are destroyed off chain; the chain keeps only hashes.
    EraseRecord {
        resource_type: ResourceType,
        id: LogicalId,
    },
    /// The custodian gives a patient a key of their own, so the patient can
    /// sign consents and read their records and audit trail.
    EnrolPatient {
        patient: Pseudonym,
        #[serde(with = "hexser")]
        key: PublicKey,
    },
    /// A patient (signing with their key) allows access to their records.
    GrantConsent(ConsentGrant),
    /// A patient withdraws a consent (named by the id of the granting tx).
    RevokeConsent {
        #[serde(with = "hexser")]
        consent: Digest,
    },
    /// A node asks, on behalf of an agent or patient, to access records;
    /// the chain decides by policy and keeps it as an audit event.
    Access(AccessRequest),
    /// An action of a plugged-in domain (supply, …), applied by the state
    /// module registered under its name.
    Domain(DomainTx),
    /// One part of a write too large for one transaction (a FHIR
    /// `transaction` Bundle of thousands of entries): the versions are kept
    /// aside, not applied, until `CommitRecords` names the same `bundle`.
    StageRecords {
        #[serde(with = "hexser")]
        bundle: Digest,
        part: u32,
        versions: Vec<RecordVersion>,
    },
    /// Apply every staged part `0..parts` of `bundle`, in order, all or
    /// nothing: if any version is refused, none is kept.
    CommitRecords {
        #[serde(with = "hexser")]
        bundle: Digest,
        parts: u32,
    },
    /// Delete the staged parts `0..parts` of `bundle` without applying
    /// them: a node cleans up after a commit the chain refused.
    DiscardStaged {
        #[serde(with = "hexser")]
        bundle: Digest,
        parts: u32,
    },
    /// Several independent actions under one signature and nonce: a node
    /// batches what its callers asked for at about the same time, so the
    /// consortium checks one signature, not one per action. Each entry is
    /// applied as if it were a transaction of its own, in order, with its
    /// own outcome (`Receipt::entries`) and its own id
    /// ([`crate::entry_id`]); a refused entry leaves the others standing.
    /// Entries are never batches themselves.
    Batch { entries: Vec<Body> },
}

/// A member organisation: as genesis.toml lists it, as the chain records
/// it (`gov/members`), and as a proposal to add one names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: OrgId,
    pub name: String,
    pub role: OrgRole,
    /// Signs the organisation's governance votes and agent registrations.
    #[serde(with = "hexser")]
    pub admin_key: PublicKey,
    /// Signs consensus messages for the organisation's validator.
    #[serde(with = "hexser")]
    pub validator_key: PublicKey,
    /// Where the validator's peer-to-peer endpoint listens.
    pub p2p: SocketAddr,
    /// Where the node's HTTP API listens: other members ask it for the
    /// keys of records it holds and push it replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<SocketAddr>,
}

/// A change to the consortium that needs more than two thirds of members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Proposal {
    /// Boxed: two decoded keys make it far larger than the others.
    AddMember(Box<Member>),
    RemoveMember {
        id: OrgId,
    },
    SetParameter {
        parameter: Parameter,
        value: u64,
    },
    /// Replace the Cedar policy that decides access to records.
    SetPolicy {
        policy: String,
    },
}

impl Body {
    /// A short name for logs and metrics; never includes content.
    /// A plugged-in domain's action is named by its domain.
    pub fn kind(&self) -> &str {
        match self {
            Body::Note { .. } => "note",
            Body::RegisterAgent { .. } => "register_agent",
            Body::RevokeAgent { .. } => "revoke_agent",
            Body::Propose { .. } => "propose",
            Body::Vote { .. } => "vote",
            Body::WriteRecord(_) => "write_record",
            Body::WriteRecords { .. } => "write_records",
            Body::QueryAudit { .. } => "query_audit",
            Body::EraseRecord { .. } => "erase_record",
            Body::EnrolPatient { .. } => "enrol_patient",
            Body::GrantConsent(_) => "grant_consent",
            Body::RevokeConsent { .. } => "revoke_consent",
            Body::Access(_) => "access",
            Body::Domain(tx) => tx.domain(),
            Body::StageRecords { .. } => "stage_records",
            Body::CommitRecords { .. } => "commit_records",
            Body::DiscardStaged { .. } => "discard_staged",
            Body::Batch { .. } => "batch",
        }
    }

    /// Governance bodies may only be signed by a member's admin key.
    pub fn is_governance(&self) -> bool {
        matches!(self, Body::Propose { .. } | Body::Vote { .. })
    }
}

impl Write for Body {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Body::Note { data } => {
                0u8.write(buf);
                data.write(buf);
            }
            Body::RegisterAgent { key, kind, label } => {
                1u8.write(buf);
                key.write(buf);
                kind.write(buf);
                write_str(label, buf);
            }
            Body::RevokeAgent { key } => {
                2u8.write(buf);
                key.write(buf);
            }
            Body::Propose { proposal } => {
                3u8.write(buf);
                proposal.write(buf);
            }
            Body::Vote {
                proposal_id,
                approve,
            } => {
                4u8.write(buf);
                proposal_id.write(buf);
                approve.write(buf);
            }
            Body::WriteRecord(record) => {
                5u8.write(buf);
                record.write(buf);
            }
            Body::EraseRecord { resource_type, id } => {
                6u8.write(buf);
                resource_type.write(buf);
                id.write(buf);
            }
            Body::EnrolPatient { patient, key } => {
                7u8.write(buf);
                patient.write(buf);
                key.write(buf);
            }
            Body::GrantConsent(grant) => {
                8u8.write(buf);
                grant.write(buf);
            }
            Body::RevokeConsent { consent } => {
                9u8.write(buf);
                consent.write(buf);
            }
            Body::Access(request) => {
                10u8.write(buf);
                request.write(buf);
            }
            Body::WriteRecords { versions } => {
                11u8.write(buf);
                versions.write(buf);
            }
            Body::QueryAudit { agent, purpose } => {
                12u8.write(buf);
                agent.write(buf);
                purpose.write(buf);
            }
            Body::Domain(tx) => {
                13u8.write(buf);
                tx.write(buf);
            }
            Body::StageRecords {
                bundle,
                part,
                versions,
            } => {
                15u8.write(buf);
                bundle.write(buf);
                part.write(buf);
                versions.write(buf);
            }
            Body::CommitRecords { bundle, parts } => {
                16u8.write(buf);
                bundle.write(buf);
                parts.write(buf);
            }
            Body::DiscardStaged { bundle, parts } => {
                17u8.write(buf);
                bundle.write(buf);
                parts.write(buf);
            }
            Body::Batch { entries } => {
                14u8.write(buf);
                (entries.len() as u16).write(buf);
                for entry in entries {
                    entry.write(buf);
                }
            }
        }
    }
}

impl EncodeSize for Body {
    fn encode_size(&self) -> usize {
        1 + match self {
            Body::Note { data } => data.encode_size(),
            Body::RegisterAgent { key, kind, label } => {
                key.encode_size() + kind.encode_size() + str_size(label)
            }
            Body::RevokeAgent { key } => key.encode_size(),
            Body::Propose { proposal } => proposal.encode_size(),
            Body::Vote {
                proposal_id,
                approve,
            } => proposal_id.encode_size() + approve.encode_size(),
            Body::WriteRecord(record) => record.encode_size(),
            Body::EraseRecord { resource_type, id } => {
                resource_type.encode_size() + id.encode_size()
            }
            Body::EnrolPatient { patient, key } => patient.encode_size() + key.encode_size(),
            Body::GrantConsent(grant) => grant.encode_size(),
            Body::RevokeConsent { consent } => consent.encode_size(),
            Body::Access(request) => request.encode_size(),
            Body::WriteRecords { versions } => versions.encode_size(),
            Body::QueryAudit { agent, purpose } => agent.encode_size() + purpose.encode_size(),
            Body::Domain(tx) => tx.encode_size(),
            Body::StageRecords {
                bundle,
                part,
                versions,
            } => bundle.encode_size() + part.encode_size() + versions.encode_size(),
            Body::CommitRecords { bundle, parts } | Body::DiscardStaged { bundle, parts } => {
                bundle.encode_size() + parts.encode_size()
            }
            Body::Batch { entries } => {
                2 + entries.iter().map(EncodeSize::encode_size).sum::<usize>()
            }
        }
    }
}

impl Read for Body {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        read_body(buf, true)
    }
}

/// One body; a batch only at the top (`may_batch`), never inside another.
fn read_body(buf: &mut impl Buf, may_batch: bool) -> Result<Body, Error> {
    Ok(match u8::read(buf)? {
        0 => Body::Note {
            data: Bytes::read_cfg(buf, &RangeCfg::new(0..=MAX_NOTE_BYTES))?,
        },
        1 => Body::RegisterAgent {
            key: PublicKey::read(buf)?,
            kind: AgentKind::read(buf)?,
            label: read_str(buf, MAX_LABEL_LEN)?,
        },
        2 => Body::RevokeAgent {
            key: PublicKey::read(buf)?,
        },
        3 => Body::Propose {
            proposal: Proposal::read(buf)?,
        },
        4 => Body::Vote {
            proposal_id: u64::read(buf)?,
            approve: bool::read(buf)?,
        },
        5 => Body::WriteRecord(RecordVersion::read(buf)?),
        6 => Body::EraseRecord {
            resource_type: ResourceType::read(buf)?,
            id: LogicalId::read(buf)?,
        },
        7 => Body::EnrolPatient {
            patient: Pseudonym::read(buf)?,
            key: PublicKey::read(buf)?,
        },
        8 => Body::GrantConsent(ConsentGrant::read(buf)?),
        9 => Body::RevokeConsent {
            consent: Digest::read(buf)?,
        },
        10 => Body::Access(AccessRequest::read(buf)?),
        11 => Body::WriteRecords {
            versions: Vec::<RecordVersion>::read_cfg(
                buf,
                &(RangeCfg::new(1..=MAX_BUNDLE_VERSIONS), ()),
            )?,
        },
        12 => Body::QueryAudit {
            agent: KeyId::read(buf)?,
            purpose: Purpose::read(buf)?,
        },
        13 => Body::Domain(DomainTx::read(buf)?),
        15 => {
            let bundle = Digest::read(buf)?;
            let part = u32::read(buf)?;
            if part >= MAX_STAGED_PARTS {
                return Err(Error::Invalid("Body::StageRecords", "part out of range"));
            }
            let versions =
                Vec::<RecordVersion>::read_cfg(buf, &(RangeCfg::new(1..=MAX_BUNDLE_VERSIONS), ()))?;
            Body::StageRecords {
                bundle,
                part,
                versions,
            }
        }
        16 => {
            let bundle = Digest::read(buf)?;
            let parts = u32::read(buf)?;
            if !(1..=MAX_STAGED_PARTS).contains(&parts) {
                return Err(Error::Invalid(
                    "Body::CommitRecords",
                    "part count out of range",
                ));
            }
            Body::CommitRecords { bundle, parts }
        }
        17 => {
            let bundle = Digest::read(buf)?;
            let parts = u32::read(buf)?;
            if !(1..=MAX_STAGED_PARTS).contains(&parts) {
                return Err(Error::Invalid(
                    "Body::DiscardStaged",
                    "part count out of range",
                ));
            }
            Body::DiscardStaged { bundle, parts }
        }
        14 if may_batch => {
            let count = u16::read(buf)? as usize;
            if !(1..=MAX_BATCH_ENTRIES).contains(&count) {
                return Err(Error::Invalid("Body::Batch", "entry count out of range"));
            }
            let entries = (0..count)
                .map(|_| read_body(buf, false))
                .collect::<Result<_, _>>()?;
            Body::Batch { entries }
        }
        other => return Err(Error::InvalidEnum(other)),
    })
}

impl Write for Member {
    fn write(&self, buf: &mut impl BufMut) {
        self.id.write(buf);
        write_str(&self.name, buf);
        self.role.write(buf);
        self.admin_key.write(buf);
        self.validator_key.write(buf);
        self.p2p.write(buf);
        self.api.write(buf);
    }
}

impl EncodeSize for Member {
    fn encode_size(&self) -> usize {
        self.id.encode_size()
            + str_size(&self.name)
            + self.role.encode_size()
            + self.admin_key.encode_size()
            + self.validator_key.encode_size()
            + self.p2p.encode_size()
            + self.api.encode_size()
    }
}

impl Read for Member {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Member {
            id: OrgId::read(buf)?,
            name: read_str(buf, MAX_NAME_LEN)?,
            role: OrgRole::read(buf)?,
            admin_key: PublicKey::read(buf)?,
            validator_key: PublicKey::read(buf)?,
            p2p: SocketAddr::read(buf)?,
            api: Option::<SocketAddr>::read(buf)?,
        })
    }
}

impl Write for Proposal {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Proposal::AddMember(member) => {
                0u8.write(buf);
                member.write(buf);
            }
            Proposal::RemoveMember { id } => {
                1u8.write(buf);
                id.write(buf);
            }
            Proposal::SetParameter { parameter, value } => {
                2u8.write(buf);
                parameter.write(buf);
                value.write(buf);
            }
            Proposal::SetPolicy { policy } => {
                3u8.write(buf);
                write_str(policy, buf);
            }
        }
    }
}

impl EncodeSize for Proposal {
    fn encode_size(&self) -> usize {
        1 + match self {
            Proposal::AddMember(member) => member.encode_size(),
            Proposal::RemoveMember { id } => id.encode_size(),
            Proposal::SetParameter { parameter, value } => {
                parameter.encode_size() + value.encode_size()
            }
            Proposal::SetPolicy { policy } => str_size(policy),
        }
    }
}

impl Read for Proposal {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Proposal::AddMember(Box::new(Member::read(buf)?)),
            1 => Proposal::RemoveMember {
                id: OrgId::read(buf)?,
            },
            2 => Proposal::SetParameter {
                parameter: Parameter::read(buf)?,
                value: u64::read(buf)?,
            },
            3 => Proposal::SetPolicy {
                policy: read_str(buf, MAX_POLICY_BYTES)?,
            },
            other => return Err(Error::InvalidEnum(other)),
        })
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proposal::AddMember(member) => {
                write!(f, "add member {} ({})", member.id, member.role)
            }
            Proposal::RemoveMember { id } => write!(f, "remove member {id}"),
            Proposal::SetParameter { parameter, value } => write!(f, "set {parameter} = {value}"),
            Proposal::SetPolicy { policy } => {
                write!(f, "replace the access policy ({} bytes)", policy.len())
            }
        }
    }
}

/// Notes travel as hex in JSON so arbitrary bytes survive.
mod note_hex {
    use bytes::Bytes;
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(data))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map(Bytes::from).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode as _};
    use commonware_cryptography::Signer as _;

    /// The proposal to add a member keeps its flat JSON (what `custodia tx
    /// --body` takes) and its wire encoding, boxed or not.
    #[test]
    fn a_member_proposal_reads_as_flat_json_and_round_trips_on_the_wire() {
        let admin = crate::PrivateKey::from_seed(1).public_key();
        let validator = crate::PrivateKey::from_seed(2).public_key();
        let json = serde_json::json!({
            "kind": "add_member",
            "id": "newcomer",
            "name": "Newcomer Clinic",
            "role": "provider",
            "admin_key": hex::encode(&admin),
            "validator_key": hex::encode(&validator),
            "p2p": "127.0.0.1:31004",
        });
        let proposal: Proposal = serde_json::from_value(json.clone()).unwrap();
        let Proposal::AddMember(member) = &proposal else {
            panic!("{proposal:?}")
        };
        assert_eq!(member.id.as_str(), "newcomer");
        assert_eq!(member.validator_key, validator);
        assert_eq!(serde_json::to_value(&proposal).unwrap(), json);
        let bytes = proposal.encode();
        assert_eq!(bytes.len(), proposal.encode_size());
        assert_eq!(Proposal::decode(bytes).unwrap(), proposal);
        // A member joining later names its API address too.
        let mut with_api = json;
        with_api["api"] = serde_json::json!("127.0.0.1:8404");
        let proposal: Proposal = serde_json::from_value(with_api.clone()).unwrap();
        let Proposal::AddMember(member) = &proposal else {
            panic!("{proposal:?}")
        };
        assert_eq!(member.api, Some("127.0.0.1:8404".parse().unwrap()));
        assert_eq!(serde_json::to_value(&proposal).unwrap(), with_api);
        assert_eq!(Proposal::decode(proposal.encode()).unwrap(), proposal);
    }
}
