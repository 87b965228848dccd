//! Behaviour of the state machine as a whole: the rules every node enforces.

mod common;

use common::*;
use commonware_cryptography::Signer as _;
use custodia_state::{
    keys,
    records::{self, Principal, ProposalRecord, ProposalStatus, Validators},
    StateRead, TxStatus,
};
use custodia_types::{AgentKind, Body, OrgId, OrgRole, Params, PrivateKey, Proposal, TxPayload};

#[test]
fn member_admin_can_write_notes_in_nonce_order() {
    let mut chain = Chain::new(4, Params::default());
    let key = chain.admins[0].clone();
    let first = sign(&key, 0, note("one"));
    let second = sign(&key, 1, note("two"));
    let statuses = chain.block(vec![first.clone(), second.clone()]);
    assert_eq!(statuses, vec![TxStatus::Applied, TxStatus::Applied]);
    assert_eq!(chain.state.get(&keys::note(&second.id())).unwrap(), b"two");
    assert_eq!(chain.nonce(&key), 2);
}

#[test]
fn unknown_signer_replay_and_gap_are_rejected() {
    let mut chain = Chain::new(4, Params::default());
    let key = chain.admins[1].clone();
    let stranger = PrivateKey::from_seed(999);
    let statuses = chain.block(vec![
        sign(&stranger, 0, note("x")),
        sign(&key, 5, note("gap")),
        sign(&key, 0, note("ok")),
    ]);
    assert!(rejected(&statuses[0], "not a registered"));
    assert!(rejected(
        &statuses[1],
        "ahead of this signer's next nonce 0"
    ));
    assert_eq!(statuses[2], TxStatus::Applied);

    // Same nonce, different body: a replayed nonce.
    let statuses = chain.block(vec![sign(&key, 0, note("again"))]);
    assert!(rejected(&statuses[0], "already used"));
    assert_eq!(chain.nonce(&key), 1);
}

#[test]
fn the_same_transaction_twice_keeps_its_first_receipt() {
    let mut chain = Chain::new(1, Params::default());
    let tx = chain.tx(&chain.admins[0].clone(), note("once"));
    assert_eq!(chain.block(vec![tx.clone()]), vec![TxStatus::Applied]);
    assert_eq!(chain.block(vec![tx.clone()]), vec![]);
    let receipt: custodia_state::Receipt =
        records::read(&chain.state, &keys::receipt(&tx.id())).unwrap();
    assert_eq!(receipt.height, 1);
    assert_eq!(receipt.status, TxStatus::Applied);
}

#[test]
fn agents_are_registered_used_and_revoked_by_their_org() {
    let mut chain = Chain::new(4, Params::default());
    let org0 = chain.admins[0].clone();
    let org1 = chain.admins[1].clone();
    let agent = PrivateKey::from_seed(7);
    let register = Body::RegisterAgent {
        key: agent.public_key(),
        kind: AgentKind::Clinician,
        label: "ward 3".into(),
    };
    assert_eq!(
        chain.block(vec![chain.tx(&org0, register.clone())]),
        vec![TxStatus::Applied]
    );
    let principal: Principal =
        records::read(&chain.state, &keys::principal(&agent.public_key())).unwrap();
    assert_eq!(principal.org().map(OrgId::as_str), Some("org-0"));

    // Registering the same key twice, or by another org, fails.
    let statuses = chain.block(vec![chain.tx(&org1, register)]);
    assert!(rejected(&statuses[0], "already registered"));

    assert_eq!(
        chain.block(vec![chain.tx(&agent, note("by agent"))]),
        vec![TxStatus::Applied]
    );

    // Agents cannot register agents; other orgs cannot revoke them.
    let other = PrivateKey::from_seed(8);
    let statuses = chain.block(vec![chain.tx(
        &agent,
        Body::RegisterAgent {
            key: other.public_key(),
            kind: AgentKind::Device,
            label: "x".into(),
        },
    )]);
    assert!(rejected(&statuses[0], "admin key"));
    let statuses = chain.block(vec![chain.tx(
        &org1,
        Body::RevokeAgent {
            key: agent.public_key(),
        },
    )]);
    assert!(rejected(
        &statuses[0],
        "not registered to the signing organisation"
    ));

    let statuses = chain.block(vec![chain.tx(
        &org0,
        Body::RevokeAgent {
            key: agent.public_key(),
        },
    )]);
    assert_eq!(statuses, vec![TxStatus::Applied]);
    let statuses = chain.block(vec![chain.tx(&agent, note("after revoke"))]);
    assert!(rejected(&statuses[0], "revoked"));
}

#[test]
fn agents_cannot_vote_or_propose() {
    let mut chain = Chain::new(4, Params::default());
    let agent = PrivateKey::from_seed(7);
    chain.block(vec![chain.register_agent(
        0,
        &agent.public_key(),
        AgentKind::Service,
        "svc",
    )]);
    let propose = Body::Propose {
        proposal: Proposal::SetParameter {
            parameter: custodia_types::Parameter::MaxBlockTxs,
            value: 10,
        },
    };
    let statuses = chain.block(vec![
        chain.tx(&agent, propose),
        sign(
            &agent,
            1,
            Body::Vote {
                proposal_id: 0,
                approve: true,
            },
        ),
    ]);
    assert!(rejected(&statuses[0], "make governance proposals"));
    assert!(rejected(&statuses[1], "vote on governance proposals"));
    // The mempool refuses the same before it reaches a block.
    let vote = chain.tx(
        &agent,
        Body::Vote {
            proposal_id: 0,
            approve: true,
        },
    );
    assert!(chain
        .machine
        .check_admission(&chain.state, &vote, None)
        .is_err());
}

fn proposal(chain: &Chain, id: u64) -> ProposalRecord {
    records::read(&chain.state, &keys::proposal(id)).unwrap()
}

#[test]
fn adding_a_member_needs_more_than_two_thirds_and_changes_validators_at_the_epoch() {
    let params = Params {
        epoch_length: 10,
        ..Params::default()
    };
    let mut chain = Chain::new(4, params);
    let admins = chain.admins.clone();
    let newcomer = member(4);
    let add = Body::Propose {
        proposal: Proposal::AddMember(Box::new(custodia_types::Member {
            role: OrgRole::Pharmacy,
            ..newcomer.clone()
        })),
    };
    assert_eq!(
        chain.block(vec![chain.tx(&admins[0], add)]),
        vec![TxStatus::Applied]
    );
    assert_eq!(proposal(&chain, 0).status, ProposalStatus::Open);

    // 2 of 4 is not enough.
    chain.block(vec![chain.tx(
        &admins[1],
        Body::Vote {
            proposal_id: 0,
            approve: true,
        },
    )]);
    assert_eq!(proposal(&chain, 0).status, ProposalStatus::Open);
    assert!(
        records::read::<Principal>(&chain.state, &keys::principal(&admin(4).public_key()))
            .is_none()
    );

    // Voting twice is refused.
    let statuses = chain.block(vec![chain.tx(
        &admins[1],
        Body::Vote {
            proposal_id: 0,
            approve: true,
        },
    )]);
    assert!(rejected(&statuses[0], "already voted"));

    // 3 of 4 passes: the member exists now, its validator joins next epoch.
    chain.block(vec![chain.tx(
        &admins[2],
        Body::Vote {
            proposal_id: 0,
            approve: true,
        },
    )]);
    assert_eq!(proposal(&chain, 0).status, ProposalStatus::Passed);
    assert_eq!(records::members(&chain.state).len(), 5);
    let validators: Validators = records::read(&chain.state, keys::VALIDATORS).unwrap();
    assert_eq!(
        (
            validators.epoch,
            validators.current.len(),
            validators.next.len()
        ),
        (0, 4, 5)
    );

    // The new member can act at once.
    let statuses = chain.block(vec![chain.tx(&admin(4), note("hello"))]);
    assert_eq!(statuses, vec![TxStatus::Applied]);

    while chain.height < 9 {
        chain.block(vec![]);
    }
    let validators: Validators = records::read(&chain.state, keys::VALIDATORS).unwrap();
    assert_eq!(
        (validators.epoch, validators.current.len()),
        (1, 5),
        "height 9 ends epoch 0"
    );
    let committee: Vec<String> = records::read(&chain.state, &keys::committee(1)).unwrap();
    assert_eq!(committee.len(), 5);
    let genesis_committee: Vec<String> = records::read(&chain.state, &keys::committee(0)).unwrap();
    assert_eq!(genesis_committee.len(), 4);

    // Late votes on a closed proposal are refused.
    let statuses = chain.block(vec![chain.tx(
        &admins[3],
        Body::Vote {
            proposal_id: 0,
            approve: true,
        },
    )]);
    assert!(rejected(&statuses[0], "already passed"));
}

#[test]
fn a_blocked_proposal_is_rejected_and_removal_revokes_the_admin() {
    let mut chain = Chain::new(4, Params::default());
    let admins = chain.admins.clone();
    let remove = |id: &str| Body::Propose {
        proposal: Proposal::RemoveMember {
            id: OrgId::new(id).unwrap(),
        },
    };
    chain.block(vec![chain.tx(&admins[0], remove("org-3"))]);
    chain.block(vec![chain.tx(
        &admins[1],
        Body::Vote {
            proposal_id: 0,
            approve: false,
        },
    )]);
    chain.block(vec![chain.tx(
        &admins[2],
        Body::Vote {
            proposal_id: 0,
            approve: false,
        },
    )]);
    assert_eq!(proposal(&chain, 0).status, ProposalStatus::Rejected);

    chain.block(vec![chain.tx(&admins[0], remove("org-3"))]);
    chain.block(vec![chain.tx(
        &admins[1],
        Body::Vote {
            proposal_id: 1,
            approve: true,
        },
    )]);
    chain.block(vec![chain.tx(
        &admins[2],
        Body::Vote {
            proposal_id: 1,
            approve: true,
        },
    )]);
    assert_eq!(proposal(&chain, 1).status, ProposalStatus::Passed);
    let statuses = chain.block(vec![chain.tx(&admins[3], note("still here?"))]);
    assert!(rejected(&statuses[0], "not a registered"));

    let statuses = chain.block(vec![chain.tx(&admins[0], remove("nobody"))]);
    assert!(rejected(&statuses[0], "not a member"));
}

#[test]
fn stateless_checks_catch_wrong_chain_and_forged_signatures() {
    let chain = Chain::new(1, Params::default());
    let key = chain.admins[0].clone();
    let wrong_chain = TxPayload {
        chain_id: "other-chain".into(),
        signer: key.public_key(),
        nonce: 0,
        body: note("x"),
    }
    .sign(&key);
    assert!(chain
        .machine
        .check_stateless(&wrong_chain)
        .unwrap_err()
        .to_string()
        .contains("wrong chain id"));

    let forger = PrivateKey::from_seed(55);
    let forged = TxPayload {
        chain_id: CHAIN.into(),
        signer: key.public_key(),
        nonce: 0,
        body: note("x"),
    }
    .sign(&forger);
    assert_eq!(
        chain.machine.check_stateless(&forged),
        Err(custodia_state::Rejection::BadSignature)
    );
}

/// One body of every kind. `kind_index` matches every kind with no
/// wildcard, and the test checks each index was sampled, so a new kind
/// cannot be left out of this list.
fn one_body_of_each_kind() -> Vec<Body> {
    use custodia_types::{
        sha256, AccessAction, AccessRequest, ConsentGrant, Grantee, LogicalId, Parameter,
        Pseudonym, Purpose, RecordVersion, ResourceType,
    };
    let patient = Pseudonym::new([1; 32]);
    let agent = PrivateKey::from_seed(7).public_key();
    let version = RecordVersion {
        patient: Some(patient),
        resource_type: ResourceType::Patient,
        id: LogicalId::new(patient.to_hex()).unwrap(),
        version: 1,
        ciphertext: sha256(&[b"ciphertext"]),
        commitment: sha256(&[b"commitment"]),
        size: 10,
        time_ms: 1_000,
        author: (&agent).into(),
    };
    vec![
        note("n"),
        Body::RegisterAgent {
            key: agent.clone(),
            kind: AgentKind::Clinician,
            label: "ward".into(),
        },
        Body::RevokeAgent { key: agent.clone() },
        Body::Propose {
            proposal: Proposal::SetParameter {
                parameter: Parameter::MaxBlockTxs,
                value: 100,
            },
        },
        Body::Vote {
            proposal_id: 0,
            approve: true,
        },
        Body::WriteRecord(version.clone()),
        Body::WriteRecords {
            versions: vec![version.clone()],
        },
        Body::QueryAudit {
            agent: (&agent).into(),
            purpose: Purpose::Research,
        },
        Body::EraseRecord {
            resource_type: ResourceType::Patient,
            id: version.id.clone(),
        },
        Body::EnrolPatient {
            patient,
            key: agent.clone(),
        },
        Body::GrantConsent(ConsentGrant {
            grantee: Grantee::Org {
                org: OrgId::new("org-1").unwrap(),
            },
            scope: vec![],
            purpose: Purpose::Treatment,
            from_ms: 0,
            until_ms: 1,
        }),
        Body::RevokeConsent {
            consent: sha256(&[b"consent"]),
        },
        Body::Access(AccessRequest {
            agent: (&agent).into(),
            patient: Some(patient),
            resource: None,
            action: AccessAction::Read,
            purpose: Purpose::Treatment,
            break_glass: None,
        }),
        custodia_supply::body::SupplyTx::new(
            custodia_supply::ledger::SupplyAction::RegisterDevice {
                device: "probe-1".into(),
            },
        )
        .unwrap()
        .into_body(),
        Body::StageRecords {
            bundle: sha256(&[b"bundle"]),
            part: 0,
            versions: vec![version.clone()],
        },
        Body::CommitRecords {
            bundle: sha256(&[b"bundle"]),
            parts: 1,
        },
        Body::DiscardStaged {
            bundle: sha256(&[b"other bundle"]),
            parts: 1,
        },
        Body::Batch {
            entries: vec![note("in a batch")],
        },
    ]
}

/// Each body kind's index and the module that applies it (none: a batch;
/// a domain's action: its domain's).
fn kind_index(body: &Body) -> (usize, Option<String>) {
    match body {
        Body::Note { .. } => (0, Some("note".into())),
        Body::RegisterAgent { .. } => (1, Some("identity".into())),
        Body::RevokeAgent { .. } => (2, Some("identity".into())),
        Body::Propose { .. } => (3, Some("governance".into())),
        Body::Vote { .. } => (4, Some("governance".into())),
        Body::WriteRecord(_) => (5, Some("clinical".into())),
        Body::WriteRecords { .. } => (6, Some("clinical".into())),
        Body::QueryAudit { .. } => (7, Some("access".into())),
        Body::EraseRecord { .. } => (8, Some("clinical".into())),
        Body::EnrolPatient { .. } => (9, Some("consent".into())),
        Body::GrantConsent(_) => (10, Some("consent".into())),
        Body::RevokeConsent { .. } => (11, Some("consent".into())),
        Body::Access(_) => (12, Some("access".into())),
        Body::Domain(tx) => (13, Some(tx.domain().to_string())),
        Body::Batch { .. } => (14, None),
        Body::StageRecords { .. } => (15, Some("clinical".into())),
        Body::CommitRecords { .. } => (16, Some("clinical".into())),
        Body::DiscardStaged { .. } => (17, Some("clinical".into())),
    }
}

#[test]
fn every_body_kind_has_its_module_and_a_block_of_each_executes() {
    let mut chain = Chain::new(2, Params::default());
    let bodies = one_body_of_each_kind();
    let mut sampled = [false; 18];
    for body in &bodies {
        let (index, module) = kind_index(body);
        sampled[index] = true;
        match module {
            Some(module) => assert_eq!(chain.machine.module_name(body), Ok(module.as_str())),
            None => assert!(
                chain.machine.module_name(body).is_err(),
                "a batch is no entry's module"
            ),
        }
    }
    assert!(sampled.iter().all(|s| *s), "every kind is sampled");

    // An action of a domain this chain does not run reaches no module: it
    // is refused, naming the domain.
    let unplugged = Body::Domain(
        custodia_types::DomainTx::new("claims", None, bytes::Bytes::from_static(b"{}")).unwrap(),
    );
    assert_eq!(
        chain.machine.module_name(&unplugged),
        Err(custodia_state::Rejection::UnknownDomain("claims".into()))
    );

    // One block with a transaction of every kind, and a batch nesting a
    // batch (the codec refuses one; built in memory, the machine does):
    // each gets a receipt, whatever it says, and nothing panics.
    let admin = chain.admins[0].clone();
    let nested = Body::Batch {
        entries: vec![Body::Batch {
            entries: vec![note("nested")],
        }],
    };
    let txs: Vec<_> = bodies
        .into_iter()
        .chain([unplugged, nested])
        .zip(0..)
        .map(|(body, nonce)| sign(&admin, nonce, body))
        .collect();
    let statuses = chain.block(txs.clone());
    assert_eq!(statuses.len(), txs.len());
    assert_eq!(statuses[0], TxStatus::Applied, "the note");
    assert!(rejected(
        &statuses[statuses.len() - 2],
        "runs no domain \"claims\""
    ));
    assert!(rejected(statuses.last().unwrap(), "may not be batches"));
}
