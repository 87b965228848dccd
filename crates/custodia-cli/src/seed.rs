//! Sample data for `custodia demo`: clinicians at both hospitals, an
//! inspector at the regulator, and patients with records at each hospital,
//! so a new user can follow the README from the first minute. Everything
//! goes through the public API, as an integration would.

use crate::client::{get_json, save_key, token, transact};
use anyhow::{anyhow, bail, Context, Result};
use commonware_cryptography::Signer as _;
use custodia_engine::domain::{Demo, DemoMember};
use custodia_node::home::Home;
use custodia_types::{generate_key, AgentKind, Body, Pseudonym};
use serde_json::{json, Value};
use std::{path::Path, time::Duration};

/// (file name, custodian, name on the record, record types to write)
const PATIENTS: &[(&str, &str, &str, &[&str])] = &[
    (
        "alice",
        "st-mary",
        "Alice Example",
        &["Observation", "Condition", "MedicationRequest"],
    ),
    (
        "bob",
        "st-mary",
        "Bob Example",
        &["Encounter", "AllergyIntolerance", "Immunization"],
    ),
    (
        "carol",
        "riverside-clinic",
        "Carol Example",
        &["DiagnosticReport", "Procedure"],
    ),
];

/// Agents the demo registers: (org, key file, kind).
const AGENTS: &[(&str, &str, AgentKind)] = &[
    ("st-mary", "clinician.key", AgentKind::Clinician),
    ("riverside-clinic", "clinician.key", AgentKind::Clinician),
    ("health-authority", "inspector.key", AgentKind::Clinician),
];

fn api(dir: &Path, org: &str) -> Result<String> {
    Ok(format!("http://{}", Home::load(&dir.join(org))?.config.api))
}

pub(crate) fn post_fhir(
    node: &str,
    bearer: &str,
    resource_type: &str,
    body: &Value,
) -> Result<Value> {
    crate::client::post_authorized(
        node,
        &format!("/fhir/{resource_type}"),
        bearer,
        "application/fhir+json",
        body.to_string(),
    )
    .with_context(|| format!("writing a sample {resource_type}"))
}

/// Seed a fresh demo consortium: clinical records, then each plugged-in
/// domain's data; each part is skipped when the consortium lacks its
/// members.
pub fn seed(dir: &Path) -> Result<()> {
    await_first_block(dir)?;
    clinical(dir)?;
    let demo = demo(dir)?;
    for domain in custodia_node::domains::all::<custodia_node::domains::NodeContext>() {
        domain
            .seed_demo(&demo)
            .with_context(|| format!("seeding the demo's {} data", domain.name()))?;
    }
    Ok(())
}

/// The consortium's genesis file.
fn genesis(dir: &Path) -> Result<custodia_types::Genesis> {
    let text = std::fs::read_to_string(Home::genesis_path(dir)).context("reading genesis.toml")?;
    Ok(custodia_types::Genesis::from_toml(&text)?)
}

/// The consortium in `dir` as the domains see it: every member's node.
fn demo(dir: &Path) -> Result<Demo> {
    let genesis = genesis(dir)?;
    let members = genesis
        .members
        .iter()
        .map(|member| {
            let org = member.id.as_str().to_string();
            let home = dir.join(&org);
            let loaded = Home::load(&home)?;
            let member = DemoMember {
                api: format!("http://{}", loaded.config.api),
                admin_key: loaded.admin_key,
                home,
            };
            Ok((org, member))
        })
        .collect::<Result<_>>()?;
    Ok(Demo {
        dir: dir.to_path_buf(),
        members,
    })
}

/// Wait (up to a minute) until the consortium has finalized a block.
fn await_first_block(dir: &Path) -> Result<()> {
    let genesis = genesis(dir)?;
    let first = genesis
        .members
        .first()
        .ok_or_else(|| anyhow!("genesis names no members"))?;
    let node = api(dir, first.id.as_str())?;
    for _ in 0..600 {
        if get_json(&node, "/v1/status").is_ok_and(|s| s["finalized_height"].as_u64() >= Some(1)) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the consortium finalized no block within a minute; see <dir>/<org>/node.log")
}

fn clinical(dir: &Path) -> Result<()> {
    for (org, _, _) in AGENTS {
        if !dir.join(org).exists() {
            println!("(no {org} in this consortium: sample records skipped; use --orgs 4 or more)");
            return Ok(());
        }
    }
    let first = api(dir, "st-mary")?;
    println!("Seeding sample agents, patients and records...");
    for (org, file, kind) in AGENTS {
        let key = generate_key();
        let home = Home::load(&dir.join(org))?;
        transact(
            &first,
            &home.admin_key,
            Body::RegisterAgent {
                key: key.public_key(),
                kind: *kind,
                label: file.trim_end_matches(".key").into(),
            },
        )?;
        save_key(&dir.join(org).join("keys").join(file), &key)?;
    }
    // Directory data (in no patient's compartment): St Mary's and one of
    // its doctors, read by every member's agents.
    let node = api(dir, "st-mary")?;
    let clinician = crate::client::read_key(&dir.join("st-mary").join("keys/clinician.key"))?;
    let bearer = token(&node, &clinician, Duration::from_secs(3600))?;
    for (t, body) in [
        (
            "Organization",
            json!({ "resourceType": "Organization", "name": "St Mary's Hospital", "active": true }),
        ),
        (
            "Practitioner",
            json!({ "resourceType": "Practitioner", "name": [{ "family": "Osler", "given": ["William"] }] }),
        ),
    ] {
        let created = post_fhir(&node, &bearer, t, &body)?;
        let id = created["id"].as_str().unwrap_or_default();
        println!("  directory {t:<12} at st-mary           {t}/{id}");
    }
    for (slug, custodian, name, types) in PATIENTS {
        let node = api(dir, custodian)?;
        let clinician = crate::client::read_key(&dir.join(custodian).join("keys/clinician.key"))?;
        let bearer = token(&node, &clinician, Duration::from_secs(3600))?;
        let patient = post_fhir(
            &node,
            &bearer,
            "Patient",
            &json!({
                "resourceType": "Patient",
                "name": [{ "text": name }],
                "gender": "unknown"
            }),
        )?;
        let id = patient["id"]
            .as_str()
            .ok_or_else(|| anyhow!("no id in {patient}"))?
            .to_string();
        for t in *types {
            let body = custodia_fhir::example(t, &id).ok_or_else(|| anyhow!("no example {t}"))?;
            post_fhir(&node, &bearer, t, &body)?;
        }
        let key = generate_key();
        let pseudonym: Pseudonym = id.parse().map_err(|_| anyhow!("bad pseudonym {id}"))?;
        let admin = Home::load(&dir.join(custodian))?.admin_key;
        transact(
            &node,
            &admin,
            Body::EnrolPatient {
                patient: pseudonym,
                key: key.public_key(),
            },
        )?;
        save_key(&dir.join("patients").join(format!("{slug}.key")), &key)?;
        std::fs::write(dir.join("patients").join(format!("{slug}.id")), &id)?;
        println!("  patient {slug:<6} at {custodian:<17} Patient/{id}");
    }
    println!("Keys: <dir>/<org>/keys/clinician.key, <dir>/patients/<name>.key; see README.md, \"Clinical records\".");
    Ok(())
}
