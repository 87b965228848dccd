//! Loading what an event names, checking it may be acted on, and reaching
//! through containers to everything inside them.

use std::collections::BTreeSet;

use crate::gs1::{Sgtin, Sscc};
use crate::model::{
    Container, ContainerStatus, CustodyInterval, CustodyPlace, ItemId, OrgId, Pack, PackStatus,
    TrailEntry,
};

use super::{keys, SupplyError, SupplyStore};

/// Deeper nesting than a pack in a case on a pallet in a container is
/// possible but not unbounded; this guards against a damaged state.
const MAX_DEPTH: usize = 8;

pub(crate) fn load_pack<S: SupplyStore + ?Sized>(
    store: &S,
    sgtin: &Sgtin,
) -> Result<Pack, SupplyError> {
    store
        .pack(sgtin)?
        .ok_or_else(|| SupplyError::UnknownPack(sgtin.clone()))
}

pub(crate) fn load_container<S: SupplyStore + ?Sized>(
    store: &S,
    sscc: &Sscc,
) -> Result<Container, SupplyError> {
    store
        .container(sscc)?
        .ok_or_else(|| SupplyError::UnknownContainer(sscc.clone()))
}

/// An item as loaded, with everything inside it (for a container).
pub(crate) struct Loaded {
    pub id: ItemId,
    /// The named item's state as loaded.
    pub head: Head,
    pub packs: Vec<Pack>,
    pub containers: Vec<Container>,
}

/// Who holds the named item, its state, and the container around it.
pub(crate) struct Head {
    pub custodian: OrgId,
    pub pack_status: Option<PackStatus>,
    pub container_status: Option<ContainerStatus>,
    pub parent: Option<Sscc>,
}

impl Head {
    pub fn of_container(c: &Container) -> Self {
        Self {
            custodian: c.custodian.clone(),
            pack_status: None,
            container_status: Some(c.status.clone()),
            parent: c.parent.clone(),
        }
    }
}

/// `id` (in state `head`) may be acted on by `org` as `action`.
pub(crate) fn check_head(
    id: &ItemId,
    h: &Head,
    org: &OrgId,
    action: &'static str,
) -> Result<(), SupplyError> {
    let transit = match (&h.pack_status, &h.container_status) {
        (Some(status), _) if status.is_final() => {
            return Err(SupplyError::Finished {
                item: id.clone(),
                state: status.to_string(),
            })
        }
        (Some(PackStatus::InTransit(t)), _) | (_, Some(ContainerStatus::InTransit(t))) => Some(t),
        _ => None,
    };
    if let Some(t) = transit {
        return Err(SupplyError::InTransit {
            item: id.clone(),
            from: t.from.clone(),
            to: t.to.clone(),
            action,
        });
    }
    if let Some(container) = &h.parent {
        return Err(SupplyError::InsideContainer {
            item: id.clone(),
            container: container.clone(),
        });
    }
    if &h.custodian != org {
        return Err(SupplyError::NotCustodian {
            item: id.clone(),
            custodian: h.custodian.clone(),
            action,
        });
    }
    Ok(())
}

impl Loaded {
    pub fn load<S: SupplyStore + ?Sized>(store: &S, id: &ItemId) -> Result<Self, SupplyError> {
        let mut packs = Vec::new();
        let mut containers = Vec::new();
        let head = match id {
            ItemId::Pack(s) => {
                let p = load_pack(store, s)?;
                let head = Head {
                    custodian: p.custodian.clone(),
                    pack_status: Some(p.status.clone()),
                    container_status: None,
                    parent: p.container.clone(),
                };
                packs.push(p);
                head
            }
            ItemId::Container(s) => {
                let c = load_container(store, s)?;
                let head = Head::of_container(&c);
                collect(store, c, &mut packs, &mut containers, 0)?;
                head
            }
        };
        Ok(Self {
            id: id.clone(),
            head,
            packs,
            containers,
        })
    }

    /// The named item may be acted on by `org` as `action`: it is not
    /// finished, not travelling, not inside a container, and held by `org`.
    pub fn check_holder(&self, org: &OrgId, action: &'static str) -> Result<(), SupplyError> {
        check_head(&self.id, &self.head, org, action)
    }

    /// Everything inside a container moves with it, so it must all be in a
    /// state to move (a container never holds a finished pack, but a
    /// damaged state should be refused, not propagated).
    pub fn check_contents(&self, org: &OrgId, action: &'static str) -> Result<(), SupplyError> {
        for p in &self.packs {
            let head = Head {
                custodian: p.custodian.clone(),
                pack_status: Some(p.status.clone()),
                container_status: None,
                parent: None,
            };
            check_head(&ItemId::Pack(p.sgtin.clone()), &head, org, action)?;
        }
        Ok(())
    }

    /// The pack a `Loaded` of `ItemId::Pack` holds.
    pub fn into_pack(self) -> Result<Pack, SupplyError> {
        match (self.id, self.packs.into_iter().next()) {
            (ItemId::Pack(_), Some(p)) => Ok(p),
            (ItemId::Pack(s), None) => Err(SupplyError::UnknownPack(s)),
            (ItemId::Container(s), _) => Err(SupplyError::Invalid(format!(
                "(00){s} is a container; this event applies to packs only"
            ))),
        }
    }

    pub fn save<S: SupplyStore + ?Sized>(&self, store: &mut S) -> Result<(), SupplyError> {
        for p in &self.packs {
            store.put_pack(p)?;
        }
        for c in &self.containers {
            store.put_container(c)?;
        }
        Ok(())
    }

    /// Appends `entry` to the trail of every pack and container in the item.
    pub fn record(&mut self, entry: &TrailEntry) {
        for p in &mut self.packs {
            p.history.push(entry.clone());
        }
        for c in &mut self.containers {
            c.history.push(entry.clone());
        }
    }
}

fn collect<S: SupplyStore + ?Sized>(
    store: &S,
    container: Container,
    packs: &mut Vec<Pack>,
    containers: &mut Vec<Container>,
    depth: usize,
) -> Result<(), SupplyError> {
    if depth > MAX_DEPTH {
        return Err(SupplyError::Corrupt {
            key: format!("supply/container/{}", container.sscc),
            reason: format!("containers nested deeper than {MAX_DEPTH}"),
        });
    }
    let children = container.children.clone();
    containers.push(container);
    for child in &children {
        match child {
            ItemId::Pack(s) => packs.push(load_pack(store, s)?),
            ItemId::Container(c) => {
                let inner = load_container(store, c)?;
                collect(store, inner, packs, containers, depth + 1)?
            }
        }
    }
    Ok(())
}

/// Ends the pack's current custody interval at `at_ms`.
pub(crate) fn close_custody(pack: &mut Pack, at_ms: u64) {
    if let Some(last) = pack.custody.last_mut() {
        if last.until_ms.is_none() {
            last.until_ms = Some(at_ms);
        }
    }
}

/// Starts a new custody interval (closing the current one).
pub(crate) fn open_custody(pack: &mut Pack, org: &OrgId, place: CustodyPlace, at_ms: u64) {
    close_custody(pack, at_ms);
    pack.custody.push(CustodyInterval {
        org: org.clone(),
        place,
        from_ms: at_ms,
        until_ms: None,
    });
}

/// Adds packs to the index of packs `org` has held on its premises.
pub(crate) fn index_site_packs<'a, S: SupplyStore + ?Sized>(
    store: &mut S,
    org: &OrgId,
    packs: impl Iterator<Item = &'a Sgtin>,
) -> Result<(), SupplyError> {
    let mut by_bucket: std::collections::BTreeMap<u16, Vec<Sgtin>> = Default::default();
    for sgtin in packs {
        by_bucket
            .entry(keys::org_pack_bucket(sgtin))
            .or_default()
            .push(sgtin.clone());
    }
    for (bucket, new) in by_bucket {
        let held = store.org_pack_bucket(org, bucket)?;
        let mut set: BTreeSet<Sgtin> = held.iter().cloned().collect();
        let before = set.len();
        set.extend(new);
        if set.len() != before || held.len() != before {
            let all: Vec<Sgtin> = set.into_iter().collect();
            store.put_org_pack_bucket(org, bucket, &all)?;
        }
    }
    Ok(())
}

/// Refuses a list naming the same item twice (it would be moved twice).
pub(crate) fn distinct(items: &[ItemId]) -> Result<(), SupplyError> {
    let mut seen = BTreeSet::new();
    for item in items {
        if !seen.insert(item) {
            return Err(SupplyError::NamedTwice(item.clone()));
        }
    }
    Ok(())
}
