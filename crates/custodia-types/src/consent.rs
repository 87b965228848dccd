//! What patients allow and what members ask: consent grants and the access
//! requests that become the audit trail. Pseudonyms and ids only, never
//! content.

use crate::{
    codec_util::{read_str, str_size, write_str},
    hexser,
    ids::tagged_enum,
    KeyId, LogicalId, OrgId, Pseudonym, PublicKey, ResourceType,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest break-glass reason kept on chain. It is free text typed by a
/// clinician in an emergency, so it must say why, not who: the node refuses
/// nothing on content but keeps it short.
pub const MAX_REASON_LEN: usize = 256;

tagged_enum! {
    /// Why data is being used (a subset of HL7 v3 PurposeOfUse).
    Purpose {
        Treatment = 0 => "treatment",
        Payment = 1 => "payment",
        Research = 2 => "research",
    }
}

tagged_enum! {
    /// What an access request does: read one resource (a version, the
    /// latest, or its history); search a patient's records; write (recorded
    /// when a write is refused, permitted writes are audited by the write
    /// itself); read the patient's audit trail.
    AccessAction {
        Read = 0 => "read",
        Search = 1 => "search",
        Write = 2 => "write",
        ReadAudit = 3 => "read_audit",
    }
}

/// Who a consent is given to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Grantee {
    /// Every agent of an organisation.
    Org { org: OrgId },
    /// One practitioner (a registered agent key).
    Agent {
        #[serde(with = "hexser")]
        key: PublicKey,
    },
}

/// A patient's consent, signed with the patient's own key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentGrant {
    pub grantee: Grantee,
    /// The resource types it covers; empty means all of them.
    #[serde(default)]
    pub scope: Vec<ResourceType>,
    pub purpose: Purpose,
    /// Valid from this time (ms since the epoch, block time) ...
    pub from_ms: u64,
    /// ... until this one, exclusive.
    pub until_ms: u64,
}

impl ConsentGrant {
    pub fn covers(&self, resource_type: ResourceType) -> bool {
        self.scope.is_empty() || self.scope.contains(&resource_type)
    }

    pub fn is_active_at(&self, time_ms: u64) -> bool {
        self.from_ms <= time_ms && time_ms < self.until_ms
    }
}

/// A member's node asks the chain, on behalf of one of its agents (or a
/// patient it serves), to access a patient's records. The chain decides
/// by policy and keeps the request and the decision as an audit event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    /// Who asked: an agent of the signing organisation, or a patient.
    #[serde(with = "hexser")]
    pub agent: KeyId,
    /// The patient whose compartment is asked about; `None` for a directory
    /// resource (in no patient's compartment), which `resource` then names.
    /// The state machine refuses a request that names neither.
    pub patient: Option<Pseudonym>,
    /// The resource, or none for a search over the patient's records.
    pub resource: Option<ResourceRef>,
    pub action: AccessAction,
    pub purpose: Purpose,
    /// A stated emergency reason: break-glass access, flagged to the patient.
    pub break_glass: Option<String>,
}

/// `Type/id` of a resource.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceRef {
    pub resource_type: ResourceType,
    pub id: LogicalId,
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.resource_type, self.id)
    }
}

impl Write for Grantee {
    fn write(&self, buf: &mut impl BufMut) {
        match self {
            Grantee::Org { org } => {
                0u8.write(buf);
                org.write(buf);
            }
            Grantee::Agent { key } => {
                1u8.write(buf);
                key.write(buf);
            }
        }
    }
}

impl EncodeSize for Grantee {
    fn encode_size(&self) -> usize {
        1 + match self {
            Grantee::Org { org } => org.encode_size(),
            Grantee::Agent { key } => key.encode_size(),
        }
    }
}

impl Read for Grantee {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        match u8::read(buf)? {
            0 => Ok(Grantee::Org {
                org: OrgId::read(buf)?,
            }),
            1 => Ok(Grantee::Agent {
                key: PublicKey::read(buf)?,
            }),
            other => Err(Error::InvalidEnum(other)),
        }
    }
}

impl Write for ConsentGrant {
    fn write(&self, buf: &mut impl BufMut) {
        self.grantee.write(buf);
        self.scope.write(buf);
        self.purpose.write(buf);
        self.from_ms.write(buf);
        self.until_ms.write(buf);
    }
}

impl EncodeSize for ConsentGrant {
    fn encode_size(&self) -> usize {
        self.grantee.encode_size()
            + self.scope.encode_size()
            + self.purpose.encode_size()
            + self.from_ms.encode_size()
            + self.until_ms.encode_size()
    }
}

impl Read for ConsentGrant {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let grantee = Grantee::read(buf)?;
        let scope_cfg = (RangeCfg::new(0..=ResourceType::ALL.len()), ());
        Ok(Self {
            grantee,
            scope: Vec::<ResourceType>::read_cfg(buf, &scope_cfg)?,
            purpose: Purpose::read(buf)?,
            from_ms: u64::read(buf)?,
            until_ms: u64::read(buf)?,
        })
    }
}

impl Write for ResourceRef {
    fn write(&self, buf: &mut impl BufMut) {
        self.resource_type.write(buf);
        self.id.write(buf);
    }
}

impl EncodeSize for ResourceRef {
    fn encode_size(&self) -> usize {
        self.resource_type.encode_size() + self.id.encode_size()
    }
}

impl Read for ResourceRef {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            resource_type: ResourceType::read(buf)?,
            id: LogicalId::read(buf)?,
        })
    }
}

impl Write for AccessRequest {
    fn write(&self, buf: &mut impl BufMut) {
        self.agent.write(buf);
        self.patient.write(buf);
        self.resource.write(buf);
        self.action.write(buf);
        self.purpose.write(buf);
        match &self.break_glass {
            None => false.write(buf),
            Some(reason) => {
                true.write(buf);
                write_str(reason, buf);
            }
        }
    }
}

impl EncodeSize for AccessRequest {
    fn encode_size(&self) -> usize {
        self.agent.encode_size()
            + self.patient.encode_size()
            + self.resource.encode_size()
            + self.action.encode_size()
            + self.purpose.encode_size()
            + 1
            + self.break_glass.as_deref().map_or(0, str_size)
    }
}

impl Read for AccessRequest {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            agent: KeyId::read(buf)?,
            patient: Option::<Pseudonym>::read(buf)?,
            resource: Option::<ResourceRef>::read(buf)?,
            action: AccessAction::read(buf)?,
            purpose: Purpose::read(buf)?,
            break_glass: if bool::read(buf)? {
                Some(read_str(buf, MAX_REASON_LEN)?)
            } else {
                None
            },
        })
    }
}
