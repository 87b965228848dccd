//! One supply-chain action as a serialisable value (the body of a chain
//! transaction), applied by dispatching to the rule functions.

use serde::{Deserialize, Serialize};

use crate::epcis::Event;
use crate::gs1::{Epc, Lgtin, Sgtin, Sscc};
use crate::model::{CounterfeitSignal, ItemId, Product, Reading, ReadingScope};

use super::aggregation::{pack_into, unpack};
use super::cold_chain::{record_readings, register_device};
use super::custody::{receive, ship, Receive, Ship};
use super::end_of_life::{decommission, dispense, recall_lot};
use super::from_epcis::{apply_events, link_party};
use super::products::{commission, register_product, Commission};
use super::signals::{record_refusal, report_suspect};
use super::{keys, Ctx, SupplyError, SupplyStore};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum SupplyAction {
    RegisterProduct(Product),
    Commission(Commission),
    Pack {
        container: Sscc,
        children: Vec<ItemId>,
    },
    /// Takes `children` out of `container`; all of them when empty.
    Unpack {
        container: Sscc,
        #[serde(default)]
        children: Vec<ItemId>,
    },
    Ship(Ship),
    Receive(Receive),
    Dispense {
        packs: Vec<Sgtin>,
    },
    Decommission {
        packs: Vec<Sgtin>,
        reason: String,
    },
    RecallLot {
        lot: Lgtin,
        reason: String,
    },
    RegisterDevice {
        device: String,
    },
    RecordReadings {
        device: String,
        scope: ReadingScope,
        readings: Vec<Reading>,
    },
    LinkParty {
        party: String,
    },
    /// The events of one EPCIS document, applied in order, all or nothing.
    Epcis {
        events: Vec<Event>,
    },
    ReportSuspect {
        sgtin: Sgtin,
        signal: CounterfeitSignal,
        detail: String,
    },
}

impl SupplyAction {
    /// A short name for receipts, logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            SupplyAction::RegisterProduct(_) => "register_product",
            SupplyAction::Commission(_) => "commission",
            SupplyAction::Pack { .. } => "pack",
            SupplyAction::Unpack { .. } => "unpack",
            SupplyAction::Ship(_) => "ship",
            SupplyAction::Receive(_) => "receive",
            SupplyAction::Dispense { .. } => "dispense",
            SupplyAction::Decommission { .. } => "decommission",
            SupplyAction::RecallLot { .. } => "recall_lot",
            SupplyAction::RegisterDevice { .. } => "register_device",
            SupplyAction::RecordReadings { .. } => "record_readings",
            SupplyAction::LinkParty { .. } => "link_party",
            SupplyAction::Epcis { .. } => "epcis",
            SupplyAction::ReportSuspect { .. } => "report_suspect",
        }
    }

    /// The devices whose sensor readings this action records: the chain
    /// checks that each is the signer itself (a device signs its own
    /// readings). For EPCIS, every `deviceID` of its sensor reports.
    pub fn reporting_devices(&self) -> Vec<&str> {
        let mut devices: Vec<&str> = match self {
            SupplyAction::RecordReadings { device, .. } => vec![device.as_str()],
            SupplyAction::Epcis { events } => events
                .iter()
                .flat_map(|e| &e.common().sensor_element_list)
                .flat_map(|element| {
                    let meta = element
                        .metadata
                        .as_ref()
                        .and_then(|m| m.device_id.as_deref());
                    element
                        .reports
                        .iter()
                        .filter_map(move |r| r.device_id.as_deref().or(meta))
                })
                .collect(),
            _ => Vec::new(),
        };
        devices.sort_unstable();
        devices.dedup();
        devices
    }

    /// Does this action only report sensor readings (what a device may send)?
    pub fn only_readings(&self) -> bool {
        match self {
            SupplyAction::RecordReadings { .. } => true,
            SupplyAction::Epcis { events } => events.iter().all(|e| {
                let c = e.common();
                !c.sensor_element_list.is_empty()
                    && matches!(
                        c.biz_step.as_ref().and_then(|s| s.term()),
                        None | Some("sensor_reporting")
                    )
                    && c.action == crate::epcis::Action::Observe
                    && c.disposition.is_none()
            }),
            _ => false,
        }
    }
    /// State keys applying this action will likely read (so a node can
    /// load them before executing a block): the records of every product,
    /// pack, container, lot, shipment, device and party it names. Not
    /// complete (the contents of containers are found while applying), and
    /// it need not be: shipments, keyed by their shipper's organisation,
    /// which the action alone does not say, are among what is found then.
    pub fn likely_keys(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let item = |out: &mut Vec<Vec<u8>>, item: &ItemId| match item {
            ItemId::Pack(s) => {
                out.push(keys::pack(s));
                out.push(keys::product(&s.gtin));
                out.push(keys::signals(s));
            }
            ItemId::Container(c) => out.push(keys::container(c)),
        };
        match self {
            SupplyAction::RegisterProduct(p) => out.push(keys::product(&p.gtin)),
            SupplyAction::Commission(c) => {
                out.push(keys::product(&c.gtin));
                out.push(keys::lot(&Lgtin::new(c.gtin.clone(), c.lot.clone())));
                for serial in &c.serials {
                    out.push(keys::pack(&Sgtin::new(c.gtin.clone(), serial.clone())));
                }
            }
            SupplyAction::Pack {
                container,
                children,
            }
            | SupplyAction::Unpack {
                container,
                children,
            } => {
                out.push(keys::container(container));
                for c in children {
                    item(&mut out, c);
                }
            }
            SupplyAction::Ship(s) => {
                for i in &s.items {
                    item(&mut out, i);
                }
            }
            SupplyAction::Receive(r) => {
                for i in &r.items {
                    item(&mut out, i);
                }
            }
            SupplyAction::Dispense { packs } | SupplyAction::Decommission { packs, .. } => {
                for p in packs {
                    item(&mut out, &ItemId::Pack(p.clone()));
                }
            }
            SupplyAction::RecallLot { lot, .. } => {
                out.push(keys::lot(lot));
                out.push(keys::product(&lot.gtin));
            }
            SupplyAction::RegisterDevice { device } => out.push(keys::device(device)),
            SupplyAction::RecordReadings { device, scope, .. } => {
                out.push(keys::device(device));
                if let ReadingScope::Shipment(id) = scope {
                    out.push(keys::shipment(id));
                }
            }
            SupplyAction::LinkParty { party } => out.push(keys::party(party)),
            SupplyAction::ReportSuspect { sgtin, .. } => out.push(keys::signals(sgtin)),
            SupplyAction::Epcis { events } => {
                for device in self.reporting_devices() {
                    out.push(keys::device(device));
                }
                for e in events {
                    let c = e.common();
                    for d in &c.destination_list {
                        out.push(keys::party(&d.id));
                    }
                    let refs: Vec<&crate::epcis::EpcRef> = match e {
                        Event::Object(o) => o.epc_list.iter().collect(),
                        Event::Aggregation(a) => a.parent_id.iter().chain(&a.child_epcs).collect(),
                    };
                    for r in refs {
                        match &r.epc {
                            Epc::Sgtin(s) => {
                                item(&mut out, &ItemId::Pack(s.clone()));
                                if let Event::Object(o) = e {
                                    if let Some(lot) = o.ilmd.as_ref().and_then(|i| i.lot.clone()) {
                                        out.push(keys::lot(&Lgtin::new(s.gtin.clone(), lot)));
                                    }
                                }
                            }
                            Epc::Sscc(c) => item(&mut out, &ItemId::Container(c.clone())),
                            Epc::Sgln(_) | Epc::Lgtin(_) => {}
                        }
                    }
                    if let Event::Object(o) = e {
                        for q in &o.quantity_list {
                            if let Some(lot) = q.lot() {
                                out.push(keys::lot(lot));
                                out.push(keys::product(&lot.gtin));
                            }
                        }
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Applies one action at `ctx.at_ms` by `ctx.org`, writing into `store`.
/// On error the writes made so far must be discarded (run it on an overlay).
pub fn apply<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    action: &SupplyAction,
) -> Result<(), SupplyError> {
    match action {
        SupplyAction::RegisterProduct(p) => register_product(store, ctx, p),
        SupplyAction::Commission(c) => commission(store, ctx, c),
        SupplyAction::Pack {
            container,
            children,
        } => pack_into(store, ctx, container, children),
        SupplyAction::Unpack {
            container,
            children,
        } => unpack(store, ctx, container, children),
        SupplyAction::Ship(s) => ship(store, ctx, s),
        SupplyAction::Receive(r) => receive(store, ctx, r),
        SupplyAction::Dispense { packs } => dispense(store, ctx, packs),
        SupplyAction::Decommission { packs, reason } => decommission(store, ctx, packs, reason),
        SupplyAction::RecallLot { lot, reason } => recall_lot(store, ctx, lot, reason),
        SupplyAction::RegisterDevice { device } => register_device(store, ctx, device),
        SupplyAction::RecordReadings {
            device,
            scope,
            readings,
        } => record_readings(store, ctx, device, scope, readings),
        SupplyAction::LinkParty { party } => link_party(store, ctx, party),
        SupplyAction::Epcis { events } => apply_events(store, ctx, events),
        SupplyAction::ReportSuspect {
            sgtin,
            signal,
            detail,
        } => report_suspect(store, ctx, sgtin, *signal, detail),
    }
}

/// The reference semantics of one transaction, for any store that can be
/// cloned as an overlay: apply the action; on refusal discard its writes,
/// then record the counterfeit signal the refusal stands for (if any), and
/// return the refusal. The chain must do the same with its overlays.
pub fn submit<S: SupplyStore + Clone>(
    store: &mut S,
    ctx: &Ctx,
    action: &SupplyAction,
) -> Result<(), SupplyError> {
    let mut overlay = store.clone();
    match apply(&mut overlay, ctx, action) {
        Ok(()) => {
            *store = overlay;
            Ok(())
        }
        Err(refusal) => {
            let mut signals = store.clone();
            if record_refusal(&mut signals, ctx, &refusal).is_ok() {
                *store = signals;
            }
            Err(refusal)
        }
    }
}
