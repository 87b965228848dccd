//! A pack's history as standard EPCIS 2.0 events, for trading partners
//! and regulators who read EPCIS rather than the ledger's own records.
//!
//! An event that arrived as EPCIS is emitted exactly as it was received
//! (from `supply/events/{tx}`). An event that arrived as a typed action
//! (`ship`, `dispense`, …) is written in the CBV form the EPCIS mapping
//! would read back into the same rule: commissioning/ADD with ILMD lot and
//! expiry, packing and unpacking aggregations, shipping/OBSERVE with the
//! receiver as `owning_party`, receiving, dispensing, decommissioning, and
//! a recall as disposition `recalled` with the lot in `quantityList`.
//! Organisations without a linked EPCIS party URI are named
//! `urn:custodia:org:{id}`; the event id of a typed action is
//! `urn:custodia:tx:{tx}`. Cold-chain excursions are evidence attached to
//! the pack (see verification), not events, and are not emitted.

use serde_json::{json, Map, Value};

use crate::epcis::{self, Event};
use crate::gs1::{digital_link, epc_urn, Epc, Lgtin, Sgtin, Sscc};
use crate::model::{OrgId, Pack, TrailEntry, TrailEvent};
use crate::time::Timestamp;

use super::items::load_pack;
use super::store::keys;
use super::{SupplyError, SupplyStore};

/// The events of `sgtin`'s history, oldest first, in standard EPCIS JSON.
pub fn pack_events<S: SupplyStore + ?Sized>(
    store: &S,
    sgtin: &Sgtin,
) -> Result<Vec<Event>, SupplyError> {
    let pack = load_pack(store, sgtin)?;
    let prefix = store
        .product(&sgtin.gtin)?
        .and_then(|p| p.company_prefix_len);
    let ids = Ids { prefix };
    let mut out: Vec<Event> = Vec::new();
    let mut emitted: Vec<(String, Option<String>)> = Vec::new();
    // The containers the pack is in at each point, innermost first.
    let mut around: Vec<Sscc> = Vec::new();
    for entry in &pack.history {
        let key = (entry.tx.clone(), entry.epcis_event_id.clone());
        if !matches!(entry.event, TrailEvent::Compromised { .. }) && !emitted.contains(&key) {
            emitted.push(key);
            match received(store, entry, &pack)? {
                Some(events) => out.extend(events),
                None => out.push(typed(&ids, entry, &pack, &around)?),
            }
        }
        match &entry.event {
            TrailEvent::Packed { into } => around.push(into.clone()),
            // Out of a container is out of everything around it too.
            TrailEvent::Unpacked { from } => {
                if let Some(at) = around.iter().position(|c| c == from) {
                    around.truncate(at);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The events of the entry's transaction as received, if it carried EPCIS:
/// the one with the entry's eventID, or (events without ids) every event
/// of the transaction naming the pack or a container it was in.
fn received<S: SupplyStore + ?Sized>(
    store: &S,
    entry: &TrailEntry,
    pack: &Pack,
) -> Result<Option<Vec<Event>>, SupplyError> {
    let Some(bytes) = store.get(&keys::events(&entry.tx)) else {
        return Ok(None);
    };
    let events: Vec<Event> = serde_json::from_slice(&bytes).map_err(|e| SupplyError::Corrupt {
        key: String::from_utf8_lossy(&keys::events(&entry.tx)).into_owned(),
        reason: e.to_string(),
    })?;
    let chosen = match &entry.epcis_event_id {
        Some(id) => events
            .into_iter()
            .filter(|e| e.common().event_id.as_deref() == Some(id.as_str()))
            .collect(),
        None => events
            .into_iter()
            .filter(|e| e.common().event_id.is_none() && names(e, pack))
            .collect(),
    };
    Ok(Some(chosen))
}

fn names(event: &Event, pack: &Pack) -> bool {
    let containers: Vec<_> = pack
        .history
        .iter()
        .filter_map(|h| match &h.event {
            TrailEvent::Packed { into } => Some(into),
            _ => None,
        })
        .collect();
    let refs: Vec<&epcis::EpcRef> = match event {
        Event::Object(o) => o.epc_list.iter().collect(),
        Event::Aggregation(a) => a.parent_id.iter().chain(&a.child_epcs).collect(),
    };
    let by_lot = match event {
        Event::Object(o) => o.quantity_list.iter().any(|q| {
            q.lot()
                .is_some_and(|l| l.gtin == pack.sgtin.gtin && l.lot == pack.lot)
        }),
        Event::Aggregation(_) => false,
    };
    by_lot
        || refs.iter().any(|r| match &r.epc {
            Epc::Sgtin(s) => *s == pack.sgtin,
            Epc::Sscc(c) => containers.contains(&c),
            _ => false,
        })
}

/// How identifiers are written: EPC URNs when the product's company
/// prefix length is known, GS1 Digital Links otherwise.
struct Ids {
    prefix: Option<u8>,
}

impl Ids {
    fn uri(&self, epc: &Epc) -> String {
        match (self.prefix, epc) {
            (_, Epc::Sscc(_)) | (None, _) => digital_link(epc),
            (Some(p), _) => epc_urn(epc, p),
        }
    }
}

fn org_uri(org: &OrgId) -> String {
    format!("{}{org}", super::from_epcis::ORG_URI_PREFIX)
}

/// An event for an entry recorded from a typed action. `around` are the
/// containers the pack was in before it, innermost first: a movement names
/// the outermost (what actually moved), an aggregation the item directly
/// inside the container, so the events read back into the same rules.
fn typed(
    ids: &Ids,
    entry: &TrailEntry,
    pack: &Pack,
    around: &[Sscc],
) -> Result<Event, SupplyError> {
    let time = i64::try_from(entry.at_ms)
        .ok()
        .and_then(Timestamp::from_ms)
        .ok_or_else(|| SupplyError::Invalid(format!("block time {} ms", entry.at_ms)))?;
    let me = ids.uri(&Epc::Sgtin(pack.sgtin.clone()));
    let moved = around
        .last()
        .map_or_else(|| me.clone(), |c| ids.uri(&Epc::Sscc(c.clone())));
    // The item directly inside container `c` (the pack, or an inner case).
    let inside = |c: &Sscc| match around.iter().position(|x| x == c) {
        Some(0) | None => me.clone(),
        Some(i) => ids.uri(&Epc::Sscc(around[i - 1].clone())),
    };
    let mut e = Map::new();
    e.insert("type".into(), "ObjectEvent".into());
    e.insert("eventTime".into(), time.text.into());
    e.insert("eventTimeZoneOffset".into(), "+00:00".into());
    e.insert(
        "eventID".into(),
        entry
            .epcis_event_id
            .clone()
            .unwrap_or_else(|| format!("urn:custodia:tx:{}", entry.tx))
            .into(),
    );
    let mut object = |item: &str, action: &str, step: &str, disposition: &str| {
        e.insert("epcList".into(), json!([item]));
        e.insert("action".into(), action.into());
        e.insert("bizStep".into(), step.into());
        e.insert("disposition".into(), disposition.into());
    };
    match &entry.event {
        TrailEvent::Commissioned {
            lot,
            expiry,
            location,
        } => {
            object(&me, "ADD", "commissioning", "active");
            e.insert(
                "ilmd".into(),
                json!({ "cbvmda:lotNumber": lot.as_str(), "cbvmda:itemExpirationDate": expiry.to_string() }),
            );
            if let Some(at) = location {
                e.insert("bizLocation".into(), json!({ "id": at }));
            }
        }
        TrailEvent::Packed { into } | TrailEvent::Unpacked { from: into } => {
            let add = matches!(entry.event, TrailEvent::Packed { .. });
            // Packing puts what moved so far into the new container.
            let child = if add { moved.clone() } else { inside(into) };
            e.insert("type".into(), "AggregationEvent".into());
            e.insert("parentID".into(), ids.uri(&Epc::Sscc(into.clone())).into());
            e.insert("childEPCs".into(), json!([child]));
            e.insert("action".into(), if add { "ADD" } else { "DELETE" }.into());
            e.insert(
                "bizStep".into(),
                if add { "packing" } else { "unpacking" }.into(),
            );
        }
        TrailEvent::Shipped {
            shipment,
            to,
            returning,
        } => {
            object(
                &moved,
                "OBSERVE",
                "shipping",
                if *returning { "returned" } else { "in_transit" },
            );
            e.insert(
                "sourceList".into(),
                json!([{ "type": "owning_party", "source": org_uri(&entry.org) }]),
            );
            e.insert(
                "destinationList".into(),
                json!([{ "type": "owning_party", "destination": org_uri(to) }]),
            );
            e.insert(
                "bizTransactionList".into(),
                json!([{ "type": "desadv", "bizTransaction": format!("urn:custodia:shipment:{}", shipment.as_str()) }]),
            );
        }
        TrailEvent::Received { location, .. } => {
            object(&moved, "OBSERVE", "receiving", "in_progress");
            if let Some(at) = location {
                e.insert("bizLocation".into(), json!({ "id": at }));
            }
        }
        TrailEvent::Dispensed => object(&me, "OBSERVE", "dispensing", "dispensed"),
        TrailEvent::Decommissioned { .. } => object(&me, "DELETE", "decommissioning", "inactive"),
        TrailEvent::Recalled { .. } => {
            let lot = Lgtin::new(pack.sgtin.gtin.clone(), pack.lot.clone());
            e.insert("epcList".into(), json!([]));
            e.insert(
                "quantityList".into(),
                json!([{ "epcClass": ids.uri(&Epc::Lgtin(lot)) }]),
            );
            e.insert("action".into(), "OBSERVE".into());
            e.insert("bizStep".into(), "holding".into());
            e.insert("disposition".into(), "recalled".into());
        }
        TrailEvent::Compromised { .. } => {
            return Err(SupplyError::Invalid(
                "excursions are evidence, not events".into(),
            ))
        }
    }
    epcis::event_from_json(&Value::Object(e), None)
        .map_err(|err| SupplyError::Epcis(format!("cannot write the pack's event: {err}")))
}
