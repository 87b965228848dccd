//! The API under abuse, against real processes: one node runs with low
//! `[limits]`; a credential over its rate, an address over its rate, too
//! many connections from one address, headers sent too slowly and a body
//! that stalls are each refused with an answer that says which setting
//! refused them, nothing refused is stored, the node goes on serving, and
//! another member keeps serving writes while garbage floods the first.

mod common;

use common::{
    clinical::{registered_clinician, transact, Fhir},
    Consortium,
};
use commonware_cryptography::Signer as _;
use custodia_node::config::Limits;
use custodia_types::{AgentKind, Body, PrivateKey};
use serde_json::{json, Value};
use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

/// Node 0's limits: low enough to reach from one test.
const LIMITS: Limits = Limits {
    max_connections: 4_096,
    max_connections_per_address: 24,
    requests_per_second_per_address: 100,
    requests_per_second_per_agent: 10,
    header_timeout_ms: 3_000,
    body_idle_timeout_ms: 3_000,
};

/// `requests` GETs of `path` from `threads` threads at once, as fast as
/// they go; every answer's status, headers we check and body.
fn flood(
    api: &str,
    path: &str,
    bearer: Option<&str>,
    threads: usize,
    requests: usize,
) -> Vec<(u16, Option<String>, String)> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let client = common::client();
                    (0..requests / threads)
                        .map(|_| {
                            let mut request = client.get(format!("{api}{path}"));
                            if let Some(bearer) = bearer {
                                request =
                                    request.header("authorization", format!("Bearer {bearer}"));
                            }
                            let response = request.send().expect("the node answers");
                            let status = response.status().as_u16();
                            let retry = response
                                .headers()
                                .get("retry-after")
                                .map(|v| v.to_str().unwrap().to_string());
                            (status, retry, response.text().unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    })
}

/// Everything the server sends on `stream` until it closes it (a read
/// timeout far beyond the node's limits fails the test instead of hanging).
fn read_until_closed(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        // A reset after the answer is a close too.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the node did not close the connection: {e}"),
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// One HTTP/1.1 response read from `stream` (head and a body of its
/// content-length), leaving the connection open.
fn read_response(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => answer.push(byte[0]),
            other => panic!(
                "the node ended a response early ({other:?}): {}",
                String::from_utf8_lossy(&answer)
            ),
        }
    }
    let head = String::from_utf8_lossy(&answer).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

fn address(api: &str) -> String {
    api.trim_start_matches("http://").to_string()
}

/// The patients `fhir`'s caller can find at its node.
fn patients(fhir: &Fhir) -> u64 {
    let (code, bundle) = fhir.get("/fhir/Patient?_summary=count");
    assert_eq!(code, 200, "{bundle}");
    bundle["total"].as_u64().unwrap()
}

/// Wait until `path` at `api` is answered 200 again (its rate bucket has
/// refilled): a signal, not a sleep.
fn await_served(api: &str, bearer: Option<&str>) {
    let client = common::client();
    for _ in 0..600 {
        let mut request = client.get(format!("{api}/v1/status"));
        if let Some(bearer) = bearer {
            request = request.header("authorization", format!("Bearer {bearer}"));
        }
        if request.send().is_ok_and(|r| r.status().as_u16() == 200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{api} is still refusing after a minute");
}

#[test]
fn the_api_refuses_abuse_clearly_stores_nothing_and_others_keep_serving() {
    let mut consortium = Consortium::init("abuse");
    // St Mary's runs with low limits; Riverside with the defaults.
    let limited = consortium.index_of("st-mary");
    consortium.configure(limited, |config| config.limits = LIMITS);
    consortium.start_all();
    consortium.await_all(3, Duration::from_secs(90));
    let (_, a) = registered_clinician(&consortium, "st-mary", 901);
    let b_key = PrivateKey::from_seed(902);
    transact(
        &consortium,
        &consortium.nodes[limited].admin_key,
        1,
        Body::RegisterAgent {
            key: b_key.public_key(),
            kind: AgentKind::Clinician,
            label: "dr b".into(),
        },
    );
    let b = Fhir::new(&consortium, "st-mary", &b_key);
    let (_, elsewhere) = registered_clinician(&consortium, "riverside-clinic", 903);
    let api = consortium.api(limited).to_string();

    // One credential over its rate: 429, Retry-After, and under /fhir an
    // OperationOutcome naming the setting.
    let answers = flood(&api, "/fhir/metadata", Some(&a.token), 4, 120);
    let throttled: Vec<_> = answers.iter().filter(|(code, ..)| *code == 429).collect();
    assert!(
        !throttled.is_empty(),
        "120 requests at once exceed 10 a second"
    );
    assert!(answers
        .iter()
        .all(|(code, ..)| *code == 200 || *code == 429));
    for (_, retry, body) in &throttled {
        assert_eq!(retry.as_deref(), Some("1"));
        let outcome: Value = serde_json::from_str(body).unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{body}");
        assert_eq!(outcome["issue"][0]["code"], "throttled", "{body}");
        assert!(
            outcome["issue"][0]["diagnostics"]
                .as_str()
                .unwrap()
                .contains("requests_per_second_per_agent"),
            "{body}"
        );
    }
    // Another credential from the same address is served meanwhile.
    assert_eq!(b.get("/fhir/metadata").0, 200);

    // Writes refused for the rate are not stored: eight at once from a
    // credential that just spent its second.
    let before = patients(&b);
    let _ = flood(&api, "/v1/status", Some(&a.token), 1, 20);
    let written: Vec<u16> = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    a.call(
                        "POST",
                        "/fhir/Patient",
                        Some(json!({"resourceType": "Patient", "gender": "unknown"})),
                        &[],
                    )
                    .0
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let created = written.iter().filter(|code| **code == 201).count() as u64;
    assert!(written.contains(&429), "{written:?}");
    assert!(
        written.iter().all(|code| *code == 201 || *code == 429),
        "{written:?}"
    );
    await_served(&api, Some(&a.token));
    assert_eq!(
        patients(&b),
        before + created,
        "only the writes answered 201 are stored"
    );

    // One address over its rate (no credential): 429 with a JSON reason.
    let answers = flood(&api, "/v1/status", None, 4, 2_000);
    let throttled: Vec<_> = answers.iter().filter(|(code, ..)| *code == 429).collect();
    assert!(
        !throttled.is_empty(),
        "2 000 requests at once exceed 100 a second"
    );
    let reason: Value = serde_json::from_str(&throttled[0].2).unwrap();
    assert_eq!(reason["error"], "rate_limited");
    assert!(reason["message"]
        .as_str()
        .unwrap()
        .contains("requests_per_second_per_address"));
    await_served(&api, None);

    // Too many connections from one address: the ones over the cap are
    // answered 503 naming the setting; the others are admitted (and kept
    // open, so none gives its place back during the count).
    let mut connections: Vec<TcpStream> = (0..LIMITS.max_connections_per_address + 8)
        .map(|_| TcpStream::connect(address(&api)).unwrap())
        .collect();
    let mut served = 0;
    let mut refused = 0;
    for stream in &mut connections {
        stream
            .write_all(b"GET /v1/status HTTP/1.1\r\nhost: node\r\n\r\n")
            .unwrap();
        let answer = read_response(stream);
        // Admitted: answered, or throttled (the address's rate has not
        // refilled from the flood above).
        if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 429") {
            served += 1;
        } else {
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            assert!(answer.contains("max_connections_per_address"), "{answer}");
            refused += 1;
        }
    }
    assert!(refused >= 8, "{refused} refused");
    assert!(
        served <= LIMITS.max_connections_per_address,
        "{served} admitted"
    );
    drop(connections);
    await_served(&api, None);

    // Headers trickled (slow-loris) are cut off at the header timeout.
    let mut slow = TcpStream::connect(address(&api)).unwrap();
    slow.write_all(b"GET /v1/status HTTP/1.1\r\nhost: node\r\n")
        .unwrap();
    let trickling = Arc::new(AtomicBool::new(true));
    let trickle = {
        let (mut slow, trickling) = (slow.try_clone().unwrap(), trickling.clone());
        std::thread::spawn(move || {
            while trickling.load(Ordering::Relaxed) {
                if slow.write_all(b"x-slow: 1\r\n").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let answer = read_until_closed(&mut slow);
    trickling.store(false, Ordering::Relaxed);
    trickle.join().unwrap();
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(common::counter(&api, "slow_clients_closed") >= 1);

    // A body that stalls fails the request; nothing is stored.
    let before = patients(&b);
    let mut stalled = TcpStream::connect(address(&api)).unwrap();
    write!(
        stalled,
        "POST /fhir/Patient HTTP/1.1\r\nhost: node\r\nauthorization: Bearer {}\r\ncontent-type: application/fhir+json\r\ncontent-length: 500\r\n\r\n{{\"resourceType\": \"Pat",
        b.token
    )
    .unwrap();
    let answer = read_until_closed(&mut stalled);
    let status: u16 = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a stalled body is answered: {answer:?}"));
    assert!((400..500).contains(&status), "{answer}");
    assert_eq!(patients(&b), before);

    // Garbage floods this node while another member keeps writing: every
    // write there is answered 201, and this node serves again afterwards.
    let flooding = Arc::new(AtomicBool::new(true));
    let garbage: Vec<_> = (0..3)
        .map(|k| {
            let (addr, flooding) = (address(&api), flooding.clone());
            std::thread::spawn(move || {
                let mut sent = 0u64;
                while flooding.load(Ordering::Relaxed) {
                    let Ok(mut stream) = TcpStream::connect(&addr) else {
                        continue;
                    };
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let junk: Vec<u8> = match (sent + k) % 3 {
                        0 => (0..4096u32).map(|i| (i * 31 + sent as u32) as u8).collect(),
                        1 => format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(20_000))
                            .into_bytes(),
                        _ => b"POST /v1/tx HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\n{{{"
                            .to_vec(),
                    };
                    let _ = stream.write_all(&junk);
                    let _ = stream.read(&mut [0u8; 512]);
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    for _ in 0..10 {
        elsewhere.create_patient();
    }
    flooding.store(false, Ordering::Relaxed);
    let sent: u64 = garbage.into_iter().map(|g| g.join().unwrap()).sum();
    assert!(sent > 0);
    // The node serves again once the address's rate has refilled.
    await_served(&api, Some(&b.token));
    assert!(common::counter(&api, "requests_throttled") >= 1);
    assert!(common::counter(&api, "connections_refused") >= 8);
}
