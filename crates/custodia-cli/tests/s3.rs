//! The vault on a real S3 API: two members' nodes keep their ciphertexts
//! in one bucket of a local S3 server (moto), each under its own prefix,
//! and nothing on local disk but keys. A record written and read back, a
//! file streamed in (a multipart upload) and out, replicas landing under
//! the other member's prefix, erasure deleting the objects everywhere,
//! and a node whose bucket cannot be used refusing to start.

mod common;

use common::clinical::{clinician_bearer, files_holding, upload, Fhir, Pattern};
use common::Consortium;
use serde_json::{json, Value};
use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The moto release the test provisions when the machine has none.
const MOTO: &str = "moto[server]==5.2.1";
const BUCKET: &str = "custodia-e2e";
/// Larger than one part (8 MiB): the upload is a real multipart upload.
const FILE: u64 = 20 << 20;

/// A moto S3 server on loopback, killed when dropped.
struct Moto {
    endpoint: String,
    process: Child,
}

impl Moto {
    fn start(dir: &Path) -> Self {
        let python = python_with_moto();
        let port = common::free_ports(1);
        std::fs::create_dir_all(dir).unwrap();
        let log_path = dir.join("moto.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let process = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} -m moto.server: {e}", python.display()));
        let mut moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            process,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.process.try_wait() {
                panic!(
                    "moto exited ({status}): {}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "moto did not listen within 30 s; see {}",
                log_path.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Create a bucket: moto takes an unsigned PUT.
    fn create_bucket(&self, bucket: &str) {
        let response = reqwest::blocking::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .unwrap();
        assert!(response.status().is_success(), "{:?}", response.text());
    }

    /// Every key in `bucket` under `prefix` (ListObjectsV2), with its size.
    fn list(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let xml = reqwest::blocking::get(format!(
            "{}/{bucket}?list-type=2&prefix={prefix}",
            self.endpoint
        ))
        .unwrap()
        .text()
        .unwrap();
        assert!(
            !xml.contains("<IsTruncated>true</IsTruncated>"),
            "more than a page"
        );
        let field = |object: &str, name: &str| {
            let start = object.find(&format!("<{name}>")).unwrap() + name.len() + 2;
            let end = object.find(&format!("</{name}>")).unwrap();
            object[start..end].to_string()
        };
        xml.split("<Contents>")
            .skip(1)
            .map(|object| (field(object, "Key"), field(object, "Size").parse().unwrap()))
            .collect()
    }

    /// An object's bytes, read with a signed request (moto refuses
    /// anonymous reads of objects) by the client the vault uses.
    fn object(&self, bucket: &str, key: &str) -> Vec<u8> {
        use custodia_vault::object_store::{aws::AmazonS3Builder, path::Path, ObjectStoreExt};
        let store = AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(async { store.get(&Path::from(key)).await?.bytes().await })
            .unwrap_or_else(|e| panic!("{key}: {e}"))
            .to_vec()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A Python that has moto's server: the machine's, else a virtual
/// environment under the target directory, made once.
fn python_with_moto() -> PathBuf {
    let has_moto = |python: &Path| {
        Command::new(python)
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let system = PathBuf::from("python3");
    if has_moto(&system) {
        return system;
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("moto-venv");
    let python = venv.join("bin/python3");
    if has_moto(&python) {
        return python;
    }
    let run = |command: &mut Command, what: &str| {
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("{what}: cannot run it ({e}); this test needs python3"));
        assert!(
            out.status.success(),
            "{what} failed; this test needs python3 with venv and pip, or `python3 -m pip install '{MOTO}'`:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(&python).args(["-m", "pip", "install", "--quiet", MOTO]),
        "pip install moto",
    );
    assert!(has_moto(&python), "moto installed but does not import");
    python
}

/// Point a node's vault at the bucket (init wrote `[vault]` commented out).
fn use_bucket(home: &Path, endpoint: &str, bucket: &str) {
    let config = home.join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("# [vault]"), "config.toml explains [vault]");
    text.push_str(&format!(
        "\n[vault]\nstore = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{endpoint}\"\n\
         region = \"us-east-1\"\nallow_http = true\n"
    ));
    std::fs::write(&config, text).unwrap();
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The ciphertext hash the chain records for a version.
fn ciphertext_of(api: &str, resource: &str) -> String {
    let (code, version) = common::get(api, &format!("/v1/state/rec/{resource}/_history/1"));
    assert_eq!(code, 200, "{version}");
    version["value"]["ciphertext"].as_str().unwrap().to_string()
}

#[test]
fn the_vault_keeps_ciphertexts_in_an_s3_bucket() {
    let started = Instant::now();
    let mut c = Consortium::init_orgs("s3", 2, 0);
    let moto = Moto::start(&c.root.join("moto"));
    moto.create_bucket(BUCKET);
    // Credentials as an operator would give them: in the environment the
    // nodes inherit, never in config.toml (moto takes any).
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    std::env::set_var("AWS_REGION", "us-east-1");
    let st_mary = c.index_of("st-mary");
    let riverside = c.index_of("riverside-clinic");

    // A bucket that does not exist: the node says so and stops, before
    // it joins the network.
    let home = c.nodes[st_mary].home.clone();
    use_bucket(&home, &moto.endpoint, "no-such-bucket");
    let out = common::custodia(&["node", "--home", home.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot open the vault") && stderr.contains("no-such-bucket"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("testing"),
        "credentials in an error: {stderr}"
    );
    // An s3 table without a bucket is refused as the config it is.
    let config = home.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let cut = text.find("\n[vault]").unwrap();
    std::fs::write(
        &config,
        format!("{}\n[vault]\nstore = \"s3\"\n", &text[..cut]),
    )
    .unwrap();
    let out = common::custodia(&["node", "--home", home.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("config.toml") && stderr.contains("bucket"),
        "{stderr}"
    );
    std::fs::write(&config, &text[..cut]).unwrap();

    for node in &c.nodes {
        use_bucket(&node.home, &moto.endpoint, BUCKET);
    }
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let log = std::fs::read_to_string(home.join("node.log")).unwrap();
    assert!(
        log.contains(&format!("s3 bucket \"{BUCKET}\"")) && log.contains("prefix \"st-mary\""),
        "the node logs where its ciphertexts go: {log}"
    );

    let bearer = clinician_bearer(&c, st_mary, 9_001);
    let fhir = Fhir {
        api: c.nodes[st_mary].api.clone(),
        token: bearer.trim_start_matches("Bearer ").to_string(),
    };
    let (code, patient) = fhir.call(
        "POST",
        "/fhir/Patient",
        Some(json!({"resourceType": "Patient", "gender": "other"})),
        &[],
    );
    assert_eq!(code, 201, "{patient}");
    let patient = patient["id"].as_str().unwrap().to_string();
    let observation = custodia_fhir::example("Observation", &patient).unwrap();
    let (code, created) = fhir.call("POST", "/fhir/Observation", Some(observation), &[]);
    assert_eq!(code, 201, "{created}");
    let obs_id = created["id"].as_str().unwrap().to_string();
    let (code, read) = fhir.get(&format!("/fhir/Observation/{obs_id}"));
    assert_eq!(code, 200, "{read}");
    assert_eq!(read, created, "the custodian reads back what it wrote");

    // The ciphertexts are in the bucket under St Mary's prefix, as many as
    // the node counts, and its own is among them.
    let api = c.nodes[st_mary].api.clone();
    let obs_hash = ciphertext_of(&api, &format!("Observation/{obs_id}"));
    let count = |index: usize| {
        let (code, body) = common::get(c.api(index), "/v1/vault/objects");
        assert_eq!(code, 200, "{body}");
        body["objects"].as_u64().unwrap()
    };
    let keys = |prefix: &str| -> Vec<String> {
        moto.list(BUCKET, &format!("{prefix}/"))
            .into_iter()
            .map(|(key, _)| key)
            .collect()
    };
    let own = keys("st-mary");
    assert!(own.contains(&format!("st-mary/{obs_hash}")), "{own:?}");
    assert_eq!(own.len() as u64, count(st_mary), "{own:?}");
    assert!(own.len() >= 2, "patient and observation: {own:?}");
    // The custodian pushes each version to the other member, which keeps
    // its replica under its own prefix.
    let replica = format!("riverside-clinic/{obs_hash}");
    wait_for("the replica in the bucket", Duration::from_secs(15), || {
        keys("riverside-clinic").contains(&replica)
    });
    assert_eq!(keys("riverside-clinic").len() as u64, count(riverside));

    // A file: streamed in as a multipart upload, out again byte for byte.
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let uploaded = upload(&client, &api, &bearer, &patient, "application/dicom", FILE);
    assert_eq!(uploaded.status().as_u16(), 201);
    let binary: Value = uploaded.json().unwrap();
    let binary_id = binary["id"].as_str().unwrap().to_string();
    let file_hash = ciphertext_of(&api, &format!("Binary/{binary_id}"));
    let stored = moto.list(BUCKET, &format!("st-mary/{file_hash}"));
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].1 > FILE, "the whole ciphertext: {stored:?}");
    let download = client
        .get(format!("{api}/fhir/Binary/{binary_id}"))
        .header("authorization", &bearer)
        .send()
        .unwrap();
    assert_eq!(download.status().as_u16(), 200);
    Pattern::expect(download, FILE);

    // Nothing of either ciphertext on either node's disk: no local
    // objects, no staging left behind, the bytes nowhere under its home.
    let file_replica = format!("riverside-clinic/{file_hash}");
    wait_for("the file's replica", Duration::from_secs(30), || {
        keys("riverside-clinic").contains(&file_replica)
    });
    for node in &c.nodes {
        let vault = node.home.join("vault");
        assert!(!vault.join("objects").exists(), "local objects were made");
        assert_eq!(std::fs::read_dir(vault.join("staging")).unwrap().count(), 0);
        for key in [
            format!("st-mary/{obs_hash}"),
            format!("st-mary/{file_hash}"),
        ] {
            let ciphertext = moto.object(BUCKET, &key);
            let middle = ciphertext.len() / 2;
            let mut found = Vec::new();
            files_holding(&node.home, &ciphertext[middle..middle + 64], &mut found);
            assert!(found.is_empty(), "{key} found on local disk: {found:?}");
        }
    }

    // Erasure deletes the objects from the bucket, under both prefixes.
    for resource in [
        format!("Observation/{obs_id}"),
        format!("Binary/{binary_id}"),
    ] {
        let (code, body) = fhir.call("DELETE", &format!("/fhir/{resource}"), None, &[]);
        assert_eq!(code, 204, "{resource}: {body}");
        let (code, _) = fhir.get(&format!("/fhir/{resource}"));
        assert_eq!(code, 410, "{resource}");
    }
    for hash in [&obs_hash, &file_hash] {
        wait_for("erasure in the bucket", Duration::from_secs(15), || {
            moto.list(BUCKET, "")
                .iter()
                .all(|(key, _)| !key.ends_with(hash.as_str()))
        });
    }
    let left = keys("st-mary");
    assert_eq!(left.len() as u64, count(st_mary), "{left:?}");
    assert!(!left.is_empty(), "the patient's version is still there");
    c.stop_all();
    eprintln!("s3 end to end in {:?}", started.elapsed());
}
