//! Products and the birth of packs: only a manufacturer registers its
//! products, and only the product's manufacturer commissions its packs. A
//! commission by anyone else is how counterfeits would enter, so it is
//! refused and recorded.

use std::collections::BTreeSet;

use crate::gs1::{Gtin, Lgtin, Lot, Serial, Sgtin};
use crate::model::{CustodyPlace, LotRecord, Pack, PackStatus, Product, TrailEvent};
use crate::time::Date;

use super::items::{index_site_packs, open_custody};
use super::{Ctx, SupplyError, SupplyStore};

/// Registers `product`. Only its manufacturer may; a GTIN is registered once.
pub fn register_product<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    product: &Product,
) -> Result<(), SupplyError> {
    product.validate().map_err(SupplyError::Invalid)?;
    if product.manufacturer != ctx.org {
        return Err(SupplyError::NotManufacturer {
            gtin: product.gtin.clone(),
            manufacturer: product.manufacturer.clone(),
            org: ctx.org.clone(),
            action: "register",
        });
    }
    if let Some(existing) = store.product(&product.gtin)? {
        return Err(SupplyError::ProductExists {
            gtin: product.gtin.clone(),
            manufacturer: existing.manufacturer,
        });
    }
    store.put_product(product)
}

/// What a commission names: packs of one product, of one lot.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Commission {
    pub gtin: Gtin,
    pub serials: Vec<Serial>,
    pub lot: Lot,
    pub expiry: Date,
    /// Where (an SGLN or other location URI), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// Brings serialised packs into existence, held by the manufacturer.
pub fn commission<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    c: &Commission,
) -> Result<(), SupplyError> {
    let product = store
        .product(&c.gtin)?
        .ok_or_else(|| SupplyError::UnknownProduct(c.gtin.clone()))?;
    let first = c
        .serials
        .first()
        .ok_or_else(|| SupplyError::Invalid("a commission names at least one serial".into()))?;
    if product.manufacturer != ctx.org {
        return Err(SupplyError::CommissionByNonManufacturer {
            sgtin: Sgtin::new(c.gtin.clone(), first.clone()),
            manufacturer: product.manufacturer,
            org: ctx.org.clone(),
        });
    }
    check_expiry(&product, c.expiry, ctx.at_ms)?;

    let lgtin = Lgtin::new(c.gtin.clone(), c.lot.clone());
    let mut lot = match store.lot(&lgtin)? {
        Some(lot) if lot.recall.is_some() => return Err(SupplyError::LotRecalled(lgtin)),
        Some(lot) if lot.expiry != c.expiry => {
            return Err(SupplyError::LotExpiryMismatch {
                lot: lgtin,
                expiry: lot.expiry,
                got: c.expiry,
            })
        }
        Some(lot) => lot,
        None => LotRecord {
            lgtin: lgtin.clone(),
            expiry: c.expiry,
            serials: Vec::new(),
            recall: None,
        },
    };

    let mut seen = BTreeSet::new();
    let mut created = Vec::with_capacity(c.serials.len());
    for serial in &c.serials {
        let sgtin = Sgtin::new(c.gtin.clone(), serial.clone());
        if !seen.insert(serial) || store.pack(&sgtin)?.is_some() {
            return Err(SupplyError::DuplicateSerial(sgtin));
        }
        let mut pack = Pack {
            sgtin,
            lot: c.lot.clone(),
            expiry: c.expiry,
            manufacturer: ctx.org.clone(),
            commissioned_at_ms: ctx.at_ms,
            custodian: ctx.org.clone(),
            status: PackStatus::Active,
            container: None,
            recalled: false,
            compromised: Vec::new(),
            custody: Vec::new(),
            history: vec![ctx.entry(TrailEvent::Commissioned {
                lot: c.lot.clone(),
                expiry: c.expiry,
                location: c.location.clone(),
            })],
        };
        open_custody(
            &mut pack,
            &ctx.org,
            CustodyPlace::Site {
                location: c.location.clone(),
            },
            ctx.at_ms,
        );
        store.put_pack(&pack)?;
        lot.serials.push(serial.clone());
        created.push(pack.sgtin);
    }
    store.put_lot(&lot)?;
    index_site_packs(store, &ctx.org, created.iter())
}

/// Expiry must be after the commissioning day and within the shelf life.
fn check_expiry(product: &Product, expiry: Date, at_ms: u64) -> Result<(), SupplyError> {
    let today = Date::of_ms(at_ms)
        .ok_or_else(|| SupplyError::Invalid(format!("block time {at_ms} ms is out of range")))?;
    if expiry <= today {
        return Err(SupplyError::Invalid(format!(
            "expiry {expiry} is not after the commissioning date {today}"
        )));
    }
    let latest = today.plus_days(product.shelf_life_days).ok_or_else(|| {
        SupplyError::Invalid(format!(
            "shelf life of {} days is out of range",
            product.shelf_life_days
        ))
    })?;
    if expiry > latest {
        return Err(SupplyError::Invalid(format!(
            "expiry {expiry} is beyond product {}'s shelf life of {} days (latest {latest})",
            product.gtin, product.shelf_life_days
        )));
    }
    Ok(())
}
