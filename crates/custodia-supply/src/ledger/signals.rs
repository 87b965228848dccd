//! Keeping counterfeit signals although the attempt was refused.
//!
//! A refused transaction leaves no writes, yet a second dispense of a
//! serial (a clone), a receive nobody shipped, or a commission by a
//! non-manufacturer must be visible to the next pharmacist who verifies
//! that serial. So a refusal that stands for a signal is recorded in a
//! second, separate step: the caller discards the refused action's writes,
//! then calls [`record_refusal`] on a fresh overlay and commits that. The
//! custody state is untouched; only the serial's signal list grows.

use crate::gs1::Sgtin;
use crate::model::{CounterfeitSignal, ItemId, SignalRecord};

use super::items::Loaded;
use super::{Ctx, SupplyError, SupplyStore};

/// Signal records a refusal adds to one serial. Past this the serial
/// already carries its signals with evidence; a flood of refused attempts
/// must not grow one record without bound (each would rewrite it whole,
/// and a block of them would take quadratic time to build).
pub const MAX_SIGNAL_RECORDS: usize = 16;

/// Records the signal `refusal` stands for (if any) on every pack it
/// concerns (for a container: every pack inside). Returns whether anything
/// was recorded.
pub fn record_refusal<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    refusal: &SupplyError,
) -> Result<bool, SupplyError> {
    let Some((item, signal)) = refusal.signal() else {
        return Ok(false);
    };
    let packs: Vec<Sgtin> = match &item {
        ItemId::Pack(s) => vec![s.clone()],
        ItemId::Container(_) => Loaded::load(store, &item)
            .map(|l| l.packs.into_iter().map(|p| p.sgtin).collect())
            .unwrap_or_default(),
    };
    let detail = refusal.to_string();
    for sgtin in &packs {
        if store.signals(sgtin)?.len() < MAX_SIGNAL_RECORDS {
            report_suspect(store, ctx, sgtin, signal, &detail)?;
        }
    }
    Ok(!packs.is_empty())
}

/// Records a counterfeit signal about one serial without changing its
/// custody: for refusals (above) and for organisations reporting what they
/// saw (a pharmacist holding a pack whose verification came back red).
pub fn report_suspect<S: SupplyStore + ?Sized>(
    store: &mut S,
    ctx: &Ctx,
    sgtin: &Sgtin,
    signal: CounterfeitSignal,
    detail: &str,
) -> Result<(), SupplyError> {
    let mut signals = store.signals(sgtin)?;
    signals.push(SignalRecord {
        sgtin: sgtin.clone(),
        signal,
        at_ms: ctx.at_ms,
        by: ctx.org.clone(),
        agent: ctx.agent.clone(),
        tx: ctx.tx.clone(),
        detail: detail.to_string(),
    });
    store.put_signals(sgtin, &signals)
}
