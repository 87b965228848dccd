//! Large files end to end: a file far bigger than the node could sensibly
//! hold streams in through `POST /fhir/Binary`, is recorded on the chain
//! like any version, and streams back out byte for byte, while the node's
//! peak memory barely moves. Uploads over the node's limit or cut off
//! midway leave nothing behind, and erasure removes file, key and type.
//! Another member's node streams a file from its custodian for a permitted
//! read.

mod common;

use common::clinical::{clinician_bearer, upload, Pattern};
use common::Consortium;
use serde_json::Value;
use std::{io::Read, time::Duration};

/// The issue's 2 GiB: holding it whole would show in the node's peak memory.
const SIZE: u64 = 2 << 30;
/// What the node's peak resident memory may grow by while it streams.
const MEMORY_BUDGET: u64 = 64 << 20;
/// St Mary's `max_file_bytes` in this test: the file above just fits.
const LIMIT: u64 = SIZE;

/// A consortium whose St Mary's node has `setting` in its config.toml in
/// place of the default `default`, started; St Mary's index and API.
fn started_with(test: &str, default: &str, setting: &str) -> (Consortium, usize, String) {
    let mut c = Consortium::init(test);
    let st_mary = c.index_of("st-mary");
    let config = c.nodes[st_mary].home.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let changed = text.replace(default, setting);
    assert_ne!(changed, text, "config.toml has {default:?}");
    std::fs::write(&config, changed).unwrap();
    c.start_all();
    let api = c.nodes[st_mary].api.clone();
    c.await_all(1, Duration::from_secs(60));
    (c, st_mary, api)
}

/// A new Patient at the node `api`; its id.
fn new_patient(client: &reqwest::blocking::Client, api: &str, bearer: &str) -> String {
    let patient: Value = client
        .post(format!("{api}/fhir/Patient"))
        .header("authorization", bearer)
        .header("content-type", "application/fhir+json")
        .body(r#"{"resourceType":"Patient","gender":"unknown"}"#)
        .send()
        .unwrap()
        .json()
        .unwrap();
    patient["id"].as_str().unwrap().to_string()
}

/// Peak resident memory of a process, in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/<pid>/status")
        * 1024
}

#[test]
fn a_large_file_streams_in_and_out_in_flat_memory() {
    let (c, st_mary, api) = started_with(
        "binary",
        &format!("max_file_bytes = {}", 16u64 << 30),
        &format!("max_file_bytes = {LIMIT}"),
    );

    let bearer = clinician_bearer(&c, st_mary, 7001);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let patient = new_patient(&client, &api, &bearer);

    // Without a patient to file it under, a file is refused.
    let refused = client
        .post(format!("{api}/fhir/Binary"))
        .header("authorization", &bearer)
        .header("content-type", "application/dicom")
        .body("DICM")
        .send()
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let outcome: Value = refused.json().unwrap();
    assert!(outcome["issue"][0]["diagnostics"]
        .as_str()
        .unwrap()
        .contains("X-Security-Context"));

    let pid = c.pid(st_mary).unwrap();
    let before = peak_memory(pid);
    let uploaded = upload(&client, &api, &bearer, &patient, "application/dicom", SIZE);
    assert_eq!(uploaded.status().as_u16(), 201);
    let binary: Value = uploaded.json().unwrap();
    let id = binary["id"].as_str().unwrap().to_string();
    assert_eq!(binary["contentType"], "application/dicom");

    // On chain: the version's hashes and size, nothing of the content.
    let (code, version) = common::get(&api, &format!("/v1/state/rec/Binary/{id}/_history/1"));
    assert_eq!(code, 200, "{version}");
    assert_eq!(version["value"]["size"], SIZE);

    let download = client
        .get(format!("{api}/fhir/Binary/{id}"))
        .header("authorization", &bearer)
        .send()
        .unwrap();
    assert_eq!(download.status().as_u16(), 200);
    assert_eq!(
        download.headers()["content-type"].to_str().unwrap(),
        "application/dicom"
    );
    Pattern::expect(download, SIZE);
    let growth = peak_memory(pid).saturating_sub(before);
    eprintln!(
        "streamed {} MiB in and out; node peak memory grew {} KiB",
        SIZE >> 20,
        growth >> 10
    );
    assert!(
        growth < MEMORY_BUDGET,
        "the node's peak memory grew by {} MiB streaming a {} MiB file",
        growth >> 20,
        SIZE >> 20
    );

    // Paths that cannot serve a file answer so before any read is
    // recorded (the trail below has exactly one read).
    for (path, status) in [
        (format!("/fhir/Binary/{id}/_history/2"), 404),
        (format!("/fhir/Binary/{id}/_history"), 400),
        (format!("/fhir/Binary?patient={patient}"), 400),
    ] {
        let answer = client
            .get(format!("{api}{path}"))
            .header("authorization", &bearer)
            .send()
            .unwrap();
        assert_eq!(answer.status().as_u16(), status, "{path}");
        let outcome: Value = answer.json().unwrap();
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{path}");
    }

    // The read is audited like any other: in the patient's trail.
    let trail: Vec<Value> = client
        .get(format!(
            "{api}/fhir/AuditEvent?patient={patient}&_format=ndjson"
        ))
        .header("authorization", &bearer)
        .send()
        .unwrap()
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["resource"] == format!("Binary/{id}"))
        .collect();
    let actions: Vec<&str> = trail.iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions, ["write", "read"], "{trail:?}");

    // Another member's clinician reads a file St Mary's holds (here by
    // break-glass): it streams from St Mary's through Riverside's node,
    // decrypted there, and the read is audited like any other.
    let riverside = c.index_of("riverside-clinic");
    let riverside_api = c.nodes[riverside].api.clone();
    let riverside_bearer = clinician_bearer(&c, riverside, 7002);
    const SMALL: u64 = 300 << 10;
    let small: Value = upload(&client, &api, &bearer, &patient, "application/pdf", SMALL)
        .json()
        .unwrap();
    let small_id = small["id"].as_str().unwrap();
    let read_at_riverside = |glass: Option<&str>| {
        let mut request = client
            .get(format!("{riverside_api}/fhir/Binary/{small_id}"))
            .header("authorization", &riverside_bearer);
        if let Some(reason) = glass {
            request = request.header("x-break-glass", reason);
        }
        request.send().unwrap()
    };
    // Riverside's copy of the chain may be a block behind St Mary's.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let record = format!("/v1/state/rec/Binary/{small_id}/_history/1");
    while common::get(&riverside_api, &record).0 != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "never final at Riverside"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(read_at_riverside(None).status().as_u16(), 403);
    let released = read_at_riverside(Some("unconscious on arrival"));
    assert_eq!(released.status().as_u16(), 200);
    assert_eq!(
        released.headers()["content-type"].to_str().unwrap(),
        "application/pdf"
    );
    let mut want = Vec::new();
    Pattern {
        position: 0,
        len: SMALL,
    }
    .read_to_end(&mut want)
    .unwrap();
    assert!(
        released.bytes().unwrap()[..] == want[..],
        "the file arrived changed"
    );

    // Every member's vault holds both files' ciphertexts: the custodian
    // streamed them over once final (the vault says so by hash).
    let small_hash = {
        let (code, v) = common::get(&api, &record);
        assert_eq!(code, 200, "{v}");
        v["value"]["ciphertext"].as_str().unwrap().to_string()
    };
    let big_hash = version["value"]["ciphertext"].as_str().unwrap().to_string();
    held_everywhere(&c, &[&small_hash, &big_hash], true);

    // Uploads that must leave nothing behind.
    let vault = c.nodes[st_mary].home.join("vault");
    let stored = files_under(&vault);
    let address = api.trim_start_matches("http://");
    let headers = |length: u64| upload_head(address, &bearer, &patient, length);
    // Declared larger than the node's max_file_bytes: refused unread.
    let answer = raw_request(address, &headers(LIMIT + 1), b"%PDF", true);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("max_file_bytes"), "{answer}");
    // Cut off midway by its client (it stops sending and waits): refused,
    // and the partial file is gone before the answer comes.
    let answer = raw_request(address, &headers(1 << 20), &[7u8; 100 << 10], false);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("did not arrive whole"), "{answer}");
    assert_eq!(
        files_under(&vault),
        stored,
        "an unfinished upload left files"
    );

    // Erasure: the file, its key and its media type go; reads answer 410.
    let hash = version["value"]["ciphertext"].as_str().unwrap().to_string();
    let held = |name: &str| stored.iter().any(|f| f.ends_with(name));
    assert!(held(&hash) && held(&format!("{hash}.type")), "{stored:?}");
    let erased = client
        .delete(format!("{api}/fhir/Binary/{id}"))
        .header("authorization", &bearer)
        .send()
        .unwrap();
    let status = erased.status().as_u16();
    assert_eq!(status, 204, "{}", erased.text().unwrap());
    let left = files_under(&vault);
    assert!(
        !left.iter().any(|f| f.contains(&hash)),
        "erasure left {left:?}"
    );
    let gone = client
        .get(format!("{api}/fhir/Binary/{id}"))
        .header("authorization", &bearer)
        .send()
        .unwrap();
    assert_eq!(gone.status().as_u16(), 410);
    // Every member follows the erasure and drops its replica.
    held_everywhere(&c, &[&big_hash], false);
    held_everywhere(&c, &[&small_hash], true);
}

/// Wait until every node's vault holds (or, with `present` false, holds
/// none of) the ciphertexts `hashes`; fails after two minutes.
fn held_everywhere(c: &Consortium, hashes: &[&str], present: bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    for index in 0..c.nodes.len() {
        for hash in hashes {
            while common::vault_holds(c.api(index), hash) != present {
                assert!(
                    std::time::Instant::now() < deadline,
                    "node {index}: object {hash} expected present={present}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Every file under `dir`, as paths relative to it, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    files.sort();
    files
}

/// The head of a raw `POST /fhir/Binary` of `length` bytes to `address`.
fn upload_head(address: &str, bearer: &str, patient: &str, length: u64) -> String {
    format!(
        "POST /fhir/Binary HTTP/1.1\r\nhost: {address}\r\nauthorization: {bearer}\r\n\
         content-type: application/pdf\r\nx-security-context: Patient/{patient}\r\n\
         content-length: {length}\r\n\r\n"
    )
}

/// Send `head` and `body` over a fresh connection to `address` and read
/// the response; unless `finished`, stop sending first (a half-close), as
/// a client cut off midway.
fn raw_request(address: &str, head: &str, body: &[u8], finished: bool) -> String {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    if !finished {
        stream.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A body that sends its first `HEAD` bytes of the pattern, says so on
/// `reached`, then waits for `gate` before sending the rest: an upload that
/// holds its transfer.
struct HeldBody {
    pattern: Pattern,
    reached: std::sync::mpsc::Sender<()>,
    gate: std::sync::mpsc::Receiver<()>,
}

const HEAD: u64 = 64 << 10;

impl Read for HeldBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pattern.position == HEAD {
            let _ = self.reached.send(());
            // Released, or the test is over: send the rest either way.
            let _ = self.gate.recv();
        }
        let room = if self.pattern.position < HEAD {
            (HEAD - self.pattern.position) as usize
        } else {
            buf.len()
        };
        let n = room.min(buf.len());
        self.pattern.read(&mut buf[..n])
    }
}

/// More file transfers at once than `max_file_transfers` are refused with
/// a 503 OperationOutcome, and the place is free again once a transfer ends.
#[test]
fn transfers_beyond_the_limit_are_refused_until_one_ends() {
    let (mut c, st_mary, api) = started_with(
        "transfers",
        "max_file_transfers = 16",
        "max_file_transfers = 1",
    );
    let bearer = clinician_bearer(&c, st_mary, 7002);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let patient = new_patient(&client, &api, &bearer);

    // One upload takes the only place and holds it.
    const HELD: u64 = 2 * HEAD;
    let (release, gate) = std::sync::mpsc::channel();
    let (reached, head_sent) = std::sync::mpsc::channel();
    let held = {
        let (client, api, bearer, patient) =
            (client.clone(), api.clone(), bearer.clone(), patient.clone());
        std::thread::spawn(move || {
            let body = HeldBody {
                pattern: Pattern {
                    position: 0,
                    len: HELD,
                },
                reached,
                gate,
            };
            client
                .post(format!("{api}/fhir/Binary"))
                .header("authorization", &bearer)
                .header("content-type", "application/pdf")
                .header("x-security-context", format!("Patient/{patient}"))
                .body(reqwest::blocking::Body::sized(body, HELD))
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
    };
    // Another is refused while it lasts. The node holds the place once it
    // has begun the vault's partial file (it takes the place first).
    head_sent
        .recv_timeout(Duration::from_secs(20))
        .expect("the held upload started");
    let objects = c.nodes[st_mary].home.join("vault/objects");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !files_under(&objects).iter().any(|f| f.starts_with(".tmp-")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the node never began storing the held upload"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // (Raw: the node answers before reading the body and hangs up, which
    // an HTTP client still sending the body reports as an error.)
    let address = api.trim_start_matches("http://");
    let head = upload_head(address, &bearer, &patient, 4);
    let answer = raw_request(address, &head, b"%PDF", true);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("OperationOutcome"), "{answer}");
    assert!(answer.contains("max_file_transfers"), "{answer}");

    // Once the held upload ends, its place is free again.
    release.send(()).unwrap();
    assert_eq!(held.join().unwrap(), 201);
    let answer = upload(&client, &api, &bearer, &patient, "application/pdf", 1024);
    assert_eq!(answer.status().as_u16(), 201);
    c.stop_all();
}
