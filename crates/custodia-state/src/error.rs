//! Why a transaction was refused. Each message tells a person what to fix.

use custodia_types::OrgId;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("wrong chain id: this chain is {expected:?}, the transaction names {got:?}")]
    WrongChainId { expected: String, got: String },
    #[error("signature does not match the signer key and payload")]
    BadSignature,
    #[error("a batch's entries may not be batches themselves")]
    NestedBatch,
    #[error("signer {0} is not a registered member admin or agent of this chain")]
    UnknownSigner(String),
    #[error("signer {0} was revoked by its organisation")]
    RevokedSigner(String),
    #[error("nonce {got} was already used by this signer; the next nonce is {expected}")]
    NonceReplayed { expected: u64, got: u64 },
    #[error("nonce {got} is ahead of this signer's next nonce {expected}")]
    NonceGap { expected: u64, got: u64 },
    #[error("only a member organisation's admin key may {0}")]
    NotMemberAdmin(&'static str),
    #[error("agent {0} is already registered")]
    AgentExists(String),
    #[error("agent {0} is not registered to the signing organisation")]
    AgentNotOwned(String),
    #[error("governance proposal {0} does not exist")]
    UnknownProposal(u64),
    #[error("governance proposal {id} is already {status}")]
    ProposalClosed { id: u64, status: String },
    #[error("organisation {0} has already voted on proposal {1}")]
    AlreadyVoted(OrgId, u64),
    #[error("organisation {0} is already a member")]
    MemberExists(OrgId),
    #[error("organisation {0} is not a member")]
    UnknownMember(OrgId),
    #[error("key {0} is already in use by a member or agent")]
    KeyInUse(String),
    #[error("removing {0} would leave fewer than 1 member")]
    LastMember(OrgId),
    #[error("{0}")]
    NotRecordAuthor(&'static str),
    #[error("no record {0} on this chain")]
    UnknownRecord(String),
    #[error("record {0} already exists; write version 2 or later to change it")]
    RecordExists(String),
    #[error("record {0} was erased and can take no further versions")]
    RecordErased(String),
    #[error("record {record} is held by {custodian}; only its custodian may change it")]
    NotCustodian { record: String, custodian: OrgId },
    #[error("record {record}: expected version {expected}, got {got} (someone else wrote first, or a version was skipped)")]
    VersionConflict {
        record: String,
        expected: u64,
        got: u64,
    },
    #[error("no patient {0} on this chain; write the Patient resource first")]
    UnknownPatient(String),
    #[error("record {0}: a Patient's id is its pseudonym, and a record's patient cannot change")]
    PatientIdMismatch(String),
    #[error("part {0} of this staged write is already staged")]
    StagedPartExists(u32),
    #[error("part {0} of this staged write was never staged; stage every part before the commit")]
    StagedPartMissing(u32),
    #[error("an access names a patient's compartment, a directory resource, or both")]
    AccessNamesNothing,
    #[error("{0}")]
    NotAllowed(&'static str),
    #[error("a consent's period must end after it starts")]
    EmptyConsentPeriod,
    #[error("no consent {0} by this patient")]
    UnknownConsent(String),
    #[error("consent {0} is already revoked")]
    ConsentRevoked(String),
    #[error("{0}")]
    BadPolicy(String),
    #[error(
        "this chain runs no domain {0:?}: the action names a domain none of its nodes \
         applies (a client built for another chain?)"
    )]
    UnknownDomain(String),
    /// A plugged-in domain's rule refused the action.
    #[error("{0}")]
    Domain(crate::DomainError),
    /// Applying it would store a value the state store cannot hold.
    #[error(
        "applying it would make state record {key} {size} bytes, more than the {max} one \
         record may hold; nothing was changed"
    )]
    ValueTooLarge {
        key: String,
        size: usize,
        max: usize,
    },
    #[error("parameter {name} must be at least {min}, got {value}")]
    BadParameter {
        name: &'static str,
        min: u64,
        value: u64,
    },
}
