//! Erasure: only the custodian erases, and each erasure is logged for
//! every node to follow.

use crate::common::*;
use crate::world::*;
use custodia_state::{keys, records, StateRead, TxStatus};
use custodia_types::{Body, LogicalId, ResourceType};

#[test]
fn erasures_are_logged_for_every_node_to_follow_and_only_the_custodian_erases() {
    let mut w = World::new();
    assert_eq!(w.write(0, observation(&w, 1)), TxStatus::Applied);
    let erase = || Body::EraseRecord {
        resource_type: ResourceType::Observation,
        id: LogicalId::new("obs-1").unwrap(),
    };
    assert!(rejected(&w.send(&node(1), erase()), "only its custodian"));
    assert!(w.chain.state.get(keys::ERASED_COUNT).is_none());
    assert_eq!(w.send(&node(0), erase()), TxStatus::Applied);
    assert_eq!(
        keys::decode_u64(&w.chain.state.get(keys::ERASED_COUNT).unwrap()),
        Some(1)
    );
    let logged: String = records::read(&w.chain.state, &keys::erased(0)).unwrap();
    assert_eq!(logged, "Observation/obs-1");
    assert!(rejected(&w.send(&node(0), erase()), "erased"));
}
