//! The end of a pack's life (dispense to a patient, decommission) and the
//! recall of a whole lot.

use crate::gs1::{Lgtin, Sgtin};
use crate::model::{ItemId, Pack, PackStatus, Recall, TrailEvent};

use super::items::{close_custody, distinct, load_pack, Loaded};
use super::{Ctx, SupplyError, SupplyStore};

/// Dispenses packs to patients. Only the custodian, only at its site, and
/// only a pack that is fit to dispense: not recalled, expired or
/// compromised. A second dispense of a dispensed serial is a clone.
pub fn dispense<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    packs: &[Sgtin],
) -> Result<(), SupplyError> {
    if packs.is_empty() {
        return Err(SupplyError::Invalid(
            "a dispense names at least one pack".into(),
        ));
    }
    distinct(&packs.iter().cloned().map(ItemId::Pack).collect::<Vec<_>>())?;
    for sgtin in packs {
        let loaded = Loaded::load(store, &ItemId::Pack(sgtin.clone()))?;
        if let Some(PackStatus::Dispensed { by, .. }) = &loaded.head.pack_status {
            return Err(SupplyError::AlreadyDispensed {
                sgtin: sgtin.clone(),
                by: by.clone(),
            });
        }
        loaded.check_holder(&ctx.org, "dispense")?;
        let mut pack = loaded.into_pack()?;
        fit_to_dispense(&pack, ctx.at_ms)?;
        pack.status = PackStatus::Dispensed {
            by: ctx.org.clone(),
            at_ms: ctx.at_ms,
        };
        close_custody(&mut pack, ctx.at_ms);
        pack.history.push(ctx.entry(TrailEvent::Dispensed));
        store.put_pack(&pack)?;
    }
    Ok(())
}

fn fit_to_dispense(pack: &Pack, now_ms: u64) -> Result<(), SupplyError> {
    if pack.recalled {
        return Err(SupplyError::Recalled {
            sgtin: pack.sgtin.clone(),
            lot: pack.lot.to_string(),
        });
    }
    if pack.expired_at(now_ms) {
        return Err(SupplyError::Expired {
            sgtin: pack.sgtin.clone(),
            expiry: pack.expiry,
        });
    }
    if let Some(excursion) = pack.compromised.first() {
        return Err(SupplyError::Compromised {
            sgtin: pack.sgtin.clone(),
            excursion: excursion.id.clone(),
        });
    }
    Ok(())
}

/// Takes packs out of the supply chain (destroyed, sampled, damaged…).
/// Allowed for recalled, expired and compromised packs: that is what they
/// are for. Only the custodian, at its site.
pub fn decommission<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    packs: &[Sgtin],
    reason: &str,
) -> Result<(), SupplyError> {
    if packs.is_empty() {
        return Err(SupplyError::Invalid(
            "a decommission names at least one pack".into(),
        ));
    }
    distinct(&packs.iter().cloned().map(ItemId::Pack).collect::<Vec<_>>())?;
    for sgtin in packs {
        let loaded = Loaded::load(store, &ItemId::Pack(sgtin.clone()))?;
        loaded.check_holder(&ctx.org, "decommission")?;
        let mut pack = loaded.into_pack()?;
        pack.status = PackStatus::Decommissioned {
            by: ctx.org.clone(),
            at_ms: ctx.at_ms,
            reason: reason.to_string(),
        };
        close_custody(&mut pack, ctx.at_ms);
        pack.history.push(ctx.entry(TrailEvent::Decommissioned {
            reason: reason.to_string(),
        }));
        store.put_pack(&pack)?;
    }
    Ok(())
}

/// Recalls a lot: every pack of it is marked, wherever it is, including
/// packs inside cases and pallets. Only the product's manufacturer may.
pub fn recall_lot<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    lot: &Lgtin,
    reason: &str,
) -> Result<(), SupplyError> {
    let product = store
        .product(&lot.gtin)?
        .ok_or_else(|| SupplyError::UnknownProduct(lot.gtin.clone()))?;
    if product.manufacturer != ctx.org {
        return Err(SupplyError::NotManufacturer {
            gtin: lot.gtin.clone(),
            manufacturer: product.manufacturer,
            org: ctx.org.clone(),
            action: "recall",
        });
    }
    let mut record = store
        .lot(lot)?
        .ok_or_else(|| SupplyError::UnknownLot(lot.clone()))?;
    if record.recall.is_some() {
        return Err(SupplyError::AlreadyRecalled(lot.clone()));
    }
    let entry = ctx.entry(TrailEvent::Recalled {
        reason: reason.to_string(),
    });
    for serial in &record.serials {
        let mut pack = load_pack(store, &Sgtin::new(lot.gtin.clone(), serial.clone()))?;
        pack.recalled = true;
        pack.history.push(entry.clone());
        store.put_pack(&pack)?;
    }
    record.recall = Some(Recall {
        at_ms: ctx.at_ms,
        by: ctx.org.clone(),
        reason: reason.to_string(),
        tx: ctx.tx.clone(),
    });
    store.put_lot(&record)
}
