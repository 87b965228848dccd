//! Custody changes between organisations: ship and receive. Only the
//! current custodian ships, to a named receiver; only that receiver
//! receives, and only what was shipped to it. Events on a container move
//! everything inside it.

use serde::{Deserialize, Serialize};

use crate::model::{
    ContainerStatus, CustodyPlace, ItemId, OrgId, PackStatus, Shipment, ShipmentId, ShipmentRef,
    TrailEvent, Transit,
};

use super::items::{distinct, index_site_packs, open_custody, Loaded};
use super::{Ctx, SupplyError, SupplyStore};

/// A ship event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ship {
    pub shipment: ShipmentId,
    pub items: Vec<ItemId>,
    pub to: OrgId,
    /// A return up the chain (CBV disposition `returned`): allowed for
    /// recalled packs, and only to an organisation that held them before.
    #[serde(default)]
    pub returning: bool,
}

pub fn ship<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    ship: &Ship,
) -> Result<(), SupplyError> {
    if ship.to == ctx.org {
        return Err(SupplyError::ShipToSelf {
            org: ctx.org.clone(),
        });
    }
    if !store.is_member(&ship.to) {
        return Err(SupplyError::NotAMember(ship.to.clone()));
    }
    if ship.items.is_empty() {
        return Err(SupplyError::Invalid(
            "a shipment names at least one item".into(),
        ));
    }
    distinct(&ship.items)?;
    let reference = ShipmentRef {
        from: ctx.org.clone(),
        id: ship.shipment.clone(),
    };
    if store.shipment(&reference)?.is_some() {
        return Err(SupplyError::ShipmentExists(reference));
    }
    let transit = Transit {
        shipment: ship.shipment.clone(),
        from: ctx.org.clone(),
        to: ship.to.clone(),
        shipped_at_ms: ctx.at_ms,
        returning: ship.returning,
    };
    let entry = ctx.entry(TrailEvent::Shipped {
        shipment: ship.shipment.clone(),
        to: ship.to.clone(),
        returning: ship.returning,
    });
    let mut all_packs = Vec::new();
    for item in &ship.items {
        let mut loaded = Loaded::load(store, item)?;
        loaded.check_holder(&ctx.org, "ship")?;
        loaded.check_contents(&ctx.org, "ship")?;
        for pack in &mut loaded.packs {
            if pack.recalled && !ship.returning {
                return Err(SupplyError::Recalled {
                    sgtin: pack.sgtin.clone(),
                    lot: pack.lot.to_string(),
                });
            }
            if ship.returning && !pack.custody.iter().any(|c| c.org == ship.to) {
                return Err(SupplyError::ReturnToStranger {
                    item: item.clone(),
                    to: ship.to.clone(),
                });
            }
            pack.status = PackStatus::InTransit(transit.clone());
            open_custody(
                pack,
                &ctx.org,
                CustodyPlace::Shipment {
                    shipment: ship.shipment.clone(),
                    to: ship.to.clone(),
                },
                ctx.at_ms,
            );
            all_packs.push(pack.sgtin.clone());
        }
        for c in &mut loaded.containers {
            c.status = ContainerStatus::InTransit(transit.clone());
        }
        loaded.record(&entry);
        loaded.save(store)?;
    }
    store.put_shipment(&Shipment {
        id: ship.shipment.clone(),
        from: ctx.org.clone(),
        to: ship.to.clone(),
        shipped_at_ms: ctx.at_ms,
        returning: ship.returning,
        items: ship.items.clone(),
        packs: all_packs,
        outstanding: ship.items.clone(),
        received_at_ms: None,
    })
}

/// A receive event: the items (as they were shipped: a case, not the packs
/// inside it) and where they arrived.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receive {
    pub items: Vec<ItemId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

pub fn receive<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    receive: &Receive,
) -> Result<(), SupplyError> {
    if receive.items.is_empty() {
        return Err(SupplyError::Invalid(
            "a receive names at least one item".into(),
        ));
    }
    distinct(&receive.items)?;
    let site = CustodyPlace::Site {
        location: receive.location.clone(),
    };
    for item in &receive.items {
        let mut loaded = Loaded::load(store, item)?;
        let transit = expect_shipped_to(&loaded, &ctx.org)?;
        let entry = ctx.entry(TrailEvent::Received {
            shipment: transit.shipment.clone(),
            from: transit.from.clone(),
            location: receive.location.clone(),
        });
        for pack in &mut loaded.packs {
            pack.status = PackStatus::Active;
            pack.custodian = ctx.org.clone();
            open_custody(pack, &ctx.org, site.clone(), ctx.at_ms);
        }
        for c in &mut loaded.containers {
            c.status = ContainerStatus::Active;
            c.custodian = ctx.org.clone();
        }
        loaded.record(&entry);
        loaded.save(store)?;
        index_site_packs(store, &ctx.org, loaded.packs.iter().map(|p| &p.sgtin))?;

        let reference = transit.reference();
        let mut shipment = store
            .shipment(&reference)?
            .ok_or(SupplyError::UnknownShipment(reference))?;
        shipment.outstanding.retain(|i| i != item);
        if shipment.outstanding.is_empty() {
            shipment.received_at_ms = Some(ctx.at_ms);
        }
        store.put_shipment(&shipment)?;
    }
    Ok(())
}

/// The transit that lets `org` receive the item, or why there is none.
fn expect_shipped_to(loaded: &Loaded, org: &OrgId) -> Result<Transit, SupplyError> {
    let h = &loaded.head;
    if let Some(container) = &h.parent {
        return Err(SupplyError::InsideContainer {
            item: loaded.id.clone(),
            container: container.clone(),
        });
    }
    let transit = match (&h.pack_status, &h.container_status) {
        (Some(PackStatus::InTransit(t)), _) | (_, Some(ContainerStatus::InTransit(t))) => t,
        (Some(status), _) => {
            return Err(SupplyError::NotShipped {
                item: loaded.id.clone(),
                state: status.to_string(),
                custodian: h.custodian.clone(),
            })
        }
        _ => {
            return Err(SupplyError::NotShipped {
                item: loaded.id.clone(),
                state: "at a site".into(),
                custodian: h.custodian.clone(),
            })
        }
    };
    if &transit.to != org {
        return Err(SupplyError::NotReceiver {
            item: loaded.id.clone(),
            to: transit.to.clone(),
            org: org.clone(),
        });
    }
    Ok(transit.clone())
}
