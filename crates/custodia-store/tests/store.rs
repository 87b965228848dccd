//! The state store against Commonware's deterministic runtime.

use bytes::Bytes;
use commonware_cryptography::Signer as _;
use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use custodia_state::{keys, StateMachine, TxStatus};
use custodia_store::{StateProof, StateStore};
use custodia_types::{
    Body, Genesis, Member, OrgId, OrgRole, Params, PrivateKey, SignedTx, TxPayload,
};

const CHAIN: &str = "store-test";

fn genesis() -> Genesis {
    Genesis {
        chain_id: CHAIN.into(),
        genesis_time_ms: 0,
        params: Params::default(),
        members: vec![Member {
            id: OrgId::new("org-0").unwrap(),
            name: "Org 0".into(),
            role: OrgRole::Provider,
            admin_key: admin().public_key(),
            validator_key: PrivateKey::from_seed(2).public_key(),
            p2p: "127.0.0.1:1".parse().unwrap(),
            api: None,
        }],
    }
}

fn admin() -> PrivateKey {
    PrivateKey::from_seed(1)
}

fn note(nonce: u64, text: &'static str) -> SignedTx {
    let body = Body::Note {
        data: Bytes::from_static(text.as_bytes()),
    };
    signed(&admin(), nonce, body)
}

#[test]
fn speculative_chain_commit_proofs_and_restart() {
    let machine = StateMachine::new(CHAIN, custodia_state::Domains::none());
    let genesis_writes = StateMachine::genesis_state(&genesis());
    let writes = genesis_writes
        .0
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    let (first_run, checkpoint) =
        deterministic::Runner::default().start_and_recover(|context| async move {
            let mut store = StateStore::open(context.child("state"), "state")
                .await
                .unwrap();
            let genesis_batch = store.stage(None, &writes, 0).await.unwrap();
            store.commit(genesis_batch).await.unwrap();
            assert_eq!(store.height().await.unwrap(), Some(0));

            // Two blocks executed speculatively, the second on the first.
            let tx1 = note(0, "first");
            let tx2 = note(1, "second");
            let b1 = store
                .execute(&machine, None, 1, 0, std::slice::from_ref(&tx1))
                .await
                .unwrap();
            let b2 = store
                .execute(&machine, Some(&b1.batch), 2, 0, std::slice::from_ref(&tx2))
                .await
                .unwrap();
            assert_eq!(
                b2.outcome.receipts[0].1.status,
                TxStatus::Applied,
                "block 2 saw block 1's nonce"
            );
            // A competing block 2 on the committed state sees nonce 0 as next.
            let fork = store
                .execute(&machine, None, 1, 0, std::slice::from_ref(&tx2))
                .await
                .unwrap();
            assert!(matches!(
                fork.outcome.receipts[0].1.status,
                TxStatus::Rejected { .. }
            ));

            // Nothing is visible before commit.
            assert_eq!(store.get(&keys::note(&tx1.id())).await.unwrap(), None);
            let (root1, root2) = (b1.root(), b2.root());
            store.commit(b1.batch).await.unwrap();
            assert_eq!(store.root().unwrap(), root1);
            store.commit(b2.batch).await.unwrap();
            assert_eq!(store.root().unwrap(), root2);
            assert_eq!(store.height().await.unwrap(), Some(2));

            let present = store.prove(&keys::note(&tx2.id())).await.unwrap().unwrap();
            assert_eq!(present.value(), b"second");
            assert!(present.verify(&keys::note(&tx2.id()), &root2));
            assert!(!present.verify(&keys::note(&tx1.id()), &root2));
            assert!(!present.verify(&keys::note(&tx2.id()), &root1));
            // The state proves what a key holds, not that it holds nothing.
            assert!(store.prove(b"no/such/key").await.unwrap().is_none());
            // A proof of one value does not pass for another.
            let forged = StateProof::from_parts(b"third".to_vec(), &present.proof_hex()).unwrap();
            assert!(!forged.verify(&keys::note(&tx2.id()), &root2));

            // Proofs survive a JSON-style round trip.
            let rebuilt =
                StateProof::from_parts(present.value().to_vec(), &present.proof_hex()).unwrap();
            assert!(rebuilt.verify(&keys::note(&tx2.id()), &root2));
            assert!(StateProof::from_parts(Vec::new(), "zz").is_err());

            // A third block executed but never committed dies with the process.
            let b3 = store
                .execute(&machine, None, 3, 0, &[note(2, "lost")])
                .await
                .unwrap();
            drop(b3);
            root2
        });
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let store = StateStore::open(context.child("state"), "state")
            .await
            .unwrap();
        assert_eq!(store.root().unwrap(), first_run);
        assert_eq!(store.height().await.unwrap(), Some(2));
    });
}

fn signed(key: &PrivateKey, nonce: u64, body: Body) -> SignedTx {
    TxPayload {
        chain_id: CHAIN.into(),
        signer: key.public_key(),
        nonce,
        body,
    }
    .sign(key)
}

/// A commit of many staged parts reads keys its read set cannot name (the
/// parts sit under the signer's organisation); the store loads what one
/// pass missed and runs the block again. The commit must need a few passes,
/// whatever its size, not one a part: a 5 000-entry bundle once took 157,
/// each re-applying every part before it, and stalled consensus.
#[test]
fn a_commit_of_many_parts_executes_in_a_few_passes() {
    use custodia_types::{AgentKind, LogicalId, RecordVersion, ResourceType};
    const PARTS: u32 = 64;
    let machine = StateMachine::new(CHAIN, custodia_state::Domains::none());
    let writes = StateMachine::genesis_state(&genesis())
        .0
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    deterministic::Runner::default().start(|context| async move {
        let mut store = StateStore::open(context.child("state"), "state")
            .await
            .unwrap();
        let genesis_batch = store.stage(None, &writes, 0).await.unwrap();
        store.commit(genesis_batch).await.unwrap();
        let node = PrivateKey::from_seed(2);
        let clerk = PrivateKey::from_seed(3);
        let register = Body::RegisterAgent {
            key: clerk.public_key(),
            kind: AgentKind::Clinician,
            label: "clerk".into(),
        };
        let registered = store
            .execute(&machine, None, 1, 0, &[signed(&admin(), 0, register)])
            .await
            .unwrap();
        store.commit(registered.batch).await.unwrap();
        let bundle = custodia_types::sha256(&[b"bundle"]);
        let stage: Vec<SignedTx> = (0..PARTS)
            .map(|part| {
                let versions = (0..32)
                    .map(|i| RecordVersion {
                        patient: None,
                        resource_type: ResourceType::Organization,
                        id: LogicalId::new(format!("org-{part}-{i}")).unwrap(),
                        version: 1,
                        ciphertext: custodia_types::sha256(&[&part.to_be_bytes(), &[i]]),
                        commitment: custodia_types::sha256(&[b"c"]),
                        size: 10,
                        time_ms: 0,
                        author: (&clerk.public_key()).into(),
                    })
                    .collect();
                let body = Body::StageRecords {
                    bundle,
                    part,
                    versions,
                };
                signed(&node, u64::from(part), body)
            })
            .collect();
        let staged = store.execute(&machine, None, 2, 0, &stage).await.unwrap();
        assert!(
            staged
                .outcome
                .receipts
                .iter()
                .all(|r| r.1.status == TxStatus::Applied),
            "{:?}",
            staged.outcome.receipts[0].1
        );
        store.commit(staged.batch).await.unwrap();
        let commit = signed(
            &node,
            u64::from(PARTS),
            Body::CommitRecords {
                bundle,
                parts: PARTS,
            },
        );
        let committed = store
            .execute(&machine, None, 3, 0, &[commit])
            .await
            .unwrap();
        assert_eq!(committed.outcome.receipts[0].1.status, TxStatus::Applied);
        assert!(committed.passes <= 4, "{} passes", committed.passes);
        let head = keys::record_head(
            ResourceType::Organization,
            &LogicalId::new("org-63-31").unwrap(),
        );
        assert!(
            committed.outcome.writes.contains_key(&head),
            "the last part was written"
        );
    });
}
