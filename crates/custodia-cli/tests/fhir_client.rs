//! A stock FHIR client library, unmodified, against a node on real
//! processes: fhir-kit-client from the npm registry (`npm ci` in
//! tests/fhir-client, by `.ci/run` or else by this test) creates, searches and pages
//! through the results, reads, updates and reads history, as any FHIR
//! application would.

mod common;

use common::clinical::registered_clinician;
use common::Consortium;
use serde_json::{json, Value};
use std::{path::Path, process::Command, time::Duration};

#[test]
fn a_stock_fhir_client_creates_searches_pages_reads_and_reads_history() {
    let client_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fhir-client");
    if !client_dir.join("node_modules/fhir-kit-client").is_dir() {
        // .ci/run installs it beforehand; a developer's first run does here.
        let installed = Command::new("npm")
            .current_dir(&client_dir)
            .args(["ci", "--no-audit", "--no-fund"])
            .status();
        assert!(
            installed.is_ok_and(|status| status.success()),
            "installing the FHIR client library failed: this test needs Node.js 20 or later and npm (`npm ci` in {})",
            client_dir.display()
        );
    }
    let mut c = Consortium::init("fhir-client");
    c.start_all();
    c.await_all(1, Duration::from_secs(60));
    let (_, st_mary) = registered_clinician(&c, "st-mary", 1_401);
    let patient = st_mary.create_patient();

    let out = Command::new("node")
        .current_dir(&client_dir)
        .args([
            "client.mjs",
            &format!("{}/fhir", st_mary.api),
            &st_mary.token,
            &patient,
        ])
        .output()
        .expect("node runs (Node.js 20 or later)");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the client failed: {printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(seen["fhirVersion"], "4.0.1");
    let created: Vec<&str> = seen["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(created.len(), 25);
    // Three pages of at most 10, every created resource once.
    let pages: Vec<Vec<&str>> = seen["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|page| {
            page.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [10, 10, 5],
        "{seen}"
    );
    let mut found: Vec<&str> = pages.concat();
    found.sort_unstable();
    let mut expected = created.clone();
    expected.sort_unstable();
    assert_eq!(found, expected);
    assert_eq!(seen["read"], json!({ "id": created[0], "value": 60 }));
    // History, newest first.
    assert_eq!(seen["history"], json!([99, 60]));
    c.stop_all();
}
