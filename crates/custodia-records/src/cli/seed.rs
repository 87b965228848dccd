//! Sample records for `custodia demo`: clinicians at both hospitals, an
//! inspector at the regulator, and patients with records at each hospital,
//! so a new user can follow the README from the first minute. Everything
//! goes through the public API, as an integration would.

use anyhow::{anyhow, Context, Result};
use commonware_cryptography::Signer as _;
use custodia_client::{post_fhir, read_key, save_key, token, transact};
use custodia_engine::domain::{Demo, DemoMember};
use custodia_types::{generate_key, AgentKind, Body, Pseudonym};
use serde_json::json;
use std::time::Duration;

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

/// Seed the demo's sample records; a consortium without both hospitals
/// and the regulator is left alone.
pub fn seed(demo: &Demo) -> Result<()> {
    let member = |org: &str| -> Result<&DemoMember> {
        demo.members
            .get(org)
            .ok_or_else(|| anyhow!("no {org} in this consortium"))
    };
    if let Some((org, _, _)) = AGENTS
        .iter()
        .find(|(org, _, _)| !demo.members.contains_key(*org))
    {
        println!("(no {org} in this consortium: sample records skipped; use --orgs 4 or more)");
        return Ok(());
    }
    let first = &member("st-mary")?.api;
    println!("Seeding sample agents, patients and records...");
    for (org, file, kind) in AGENTS {
        let key = generate_key();
        let member = member(org)?;
        transact(
            first,
            &member.admin_key,
            Body::RegisterAgent {
                key: key.public_key(),
                kind: *kind,
                label: file.trim_end_matches(".key").into(),
            },
        )?;
        save_key(&member.home.join("keys").join(file), &key)?;
    }
    // Directory data (in no patient's compartment): St Mary's and one of
    // its doctors, read by every member's agents.
    let st_mary = member("st-mary")?;
    let clinician = read_key(&st_mary.home.join("keys/clinician.key"))?;
    let bearer = token(&st_mary.api, &clinician, Duration::from_secs(3600))?;
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
        let created = post_fhir(&st_mary.api, &bearer, t, &body)?;
        let id = created["id"].as_str().unwrap_or_default();
        println!("  directory {t:<12} at st-mary           {t}/{id}");
    }
    let patients = demo.dir.join("patients");
    for (slug, custodian, name, types) in PATIENTS {
        let at = member(custodian)?;
        let clinician = read_key(&at.home.join("keys/clinician.key"))?;
        let bearer = token(&at.api, &clinician, Duration::from_secs(3600))?;
        let patient = post_fhir(
            &at.api,
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
            post_fhir(&at.api, &bearer, t, &body)?;
        }
        let key = generate_key();
        let pseudonym: Pseudonym = id.parse().map_err(|_| anyhow!("bad pseudonym {id}"))?;
        transact(
            &at.api,
            &at.admin_key,
            Body::EnrolPatient {
                patient: pseudonym,
                key: key.public_key(),
            },
        )?;
        save_key(&patients.join(format!("{slug}.key")), &key)?;
        std::fs::write(patients.join(format!("{slug}.id")), &id).with_context(|| {
            format!("writing {}", patients.join(format!("{slug}.id")).display())
        })?;
        println!("  patient {slug:<6} at {custodian:<17} Patient/{id}");
    }
    println!("Keys: <dir>/<org>/keys/clinician.key, <dir>/patients/<name>.key; see README.md, \"Clinical records\".");
    Ok(())
}
