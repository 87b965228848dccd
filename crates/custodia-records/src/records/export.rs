//! FHIR Bulk Data export (HL7 Bulk Data Access): a kick-off starts a job
//! in the background; the job reads every resource in its scope that the
//! caller may read — each an audited access decided by the chain under
//! the caller's purpose of use, so consent and purpose filter the export —
//! and keeps one NDJSON file a type until it is fetched, deleted or an
//! hour old. Jobs and files live in the node's memory only: an export is
//! readable content, never written to disk in the clear.

use super::*;
use crate::peer_search::MAX_EXPORT;
use bytes::Bytes;
use custodia_fhir::search::{local_reference, Query};
use custodia_types::{OrgId, PublicKey};
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

/// Export jobs a node runs at once; more kick-offs are asked to wait.
const MAX_RUNNING: usize = 2;
/// A job and its files are forgotten this long after they started.
const KEPT_FOR: Duration = Duration::from_secs(3600);
/// Reads asked of the chain at once.
const READS_AT_ONCE: usize = 256;

/// What an export covers (the kick-off's path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ExportScope {
    /// `/$export`: every type.
    System,
    /// `/Patient/$export`: what is in patients' compartments.
    Patients,
    /// `/Group/{id}/$export`: the compartments of the group's patients.
    Group(LogicalId),
}

#[derive(Clone, Debug)]
pub(crate) struct ExportRequest {
    pub scope: ExportScope,
    /// `_type`: only these (empty: every type of the scope).
    pub types: Vec<ResourceType>,
    /// `_since`: only resources updated after this (a FHIR instant).
    pub since: Option<String>,
    /// The kick-off URL, as the manifest repeats it.
    pub url: String,
}

/// One type's output.
pub(crate) struct ExportFile {
    pub resource_type: ResourceType,
    pub ndjson: Bytes,
    pub count: usize,
}

/// A finished export.
pub(crate) struct Exported {
    pub files: Vec<ExportFile>,
    /// Members whose nodes did not answer: their records are missing.
    pub unreachable: Vec<OrgId>,
    /// When the export began (its `transactionTime`), ms since the epoch.
    pub began_ms: u64,
    pub url: String,
}

/// Where a job stands.
pub(crate) enum ExportStatus {
    Running { types_done: usize, types: usize },
    Complete(Arc<Exported>),
    Failed(Outcome),
}

struct Job {
    owner: PublicKey,
    /// When it started, by the runtime's clock (ms since the epoch).
    started_ms: u64,
    types: usize,
    types_done: Arc<AtomicUsize>,
    result: Option<Result<Arc<Exported>, Outcome>>,
}

/// The node's export jobs.
#[derive(Default)]
pub(crate) struct Exports {
    jobs: Mutex<HashMap<String, Job>>,
}

fn no_such_job() -> Outcome {
    Outcome::new(
        404,
        IssueType::NotFound,
        "no such export of yours: it finished over an hour ago, was deleted, or another caller started it",
    )
}

impl Exports {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Job>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The types an export of `scope` takes: every type but files and the
/// ledger's own views; for patients, those of the Patient compartment.
fn scope_types(scope: &ExportScope) -> Vec<ResourceType> {
    custodia_fhir::r4::resource_types()
        .iter()
        .filter(|t| !custodia_fhir::LEDGER_VIEWS.contains(&t.as_str()) && *t != "Binary")
        .filter(|t| match scope {
            ExportScope::System => true,
            ExportScope::Patients | ExportScope::Group(_) => {
                *t == "Patient" || custodia_fhir::r4::compartment_paths(t).is_some()
            }
        })
        .filter_map(|t| t.parse().ok())
        .collect()
}

impl<E: Runtime> Clinical<E> {
    /// Start an export job for `caller`; its id.
    pub(crate) fn start_export(
        self: &Arc<Self>,
        caller: Caller,
        mut request: ExportRequest,
    ) -> Result<String, Outcome> {
        let in_scope = scope_types(&request.scope);
        if let Some(outside) = request.types.iter().find(|t| !in_scope.contains(t)) {
            return Err(Outcome::new(
                400,
                IssueType::NotSupported,
                format!("_type={outside}: not exported from this scope (files and the ledger's views are read on their own; a patient export holds the Patient compartment's types)"),
            ));
        }
        if request.types.is_empty() {
            request.types = in_scope;
        }
        let id = self.new_logical_id().as_str().to_string();
        let types_done = Arc::new(AtomicUsize::new(0));
        {
            let now_ms = self.now_ms();
            let mut jobs = self.exports.lock();
            jobs.retain(|_, job| {
                now_ms.saturating_sub(job.started_ms) < KEPT_FOR.as_millis() as u64
            });
            let running = jobs.values().filter(|job| job.result.is_none()).count();
            if running >= MAX_RUNNING {
                return Err(Outcome::new(
                    429,
                    IssueType::Throttled,
                    format!(
                        "{running} exports are running on this node; try again when one is done"
                    ),
                ));
            }
            jobs.insert(
                id.clone(),
                Job {
                    owner: caller.key.clone(),
                    started_ms: now_ms,
                    types: request.types.len(),
                    types_done: types_done.clone(),
                    result: None,
                },
            );
        }
        let this = self.clone();
        let job = id.clone();
        self.spawn("export", async move {
            let result = this
                .export(&caller, &request, &types_done)
                .await
                .map(Arc::new);
            if let Err(outcome) = &result {
                tracing::warn!(?outcome, "an export failed");
            }
            // Deleted meanwhile: nothing to keep.
            if let Some(entry) = this.exports.lock().get_mut(&job) {
                entry.result = Some(result);
            }
        });
        Ok(id)
    }

    /// Where `caller`'s export `id` stands.
    pub(crate) fn export_status(&self, caller: &Caller, id: &str) -> Result<ExportStatus, Outcome> {
        let jobs = self.exports.lock();
        let job = jobs
            .get(id)
            .filter(|job| job.owner == caller.key)
            .ok_or_else(no_such_job)?;
        Ok(match &job.result {
            None => ExportStatus::Running {
                types_done: job.types_done.load(Ordering::Relaxed),
                types: job.types,
            },
            Some(Ok(exported)) => ExportStatus::Complete(exported.clone()),
            Some(Err(outcome)) => ExportStatus::Failed(outcome.clone()),
        })
    }

    /// Forget `caller`'s export `id` and its files (a running job's result
    /// is dropped when it ends).
    pub(crate) fn delete_export(&self, caller: &Caller, id: &str) -> Result<(), Outcome> {
        let mut jobs = self.exports.lock();
        match jobs.get(id) {
            Some(job) if job.owner == caller.key => {
                jobs.remove(id);
                Ok(())
            }
            _ => Err(no_such_job()),
        }
    }

    /// One type's NDJSON of `caller`'s finished export `id`.
    pub(crate) fn export_file(
        &self,
        caller: &Caller,
        id: &str,
        resource_type: &str,
    ) -> Result<Bytes, Outcome> {
        let ExportStatus::Complete(exported) = self.export_status(caller, id)? else {
            return Err(Outcome::new(
                404,
                IssueType::NotFound,
                "this export is not finished: poll its status URL until it answers 200",
            ));
        };
        exported
            .files
            .iter()
            .find(|file| file.resource_type.as_str() == resource_type)
            .map(|file| file.ndjson.clone())
            .ok_or_else(|| {
                Outcome::new(
                    404,
                    IssueType::NotFound,
                    format!(
                        "this export has no {resource_type} file; its manifest lists those it has"
                    ),
                )
            })
    }

    /// Read everything `request` covers that `caller` may read, type by
    /// type (counted in `types_done`).
    async fn export(
        &self,
        caller: &Caller,
        request: &ExportRequest,
        types_done: &AtomicUsize,
    ) -> Result<Exported, Outcome> {
        let began_ms = self.now_ms();
        let mut unreachable = Vec::new();
        let group_members = match &request.scope {
            ExportScope::Group(id) => Some(self.group_records(caller, id).await?),
            ExportScope::System | ExportScope::Patients => None,
        };
        let mut files = Vec::new();
        for &resource_type in &request.types {
            let ids = match &group_members {
                Some(records) => records.get(&resource_type).cloned().unwrap_or_default(),
                None => {
                    let params: Vec<(String, String)> = request
                        .since
                        .iter()
                        .map(|since| ("_lastUpdated".to_string(), format!("gt{since}")))
                        .collect();
                    let query = Query::parse(resource_type.as_str(), &params)?;
                    let (ids, missing) = self
                        .matching(resource_type, &query, &params, MAX_EXPORT)
                        .await?;
                    unreachable.extend(missing);
                    ids
                }
            };
            let mut ndjson = Vec::new();
            let mut count = 0;
            for chunk in ids.chunks(READS_AT_ONCE) {
                for version in self.read_permitted(caller, resource_type, chunk).await? {
                    let updated = version.json["meta"]["lastUpdated"]
                        .as_str()
                        .unwrap_or_default();
                    if group_members.is_some() && !updated_after(updated, request.since.as_deref())
                    {
                        continue;
                    }
                    serde_json::to_writer(&mut ndjson, &version.json).map_err(unavailable)?;
                    ndjson.push(b'\n');
                    count += 1;
                }
            }
            if count > 0 {
                files.push(ExportFile {
                    resource_type,
                    ndjson: Bytes::from(ndjson),
                    count,
                });
            }
            types_done.fetch_add(1, Ordering::Relaxed);
        }
        unreachable.sort();
        unreachable.dedup();
        Ok(Exported {
            files,
            unreachable,
            began_ms,
            url: request.url.clone(),
        })
    }

    /// The records of a Group's patients, by type: the Group is read (an
    /// audited access), then each member's records as the chain lists them.
    async fn group_records(
        &self,
        caller: &Caller,
        id: &LogicalId,
    ) -> Result<HashMap<ResourceType, Vec<LogicalId>>, Outcome> {
        let (head, tx) = self.permitted_read(caller, ResourceType::Group, id).await?;
        let group = self
            .content(ResourceType::Group, id, head.version, &tx)
            .await?;
        let mut records: HashMap<ResourceType, Vec<LogicalId>> = HashMap::new();
        let members = group.json["member"].as_array().cloned().unwrap_or_default();
        for member in members {
            let Some(reference) = member["entity"]["reference"].as_str() else {
                continue;
            };
            let Some(patient) = local_reference(reference)
                .strip_prefix("Patient/")
                .and_then(|p| p.parse::<Pseudonym>().ok())
            else {
                continue;
            };
            for name in self.patient_index(&patient).await? {
                if let Some((resource_type, id)) = record_name(&name) {
                    let ids = records.entry(resource_type).or_default();
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
        }
        Ok(records)
    }
}

/// Was a resource updated at `updated` (RFC 3339, UTC) after `since`?
fn updated_after(updated: &str, since: Option<&str>) -> bool {
    let (Some(since), Some(updated)) = (
        since.and_then(custodia_fhir::search::DateRange::parse),
        custodia_fhir::search::DateRange::parse(updated),
    ) else {
        return since.is_none();
    };
    updated.low >= since.high
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_take_their_types() {
        let system = scope_types(&ExportScope::System);
        let patients = scope_types(&ExportScope::Patients);
        for t in [
            ResourceType::Organization,
            ResourceType::Patient,
            ResourceType::Observation,
        ] {
            assert!(system.contains(&t), "{t}");
        }
        assert!(
            !system.contains(&ResourceType::Binary) && !system.contains(&ResourceType::AuditEvent)
        );
        assert!(
            patients.contains(&ResourceType::Observation)
                && patients.contains(&ResourceType::Patient)
        );
        assert!(!patients.contains(&ResourceType::Organization));
    }

    #[test]
    fn since_compares_instants() {
        assert!(updated_after(
            "2026-12-07T10:00:00.000Z",
            Some("2026-12-07T09:00:00Z")
        ));
        assert!(!updated_after(
            "2026-12-07T08:00:00.000Z",
            Some("2026-12-07T09:00:00Z")
        ));
        assert!(updated_after("2026-12-07T08:00:00.000Z", None));
    }
}
