//! Applying EPCIS 2.0 events: each event's business step and action are
//! mapped to one of the ledger's rules. Anything the mapping does not cover
//! is refused with the combination named, rather than silently ignored.
//!
//! | event | bizStep | action | rule |
//! |---|---|---|---|
//! | ObjectEvent | `commissioning` | ADD | [`commission`] (ilmd lot + expiry) |
//! | AggregationEvent | `packing` (or none) | ADD | [`pack_into`] |
//! | AggregationEvent | `unpacking` (or none) | DELETE | [`unpack`] |
//! | ObjectEvent | `shipping` | OBSERVE | [`ship`] (disposition `returned` or `recalled` = a return) |
//! | ObjectEvent | `receiving` | OBSERVE | [`receive`] |
//! | ObjectEvent | `dispensing` | OBSERVE or DELETE | [`dispense`] |
//! | ObjectEvent | `decommissioning` / `destroying` | DELETE | [`decommission`] |
//! | ObjectEvent | any but shipping/receiving | OBSERVE, disposition `recalled` | [`recall_lot`] per LGTIN in quantityList |
//! | any with `sensorElementList` | `sensor_reporting`, none, or one above | | [`record_readings`] first |
//!
//! Parties in `destinationList` are EPCIS URIs (a PGLN, …); an organisation
//! links the URIs that stand for it with [`link_party`].

use std::collections::BTreeMap;

use crate::epcis::{Action, EpcRef, Event, EventCommon, ObjectEvent};
use crate::gs1::{Epc, Gtin, Serial, Sgtin};
use crate::model::{ContainerStatus, ItemId, OrgId, PackStatus, Reading, ReadingScope, ShipmentId};

use super::aggregation::{pack_into, unpack};
use super::cold_chain::record_readings;
use super::custody::{receive, ship, Receive, Ship};
use super::end_of_life::{decommission, dispense, recall_lot};
use super::items::Loaded;
use super::products::{commission, Commission};
use super::store::{keys, save};
use super::{Ctx, SupplyError, SupplyStore};

/// Links an EPCIS party URI (e.g. `urn:epc:id:pgln:0614141.00001`) to the
/// acting organisation, so events naming it as a destination resolve. A URI
/// belongs to one organisation.
pub fn link_party<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    party: &str,
) -> Result<(), SupplyError> {
    if !party.contains(':') || party.len() > 300 {
        return Err(SupplyError::Invalid(format!(
            "party {party:?} must be a URI of at most 300 characters"
        )));
    }
    if party.starts_with(ORG_URI_PREFIX) {
        // These name an organisation by its id already; linking one would
        // let another organisation receive what is addressed to it.
        return Err(SupplyError::Invalid(format!(
            "{ORG_URI_PREFIX}<org id> names that organisation itself and cannot be linked"
        )));
    }
    match store.party(party)? {
        Some(org) if org == ctx.org => Ok(()),
        Some(org) => Err(SupplyError::PartyClaimed {
            party: party.to_string(),
            org,
        }),
        None => store.put_party(party, &ctx.org),
    }
}

/// Applies the events of one EPCIS document in order, and keeps them (as
/// received) under the transaction's reference. A refusal names the event.
pub fn apply_events<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    events: &[Event],
) -> Result<(), SupplyError> {
    if events.is_empty() {
        return Err(SupplyError::Invalid(
            "the EPCIS document has no events".into(),
        ));
    }
    for (i, event) in events.iter().enumerate() {
        let ectx = ctx.with_event_id(event.common().event_id.clone());
        apply_event(store, &ectx, event, i + 1).map_err(|e| SupplyError::InEvent {
            event: i + 1,
            source: Box::new(e),
        })?;
    }
    save(store, keys::events(&ctx.tx), events)
}

fn apply_event<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    event: &Event,
    number: usize,
) -> Result<(), SupplyError> {
    let c = event.common();
    if !c.sensor_element_list.is_empty() {
        sensor_data(store, ctx, event)?;
    }
    let step = c.biz_step.as_ref().and_then(|s| s.term());
    let disposition = c.disposition.as_ref().and_then(|d| d.term());
    match (event, step, c.action) {
        (Event::Object(o), Some("commissioning"), Action::Add) => {
            for commission_of_gtin in commissions(o)? {
                commission(store, ctx, &commission_of_gtin)?;
            }
            Ok(())
        }
        (Event::Aggregation(a), Some("packing") | None, Action::Add)
        | (Event::Aggregation(a), Some("unpacking") | None, Action::Delete) => {
            if !a.child_quantity_list.is_empty() {
                return Err(SupplyError::Epcis(
                    "childQuantityList is not supported: list serialised children in childEPCs"
                        .into(),
                ));
            }
            let Some(Epc::Sscc(parent)) = a.parent_id.as_ref().map(|p| &p.epc) else {
                return Err(SupplyError::Epcis(
                    "parentID must be an SSCC (the case or pallet)".into(),
                ));
            };
            let children = items(&a.child_epcs)?;
            if c.action == Action::Add {
                pack_into(store, ctx, parent, &children)
            } else {
                unpack(store, ctx, parent, &children)
            }
        }
        // Shipping or receiving recalled goods is a movement (a return), not
        // a new recall.
        (Event::Object(o), _, Action::Observe)
            if disposition == Some("recalled") && !matches!(step, Some("shipping" | "receiving")) =>
        {
            if !o.epc_list.is_empty() || o.quantity_list.is_empty() {
                return Err(SupplyError::Epcis(
                    "a recall names lots in quantityList (urn:epc:class:lgtin:… or …/01/{gtin}/10/{lot}), \
                     not packs in epcList".into(),
                ));
            }
            let reason = c
                .event_id
                .as_ref()
                .map_or_else(|| "recall".to_string(), |id| format!("recall {id}"));
            for q in &o.quantity_list {
                if let Some(lot) = q.lot() {
                    recall_lot(store, ctx, lot, &reason)?;
                }
            }
            Ok(())
        }
        (Event::Object(o), Some("shipping"), Action::Observe) => {
            serial_only(o)?;
            let to = receiver(store, c)?;
            let shipment = match &c.event_id {
                Some(id) => ShipmentId::new(id),
                None => ShipmentId::new(&format!("{}#{number}", ctx.tx)),
            }
            .map_err(SupplyError::Invalid)?;
            ship(
                store,
                ctx,
                &Ship {
                    shipment,
                    items: items(&o.epc_list)?,
                    to,
                    returning: matches!(disposition, Some("returned" | "recalled")),
                },
            )
        }
        (Event::Object(o), Some("receiving"), Action::Observe) => {
            serial_only(o)?;
            receive(
                store,
                ctx,
                &Receive {
                    items: items(&o.epc_list)?,
                    location: c.biz_location.as_ref().map(|p| p.id.clone()),
                },
            )
        }
        (Event::Object(o), Some("dispensing"), Action::Observe | Action::Delete) => {
            serial_only(o)?;
            dispense(store, ctx, &packs_only(o, "dispensing")?)
        }
        (Event::Object(o), Some(s @ ("decommissioning" | "destroying")), Action::Delete) => {
            serial_only(o)?;
            let reason = disposition.unwrap_or(s);
            decommission(store, ctx, &packs_only(o, s)?, reason)
        }
        (_, Some("sensor_reporting") | None, Action::Observe) if !c.sensor_element_list.is_empty() => {
            Ok(())
        }
        _ => Err(SupplyError::Epcis(format!(
            "{} with bizStep {} and action {} is not supported by the ledger; supported are \
             commissioning/ADD, packing/ADD, unpacking/DELETE, shipping/OBSERVE, receiving/OBSERVE, \
             dispensing/OBSERVE, decommissioning/DELETE, disposition recalled/OBSERVE and sensor data",
            event.type_name(),
            c.biz_step.as_ref().map_or_else(|| "(none)".to_string(), |s| s.to_string()),
            c.action.as_str()
        ))),
    }
}

fn item(r: &EpcRef) -> Result<ItemId, SupplyError> {
    match &r.epc {
        Epc::Sgtin(s) => Ok(ItemId::Pack(s.clone())),
        Epc::Sscc(s) => Ok(ItemId::Container(s.clone())),
        Epc::Sgln(_) | Epc::Lgtin(_) => Err(SupplyError::Epcis(format!(
            "{} is not a pack (SGTIN) or a case/pallet (SSCC)",
            r.text
        ))),
    }
}

fn items(refs: &[EpcRef]) -> Result<Vec<ItemId>, SupplyError> {
    refs.iter().map(item).collect()
}

fn serial_only(o: &ObjectEvent) -> Result<(), SupplyError> {
    if o.quantity_list.is_empty() {
        Ok(())
    } else {
        Err(SupplyError::Epcis(
            "quantityList is only used for recalls here; list serialised packs and cases in epcList"
                .into(),
        ))
    }
}

fn packs_only(o: &ObjectEvent, step: &str) -> Result<Vec<Sgtin>, SupplyError> {
    o.epc_list
        .iter()
        .map(|r| match &r.epc {
            Epc::Sgtin(s) => Ok(s.clone()),
            _ => Err(SupplyError::Epcis(format!(
                "{step} applies to packs (SGTINs); {} is not one: unpack it first",
                r.text
            ))),
        })
        .collect()
}

/// One commission per GTIN named, with the ILMD's lot and expiry.
fn commissions(o: &ObjectEvent) -> Result<Vec<Commission>, SupplyError> {
    let ilmd = o.ilmd.as_ref();
    let (Some(lot), Some(expiry)) = (
        ilmd.and_then(|i| i.lot.clone()),
        ilmd.and_then(|i| i.expiry),
    ) else {
        return Err(SupplyError::Epcis(
            "commissioning needs ilmd with cbvmda:lotNumber and cbvmda:itemExpirationDate".into(),
        ));
    };
    serial_only(o)?;
    let location = o
        .common
        .biz_location
        .as_ref()
        .or(o.common.read_point.as_ref())
        .map(|p| p.id.clone());
    let mut by_gtin: BTreeMap<Gtin, Vec<Serial>> = BTreeMap::new();
    for r in &o.epc_list {
        match &r.epc {
            Epc::Sgtin(s) => by_gtin
                .entry(s.gtin.clone())
                .or_default()
                .push(s.serial.clone()),
            _ => {
                return Err(SupplyError::Epcis(format!(
                    "commissioning applies to packs (SGTINs); {} is not one (a case comes into \
                     being when something is packed into it)",
                    r.text
                )))
            }
        }
    }
    Ok(by_gtin
        .into_iter()
        .map(|(gtin, serials)| Commission {
            gtin,
            serials,
            lot: lot.clone(),
            expiry,
            location: location.clone(),
        })
        .collect())
}

/// The organisation a shipment goes to: the destination owning party, or
/// else the possessing party.
fn receiver<S: SupplyStore + ?Sized>(store: &S, c: &EventCommon) -> Result<OrgId, SupplyError> {
    let party = ["owning_party", "possessing_party"]
        .iter()
        .find_map(|kind| c.destination_list.iter().find(|d| d.kind.is(kind)))
        .ok_or_else(|| {
            SupplyError::Epcis(
                "shipping needs a destinationList entry of type owning_party or possessing_party \
                 naming the receiver"
                    .into(),
            )
        })?;
    // The form this ledger emits for organisations (`export`), so an
    // exported event names its receiver without a linked party URI. It is
    // read first: it always means that organisation.
    if let Some(id) = party.id.strip_prefix(ORG_URI_PREFIX) {
        return OrgId::new(id).map_err(|_| SupplyError::UnknownParty(party.id.clone()));
    }
    store
        .party(&party.id)?
        .ok_or_else(|| SupplyError::UnknownParty(party.id.clone()))
}

/// `urn:custodia:org:{id}`: an organisation as an EPCIS party URI.
pub const ORG_URI_PREFIX: &str = "urn:custodia:org:";

/// Turns the event's sensor data into readings per device and records
/// them. The scope is the shipment the listed items are travelling in, or
/// else the acting organisation's site (the event's bizLocation).
fn sensor_data<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    event: &Event,
) -> Result<(), SupplyError> {
    let c = event.common();
    let mut by_device: BTreeMap<String, BTreeMap<u64, Reading>> = BTreeMap::new();
    for (i, element) in c.sensor_element_list.iter().enumerate() {
        let meta = element.metadata.as_ref();
        let base_time = meta.and_then(|m| m.time.as_ref()).unwrap_or(&c.event_time);
        for (j, report) in element.reports.iter().enumerate() {
            let Some(measurement) = report.measurement().map_err(|e| {
                SupplyError::Epcis(format!("sensorElementList[{i}].sensorReport[{j}] {e}"))
            })?
            else {
                continue;
            };
            let device = report
                .device_id
                .as_ref()
                .or(meta.and_then(|m| m.device_id.as_ref()))
                .ok_or_else(|| {
                    SupplyError::Epcis(format!(
                        "sensorElementList[{i}] needs sensorMetadata.deviceID to attribute its readings"
                    ))
                })?;
            let time = report.time.as_ref().unwrap_or(base_time);
            let time_ms = u64::try_from(time.ms).map_err(|_| {
                SupplyError::Epcis(format!("sensor time {} is before 1970", time.text))
            })?;
            let reading = by_device
                .entry(device.clone())
                .or_default()
                .entry(time_ms)
                .or_insert(Reading {
                    time_ms,
                    celsius: None,
                    humidity_pct: None,
                });
            match measurement {
                crate::epcis::Measurement::Celsius(v) => reading.celsius = Some(v),
                crate::epcis::Measurement::HumidityPct(v) => reading.humidity_pct = Some(v),
            }
        }
    }
    let scope = sensor_scope(store, event)?;
    for (device, readings) in by_device {
        let readings: Vec<Reading> = readings.into_values().collect();
        record_readings(store, ctx, &device, &scope, &readings)?;
    }
    Ok(())
}

fn sensor_scope<S: SupplyStore + ?Sized>(
    store: &S,
    event: &Event,
) -> Result<ReadingScope, SupplyError> {
    let named: Vec<&EpcRef> = match event {
        Event::Object(o) => o.epc_list.iter().collect(),
        Event::Aggregation(a) => a.parent_id.iter().chain(&a.child_epcs).collect(),
    };
    for r in named {
        let Ok(id) = item(r) else { continue };
        let Ok(loaded) = Loaded::load(store, &id) else {
            continue;
        };
        match (&loaded.head.pack_status, &loaded.head.container_status) {
            (Some(PackStatus::InTransit(t)), _) | (_, Some(ContainerStatus::InTransit(t))) => {
                return Ok(ReadingScope::Shipment(t.reference()))
            }
            _ => {}
        }
    }
    Ok(ReadingScope::Site {
        location: event.common().biz_location.as_ref().map(|p| p.id.clone()),
    })
}
