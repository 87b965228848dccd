//! One supply-chain action as a serialisable value (the body of a chain
//! transaction), applied by dispatching to the rule functions.

use serde::{Deserialize, Serialize};

use crate::epcis::Event;
use crate::gs1::{Lgtin, Sgtin, Sscc};
use crate::model::{CounterfeitSignal, ItemId, Product, Reading, ReadingScope};

use super::aggregation::{pack_into, unpack};
use super::cold_chain::{record_readings, register_device};
use super::custody::{receive, ship, Receive, Ship};
use super::end_of_life::{decommission, dispense, recall_lot};
use super::from_epcis::{apply_events, link_party};
use super::products::{commission, register_product, Commission};
use super::signals::{record_refusal, report_suspect};
use super::{Ctx, SupplyError, SupplyStore};

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
