//! Cold chain: registered devices report readings; a long enough run of
//! out-of-range readings compromises exactly the packs that were in the
//! measured custody during that run.
//!
//! An excursion, for one product, is a maximal run of consecutive readings
//! outside the product's storage range. Its span runs from the first
//! out-of-range reading to the first reading back in range (or, while none
//! has come, to the last reading). If the span exceeds the product's
//! `max_excursion_minutes`, every pack of that product whose custody
//! interval in the measured scope overlaps the span is marked compromised,
//! with the excursion as evidence. Runs continue across batches: the open
//! run is kept on the device, and re-evaluated (and its evidence extended)
//! as later batches arrive.

use std::collections::BTreeMap;

use crate::gs1::Gtin;
use crate::model::{
    CustodyInterval, CustodyPlace, Device, Excursion, OpenExcursion, OrgId, Pack, Reading,
    ReadingScope, TrailEvent,
};

use super::items::load_pack;
use super::{Ctx, SupplyError, SupplyStore};

/// Registers a sensor (logger, fridge probe) as the acting organisation's.
/// A device id is registered once.
/// How far back a reading may be dated: a logger read out at the end of a
/// long voyage is still accepted, but a new device cannot rewrite the
/// cold-chain record of custody long past.
pub const MAX_READING_AGE_MS: u64 = 30 * 24 * 3_600_000;

/// Excursions recorded on one pack. One is enough to keep it from being
/// dispensed; past this many, a device cannot grow the pack's record
/// toward the state's size limit (which would freeze the pack), and the
/// evidence already on record stands.
pub const MAX_EXCURSIONS_PER_PACK: usize = 16;

pub fn register_device<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    device_id: &str,
) -> Result<(), SupplyError> {
    if device_id.is_empty() || device_id.len() > 200 || device_id.chars().any(char::is_whitespace) {
        return Err(SupplyError::Invalid(format!(
            "device id {device_id:?} must be 1 to 200 characters without spaces"
        )));
    }
    if let Some(existing) = store.device(device_id)? {
        return Err(SupplyError::DeviceExists {
            device: device_id.to_string(),
            owner: existing.org,
        });
    }
    store.put_device(&Device {
        id: device_id.to_string(),
        org: ctx.org.clone(),
        registered_at_ms: ctx.at_ms,
        last_reading_ms: None,
        scope: None,
        open: Vec::new(),
    })
}

/// Records a batch of readings from `device_id`, which must be registered
/// to the acting organisation: a device speaks only about its own
/// organisation's custody (its premises, or a shipment it sends or
/// receives). Readings must be in time order, after the device's previous
/// batch, and not after the block time.
pub fn record_readings<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    device_id: &str,
    scope: &ReadingScope,
    readings: &[Reading],
) -> Result<(), SupplyError> {
    let mut device = store
        .device(device_id)?
        .ok_or_else(|| SupplyError::UnknownDevice(device_id.to_string()))?;
    if device.org != ctx.org {
        return Err(SupplyError::DeviceOfOtherOrg {
            device: device_id.to_string(),
            owner: device.org,
            org: ctx.org.clone(),
        });
    }
    let bad = |problem: String| SupplyError::BadReadings {
        device: device_id.to_string(),
        problem,
    };
    check_readings(&device, readings, ctx.at_ms).map_err(bad)?;
    let (Some(first), Some(last)) = (readings.first(), readings.last()) else {
        return Err(bad("a batch needs at least one reading".into()));
    };
    let candidates = match scope {
        ReadingScope::Shipment(id) => {
            let shipment = store
                .shipment(id)?
                .ok_or_else(|| SupplyError::UnknownShipment(id.clone()))?;
            if shipment.from != ctx.org && shipment.to != ctx.org {
                return Err(SupplyError::NotShipmentParty {
                    shipment: id.clone(),
                    to: shipment.to,
                    org: ctx.org.clone(),
                });
            }
            shipment.packs
        }
        ReadingScope::Site { .. } => store.org_packs(&ctx.org)?,
    };
    if device.scope.as_ref() != Some(scope) {
        // A run measured elsewhere does not continue here.
        device.open.clear();
        device.scope = Some(scope.clone());
    }

    // The packs that could have been exposed, by product.
    let window_from = device
        .open
        .iter()
        .map(|o| o.from_ms)
        .fold(first.time_ms, u64::min);
    let mut by_product: BTreeMap<Gtin, Vec<Pack>> = BTreeMap::new();
    for o in &device.open {
        by_product.entry(o.gtin.clone()).or_default();
    }
    for sgtin in &candidates {
        let pack = load_pack(store, sgtin)?;
        if exposed(
            &pack,
            scope,
            &ctx.org,
            window_from,
            last.time_ms.saturating_add(1),
        ) {
            by_product.entry(sgtin.gtin.clone()).or_default().push(pack);
        }
    }

    let mut still_open = Vec::new();
    for (gtin, mut packs) in by_product {
        let product = store
            .product(&gtin)?
            .ok_or_else(|| SupplyError::UnknownProduct(gtin.clone()))?;
        let allowed_ms = u64::from(product.storage.max_excursion_minutes) * 60_000;
        let mut open = device.open.iter().find(|o| o.gtin == gtin).cloned();
        let flag = |o: &OpenExcursion, until_ms: u64, ongoing: bool, packs: &mut [Pack]| {
            if until_ms.saturating_sub(o.from_ms) > allowed_ms {
                let excursion = Excursion {
                    id: format!("{device_id}@{}/{}", o.from_ms, o.gtin),
                    device: device_id.to_string(),
                    org: ctx.org.clone(),
                    scope: scope.clone(),
                    gtin: o.gtin.clone(),
                    from_ms: o.from_ms,
                    until_ms,
                    ongoing,
                    allowed_minutes: product.storage.max_excursion_minutes,
                    readings: o.readings,
                    values: o.values.clone(),
                    kinds: o.kinds.clone(),
                };
                mark(packs, &excursion, ctx);
            }
        };
        for r in readings {
            let broken = product.storage.violations(r);
            if broken.is_empty() {
                if let Some(o) = open.take() {
                    flag(&o, r.time_ms, false, &mut packs);
                }
                continue;
            }
            let o = open.get_or_insert_with(|| OpenExcursion {
                gtin: gtin.clone(),
                from_ms: r.time_ms,
                last_ms: r.time_ms,
                readings: 0,
                values: Default::default(),
                kinds: Vec::new(),
            });
            o.last_ms = r.time_ms;
            o.readings += 1;
            o.values.add(r);
            for k in broken {
                if !o.kinds.contains(&k) {
                    o.kinds.push(k);
                }
            }
            o.kinds.sort();
        }
        if let Some(o) = open {
            flag(&o, last.time_ms, true, &mut packs);
            still_open.push(o);
        }
        for p in &packs {
            store.put_pack(p)?;
        }
    }
    device.open = still_open;
    device.last_reading_ms = Some(last.time_ms);
    store.put_device(&device)
}

fn check_readings(device: &Device, readings: &[Reading], now_ms: u64) -> Result<(), String> {
    let mut previous = device.last_reading_ms;
    for (i, r) in readings.iter().enumerate() {
        if r.celsius.is_none() && r.humidity_pct.is_none() {
            return Err(format!("reading {i} has neither temperature nor humidity"));
        }
        if r.celsius.is_some_and(|c| !c.is_finite())
            || r.humidity_pct.is_some_and(|h| !(0.0..=100.0).contains(&h))
        {
            return Err(format!(
                "reading {i} has an impossible value (temperature must be finite, humidity 0..100 %)"
            ));
        }
        if let Some(p) = previous {
            if r.time_ms <= p {
                return Err(format!(
                    "reading {i} at {} ms is not after the previous reading at {p} ms; \
                     send readings in time order, each batch after the last",
                    r.time_ms
                ));
            }
        }
        if r.time_ms.saturating_add(MAX_READING_AGE_MS) < now_ms {
            return Err(format!(
                "reading {i} at {} ms is more than 30 days before the block time {now_ms} ms; \
                 readings that old are not accepted",
                r.time_ms
            ));
        }
        if r.time_ms > now_ms {
            return Err(format!(
                "reading {i} at {} ms is after the block time {now_ms} ms",
                r.time_ms
            ));
        }
        previous = Some(r.time_ms);
    }
    Ok(())
}

/// Was the pack in the measured custody at some time in `[from_ms, until_ms]`?
fn exposed(pack: &Pack, scope: &ReadingScope, org: &OrgId, from_ms: u64, until_ms: u64) -> bool {
    pack.custody
        .iter()
        .any(|c| in_scope(c, scope, org) && c.overlaps(from_ms, until_ms))
}

fn in_scope(c: &CustodyInterval, scope: &ReadingScope, org: &OrgId) -> bool {
    match (scope, &c.place) {
        // Custody stays with the shipper in transit, so the interval's org
        // is the shipment's.
        (ReadingScope::Shipment(r), CustodyPlace::Shipment { shipment, .. }) => {
            shipment == &r.id && c.org == r.from
        }
        (ReadingScope::Site { location }, CustodyPlace::Site { location: at }) => {
            &c.org == org && (location.is_none() || location == at)
        }
        _ => false,
    }
}

/// Records `excursion` on every pack of its product exposed during its
/// span; an excursion already recorded (same id) gets its evidence updated.
fn mark(packs: &mut [Pack], excursion: &Excursion, ctx: &Ctx) {
    for pack in packs.iter_mut() {
        if pack.sgtin.gtin != excursion.gtin
            || !exposed(
                pack,
                &excursion.scope,
                &excursion.org,
                excursion.from_ms,
                excursion.until_ms,
            )
        {
            continue;
        }
        let full = pack.compromised.len() >= MAX_EXCURSIONS_PER_PACK;
        match pack.compromised.iter_mut().find(|e| e.id == excursion.id) {
            Some(existing) => *existing = excursion.clone(),
            None if full => {}
            None => {
                pack.compromised.push(excursion.clone());
                pack.history.push(ctx.entry(TrailEvent::Compromised {
                    excursion: excursion.id.clone(),
                }));
            }
        }
    }
}
