//! Patients' keys and consents. A custodian enrols a patient's key; the
//! patient then signs consents and revocations with it.

use super::{Module, TxContext};
use crate::{
    keys,
    records::{self, ConsentEntry, PatientEntry, Principal},
    Rejection,
};
use custodia_types::{key_hex, Body, PublicKey};
use std::collections::BTreeSet;

#[derive(Default)]
pub struct Consent;

impl Module for Consent {
    fn name(&self) -> &'static str {
        "consent"
    }

    fn authorize(&self, principal: &Principal, body: &Body) -> Result<(), Rejection> {
        let is_patient = matches!(principal, Principal::Patient { .. });
        match body {
            Body::EnrolPatient { .. } => match principal {
                Principal::Admin { .. } | Principal::Node { .. } => Ok(()),
                Principal::Agent { .. } | Principal::Patient { .. } => Err(Rejection::NotAllowed(
                    "only the custodian organisation's admin or node may enrol a patient's key",
                )),
            },
            _ if is_patient => Ok(()),
            _ => Err(Rejection::NotAllowed(
                "consents are signed by the patient's own key",
            )),
        }
    }

    fn read_set(&self, signer: &PublicKey, body: &Body, keys: &mut BTreeSet<Vec<u8>>) {
        match body {
            Body::EnrolPatient { patient, key } => {
                keys.insert(keys::patient(patient));
                keys.insert(keys::principal(key));
            }
            Body::RevokeConsent { consent } => {
                keys.insert(keys::consent(consent));
            }
            Body::GrantConsent(_) => {
                keys.insert(keys::principal(signer));
            }
            _ => {}
        }
    }

    fn apply(&self, ctx: &mut TxContext<'_>, body: &Body) -> Result<(), Rejection> {
        match body {
            Body::EnrolPatient { patient, key } => {
                let entry: PatientEntry = records::read(&*ctx.state, &keys::patient(patient))
                    .ok_or_else(|| Rejection::UnknownPatient(patient.to_hex()))?;
                if Some(&entry.custodian) != ctx.principal.org() {
                    return Err(Rejection::NotCustodian {
                        record: format!("Patient/{patient}"),
                        custodian: entry.custodian,
                    });
                }
                if ctx.state.get(&keys::principal(key)).is_some() {
                    return Err(Rejection::KeyInUse(key_hex(key)));
                }
                ctx.state.put(
                    keys::principal(key),
                    records::encode(&Principal::Patient { patient: *patient }),
                );
                Ok(())
            }
            Body::GrantConsent(grant) => {
                let Principal::Patient { patient } = ctx.principal else {
                    unreachable!("authorize admits only patients")
                };
                if grant.from_ms >= grant.until_ms {
                    return Err(Rejection::EmptyConsentPeriod);
                }
                let entry = ConsentEntry {
                    patient: *patient,
                    grant: grant.clone(),
                    granted_height: ctx.height,
                    revoked_height: None,
                };
                ctx.state
                    .put(keys::consent(&ctx.tx_id), records::encode(&entry));
                let index_key = keys::patient_consents(patient);
                let mut index: Vec<String> =
                    records::read(&*ctx.state, &index_key).unwrap_or_default();
                index.push(hex::encode(ctx.tx_id));
                ctx.state.put(index_key, records::encode(&index));
                Ok(())
            }
            Body::RevokeConsent { consent } => {
                let Principal::Patient { patient } = ctx.principal else {
                    unreachable!("authorize admits only patients")
                };
                let key = keys::consent(consent);
                let mut entry: ConsentEntry = records::read(&*ctx.state, &key)
                    .filter(|e: &ConsentEntry| e.patient == *patient)
                    .ok_or_else(|| Rejection::UnknownConsent(hex::encode(consent)))?;
                if entry.revoked_height.is_some() {
                    return Err(Rejection::ConsentRevoked(hex::encode(consent)));
                }
                entry.revoked_height = Some(ctx.height);
                ctx.state.put(key, records::encode(&entry));
                Ok(())
            }
            _ => unreachable!("dispatch only sends consent bodies here"),
        }
    }
}

/// The consents a patient ever gave, oldest first.
pub(crate) fn consents_of(
    state: &(impl crate::StateRead + ?Sized),
    patient: &custodia_types::Pseudonym,
) -> Vec<ConsentEntry> {
    let ids: Vec<String> =
        records::read(state, &keys::patient_consents(patient)).unwrap_or_default();
    ids.iter()
        .filter_map(|id| {
            let id: custodia_types::Digest = custodia_types::hexser::decode_fixed(id)?;
            records::read(state, &keys::consent(&id))
        })
        .collect()
}
