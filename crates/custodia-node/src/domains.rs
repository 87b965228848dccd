//! The domains this node runs: the one list a new domain is added to
//! (ARCHITECTURE.md, "Adding a domain"). Every node of a consortium runs
//! the same list, as it runs the same binary.

use custodia_engine::{domain::Domain, engine::Runtime};
use custodia_state::Domains;
use std::sync::Arc;

/// The runtime a node runs its services on.
pub type NodeContext = commonware_runtime::tokio::Context;

/// Every plugged-in domain, in the order the demo seeds them.
pub fn all<E: Runtime>() -> Vec<Arc<dyn Domain<E>>> {
    vec![
        Arc::new(custodia_records::ClinicalDomain),
        Arc::new(custodia_supply_service::SupplyDomain),
    ]
}

/// The plugged-in domains' state modules, for the state machine.
pub fn modules() -> Domains {
    Domains::new(
        all::<NodeContext>()
            .iter()
            .filter_map(|domain| domain.module()),
    )
    .unwrap_or_else(|duplicate| panic!("the domain list is wrong: {duplicate}"))
}

/// A transaction body from the JSON clients write (`custodia tx --body`):
/// a core body (`{"type": "note", ...}`), or an action of the plugged-in
/// domain its `type` names (`{"type": "supply", "action": {...}}`).
pub fn body_from_json(text: &str) -> Result<custodia_types::Body, String> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let kind = json.get("type").and_then(serde_json::Value::as_str);
    match all::<NodeContext>()
        .into_iter()
        .find(|domain| Some(domain.name()) == kind)
    {
        Some(domain) => domain.body_from_json(json),
        None => serde_json::from_value(json).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_write_core_and_domain_bodies_as_json() {
        let note = body_from_json(r#"{"type":"note","data":"00"}"#).expect("a note");
        assert_eq!(note.kind(), "note");
        let supply = body_from_json(
            r#"{"type":"supply","action":{"action":"link_party","party":"urn:epc:id:pgln:0614141.00001"}}"#,
        )
        .expect("a supply action");
        assert_eq!(supply.kind(), "supply");
        let error = body_from_json(r#"{"type":"supply","action":{"action":"teleport"}}"#)
            .expect_err("no such action");
        assert!(error.contains("teleport"), "{error}");
        let error = body_from_json(r#"{"type":"claims"}"#).expect_err("no such type");
        assert!(error.contains("claims"), "{error}");
    }

    #[test]
    fn every_domain_has_its_own_name_and_its_module_answers_to_it() {
        let domains = all::<NodeContext>();
        let names: std::collections::BTreeSet<_> =
            domains.iter().map(|domain| domain.name()).collect();
        assert_eq!(names.len(), domains.len(), "two domains share a name");
        let commands: Vec<_> = domains
            .iter()
            .filter_map(|domain| domain.command())
            .map(|command| command.get_name().to_string())
            .collect();
        let distinct: std::collections::BTreeSet<_> = commands.iter().collect();
        assert_eq!(
            distinct.len(),
            commands.len(),
            "two domains share a subcommand"
        );
        let with_modules = domains.iter().filter(|domain| domain.module().is_some());
        assert_eq!(modules().names().count(), with_modules.count());
        for domain in &domains {
            if let Some(module) = domain.module() {
                assert_eq!(module.name(), domain.name());
            }
            // Its name is one its actions can travel under, and no core
            // body's type, so `custodia tx --body` cannot mistake the two.
            let payload = bytes::Bytes::from_static(b"{}");
            assert!(custodia_types::DomainTx::new(domain.name(), None, payload).is_ok());
            let core = serde_json::from_value::<custodia_types::Body>(
                serde_json::json!({ "type": domain.name() }),
            );
            let error = core.expect_err("not a core body").to_string();
            assert!(error.contains("unknown variant"), "{error}");
            let paths = domain.openapi_paths();
            assert!(!paths.is_empty(), "{} documents no route", domain.name());
            for path in paths.keys() {
                assert!(path.starts_with("/v1/"), "{path}");
            }
        }
    }
}
