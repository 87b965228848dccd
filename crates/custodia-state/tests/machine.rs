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
    let org0 = chain.admins[0].clone();
    let agent = PrivateKey::from_seed(7);
    chain.block(vec![chain.tx(
        &org0,
        Body::RegisterAgent {
            key: agent.public_key(),
            kind: AgentKind::Service,
            label: "svc".into(),
        },
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
