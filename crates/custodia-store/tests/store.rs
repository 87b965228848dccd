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
    TxPayload {
        chain_id: CHAIN.into(),
        signer: admin().public_key(),
        nonce,
        body: Body::Note {
            data: Bytes::from_static(text.as_bytes()),
        },
    }
    .sign(&admin())
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
