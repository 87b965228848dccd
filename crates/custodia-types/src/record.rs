//! What the chain knows of a clinical record version: who it is about (a
//! pseudonym), what kind of FHIR resource it is, and hashes of its encrypted
//! and plain forms. Never the content itself.

use crate::{
    codec_util::{read_str, str_size, write_str},
    hexser, Digest, KeyId, ResourceType,
};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, FixedSize, Read, ReadExt, Write};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A patient's pseudonymous id: 32 random bytes chosen by the custodian
/// when the patient is first recorded. On chain and in FHIR (as the
/// Patient's logical id, in hex) it names the patient without saying who
/// they are.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pseudonym([u8; 32]);

impl Pseudonym {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh pseudonym from the operating system's randomness.
    pub fn random() -> Self {
        use rand::RngExt as _;
        Self(rand::rng().random())
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pseudonym({self})")
    }
}

impl std::str::FromStr for Pseudonym {
    type Err = RecordIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex::decode(s)
            .ok()
            .and_then(|b| b.try_into().ok())
            .map(Self)
            .ok_or_else(|| RecordIdError::BadPseudonym(s.chars().take(80).collect()))
    }
}

impl TryFrom<String> for Pseudonym {
    type Error = RecordIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Pseudonym> for String {
    fn from(p: Pseudonym) -> Self {
        p.to_hex()
    }
}

impl Write for Pseudonym {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for Pseudonym {
    const SIZE: usize = 32;
}

impl Read for Pseudonym {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self(<[u8; 32]>::read(buf)?))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordIdError {
    #[error("{0:?} is not a patient pseudonym (64 hex digits)")]
    BadPseudonym(String),
    #[error("{0:?} is not a FHIR id: 1-64 characters of A-Z, a-z, 0-9, '-' and '.'")]
    BadLogicalId(String),
}

/// A FHIR logical id (`[A-Za-z0-9\-\.]{1,64}`), as the spec defines it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogicalId(String);

impl LogicalId {
    pub const MAX_LEN: usize = 64;

    pub fn new(id: impl Into<String>) -> Result<Self, RecordIdError> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if valid {
            Ok(Self(id))
        } else {
            Err(RecordIdError::BadLogicalId(id.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LogicalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LogicalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogicalId({})", self.0)
    }
}

impl TryFrom<String> for LogicalId {
    type Error = RecordIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<LogicalId> for String {
    fn from(id: LogicalId) -> Self {
        id.0
    }
}

impl Write for LogicalId {
    fn write(&self, buf: &mut impl BufMut) {
        write_str(&self.0, buf);
    }
}

impl EncodeSize for LogicalId {
    fn encode_size(&self) -> usize {
        str_size(&self.0)
    }
}

impl Read for LogicalId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Self::new(read_str(buf, Self::MAX_LEN)?)
            .map_err(|_| Error::Invalid("LogicalId", "not a FHIR id"))
    }
}

/// One version of one resource, as the chain records it. The content is
/// encrypted in the members' vaults under `ciphertext`; `commitment` is the
/// SHA-256 of a secret salt and the plaintext, so whoever can decrypt can
/// prove the content is what was recorded, and nobody else learns anything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordVersion {
    /// The patient whose record it is; `None` for directory data (a
    /// resource in no patient's compartment: Practitioner, Organization,
    /// Location...). The node decides which from the resource, by R4's
    /// Patient compartment; the state machine checks that a Patient names
    /// itself.
    pub patient: Option<Pseudonym>,
    pub resource_type: ResourceType,
    pub id: LogicalId,
    /// 1 for a new resource, then one more than the version it replaces.
    pub version: u64,
    #[serde(with = "hexser")]
    pub ciphertext: Digest,
    #[serde(with = "hexser")]
    pub commitment: Digest,
    /// Plaintext length in bytes (for streaming and quotas; not secret).
    pub size: u64,
    /// When the author says the version was made (FHIR `meta.lastUpdated`).
    pub time_ms: u64,
    /// The agent who wrote it: the signer, or, when a node signs for one of
    /// its organisation's agents, that agent.
    #[serde(with = "hexser")]
    pub author: KeyId,
}

impl Write for RecordVersion {
    fn write(&self, buf: &mut impl BufMut) {
        self.patient.write(buf);
        self.resource_type.write(buf);
        self.id.write(buf);
        self.version.write(buf);
        self.ciphertext.write(buf);
        self.commitment.write(buf);
        self.size.write(buf);
        self.time_ms.write(buf);
        self.author.write(buf);
    }
}

impl EncodeSize for RecordVersion {
    fn encode_size(&self) -> usize {
        self.patient.encode_size()
            + self.resource_type.encode_size()
            + self.id.encode_size()
            + self.version.encode_size()
            + self.ciphertext.encode_size()
            + self.commitment.encode_size()
            + self.size.encode_size()
            + self.time_ms.encode_size()
            + self.author.encode_size()
    }
}

impl Read for RecordVersion {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(Self {
            patient: Option::<Pseudonym>::read(buf)?,
            resource_type: ResourceType::read(buf)?,
            id: LogicalId::read(buf)?,
            version: u64::read(buf)?,
            ciphertext: Digest::read(buf)?,
            commitment: Digest::read(buf)?,
            size: u64::read(buf)?,
            time_ms: u64::read(buf)?,
            author: KeyId::read(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;
    use commonware_codec::{DecodeExt as _, Encode as _};

    fn version() -> RecordVersion {
        RecordVersion {
            patient: Some(Pseudonym::new([7; 32])),
            resource_type: ResourceType::MedicationRequest,
            id: LogicalId::new("rx-1.a").unwrap(),
            version: 2,
            ciphertext: crate::sha256(&[b"ciphertext"]),
            commitment: crate::sha256(&[b"salt", b"plaintext"]),
            size: 1234,
            time_ms: 1_800_000_000_000,
            author: {
                use commonware_cryptography::Signer as _;
                crate::PrivateKey::from_seed(1).public_key().into()
            },
        }
    }

    #[test]
    fn record_bodies_round_trip_in_binary_and_json() {
        for body in [
            Body::WriteRecord(version()),
            Body::EraseRecord {
                resource_type: ResourceType::Patient,
                id: LogicalId::new("p").unwrap(),
            },
            Body::WriteRecords {
                versions: vec![
                    version(),
                    RecordVersion {
                        patient: None,
                        resource_type: ResourceType::Organization,
                        ..version()
                    },
                ],
            },
            Body::QueryAudit {
                agent: version().author,
                purpose: crate::Purpose::Payment,
            },
            Body::StageRecords {
                bundle: crate::sha256(&[b"bundle"]),
                part: 3,
                versions: vec![version(); 2],
            },
            Body::CommitRecords {
                bundle: crate::sha256(&[b"bundle"]),
                parts: 4,
            },
            Body::DiscardStaged {
                bundle: crate::sha256(&[b"bundle"]),
                parts: 4,
            },
        ] {
            assert_eq!(Body::decode(body.encode()).unwrap(), body);
            let json = serde_json::to_string(&body).unwrap();
            assert_eq!(serde_json::from_str::<Body>(&json).unwrap(), body);
        }
        let json = serde_json::to_value(Body::WriteRecord(version())).unwrap();
        assert_eq!(json["type"], "write_record");
        assert_eq!(json["resource_type"], "MedicationRequest");
        assert_eq!(json["patient"], "07".repeat(32));
    }

    #[test]
    fn a_bundle_holds_one_to_max_versions() {
        let empty = Body::WriteRecords { versions: vec![] };
        assert!(Body::decode(empty.encode()).is_err());
        let full = Body::WriteRecords {
            versions: vec![version(); crate::MAX_BUNDLE_VERSIONS + 1],
        };
        assert!(Body::decode(full.encode()).is_err());
        let bundle = crate::sha256(&[b"bundle"]);
        let past_last_part = Body::StageRecords {
            bundle,
            part: crate::MAX_STAGED_PARTS,
            versions: vec![version()],
        };
        assert!(Body::decode(past_last_part.encode()).is_err());
        for parts in [0, crate::MAX_STAGED_PARTS + 1] {
            let commit = Body::CommitRecords { bundle, parts };
            assert!(Body::decode(commit.encode()).is_err(), "{parts}");
            let discard = Body::DiscardStaged { bundle, parts };
            assert!(Body::decode(discard.encode()).is_err(), "{parts}");
        }
    }

    #[test]
    fn a_batch_round_trips_and_never_nests() {
        let batch = Body::Batch {
            entries: vec![
                Body::WriteRecord(version()),
                Body::WriteRecords {
                    versions: vec![version()],
                },
            ],
        };
        assert_eq!(Body::decode(batch.encode()).unwrap(), batch);
        let json = serde_json::to_string(&batch).unwrap();
        assert_eq!(serde_json::from_str::<Body>(&json).unwrap(), batch);
        assert_eq!(batch.encode().len(), batch.encode_size());

        let nested = Body::Batch {
            entries: vec![batch.clone()],
        };
        assert!(Body::decode(nested.encode()).is_err());
        let empty = Body::Batch { entries: vec![] };
        assert!(Body::decode(empty.encode()).is_err());
    }

    #[test]
    fn a_full_bundle_with_the_longest_ids_fits_in_a_transaction() {
        use commonware_cryptography::Signer as _;
        let key = crate::PrivateKey::from_seed(3);
        let longest = RecordVersion {
            id: LogicalId::new("a".repeat(LogicalId::MAX_LEN)).unwrap(),
            version: u64::MAX,
            size: u64::MAX,
            time_ms: u64::MAX,
            ..version()
        };
        let tx = crate::TxPayload {
            chain_id: "c".repeat(64),
            signer: key.public_key(),
            nonce: u64::MAX,
            body: Body::WriteRecords {
                versions: vec![longest; crate::MAX_BUNDLE_VERSIONS],
            },
        }
        .sign(&key);
        assert!(tx.to_bytes().len() <= crate::MAX_TX_BYTES);
    }

    #[test]
    fn consent_and_access_bodies_round_trip() {
        use crate::{AccessAction, AccessRequest, ConsentGrant, Grantee, Purpose, ResourceRef};
        let key = {
            use commonware_cryptography::Signer as _;
            crate::PrivateKey::from_seed(1).public_key()
        };
        let agent = version().author;
        for body in [
            Body::EnrolPatient {
                patient: Pseudonym::new([1; 32]),
                key: key.clone(),
            },
            Body::GrantConsent(ConsentGrant {
                grantee: Grantee::Org {
                    org: crate::OrgId::new("st-mary").unwrap(),
                },
                scope: vec![ResourceType::Observation, ResourceType::Condition],
                purpose: Purpose::Treatment,
                from_ms: 1,
                until_ms: 2,
            }),
            Body::GrantConsent(ConsentGrant {
                grantee: Grantee::Agent { key },
                scope: vec![],
                purpose: Purpose::Research,
                from_ms: 0,
                until_ms: u64::MAX,
            }),
            Body::RevokeConsent {
                consent: crate::sha256(&[b"grant"]),
            },
            Body::Access(AccessRequest {
                agent,
                patient: Some(Pseudonym::new([2; 32])),
                resource: Some(ResourceRef {
                    resource_type: ResourceType::Observation,
                    id: LogicalId::new("obs-1").unwrap(),
                }),
                action: AccessAction::Read,
                purpose: Purpose::Treatment,
                break_glass: Some("unconscious in the emergency department".into()),
            }),
            Body::Access(AccessRequest {
                agent,
                patient: None,
                resource: Some(ResourceRef {
                    resource_type: ResourceType::Practitioner,
                    id: LogicalId::new("dr-osler").unwrap(),
                }),
                action: AccessAction::Read,
                purpose: Purpose::Treatment,
                break_glass: None,
            }),
            Body::Access(AccessRequest {
                agent,
                patient: Some(Pseudonym::new([2; 32])),
                resource: None,
                action: AccessAction::Search,
                purpose: Purpose::Payment,
                break_glass: None,
            }),
        ] {
            assert_eq!(Body::decode(body.encode()).unwrap(), body);
            let json = serde_json::to_string(&body).unwrap();
            assert_eq!(serde_json::from_str::<Body>(&json).unwrap(), body, "{json}");
        }
    }

    #[test]
    fn ids_follow_the_fhir_rules() {
        assert!(LogicalId::new("a-Z.9").is_ok());
        assert!(LogicalId::new("x".repeat(64)).is_ok());
        for bad in ["", "has space", "slash/", "é", &"x".repeat(65)] {
            assert!(LogicalId::new(bad).is_err(), "{bad:?}");
        }
        assert!("ab".parse::<Pseudonym>().is_err());
        let p = Pseudonym::random();
        assert_eq!(p.to_hex().parse::<Pseudonym>().unwrap(), p);
        assert_eq!("ImagingStudy".parse(), Ok(ResourceType::ImagingStudy));
        // Every R4 type.
        assert_eq!(ResourceType::ALL.len(), 146);
        assert_eq!("Practitioner".parse(), Ok(ResourceType::Practitioner));
        assert_eq!("imagingstudy".parse::<ResourceType>(), Err(()));
    }

    #[test]
    fn a_bad_logical_id_is_refused_when_decoding() {
        let mut bytes = Body::EraseRecord {
            resource_type: ResourceType::Patient,
            id: LogicalId::new("ok").unwrap(),
        }
        .encode()
        .to_vec();
        let last = bytes.len() - 1;
        bytes[last] = b'/';
        assert!(Body::decode(bytes::Bytes::from(bytes)).is_err());
    }
}
