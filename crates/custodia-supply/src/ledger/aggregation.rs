//! Packing into and unpacking from containers (packs into a case, cases
//! onto a pallet). Only the holder of both the container and its new
//! children may pack; custody does not change, so no custody interval does.

use crate::gs1::Sscc;
use crate::model::{Container, ContainerStatus, ItemId, TrailEvent};

use super::items::{check_head, distinct, load_container, Head, Loaded};
use super::{Ctx, SupplyError, SupplyStore};

/// Packs `children` into container `sscc`, creating the container on first
/// use. Each child must be held by the acting organisation, at a site, and
/// not already inside a container.
pub fn pack_into<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    sscc: &Sscc,
    children: &[ItemId],
) -> Result<(), SupplyError> {
    if children.is_empty() {
        return Err(SupplyError::Invalid(format!(
            "packing into (00){sscc} names no children"
        )));
    }
    let mut container = match store.container(sscc)? {
        Some(c) => {
            // Adding to a case that already sits on a pallet is fine; the
            // case itself must be here and ours.
            let mut head = Head::of_container(&c);
            head.parent = None;
            check_head(
                &ItemId::Container(sscc.clone()),
                &head,
                &ctx.org,
                "pack into",
            )?;
            c
        }
        None => Container {
            sscc: sscc.clone(),
            custodian: ctx.org.clone(),
            status: ContainerStatus::Active,
            parent: None,
            children: Vec::new(),
            history: Vec::new(),
        },
    };
    distinct(children)?;
    let ancestors = ancestors(store, &container)?;
    let entry = ctx.entry(TrailEvent::Packed { into: sscc.clone() });
    for child in children {
        if let ItemId::Container(c) = child {
            if ancestors.contains(c) {
                return Err(SupplyError::ContainerCycle(c.clone()));
            }
        }
        let mut loaded = Loaded::load(store, child)?;
        loaded.check_holder(&ctx.org, "pack")?;
        // Only the named child changes parent; its contents stay inside it.
        match child {
            ItemId::Pack(_) => {
                if let Some(p) = loaded.packs.first_mut() {
                    p.container = Some(sscc.clone());
                }
            }
            ItemId::Container(_) => {
                if let Some(c) = loaded.containers.first_mut() {
                    c.parent = Some(sscc.clone());
                }
            }
        }
        loaded.record(&entry);
        loaded.save(store)?;
        container.children.push(child.clone());
    }
    container.history.push(entry);
    store.put_container(&container)
}

/// The container and every container it sits in.
fn ancestors<S: SupplyStore + ?Sized>(
    store: &S,
    container: &Container,
) -> Result<Vec<Sscc>, SupplyError> {
    let mut out = vec![container.sscc.clone()];
    let mut parent = container.parent.clone();
    while let Some(p) = parent {
        if out.contains(&p) || out.len() > 16 {
            return Err(SupplyError::ContainerCycle(p));
        }
        parent = load_container(store, &p)?.parent;
        out.push(p);
    }
    Ok(out)
}

/// Takes `children` (all of them when empty) out of container `sscc`.
pub fn unpack<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    sscc: &Sscc,
    children: &[ItemId],
) -> Result<(), SupplyError> {
    let mut container = load_container(store, sscc)?;
    // Unpacking a case that is on a pallet is allowed where the pallet is.
    let mut head = Head::of_container(&container);
    head.parent = None;
    check_head(&ItemId::Container(sscc.clone()), &head, &ctx.org, "unpack")?;
    distinct(children)?;
    let taking: Vec<ItemId> = if children.is_empty() {
        container.children.clone()
    } else {
        children.to_vec()
    };
    let entry = ctx.entry(TrailEvent::Unpacked { from: sscc.clone() });
    for child in &taking {
        let Some(pos) = container.children.iter().position(|c| c == child) else {
            return Err(SupplyError::NotInContainer {
                item: child.clone(),
                container: sscc.clone(),
            });
        };
        container.children.remove(pos);
        let mut inner = Loaded::load(store, child)?;
        match child {
            ItemId::Pack(_) => {
                if let Some(p) = inner.packs.first_mut() {
                    p.container = None;
                }
            }
            ItemId::Container(_) => {
                if let Some(c) = inner.containers.first_mut() {
                    c.parent = None;
                }
            }
        }
        inner.record(&entry);
        inner.save(store)?;
    }
    container.history.push(entry);
    store.put_container(&container)
}
