//! Clinical calls the end-to-end tests share: FHIR requests with a
//! clinician's bearer token, node-signed transactions waited for, files
//! of a generated pattern, and searching a directory for bytes.

use super::{await_finalized, sign, submit, Consortium};
use commonware_cryptography::Signer as _;
use custodia_node::home::Home;
use custodia_types::{
    AgentKind, AuthToken, Body, ConsentGrant, Grantee, OrgId, PrivateKey, Pseudonym, Purpose,
};
use serde_json::Value;
use std::{
    io::Read,
    path::Path,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A clinician (or patient) calling the FHIR API of one organisation's node.
pub struct Fhir {
    pub api: String,
    /// The bearer token, without "Bearer ".
    pub token: String,
}

impl Fhir {
    pub fn new(c: &Consortium, org: &str, key: &PrivateKey) -> Self {
        let token = AuthToken {
            chain_id: c.chain_id.clone(),
            audience: OrgId::new(org).unwrap(),
            key: key.public_key(),
            expires_ms: now_ms() + 3_600_000,
        }
        .sign(key);
        Self {
            api: c.nodes[c.index_of(org)].api.clone(),
            token,
        }
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let client = super::client_with_timeout(Duration::from_secs(60));
        let url = format!("{}{path}", self.api);
        let mut request = match method {
            "GET" => client.get(url),
            "POST" => client.post(url),
            "PUT" => client.put(url),
            "DELETE" => client.delete(url),
            other => panic!("{other}"),
        };
        request = request.header("authorization", format!("Bearer {}", self.token));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/fhir+json")
                .body(body.to_string());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Create `resource` here (`POST /fhir/{its type}`); its new id.
    pub fn create(&self, resource: Value) -> String {
        let path = format!("/fhir/{}", resource["resourceType"].as_str().unwrap());
        let (code, created) = self.call("POST", &path, Some(resource), &[]);
        assert_eq!(code, 201, "{created}");
        created["id"].as_str().unwrap().to_string()
    }

    /// A new patient, written here; its pseudonym.
    pub fn create_patient(&self) -> String {
        self.create(serde_json::json!({"resourceType": "Patient", "gender": "unknown"}))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None, &[])
    }
}

/// Submit a transaction signed by `key` and wait until it is final on
/// every running node (each applies blocks on its own schedule, and a
/// test reads at any of them next).
pub fn transact(c: &Consortium, key: &PrivateKey, nonce: u64, body: Body) {
    let tx = sign(&c.chain_id, key, nonce, body);
    let (code, answer) = submit(&c.nodes[0].api, &tx);
    assert_eq!(code, 202, "{answer}");
    for node in c.nodes.iter().filter(|node| node.process.is_some()) {
        // Panics unless it was applied ("finalized", not "rejected").
        await_finalized(&node.api, &tx.id(), Duration::from_secs(30));
    }
}

/// Register a clinician (key from `seed`, labelled "dr") at `org`, its
/// admin's first transaction, and call that node's FHIR API as them.
pub fn registered_clinician(c: &Consortium, org: &str, seed: u64) -> (PrivateKey, Fhir) {
    let doctor = PrivateKey::from_seed(seed);
    let admin = c.nodes[c.index_of(org)].admin_key.clone();
    let register = Body::RegisterAgent {
        key: doctor.public_key(),
        kind: AgentKind::Clinician,
        label: "dr".into(),
    };
    transact(c, &admin, 0, register);
    let fhir = Fhir::new(c, org, &doctor);
    (doctor, fhir)
}

/// The custodian (its admin, at `admin_nonce`) enrols `patient` with
/// `key`, and the patient's first transaction consents to `grantee` for
/// treatment, for an hour.
pub fn enrol_and_consent(
    c: &Consortium,
    custodian_admin: &PrivateKey,
    admin_nonce: u64,
    patient: Pseudonym,
    key: &PrivateKey,
    grantee: &str,
) {
    let enrol = Body::EnrolPatient {
        patient,
        key: key.public_key(),
    };
    transact(c, custodian_admin, admin_nonce, enrol);
    let consent = Body::GrantConsent(ConsentGrant {
        grantee: Grantee::Org {
            org: OrgId::new(grantee).unwrap(),
        },
        scope: vec![],
        purpose: Purpose::Treatment,
        from_ms: 0,
        until_ms: now_ms() + 3_600_000,
    });
    transact(c, key, 0, consent);
}

/// Every file under `dir` but vault objects (ciphertexts) holding `needle`.
pub fn files_holding(dir: &Path, needle: &[u8], found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("vault/objects") {
                files_holding(&path, needle, found);
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
}

/// `len` bytes of a deterministic, incompressible-looking pattern, made on
/// the fly so the test holds no more of it than the node does.
pub struct Pattern {
    pub position: u64,
    pub len: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min((self.len - self.position) as usize);
        for (i, byte) in buf[..n].iter_mut().enumerate() {
            let x = (self.position + i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            *byte = (x >> 56) as u8;
        }
        self.position += n as u64;
        Ok(n)
    }
}

impl Pattern {
    /// Panics unless `download` yields exactly `len` bytes of the pattern,
    /// read in 64 KiB steps (never held whole).
    pub fn expect(mut download: impl Read, len: u64) {
        let mut expected = Pattern { position: 0, len };
        let (mut got, mut want) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
        let mut total = 0u64;
        loop {
            let n = download.read(&mut got).unwrap();
            if n == 0 {
                break;
            }
            expected.read_exact(&mut want[..n]).unwrap();
            assert!(got[..n] == want[..n], "the file differs at byte {total}");
            total += n as u64;
        }
        assert_eq!(total, len, "the whole file came back");
    }
}

/// `POST /fhir/Binary`: `len` bytes of the pattern, filed under `patient`.
pub fn upload(
    client: &reqwest::blocking::Client,
    api: &str,
    bearer: &str,
    patient: &str,
    media_type: &str,
    len: u64,
) -> reqwest::blocking::Response {
    client
        .post(format!("{api}/fhir/Binary"))
        .header("authorization", bearer)
        .header("content-type", media_type)
        .header("x-security-context", format!("Patient/{patient}"))
        .body(reqwest::blocking::Body::sized(
            Pattern { position: 0, len },
            len,
        ))
        .send()
        .unwrap()
}

/// Register a clinician at organisation `index` (its admin's first
/// transaction) and make them a bearer token for that organisation's node.
pub fn clinician_bearer(c: &Consortium, index: usize, seed: u64) -> String {
    let clinician = PrivateKey::from_seed(seed);
    let api = &c.nodes[index].api;
    let tx = sign(
        &c.chain_id,
        &c.nodes[index].admin_key,
        0,
        Body::RegisterAgent {
            key: clinician.public_key(),
            kind: AgentKind::Clinician,
            label: "radiology".into(),
        },
    );
    assert_eq!(submit(api, &tx).0, 202);
    await_finalized(api, &tx.id(), Duration::from_secs(30));
    let org = Home::load(&c.nodes[index].home).unwrap().config.org;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let token = AuthToken {
        chain_id: c.chain_id.clone(),
        audience: OrgId::new(&org).unwrap(),
        key: clinician.public_key(),
        expires_ms: (now + Duration::from_secs(3600)).as_millis() as u64,
    }
    .sign(&clinician);
    format!("Bearer {token}")
}
