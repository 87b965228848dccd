//! The clinical service in Commonware's deterministic runtime: four
//! members' nodes, each the engine and the clinical service, over a
//! simulated network; their calls to each other (key release, replica
//! pushes, searches) over links the test can cut. One patient's record is
//! written at one hospital, consented to, read at another (the custodian
//! releases the key), replicated to every vault and erased everywhere,
//! with a node crashed and restarted and another partitioned and healed in
//! the middle. The scenario sweeps seeds (`sim/mod.rs`: more seeds, or a
//! replay of one).

#[path = "../../custodia-engine/tests/sim/mod.rs"]
mod sim;

use axum::{body::Body as HttpBody, http::Request, Router};
use commonware_cryptography::Signer as _;
use commonware_runtime::{deterministic, Clock as _, Supervisor as _};
use custodia_engine::{
    domain::{NodeFiles, NodeServices},
    peers::{PeerAnswer, PeerError, PeerNetwork, PeerRequest, PeerTransport},
    submit::{ServiceConfig, Waits},
};
use custodia_records::{Clinical, FileLimits, VaultConfig};
use custodia_state::{keys, records::RecordEntry, TxStatus};
use custodia_types::{
    AgentKind, AuthToken, Body, ConsentGrant, Digest, Grantee, LogicalId, PrivateKey, Pseudonym,
    Purpose, ResourceType, TxPayload,
};
use futures::future::{AbortHandle, Abortable, BoxFuture};
use serde_json::Value;
use sim::*;
use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    time::Duration,
};
use tower::ServiceExt as _;

/// One way between two members' nodes.
const PEER_LATENCY: Duration = Duration::from_millis(15);

/// The simulated links between members' nodes: each node's routes by its
/// API address. A call over a cut link, or to a node that is down, never
/// answers: the caller's own wait ends it, as on a partitioned network.
#[derive(Clone, Default)]
struct Links(Arc<Mutex<LinkState>>);

#[derive(Default)]
struct LinkState {
    routes: HashMap<SocketAddr, Router>,
    /// Nodes cut off from every other.
    cut_off: HashSet<SocketAddr>,
    /// Calls being served, by the node serving them: a node that goes
    /// down drops them (its caller sees the connection reset).
    serving: HashMap<SocketAddr, Vec<AbortHandle>>,
}

impl Links {
    fn state(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.0.lock().unwrap()
    }

    fn serve(&self, at: SocketAddr, routes: Router) {
        self.state().routes.insert(at, routes);
    }

    fn down(&self, at: SocketAddr) {
        let mut state = self.state();
        state.routes.remove(&at);
        for call in state.serving.remove(&at).unwrap_or_default() {
            call.abort();
        }
    }

    fn cut(&self, at: SocketAddr) {
        self.state().cut_off.insert(at);
    }

    fn heal(&self) {
        self.state().cut_off.clear();
    }

    /// The network as the node at `from` sees it.
    fn from(&self, from: SocketAddr, clock: deterministic::Context) -> SimulatedPeers {
        SimulatedPeers {
            from,
            links: Arc::downgrade(&self.0),
            clock,
        }
    }
}

/// One node's view of the links. It holds them weakly: they hold every
/// node's routes, and so the services that hold this.
struct SimulatedPeers {
    from: SocketAddr,
    links: Weak<Mutex<LinkState>>,
    clock: deterministic::Context,
}

impl PeerNetwork for SimulatedPeers {
    fn post(
        &self,
        peer: SocketAddr,
        request: PeerRequest,
    ) -> BoxFuture<'static, Result<PeerAnswer, PeerError>> {
        let (links, from, clock) = (self.links.clone(), self.from, self.clock.child("call"));
        Box::pin(async move {
            clock.sleep(PEER_LATENCY).await;
            let (abort, registration) = AbortHandle::new_pair();
            let Some(links) = links.upgrade() else {
                return Err(PeerError::Unreachable("the network is gone".into()));
            };
            let routes = {
                let mut state = links.lock().unwrap();
                let cut = state.cut_off.contains(&from) || state.cut_off.contains(&peer);
                let routes = state.routes.get(&peer).filter(|_| !cut).cloned();
                if routes.is_some() {
                    let serving = state.serving.entry(peer).or_default();
                    serving.retain(|call| !call.is_aborted());
                    serving.push(abort);
                }
                routes
            };
            let Some(routes) = routes else {
                return futures::future::pending().await;
            };
            let request = Request::post(request.path)
                .header("content-type", request.content_type)
                .body(HttpBody::from(request.body))
                .expect("a request to a path builds");
            let served = Abortable::new(
                async move {
                    let answer = routes
                        .oneshot(request)
                        .await
                        .expect("routers are infallible");
                    let status = answer.status().as_u16();
                    axum::body::to_bytes(answer.into_body(), usize::MAX)
                        .await
                        .map(|body| PeerAnswer { status, body })
                        .map_err(|e| PeerError::Unreadable(e.to_string()))
                },
                registration,
            );
            let answer = served.await.map_err(|_| {
                PeerError::Unreachable("connection reset: the node went down".into())
            })??;
            clock.sleep(PEER_LATENCY).await;
            Ok(answer)
        })
    }
}

/// A member's running clinical service and its routes.
struct Member {
    routes: Router,
}

/// Where member `i`'s vault is kept (real files: the vault is not the
/// runtime's storage), one directory per seed.
fn vault_dir(root: &Path, i: usize) -> PathBuf {
    root.join(format!("vault-{i}"))
}

/// Start (or restart) validator `i` with its clinical service, serving
/// its routes on the simulated links.
async fn start_member(sim: &mut Sim, links: &Links, root: &Path, i: usize) -> Member {
    let genesis = sim.genesis.clone();
    let node_key = sim.members[i].validator.clone();
    let peers = links.clone();
    let dir = vault_dir(root, i);
    let clinical = sim
        .start_with(i, move |context, parts| async move {
            let org = genesis.members[i].id.clone();
            let settings = custodia_config::Config::new(org.as_str(), api_address(i));
            let services = NodeServices {
                files: NodeFiles::new(dir.clone(), settings, [i as u8 + 1; 32]),
                peers: Arc::new(peers.from(api_address(i), context.child("links"))),
                streams: PeerTransport::plain(),
                context,
                chain: parts.chain,
                gossip: parts.gossip,
                config: ServiceConfig {
                    genesis,
                    org,
                    node_key,
                    waits: Waits {
                        finality: Duration::from_secs(30),
                        decision: Duration::from_secs(5),
                        peer: Duration::from_secs(5),
                    },
                },
            };
            let vault = VaultConfig {
                objects: custodia_vault::DiskStore::open(&dir).expect("the vault opens"),
                secret: custodia_vault::EncryptionSecret::from_bytes(&[i as u8 + 1; 32])
                    .expect("32 bytes are a secret"),
                dir,
                files: FileLimits {
                    max_bytes: 1 << 20,
                    max_transfers: 4,
                },
            };
            Clinical::new(services, vault)
                .await
                .expect("the clinical service starts")
        })
        .await;
    let routes = custodia_records::router(clinical);
    links.serve(api_address(i), routes.clone());
    Member { routes }
}

/// A bearer token of `key` for member `i`'s node, by the runtime's clock.
fn token(sim: &Sim, i: usize, key: &PrivateKey) -> String {
    AuthToken {
        chain_id: sim.genesis.chain_id.clone(),
        audience: sim.genesis.members[i].id.clone(),
        key: key.public_key(),
        expires_ms: custodia_engine::time::now_ms(&sim.context) + 3_600_000,
    }
    .sign(key)
}

/// Call `routes` as a FHIR client: the status and the JSON answer.
async fn call(
    routes: &Router,
    method: &str,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {bearer}"))
        .header("content-type", "application/fhir+json")
        .body(match body {
            Some(body) => HttpBody::from(body.to_string()),
            None => HttpBody::empty(),
        })
        .unwrap();
    let answer = routes.clone().oneshot(request).await.unwrap();
    let status = answer.status().as_u16();
    let bytes = axum::body::to_bytes(answer.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Whether member `i`'s vault holds the ciphertext `hash`.
async fn holds(member: &Member, hash: &Digest) -> bool {
    let path = format!("/v1/vault/objects/{}", hex::encode(hash));
    let (status, _) = call(&member.routes, "GET", &path, "", None).await;
    assert!(matches!(status, 204 | 404), "{path}: {status}");
    status == 204
}

/// Wait (in simulated time) until `done`.
async fn until<F, Fut>(sim: &Sim, what: &str, within: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = sim.context.current();
    while !done().await {
        let waited = sim.context.current().duration_since(start).unwrap();
        assert!(waited < within, "{what}: not within {within:?}");
        sim.context.sleep(Duration::from_millis(100)).await;
    }
}

/// Admit `tx` at validator `via` and gossip it; wait until `via` holds
/// its receipt, which must say applied.
async fn transact(sim: &Sim, via: usize, tx: custodia_types::SignedTx) {
    let id = sim
        .node(via)
        .chain
        .lock()
        .await
        .admit(&tx.to_bytes())
        .await
        .expect("a well-formed transaction is admitted");
    sim.node(via).gossip.publish(tx.to_bytes());
    let start = sim.context.current();
    let receipt = loop {
        if let Some(receipt) = sim.receipt(via, &id).await {
            break receipt;
        }
        let waited = sim.context.current().duration_since(start).unwrap();
        assert!(
            waited < Duration::from_secs(60),
            "no receipt within a minute"
        );
        sim.context.sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(receipt.status, TxStatus::Applied, "{receipt:?}");
}

fn signed(sim: &Sim, key: &PrivateKey, nonce: u64, body: Body) -> custodia_types::SignedTx {
    TxPayload {
        chain_id: sim.genesis.chain_id.clone(),
        signer: key.public_key(),
        nonce,
        body,
    }
    .sign(key)
}

/// The ciphertext the chain records for a version, as member `i` holds it.
async fn ciphertext(sim: &Sim, i: usize, resource: ResourceType, id: &str, version: u64) -> Digest {
    let key = keys::record_version(resource, &LogicalId::new(id).unwrap(), version);
    let bytes = sim
        .node(i)
        .chain
        .lock()
        .await
        .get(&key)
        .await
        .unwrap()
        .expect("the version is on the chain");
    serde_json::from_slice::<RecordEntry>(&bytes)
        .unwrap()
        .ciphertext
}

/// Write, replicate, consent (member 3 crashed, then restarted), read at
/// another member (member 2 partitioned), heal, erase.
async fn clinical_flow(context: deterministic::Context) {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let root = std::env::temp_dir().join(format!(
        "custodia-clinical-sim-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&root);
    let links = Links::default();
    let mut sim = Sim::new(context, 10_000, None).await;
    let mut members = Vec::new();
    for i in 0..VALIDATORS {
        members.push(start_member(&mut sim, &links, &root, i).await);
    }
    sim.wait_for(&all(), 1, Duration::from_secs(60)).await;

    // A clinician at each of the first two hospitals.
    let doctor_a = PrivateKey::from_seed(2_001);
    let doctor_b = PrivateKey::from_seed(2_002);
    for (org, doctor) in [(0, &doctor_a), (1, &doctor_b)] {
        let body = Body::RegisterAgent {
            key: doctor.public_key(),
            kind: AgentKind::Clinician,
            label: "dr".into(),
        };
        transact(&sim, org, signed(&sim, &sim.members[org].admin, 0, body)).await;
    }
    let at_a = token(&sim, 0, &doctor_a);
    let at_b = token(&sim, 1, &doctor_b);

    // Write: hospital 0 records a patient and an observation.
    let patient = serde_json::json!({
        "resourceType": "Patient", "name": [{ "text": "Simulated Patient" }], "gender": "other"
    });
    let (status, created) = call(
        &members[0].routes,
        "POST",
        "/fhir/Patient",
        &at_a,
        Some(patient),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let patient_id = created["id"].as_str().unwrap().to_string();
    let observation = custodia_fhir::example("Observation", &patient_id).unwrap();
    let (status, created) = call(
        &members[0].routes,
        "POST",
        "/fhir/Observation",
        &at_a,
        Some(observation.clone()),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let obs_id = created["id"].as_str().unwrap().to_string();
    let obs_path = format!("/fhir/Observation/{obs_id}");
    let hash = ciphertext(&sim, 0, ResourceType::Observation, &obs_id, 1).await;

    // Replicate: every member's vault comes to hold the ciphertext.
    until(&sim, "replicas everywhere", Duration::from_secs(30), || {
        let members = &members;
        async move {
            for member in members {
                if !holds(member, &hash).await {
                    return false;
                }
            }
            true
        }
    })
    .await;

    // The patient is enrolled, then consents to hospital 1 while
    // member 3 is down.
    let patient_key = PrivateKey::from_seed(3_001);
    let pseudonym: Pseudonym = patient_id.parse().unwrap();
    let enrol = Body::EnrolPatient {
        patient: pseudonym,
        key: patient_key.public_key(),
    };
    transact(&sim, 0, signed(&sim, &sim.members[0].admin, 1, enrol)).await;
    // Before consent, hospital 1's clinician is refused.
    let (status, refused) = call(&members[1].routes, "GET", &obs_path, &at_b, None).await;
    assert_eq!(status, 403, "{refused}");

    sim.crash(3);
    links.down(api_address(3));
    members.truncate(3);
    let consent = Body::GrantConsent(ConsentGrant {
        grantee: Grantee::Org {
            org: sim.genesis.members[1].id.clone(),
        },
        scope: vec![],
        purpose: Purpose::Treatment,
        from_ms: 0,
        until_ms: u64::MAX,
    });
    transact(&sim, 1, signed(&sim, &patient_key, 0, consent)).await;
    members.push(start_member(&mut sim, &links, &root, 3).await);

    // Read at hospital 1 while member 2 is partitioned from everyone:
    // the chain permits it (0, 1 and the restarted 3 are a quorum)
    // and the custodian releases the key.
    for j in 0..VALIDATORS {
        if j != 2 {
            sim.cut(2, j).await;
        }
    }
    links.cut(api_address(2));
    let (status, read) = call(&members[1].routes, "GET", &obs_path, &at_b, None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["code"], observation["code"], "{read}");
    assert_eq!(
        read["valueQuantity"], observation["valueQuantity"],
        "{read}"
    );
    let partitioned_at = sim.height(2).await;
    assert!(
        sim.height(1).await > partitioned_at,
        "the read was decided without member 2"
    );
    sim.link_all(good_link()).await;
    links.heal();

    // Erase at the custodian: every vault, the healed member's and the
    // restarted one's included, destroys the ciphertext, and the
    // reader is told it is gone.
    let (status, erased) = call(&members[0].routes, "DELETE", &obs_path, &at_a, None).await;
    assert!(matches!(status, 200 | 204), "{status}: {erased}");
    until(&sim, "erasure everywhere", Duration::from_secs(60), || {
        let members = &members;
        async move {
            for member in members {
                if holds(member, &hash).await {
                    return false;
                }
            }
            true
        }
    })
    .await;
    let (status, gone) = call(&members[1].routes, "GET", &obs_path, &at_b, None).await;
    assert_eq!(status, 410, "{gone}");

    let height = sim.height(0).await;
    sim.wait_for(&all(), height, Duration::from_secs(60)).await;
    sim.assert_agree(&all(), height).await;
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_record_is_written_consented_read_elsewhere_replicated_and_erased_through_a_crash_and_a_partition(
) {
    sweep(clinical_flow);
}
