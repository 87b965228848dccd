//! The Cedar access policy: it changes only by a governance vote, and a
//! policy that does not parse is refused when proposed.

use crate::common::*;
use crate::world::*;
use commonware_cryptography::Signer as _;
use custodia_state::{
    keys,
    records::{self, Decision},
    TxStatus,
};
use custodia_types::{Body, Proposal};

#[test]
fn the_access_policy_changes_only_by_governance() {
    let mut w = World::new();
    assert_eq!(w.write(0, observation(&w, 1)), TxStatus::Applied);
    let other = w.clinician[1].public_key();
    let emergency = |w: &mut World| w.break_glass(1, &other, "cardiac arrest").decision;
    assert_eq!(emergency(&mut w), Decision::Permit);

    // A policy that does not parse is refused when proposed.
    let admin = w.chain.admins[0].clone();
    let garbage = Body::Propose {
        proposal: Proposal::SetPolicy {
            policy: "permit(principal,".into(),
        },
    };
    assert!(rejected(
        &w.send(&admin, garbage),
        "does not parse as Cedar"
    ));

    // The consortium votes break-glass out.
    let without_break_glass: String = custodia_state::policy::DEFAULT_POLICY
        .split("\n\n")
        .filter(|rule| !rule.contains("@id(\"break-glass\")"))
        .collect::<Vec<_>>()
        .join("\n\n");
    let propose = Body::Propose {
        proposal: Proposal::SetPolicy {
            policy: without_break_glass.clone(),
        },
    };
    assert_eq!(w.send(&admin, propose), TxStatus::Applied);
    assert_eq!(emergency(&mut w), Decision::Permit, "not until it passes");
    for voter in [1, 2] {
        let key = w.chain.admins[voter].clone();
        let vote = Body::Vote {
            proposal_id: 0,
            approve: true,
        };
        assert_eq!(w.send(&key, vote), TxStatus::Applied);
    }
    let installed: String = records::read(&w.chain.state, keys::POLICY).unwrap();
    assert_eq!(installed, without_break_glass);
    assert_eq!(emergency(&mut w), Decision::Deny);
    // Only admins propose: a node or an agent cannot.
    let sneaky = Body::Propose {
        proposal: Proposal::SetPolicy {
            policy: custodia_state::policy::DEFAULT_POLICY.into(),
        },
    };
    assert!(rejected(&w.send(&node(0), sneaky), "admin"));
}
