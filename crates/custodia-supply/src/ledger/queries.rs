//! Questions answered from state alone: the DSCSA-style verification a
//! pharmacist asks before dispensing, full traces of a pack and a lot, and
//! the recall report (every affected pack and where it is now).

use serde::{Deserialize, Serialize};

use crate::gs1::{Lgtin, Lot, Sgtin, Sscc};
use crate::model::{
    CounterfeitSignal, Excursion, LotRecord, OrgId, Pack, PackStatus, Product, Recall,
    SignalRecord, TrailEntry,
};
use crate::time::Date;

use super::items::load_pack;
use super::{SupplyError, SupplyStore};

/// A verification request: the product identifier read from the pack, the
/// time of asking, and optionally who asks and what the label says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyRequest {
    pub sgtin: Sgtin,
    pub now_ms: u64,
    /// The organisation asking (a pharmacy about to dispense): custody is
    /// only "ok" if the ledger says it holds the pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asked_by: Option<OrgId>,
    /// Lot printed on the pack, to compare with the commissioned one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_lot: Option<Lot>,
    /// Expiry printed on the pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_expiry: Option<Date>,
}

impl VerifyRequest {
    pub fn new(sgtin: Sgtin, now_ms: u64) -> Self {
        Self {
            sgtin,
            now_ms,
            asked_by: None,
            label_lot: None,
            label_expiry: None,
        }
    }
}

/// The answer: every DSCSA question, the verdict, and the evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub sgtin: Sgtin,
    /// Commissioned, by the product's manufacturer.
    pub genuine: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PackStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custodian: Option<OrgId>,
    /// The containers the pack is in, innermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Sscc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<Lot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<Date>,
    pub expired: bool,
    /// Whether the label's lot and expiry (if given) match the ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_matches: Option<bool>,
    pub recalled: bool,
    pub compromised: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excursions: Vec<Excursion>,
    pub dispensed: bool,
    /// The pack is where the ledger expects: at a site, every receive
    /// matched a ship, and (if the asker is named) held by the asker.
    pub custody_ok: bool,
    /// Distinct counterfeit signals, including an unknown serial.
    pub signals: Vec<CounterfeitSignal>,
    /// The recorded signals with their evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signal_records: Vec<SignalRecord>,
    /// Safe to dispense: genuine, in date, not recalled, not compromised,
    /// not dispensed, custody ok, no signals, label matching.
    pub ok: bool,
    /// Why not, in words (empty when `ok`).
    pub reasons: Vec<String>,
    /// The custody trail as evidence, oldest first.
    pub trail: Vec<TrailEntry>,
}

pub fn verify<S: SupplyStore + ?Sized>(
    store: &S,
    req: &VerifyRequest,
) -> Result<Verification, SupplyError> {
    let signal_records = store.signals(&req.sgtin)?;
    let mut signals: Vec<CounterfeitSignal> = signal_records.iter().map(|r| r.signal).collect();
    let product = store.product(&req.sgtin.gtin)?;
    let Some(pack) = store.pack(&req.sgtin)? else {
        signals.push(CounterfeitSignal::UnknownSerial);
        signals.sort();
        signals.dedup();
        let mut reasons = vec![match &product {
            Some(p) => format!(
                "serial {} of {} ({}) was never commissioned: possible counterfeit",
                req.sgtin.serial, p.gtin, p.name
            ),
            None => format!("no product {} is registered", req.sgtin.gtin),
        }];
        reasons.extend(signal_reasons(&signal_records));
        return Ok(Verification {
            sgtin: req.sgtin.clone(),
            genuine: false,
            product: product.map(|p| p.name),
            status: None,
            custodian: None,
            containers: Vec::new(),
            lot: None,
            expiry: None,
            expired: false,
            label_matches: None,
            recalled: false,
            compromised: false,
            excursions: Vec::new(),
            dispensed: false,
            custody_ok: false,
            signals,
            signal_records,
            ok: false,
            reasons,
            trail: Vec::new(),
        });
    };
    signals.sort();
    signals.dedup();
    let genuine = product
        .as_ref()
        .is_some_and(|p| p.manufacturer == pack.manufacturer);
    let expired = pack.expired_at(req.now_ms);
    let dispensed = matches!(pack.status, PackStatus::Dispensed { .. });
    let label_matches = (req.label_lot.is_some() || req.label_expiry.is_some()).then(|| {
        req.label_lot.as_ref().is_none_or(|l| *l == pack.lot)
            && req.label_expiry.is_none_or(|e| e == pack.expiry)
    });
    let mut reasons = Vec::new();
    if !genuine {
        reasons.push("not commissioned by the product's manufacturer".to_string());
    }
    if label_matches == Some(false) {
        reasons.push(format!(
            "the label does not match the ledger (lot {}, expiry {})",
            pack.lot, pack.expiry
        ));
    }
    if expired {
        reasons.push(format!("expired on {}", pack.expiry));
    }
    if pack.recalled {
        reasons.push(format!("lot {} is recalled", pack.lot));
    }
    for e in &pack.compromised {
        reasons.push(format!(
            "cold-chain excursion: device {} measured {} outside range{} in {}'s custody ({} \
             readings; allowed {} min)",
            e.device,
            e.duration_text(),
            e.values.describe(),
            e.org,
            e.readings,
            e.allowed_minutes
        ));
    }
    if pack.status.is_final() {
        reasons.push(format!("already {}", pack.status));
    }
    let custody_issue = custody_issue(&pack, req.asked_by.as_ref(), &signals);
    if let Some(issue) = &custody_issue {
        reasons.push(issue.clone());
    }
    reasons.extend(signal_reasons(&signal_records));
    Ok(Verification {
        sgtin: req.sgtin.clone(),
        genuine,
        product: product.map(|p| p.name),
        custodian: Some(pack.custodian.clone()),
        containers: container_path(store, &pack)?,
        lot: Some(pack.lot.clone()),
        expiry: Some(pack.expiry),
        expired,
        label_matches,
        recalled: pack.recalled,
        compromised: !pack.compromised.is_empty(),
        excursions: pack.compromised.clone(),
        dispensed,
        custody_ok: custody_issue.is_none(),
        ok: reasons.is_empty(),
        reasons,
        signals,
        signal_records,
        status: Some(pack.status),
        trail: pack.history,
    })
}

fn custody_issue(
    pack: &Pack,
    asked_by: Option<&OrgId>,
    signals: &[CounterfeitSignal],
) -> Option<String> {
    if signals.contains(&CounterfeitSignal::ReceiveWithoutShip) {
        return Some("someone tried to receive it without a matching ship".into());
    }
    if let PackStatus::InTransit(t) = &pack.status {
        return Some(format!(
            "in transit from {} to {}, not yet received",
            t.from, t.to
        ));
    }
    match asked_by {
        Some(org) if !pack.status.is_final() && *org != pack.custodian => Some(format!(
            "the ledger says {} holds it, not {org}: out of its expected custody",
            pack.custodian
        )),
        _ => None,
    }
}

fn signal_reasons(records: &[SignalRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            format!(
                "counterfeit signal: {} (reported by {}: {})",
                r.signal, r.by, r.detail
            )
        })
        .collect()
}

/// The containers a pack is in, innermost first.
fn container_path<S: SupplyStore + ?Sized>(
    store: &S,
    pack: &Pack,
) -> Result<Vec<Sscc>, SupplyError> {
    let mut path = Vec::new();
    let mut next = pack.container.clone();
    while let Some(sscc) = next {
        if path.contains(&sscc) || path.len() > 16 {
            break;
        }
        next = store.container(&sscc)?.and_then(|c| c.parent);
        path.push(sscc);
    }
    Ok(path)
}

/// Everything known about one pack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackTrace {
    pub pack: Pack,
    pub containers: Vec<Sscc>,
    pub signals: Vec<SignalRecord>,
}

pub fn trace_pack<S: SupplyStore + ?Sized>(
    store: &S,
    sgtin: &Sgtin,
) -> Result<PackTrace, SupplyError> {
    let pack = load_pack(store, sgtin)?;
    Ok(PackTrace {
        containers: container_path(store, &pack)?,
        signals: store.signals(sgtin)?,
        pack,
    })
}

/// Where one pack is now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PackPosition {
    pub sgtin: Sgtin,
    pub status: PackStatus,
    pub custodian: OrgId,
    /// Innermost first; the last is what to pull off the shelf.
    pub containers: Vec<Sscc>,
    pub recalled: bool,
    pub compromised: bool,
}

/// A lot, its product and every pack of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LotTrace {
    pub lot: LotRecord,
    pub product: Product,
    pub packs: Vec<PackTrace>,
}

pub fn trace_lot<S: SupplyStore + ?Sized>(store: &S, lot: &Lgtin) -> Result<LotTrace, SupplyError> {
    let record = store
        .lot(lot)?
        .ok_or_else(|| SupplyError::UnknownLot(lot.clone()))?;
    let product = store
        .product(&lot.gtin)?
        .ok_or_else(|| SupplyError::UnknownProduct(lot.gtin.clone()))?;
    let packs = record
        .serials
        .iter()
        .map(|s| trace_pack(store, &Sgtin::new(lot.gtin.clone(), s.clone())))
        .collect::<Result<_, _>>()?;
    Ok(LotTrace {
        lot: record,
        product,
        packs,
    })
}

/// Every pack of a recalled lot and where it is now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecallReport {
    pub lot: Lgtin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recall: Option<Recall>,
    pub packs: Vec<PackPosition>,
    /// Packs still in the supply chain (not dispensed or decommissioned).
    pub outstanding: usize,
}

pub fn recall_report<S: SupplyStore + ?Sized>(
    store: &S,
    lot: &Lgtin,
) -> Result<RecallReport, SupplyError> {
    let record = store
        .lot(lot)?
        .ok_or_else(|| SupplyError::UnknownLot(lot.clone()))?;
    let mut packs = Vec::with_capacity(record.serials.len());
    for serial in &record.serials {
        let pack = load_pack(store, &Sgtin::new(lot.gtin.clone(), serial.clone()))?;
        packs.push(PackPosition {
            containers: container_path(store, &pack)?,
            sgtin: pack.sgtin,
            status: pack.status,
            custodian: pack.custodian,
            recalled: pack.recalled,
            compromised: !pack.compromised.is_empty(),
        });
    }
    Ok(RecallReport {
        lot: lot.clone(),
        recall: record.recall,
        outstanding: packs.iter().filter(|p| !p.status.is_final()).count(),
        packs,
    })
}
