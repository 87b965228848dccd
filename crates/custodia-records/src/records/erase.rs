//! Erasure: the custodian records it on the chain, then every node
//! destroys the keys and content it holds of every version.

use super::write::{rule_refusal, write_refusal};
use super::*;

impl<E: Runtime> Clinical<E> {
    /// `DELETE /fhir/{type}/{id}`: erasure by the custodian. The chain
    /// marks the resource erased (its hashes stay, so the chain still
    /// verifies); the data keys of every version are destroyed and the
    /// ciphertexts deleted. Copies other members cached are unreadable
    /// without the keys, and each node deletes its copies when it next
    /// meets the erased resource.
    pub(crate) async fn erase(
        &self,
        caller: &Caller,
        type_name: &str,
        id: &str,
    ) -> Result<(), Outcome> {
        let resource_type = parse_type(type_name)?;
        let id = parse_id(id)?;
        if caller.is_patient() {
            return Err(Outcome::new(
                403,
                IssueType::Forbidden,
                "erasure is carried out by the custodian, at the patient's request",
            ));
        }
        let head = self.existing(resource_type, &id).await?;
        let not_yet_erased = match may_erase(&head, &self.org, &format!("{resource_type}/{id}")) {
            Ok(()) => true,
            // Erasing again destroys whatever this node still holds.
            Err(Rejection::RecordErased(_)) => false,
            Err(refusal) => return Err(rule_refusal(&refusal)),
        };
        if not_yet_erased {
            let (_, receipt) = self
                .submit_final(Body::EraseRecord {
                    resource_type,
                    id: id.clone(),
                })
                .await?;
            if let TxStatus::Rejected { reason } = receipt.status {
                return Err(write_refusal(&reason));
            }
        }
        self.index.forget(resource_type, &id);
        self.forget(resource_type, &id, head.version).await
    }

    /// Destroy what this node holds of an erased resource: keys and content.
    pub(crate) async fn forget(
        &self,
        resource_type: ResourceType,
        id: &LogicalId,
        versions: u64,
    ) -> Result<(), Outcome> {
        for version in 1..=versions {
            let entry: Option<RecordEntry> = self
                .read(&keys::record_version(resource_type, id, version))
                .await?;
            let Some(entry) = entry else { continue };
            let hash: [u8; 32] = entry.ciphertext.as_ref().try_into().map_err(unavailable)?;
            self.vault(move |objects, keyring, _| {
                keyring.shred(&hash).map_err(unavailable)?;
                objects.delete(&hash).map_err(unavailable)
            })
            .await?;
        }
        Ok(())
    }
}
