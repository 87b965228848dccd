//! `GET /fhir/Provenance?target=Type/id[/_history/v]`: where each version
//! of a resource came from, as the chain recorded it (the writing agent by
//! name, its organisation, the time, the transaction and block), as R4
//! Provenance resources. Reading them is an audited read of the target.

use super::*;
use custodia_state::records::Principal;

impl<E: Runtime> Clinical<E> {
    pub(crate) async fn provenance(
        &self,
        caller: &Caller,
        target: &str,
    ) -> Result<Vec<Value>, Outcome> {
        let bad_target = || {
            Outcome::new(
                400,
                IssueType::Value,
                format!(
                    "target={target:?}: name a resource as Type/id or Type/id/_history/version"
                ),
            )
        };
        let mut parts = target.split('/');
        let (type_name, id, version) = match (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
            (Some(t), Some(id), None, None, None) => (t, id, None),
            (Some(t), Some(id), Some("_history"), Some(v), None) => {
                (t, id, Some(v.parse::<u64>().map_err(|_| bad_target())?))
            }
            _ => return Err(bad_target()),
        };
        let resource_type = parse_type(type_name)?;
        let id = parse_id(id)?;
        let (head, _) = self.permitted_read(caller, resource_type, &id).await?;
        let versions = match version {
            Some(v) if (1..=head.version).contains(&v) => v..=v,
            Some(v) => {
                return Err(Outcome::new(
                    404,
                    IssueType::NotFound,
                    format!("{resource_type}/{id} has no version {v}"),
                ))
            }
            None => 1..=head.version,
        };
        let members: Vec<custodia_types::Member> =
            self.read(keys::MEMBERS).await?.unwrap_or_default();
        let mut found = Vec::new();
        for version in versions {
            let entry: RecordEntry = self
                .read(&keys::record_version(resource_type, &id, version))
                .await?
                .ok_or_else(|| unavailable(format!("{resource_type}/{id} v{version} missing")))?;
            let author_name = match hex::decode(&entry.author) {
                Ok(key) => match self.read::<Principal>(&keys::principal(&key)).await? {
                    Some(Principal::Agent { label, .. }) => Some(label),
                    Some(Principal::Admin { org }) => Some(format!("administrator of {org}")),
                    _ => None,
                },
                Err(_) => None,
            };
            let org_name = members
                .iter()
                .find(|m| m.id == entry.custodian)
                .map(|m| m.name.clone());
            found.push(custodia_fhir::provenance(&custodia_fhir::ProvenanceFacts {
                target: &format!("{resource_type}/{id}/_history/{version}"),
                recorded: &rfc3339(entry.time_ms),
                author_key: &entry.author,
                author_name: author_name.as_deref(),
                org: entry.custodian.as_str(),
                org_name: org_name.as_deref(),
                tx: &hex::encode(entry.tx),
                entry: entry.entry,
                height: entry.height,
            }));
        }
        Ok(found)
    }
}
