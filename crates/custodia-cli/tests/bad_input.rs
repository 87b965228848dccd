//! Bad input against a real node: every kind of broken or unauthorised
//! submission is refused with its own status and code and a message, none
//! of it reaches the chain, and the node keeps serving throughout.

mod common;

use common::{await_finalized, get, post, sign, submit, Consortium};
use commonware_cryptography::Signer as _;
use custodia_types::{AgentKind, Body, SignedTx};
use serde_json::Value;
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

fn note(data: &[u8]) -> Body {
    Body::Note {
        data: data.to_vec().into(),
    }
}

/// A refusal: the status, the machine-readable code and a message a person
/// can act on.
fn assert_refused(answer: (u16, Value), status: u16, code: &str) -> String {
    let (got, body) = answer;
    assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
    let message = body["error"].as_str().expect("a refusal explains itself");
    assert!(message.len() > 10, "{message:?} does not say much");
    message.to_string()
}

fn refused_counter(api: &str) -> u64 {
    let metrics = reqwest::blocking::get(format!("{api}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    metrics
        .lines()
        .find(|line| line.contains("txs_refused") && !line.starts_with('#'))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no txs_refused counter in /metrics:\n{metrics}"))
}

/// The node still answers and still finalizes.
fn assert_serving(consortium: &Consortium, tx: &SignedTx) {
    let (code, status) = get(consortium.api(0), "/v1/status");
    assert_eq!(code, 200, "{status}");
    let (code, answer) = submit(consortium.api(0), tx);
    assert_eq!(code, 202, "{answer}");
    await_finalized(consortium.api(0), &tx.id(), MINUTE);
}

#[test]
fn bad_input_is_refused_specifically_and_the_node_keeps_serving() {
    let mut consortium = Consortium::init("bad-input");
    consortium.start_all();
    consortium.await_height(0, 2, Duration::from_secs(90));
    let api = consortium.api(0).to_string();
    let chain_id = consortium.chain_id.clone();
    let admin = consortium.nodes[0].admin_key.clone();
    let other_admin = consortium.nodes[1].admin_key.clone();
    let refused_at_start = refused_counter(&api);

    // Malformed bytes, and nothing at all.
    let message = assert_refused(
        post(&api, "/v1/tx", b"this is not a transaction".to_vec()),
        400,
        "malformed",
    );
    assert!(message.contains("malformed"), "{message}");
    assert_refused(post(&api, "/v1/tx", Vec::new()), 400, "empty");

    // Signed for another chain.
    let elsewhere = sign("some-other-chain", &admin, 0, note(b"x"));
    let message = assert_refused(submit(&api, &elsewhere), 400, "wrong_chain_id");
    assert!(message.contains("some-other-chain"), "{message}");

    // Claims to be organisation 1's admin, signed by organisation 0's key.
    let forged = common::sign_as(&chain_id, &admin, other_admin.public_key(), 0, note(b"x"));
    assert_refused(submit(&api, &forged), 401, "bad_signature");

    // A key no organisation registered.
    let stranger = custodia_types::generate_key();
    assert_refused(
        submit(&api, &sign(&chain_id, &stranger, 0, note(b"x"))),
        403,
        "unknown_signer",
    );

    // Oversized: above the transaction limit, and above what HTTP reads.
    let big = sign(
        &chain_id,
        &admin,
        0,
        note(&vec![1; custodia_types::MAX_TX_BYTES]),
    );
    let message = assert_refused(submit(&api, &big), 413, "too_large");
    assert!(message.contains("limit"), "{message}");
    assert_refused(
        post(&api, "/v1/tx", vec![0; 2 * custodia_api::MAX_REQUEST_BYTES]),
        413,
        "too_large",
    );

    // A nonce far ahead of the signer's next one.
    assert_refused(
        submit(&api, &sign(&chain_id, &admin, 1_000, note(b"x"))),
        409,
        "nonce_gap",
    );

    // Register a clinician agent; the same transaction again is a duplicate
    // while pending, and its nonce is spent once final.
    let agent = custodia_types::generate_key();
    let register = sign(
        &chain_id,
        &admin,
        0,
        Body::RegisterAgent {
            key: agent.public_key(),
            kind: AgentKind::Clinician,
            label: "dr-test".into(),
        },
    );
    assert_eq!(submit(&api, &register).0, 202);
    let again = submit(&api, &register);
    if again.0 != 409 || again.1["code"] != "nonce_replayed" {
        assert_refused(again, 409, "duplicate");
    }
    await_finalized(&api, &register.id(), MINUTE);
    assert_refused(
        submit(&api, &sign(&chain_id, &admin, 0, note(b"replay"))),
        409,
        "nonce_replayed",
    );

    // An agent may not take part in governance.
    let vote = sign(
        &chain_id,
        &agent,
        0,
        Body::Vote {
            proposal_id: 0,
            approve: true,
        },
    );
    let message = assert_refused(submit(&api, &vote), 403, "unauthorized");
    assert!(message.contains("vote"), "{message}");

    // A batch answers each transaction on its own; broken framing is refused.
    let good = sign(&chain_id, &admin, 1, note(b"in a batch"));
    let batch = custodia_types::framing::encode_txs(&[
        b"garbage".to_vec().into(),
        good.to_bytes(),
        stranger_note(&chain_id).to_bytes(),
    ]);
    let (code, answers) = post(&api, "/v1/txs", batch.to_vec());
    assert_eq!(code, 200, "{answers}");
    assert_eq!(answers[0]["code"], "malformed", "{answers}");
    assert_eq!(answers[1]["status"], "pending", "{answers}");
    assert_eq!(answers[2]["code"], "unknown_signer", "{answers}");
    assert_refused(post(&api, "/v1/txs", vec![0, 0, 0, 9, 1]), 400, "malformed");
    await_finalized(&api, &good.id(), MINUTE);

    // Bad reads get clear answers too.
    assert_refused(get(&api, "/v1/tx/not-a-hash"), 400, "bad_id");
    assert_refused(get(&api, "/v1/blocks/999999999"), 404, "not_found");
    assert_refused(get(&api, "/v1/nowhere"), 404, "not_found");

    // None of the refused transactions reached any node's chain.
    for tx in [&elsewhere, &forged, &big, &vote] {
        for node in 0..common::ORGS {
            let (code, _) = get(consortium.api(node), &format!("/v1/tx/{}", tx.id()));
            assert_eq!(code, 404, "{} is known to node {node}", tx.id());
        }
    }
    assert!(refused_counter(&api) >= refused_at_start + 10);

    assert_serving(
        &consortium,
        &sign(&chain_id, &admin, 2, note(b"still here")),
    );
}

fn stranger_note(chain_id: &str) -> SignedTx {
    sign(chain_id, &custodia_types::generate_key(), 0, note(b"who?"))
}
