//! Finding resources by identifier through the node's private index
//! (`crate::index`): rebuilt at start from what the organisation holds,
//! searched at `GET /fhir/{type}?identifier=system|value`.

use super::*;
use std::sync::Arc;

impl<E: Runtime> Clinical<E> {
    /// Rebuild the identifier index from the vault, in the background: the
    /// chain lists what this organisation holds; the node opens the latest
    /// version of each that is not erased. Logs only a count.
    pub(crate) fn rebuild_index(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            match this.index_held().await {
                Ok(count) => tracing::info!(resources = count, "identifier index rebuilt"),
                Err(outcome) => tracing::warn!(?outcome, "rebuilding the identifier index failed"),
            }
        });
    }

    async fn index_held(&self) -> Result<usize, Outcome> {
        let count = self
            .read_raw(&keys::custodian_records(&self.org))
            .await?
            .and_then(|b| keys::decode_u64(&b))
            .unwrap_or(0);
        for i in 0..count {
            let Some(name) = self
                .read::<String>(&keys::custodian_record(&self.org, i))
                .await?
            else {
                continue;
            };
            let Some((resource_type, id)) = record_name(&name) else {
                continue;
            };
            let Some(head) = self
                .read::<RecordHead>(&keys::record_head(resource_type, &id))
                .await?
            else {
                continue;
            };
            if head.erased_height.is_some() || resource_type == ResourceType::Binary {
                continue;
            }
            let version = self.own_content(resource_type, &id, head.version).await?;
            self.identifiers.record(resource_type, &id, &version);
        }
        Ok(self.identifiers.len())
    }

    /// The content of a version this organisation holds, opened from its
    /// own vault (no key release, no audit: the node's own bookkeeping).
    async fn own_content(
        &self,
        resource_type: ResourceType,
        id: &LogicalId,
        version: u64,
    ) -> Result<Value, Outcome> {
        let entry: RecordEntry = self
            .read(&keys::record_version(resource_type, id, version))
            .await?
            .ok_or_else(|| unavailable(format!("{resource_type}/{id} v{version} missing")))?;
        let hash: [u8; 32] = entry.ciphertext.as_ref().try_into().map_err(unavailable)?;
        let opened = self.open_own(hash, aad(resource_type, id, version)).await?;
        serde_json::from_slice(&opened.plaintext).map_err(unavailable)
    }

    /// `GET /fhir/{type}?identifier=system|value`: the resources of a type
    /// this node holds with that identifier, each read audited like any
    /// other (a caller the policy denies gets none of them).
    pub(crate) async fn search_identifier(
        &self,
        caller: &Caller,
        type_name: &str,
        token: &IdentifierToken,
    ) -> Result<Vec<Version>, Outcome> {
        let resource_type = parse_json_type(type_name)?;
        let ids = self.identifiers.find(resource_type, token);
        self.read_permitted(caller, resource_type, &ids).await
    }
}
