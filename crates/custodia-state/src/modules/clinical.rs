//! Clinical records: the chain's index of encrypted FHIR resource versions.
//! A custodian organisation writes versions of the resources it holds; each
//! version is a pseudonym, a type, an id and hashes (see `RecordVersion`).
//! Content, keys and ciphertext live off chain in the vaults.

use super::{
    access::{record_event, resolve_actor, write_request, Actor},
    Module, TxContext,
};
use crate::{
    keys,
    records::{self, Decision, PatientEntry, Principal, RecordEntry, RecordHead},
    Rejection,
};
use custodia_types::{
    key_hex, AgentKind, Body, OrgId, OrgRole, Pseudonym, PublicKey, RecordVersion, ResourceType,
};
use std::collections::BTreeSet;

#[derive(Default)]
pub struct Clinical;

impl Module for Clinical {
    fn name(&self) -> &'static str {
        "clinical"
    }

    fn authorize(&self, principal: &Principal, _: &Body) -> Result<(), Rejection> {
        match principal {
            Principal::Agent {
                kind: AgentKind::Device,
                ..
            } => Err(Rejection::NotRecordAuthor(
                "devices may not write clinical records",
            )),
            Principal::Patient { .. } => Err(Rejection::NotRecordAuthor(
                "patients do not write clinical records; their custodian does",
            )),
            _ => Ok(()),
        }
    }

    fn read_set(&self, _signer: &PublicKey, body: &Body, keys: &mut BTreeSet<Vec<u8>>) {
        match body {
            Body::WriteRecord(record) => write_read_set(record, keys),
            Body::WriteRecords { versions } => {
                for record in versions {
                    write_read_set(record, keys);
                }
            }
            Body::StageRecords { versions, .. } => {
                for record in versions {
                    keys.insert(keys::principal(&record.author));
                }
            }
            Body::EraseRecord { resource_type, id } => {
                keys.insert(keys::record_head(*resource_type, id));
                keys.insert(keys::ERASED_COUNT.to_vec());
            }
            // A commit's keys are its staged versions': unknown until
            // read (the read set is a guess; misses are loaded).
            _ => {}
        }
    }

    fn apply(&self, ctx: &mut TxContext<'_>, body: &Body) -> Result<(), Rejection> {
        let Some(org) = ctx.principal.org().cloned() else {
            unreachable!("authorize refuses patients")
        };
        let role = records::member_role(&*ctx.state, &org)
            .ok_or_else(|| Rejection::UnknownMember(org.clone()))?;
        if matches!(role, OrgRole::Regulator) {
            return Err(Rejection::NotRecordAuthor(
                "regulators see audit metadata and do not write clinical records",
            ));
        }
        match body {
            Body::WriteRecord(record) => write_audited(ctx, &org, record),
            // All or nothing: the first refusal fails the transaction and
            // the machine discards every write it made.
            Body::WriteRecords { versions } => versions
                .iter()
                .try_for_each(|record| write_audited(ctx, &org, record)),
            // Kept aside, under the writer's organisation, until committed.
            Body::StageRecords {
                bundle,
                part,
                versions,
            } => {
                let key = keys::staged(&org, bundle, *part);
                if ctx.state.get(&key).is_some() {
                    return Err(Rejection::StagedPartExists(*part));
                }
                ctx.state.put(key, records::encode(versions));
                Ok(())
            }
            // All or nothing, like `WriteRecords`: a refusal anywhere keeps
            // every part staged and writes nothing.
            //
            // Every part is read before any is applied: the parts' keys are
            // not in the read set (they need the signer's organisation), so
            // the store loads what a pass missed and runs the block again.
            // Reading all parts in one pass keeps that to a few passes, not
            // one a part (each re-applying every part before it).
            Body::CommitRecords { bundle, parts } => {
                let staged: Vec<Option<Vec<RecordVersion>>> = (0..*parts)
                    .map(|part| records::read(&*ctx.state, &keys::staged(&org, bundle, part)))
                    .collect();
                for (part, versions) in (0..*parts).zip(staged) {
                    let versions = versions.ok_or(Rejection::StagedPartMissing(part))?;
                    ctx.state.delete(keys::staged(&org, bundle, part));
                    versions
                        .iter()
                        .try_for_each(|record| write_audited(ctx, &org, record))?;
                }
                Ok(())
            }
            // Only the organisation's own parts: the keys are under it.
            Body::DiscardStaged { bundle, parts } => {
                for part in 0..*parts {
                    ctx.state.delete(keys::staged(&org, bundle, part));
                }
                Ok(())
            }
            Body::EraseRecord { resource_type, id } => {
                let key = keys::record_head(*resource_type, id);
                let mut head: RecordHead = records::read(&*ctx.state, &key)
                    .ok_or_else(|| Rejection::UnknownRecord(format!("{resource_type}/{id}")))?;
                may_erase(&head, &org, &format!("{resource_type}/{id}"))?;
                head.erased_height = Some(ctx.height);
                ctx.state.put(key, records::encode(&head));
                let seq = ctx
                    .state
                    .get(keys::ERASED_COUNT)
                    .and_then(|b| keys::decode_u64(&b))
                    .unwrap_or(0);
                ctx.state.put(
                    keys::erased(seq),
                    records::encode(&format!("{resource_type}/{id}")),
                );
                ctx.state
                    .put(keys::ERASED_COUNT.to_vec(), keys::encode_u64(seq + 1));
                Ok(())
            }
            _ => unreachable!("dispatch only sends clinical bodies here"),
        }
    }
}

fn write_read_set(record: &RecordVersion, keys: &mut BTreeSet<Vec<u8>>) {
    keys.insert(keys::principal(&record.author));
    keys.insert(keys::AUDIT_COUNT.to_vec());
    if let Some(patient) = &record.patient {
        keys.insert(keys::patient_audit_count(patient));
        keys.insert(keys::patient(patient));
        keys.insert(keys::patient_records(patient));
    }
    keys.insert(keys::record_head(record.resource_type, &record.id));
}

/// Record one version written by an agent of the custodian, and its audit
/// event.
fn write_audited(
    ctx: &mut TxContext<'_>,
    org: &custodia_types::OrgId,
    record: &RecordVersion,
) -> Result<(), Rejection> {
    let author = resolve_actor(&*ctx.state, ctx.signer, ctx.principal, &record.author)?;
    match author {
        Actor::Agent {
            kind: Some(AgentKind::Device),
            ..
        } => {
            return Err(Rejection::NotRecordAuthor(
                "devices may not write clinical records",
            ))
        }
        Actor::Patient(_) => {
            return Err(Rejection::NotRecordAuthor(
                "patients do not write clinical records; their custodian does",
            ))
        }
        Actor::Agent { .. } => {}
    }
    write(ctx, org.clone(), record)?;
    // Not filed by action id (see `access::index_by_action`): the version
    // entry names the tx and entry that wrote it.
    record_event(
        ctx,
        &write_request(record.author, record),
        Some(org.clone()),
        Decision::Permit,
        vec!["custodian-writes".into()],
    );
    Ok(())
}

/// May `org` write a new version of the record `name` whose head is
/// `head`? Not once it is erased (whoever asks), and only its custodian.
/// The state machine applies this rule, and the node checks it before it
/// seals anything, so the two cannot disagree.
pub fn may_write_version(head: &RecordHead, org: &OrgId, name: &str) -> Result<(), Rejection> {
    if head.erased_height.is_some() {
        return Err(Rejection::RecordErased(name.to_string()));
    }
    if head.custodian != *org {
        return Err(Rejection::NotCustodian {
            record: name.to_string(),
            custodian: head.custodian.clone(),
        });
    }
    Ok(())
}

/// May `org` erase the record `name` whose head is `head`? Only its
/// custodian, and only once. Applied by the state machine and checked by
/// the node before it submits.
pub fn may_erase(head: &RecordHead, org: &OrgId, name: &str) -> Result<(), Rejection> {
    if head.custodian != *org {
        return Err(Rejection::NotCustodian {
            record: name.to_string(),
            custodian: head.custodian.clone(),
        });
    }
    if head.erased_height.is_some() {
        return Err(Rejection::RecordErased(name.to_string()));
    }
    Ok(())
}

/// Whose record a version may be, as far as the chain can tell without
/// the content: a Patient is its own (its id is its pseudonym). Any other
/// type may be a patient's record or directory data (no patient): the node
/// decides from the resource by R4's Patient compartment (custodia-fhir).
pub fn may_belong_to(record: &RecordVersion, name: &str) -> Result<(), Rejection> {
    match (record.resource_type, record.patient) {
        (ResourceType::Patient, Some(patient)) if record.id.as_str() == patient.to_hex() => Ok(()),
        (ResourceType::Patient, _) => Err(Rejection::PatientIdMismatch(name.to_string())),
        (_, Some(_) | None) => Ok(()),
    }
}

fn write(ctx: &mut TxContext<'_>, org: OrgId, record: &RecordVersion) -> Result<(), Rejection> {
    let name = format!("{}/{}", record.resource_type, record.id);
    may_belong_to(record, &name)?;
    let head_key = keys::record_head(record.resource_type, &record.id);
    let previous: Option<RecordHead> = records::read(&*ctx.state, &head_key);
    match &previous {
        None => {
            if record.version != 1 {
                return Err(Rejection::VersionConflict {
                    record: name,
                    expected: 1,
                    got: record.version,
                });
            }
            if let Some(patient) = &record.patient {
                enter_in_compartment(ctx, &org, patient, record.resource_type, &name)?;
            }
            append_to_index(
                ctx,
                keys::custodian_records(&org),
                |i| keys::custodian_record(&org, i),
                &name,
            );
        }
        Some(head) => {
            may_write_version(head, &org, &name)?;
            if head.patient != record.patient {
                return Err(Rejection::PatientIdMismatch(name));
            }
            if record.version == 1 {
                return Err(Rejection::RecordExists(name));
            }
            if record.version != head.version + 1 {
                return Err(Rejection::VersionConflict {
                    record: name,
                    expected: head.version + 1,
                    got: record.version,
                });
            }
        }
    }
    let head = RecordHead {
        patient: record.patient,
        custodian: org.clone(),
        version: record.version,
        erased_height: None,
    };
    ctx.state.put(head_key, records::encode(&head));
    let entry = RecordEntry {
        ciphertext: record.ciphertext,
        commitment: record.commitment,
        size: record.size,
        time_ms: record.time_ms,
        author: key_hex(&record.author),
        custodian: org,
        height: ctx.height,
        tx: ctx.origin.tx,
        entry: ctx.origin.entry,
    };
    ctx.state.put(
        keys::record_version(record.resource_type, &record.id, record.version),
        records::encode(&entry),
    );
    Ok(())
}

/// A new record of `patient`: the patient is created by their Patient
/// resource and must exist for any other; the record joins the patient's
/// index.
fn enter_in_compartment(
    ctx: &mut TxContext<'_>,
    org: &OrgId,
    patient: &Pseudonym,
    resource_type: ResourceType,
    name: &str,
) -> Result<(), Rejection> {
    let patient_key = keys::patient(patient);
    let known_patient = ctx.state.get(&patient_key).is_some();
    match (resource_type == ResourceType::Patient, known_patient) {
        (true, true) => return Err(Rejection::RecordExists(name.to_string())),
        (false, false) => return Err(Rejection::UnknownPatient(patient.to_hex())),
        (true, false) => {
            let entry = PatientEntry {
                custodian: org.clone(),
                created_height: ctx.height,
            };
            ctx.state.put(patient_key, records::encode(&entry));
        }
        (false, true) => {}
    }
    append_to_index(
        ctx,
        keys::patient_records(patient),
        |i| keys::patient_record(patient, i),
        name,
    );
    Ok(())
}

/// Append `name` (`Type/id`) to the index counted under `count_key`, whose
/// entries are at `entry(i)`.
fn append_to_index(
    ctx: &mut TxContext<'_>,
    count_key: Vec<u8>,
    entry: impl Fn(u64) -> Vec<u8>,
    name: &str,
) {
    let count = ctx
        .state
        .get(&count_key)
        .and_then(|b| keys::decode_u64(&b))
        .unwrap_or(0);
    ctx.state
        .put(entry(count), records::encode(&name.to_string()));
    ctx.state.put(count_key, keys::encode_u64(count + 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(custodian: &str, erased: bool) -> RecordHead {
        RecordHead {
            patient: Some(Pseudonym::new([1; 32])),
            custodian: OrgId::new(custodian).unwrap(),
            version: 2,
            erased_height: erased.then_some(7),
        }
    }

    #[test]
    fn an_erased_record_takes_no_version_from_anyone_and_is_erased_only_by_its_custodian() {
        let own = OrgId::new("st-mary").unwrap();
        let foreign = OrgId::new("riverside").unwrap();
        let name = "Condition/c1";
        // Erased and foreign: a write is told it is erased (whoever asks),
        // an erasure that only the custodian may make.
        assert!(matches!(
            may_write_version(&head("st-mary", true), &foreign, name),
            Err(Rejection::RecordErased(_))
        ));
        assert!(matches!(
            may_erase(&head("st-mary", true), &foreign, name),
            Err(Rejection::NotCustodian { .. })
        ));
        assert!(matches!(
            may_write_version(&head("st-mary", true), &own, name),
            Err(Rejection::RecordErased(_))
        ));
        assert!(matches!(
            may_erase(&head("st-mary", true), &own, name),
            Err(Rejection::RecordErased(_))
        ));
        assert!(matches!(
            may_write_version(&head("st-mary", false), &foreign, name),
            Err(Rejection::NotCustodian { .. })
        ));
        assert!(may_write_version(&head("st-mary", false), &own, name).is_ok());
        assert!(may_erase(&head("st-mary", false), &own, name).is_ok());
    }
}
