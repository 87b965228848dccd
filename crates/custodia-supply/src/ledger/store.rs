//! Where the ledger keeps its records: a key-value store of JSON records
//! under readable byte keys, the shape of the chain's state. The chain
//! implements [`SupplyStore`] over its per-transaction overlay; tests use
//! [`MemoryStore`].

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::gs1::{key_segment, Gtin, Lgtin, Sgtin, Sscc};
use crate::model::{
    Container, Device, LotRecord, OrgId, Pack, Product, Shipment, ShipmentRef, SignalRecord,
};

use super::SupplyError;

/// The state keys, all under `supply/`. Free text (serials, lots, ids) is
/// %-escaped like an EPC URN so a `/` in a serial cannot break the layout.
pub mod keys {
    use super::*;

    pub fn product(gtin: &Gtin) -> Vec<u8> {
        format!("supply/product/{gtin}").into_bytes()
    }

    pub fn pack(sgtin: &Sgtin) -> Vec<u8> {
        format!(
            "supply/pack/{}/{}",
            sgtin.gtin,
            key_segment(sgtin.serial.as_str())
        )
        .into_bytes()
    }

    pub fn container(sscc: &Sscc) -> Vec<u8> {
        format!("supply/container/{sscc}").into_bytes()
    }

    pub fn lot(lgtin: &Lgtin) -> Vec<u8> {
        format!(
            "supply/lot/{}/{}",
            lgtin.gtin,
            key_segment(lgtin.lot.as_str())
        )
        .into_bytes()
    }

    pub fn shipment(shipment: &ShipmentRef) -> Vec<u8> {
        format!(
            "supply/shipment/{}/{}",
            key_segment(shipment.from.as_str()),
            key_segment(shipment.id.as_str())
        )
        .into_bytes()
    }

    /// One bucket of the packs an organisation has held on its premises
    /// (site-scoped sensor readings are matched against these). Spread
    /// over [`ORG_PACK_BUCKETS`] records by [`org_pack_bucket`], so a new
    /// pack rewrites one small record, not one list of everything held.
    pub fn org_packs(org: &OrgId, bucket: u16) -> Vec<u8> {
        format!("supply/org/{org}/packs/{bucket:03}").into_bytes()
    }

    /// How many records an organisation's site packs are spread over.
    pub const ORG_PACK_BUCKETS: u16 = 256;

    /// The bucket a pack is kept in: FNV-1a of `gtin/serial`, stable on
    /// every platform (every node must pick the same).
    pub fn org_pack_bucket(sgtin: &Sgtin) -> u16 {
        let mut hash: u32 = 0x811c_9dc5;
        for byte in format!("{}/{}", sgtin.gtin, sgtin.serial).bytes() {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        (hash % u32::from(ORG_PACK_BUCKETS)) as u16
    }

    pub fn signals(sgtin: &Sgtin) -> Vec<u8> {
        format!(
            "supply/signals/{}/{}",
            sgtin.gtin,
            key_segment(sgtin.serial.as_str())
        )
        .into_bytes()
    }

    pub fn device(id: &str) -> Vec<u8> {
        format!("supply/device/{}", key_segment(id)).into_bytes()
    }

    /// Which organisation an EPCIS party URI (PGLN, …) stands for.
    pub fn party(uri: &str) -> Vec<u8> {
        format!("supply/party/{}", key_segment(uri)).into_bytes()
    }

    /// The EPCIS events a transaction carried, as received.
    pub fn events(tx: &str) -> Vec<u8> {
        format!("supply/events/{}", key_segment(tx)).into_bytes()
    }
}

/// Raw access plus typed records. Implement `get`/`put`; the rest follows.
///
/// The rule functions write as they go and may fail half-way: run them on a
/// transactional overlay and discard its writes when they return an error
/// (the chain does this per transaction; [`super::submit`] does it for any
/// `Clone` store).
pub trait SupplyStore {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);
    /// Whether `org` is a member organisation: the only ones packs may be
    /// shipped to (a pack sent elsewhere could never be received). The
    /// membership lives outside the supply records, so each store says.
    fn is_member(&self, org: &OrgId) -> bool;

    fn product(&self, gtin: &Gtin) -> Result<Option<Product>, SupplyError> {
        load(self, &keys::product(gtin))
    }
    fn put_product(&mut self, p: &Product) -> Result<(), SupplyError> {
        save(self, keys::product(&p.gtin), p)
    }
    fn pack(&self, sgtin: &Sgtin) -> Result<Option<Pack>, SupplyError> {
        load(self, &keys::pack(sgtin))
    }
    fn put_pack(&mut self, p: &Pack) -> Result<(), SupplyError> {
        save(self, keys::pack(&p.sgtin), p)
    }
    fn container(&self, sscc: &Sscc) -> Result<Option<Container>, SupplyError> {
        load(self, &keys::container(sscc))
    }
    fn put_container(&mut self, c: &Container) -> Result<(), SupplyError> {
        save(self, keys::container(&c.sscc), c)
    }
    fn lot(&self, lgtin: &Lgtin) -> Result<Option<LotRecord>, SupplyError> {
        load(self, &keys::lot(lgtin))
    }
    fn put_lot(&mut self, lot: &LotRecord) -> Result<(), SupplyError> {
        save(self, keys::lot(&lot.lgtin), lot)
    }
    fn shipment(&self, shipment: &ShipmentRef) -> Result<Option<Shipment>, SupplyError> {
        load(self, &keys::shipment(shipment))
    }
    fn put_shipment(&mut self, s: &Shipment) -> Result<(), SupplyError> {
        save(self, keys::shipment(&s.reference()), s)
    }
    /// Every pack `org` has held on its premises, bucket by bucket.
    fn org_packs(&self, org: &OrgId) -> Result<Vec<Sgtin>, SupplyError> {
        let mut all = Vec::new();
        for bucket in 0..keys::ORG_PACK_BUCKETS {
            all.extend(self.org_pack_bucket(org, bucket)?);
        }
        Ok(all)
    }
    fn org_pack_bucket(&self, org: &OrgId, bucket: u16) -> Result<Vec<Sgtin>, SupplyError> {
        Ok(load(self, &keys::org_packs(org, bucket))?.unwrap_or_default())
    }
    fn put_org_pack_bucket(
        &mut self,
        org: &OrgId,
        bucket: u16,
        packs: &[Sgtin],
    ) -> Result<(), SupplyError> {
        save(self, keys::org_packs(org, bucket), &packs)
    }
    fn signals(&self, sgtin: &Sgtin) -> Result<Vec<SignalRecord>, SupplyError> {
        Ok(load(self, &keys::signals(sgtin))?.unwrap_or_default())
    }
    fn put_signals(&mut self, sgtin: &Sgtin, s: &[SignalRecord]) -> Result<(), SupplyError> {
        save(self, keys::signals(sgtin), &s)
    }
    fn device(&self, id: &str) -> Result<Option<Device>, SupplyError> {
        load(self, &keys::device(id))
    }
    fn put_device(&mut self, d: &Device) -> Result<(), SupplyError> {
        save(self, keys::device(&d.id), d)
    }
    fn party(&self, uri: &str) -> Result<Option<OrgId>, SupplyError> {
        load(self, &keys::party(uri))
    }
    fn put_party(&mut self, uri: &str, org: &OrgId) -> Result<(), SupplyError> {
        save(self, keys::party(uri), org)
    }
}

fn load<T: DeserializeOwned, S: SupplyStore + ?Sized>(
    store: &S,
    key: &[u8],
) -> Result<Option<T>, SupplyError> {
    match store.get(key) {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SupplyError::Corrupt {
                key: String::from_utf8_lossy(key).into_owned(),
                reason: e.to_string(),
            }),
    }
}

pub(crate) fn save<T: Serialize + ?Sized, S: SupplyStore + ?Sized>(
    store: &mut S,
    key: Vec<u8>,
    value: &T,
) -> Result<(), SupplyError> {
    let bytes = serde_json::to_vec(value).map_err(|e| SupplyError::Corrupt {
        key: String::from_utf8_lossy(&key).into_owned(),
        reason: format!("cannot encode: {e}"),
    })?;
    store.put(key, bytes);
    Ok(())
}

/// An in-memory store for tests and offline replay. Cloning it is the
/// transactional overlay [`super::submit`] needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryStore {
    pub entries: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The member organisations; `None` is an open world in which every
    /// organisation counts as one (for tests of the other rules).
    pub members: Option<BTreeSet<OrgId>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose only members are `members`.
    pub fn with_members(members: impl IntoIterator<Item = OrgId>) -> Self {
        Self {
            entries: BTreeMap::new(),
            members: Some(members.into_iter().collect()),
        }
    }
}

impl SupplyStore for MemoryStore {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.entries.get(key).cloned()
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.entries.insert(key, value);
    }

    fn is_member(&self, org: &OrgId) -> bool {
        self.members
            .as_ref()
            .is_none_or(|members| members.contains(org))
    }
}
