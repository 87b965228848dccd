//! The supply domain's state module: applies supply actions
//! (`Body::Domain` named [`DOMAIN`]) with the rules of this crate over the
//! transaction's overlay.
//!
//! - **Who acts.** The signer's organisation: an agent or admin signing for
//!   itself, or a member's node signing on behalf of one of its own
//!   organisation's agents (`SupplyTx::on_behalf_of`, as clinical writes
//!   do). Patients take no part.
//! - **Products.** Only a member whose role is manufacturer registers a
//!   product (GTIN); its packs then verify as genuine only when that
//!   manufacturer commissioned them.
//! - **Devices.** A sensor is a registered agent of kind `device`; its
//!   device id in the supply records is its key in hex. Readings (a
//!   `record_readings` action, or EPCIS sensor data) must be signed by that
//!   very key (never by a node on its behalf), and a device may send
//!   nothing else. Its supply record
//!   (`supply/device/{hex}`) is created on its first readings, or earlier
//!   with `register_device` naming a device agent of the organisation.
//! - **Counterfeit signals.** A refused action leaves no writes, but when
//!   the refusal is a counterfeit signal (a clone, a receive without a
//!   ship, …) [`Module::record_refusal`] records it on a fresh overlay that
//!   the machine keeps; the receipt still says rejected, with the reason.

use crate::{
    body::{SupplyTx, DOMAIN},
    ledger::{self, Ctx, SupplyAction, SupplyError, SupplyStore},
    model::OrgId as SupplyOrg,
};
use custodia_state::{
    keys,
    modules::{resolve_actor, Actor, Module, StateWrite, TxContext},
    records::{self, Principal},
    DomainError, Rejection, StateRead,
};
use custodia_types::{key_hex, AgentKind, Body, KeyId, OrgId, OrgRole, PublicKey};
use std::collections::BTreeSet;

/// The supply domain's state module (plugged in under [`DOMAIN`]).
#[derive(Default)]
pub struct Supply;

/// A supply rule's refusal, as the state machine carries it.
pub fn refused(error: SupplyError) -> Rejection {
    Rejection::Domain(DomainError::new(error))
}

/// The supply action `body` carries: `None` for any other body, a
/// refusal when its payload is not a supply action.
fn supply_tx(body: &Body) -> Option<Result<SupplyTx, Rejection>> {
    match body {
        Body::Domain(tx) if tx.domain() == DOMAIN => Some(SupplyTx::decode(tx).map_err(refused)),
        _ => None,
    }
}

/// The supply crate's store over the transaction's overlay.
struct ChainStore<'a, 'b> {
    state: &'a mut (dyn StateWrite + 'b),
}

impl SupplyStore for ChainStore<'_, '_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.state.get(key)
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.state.put(key, value);
    }

    fn is_member(&self, org: &SupplyOrg) -> bool {
        is_member(&*self.state, org)
    }
}

fn is_member(state: &(impl StateRead + ?Sized), org: &SupplyOrg) -> bool {
    OrgId::new(org.as_str()).is_ok_and(|org| records::member_role(state, &org).is_some())
}

/// Read-only access to supply records in any state (committed state, a
/// block's pre-loaded keys), for queries: verification, traces, recall
/// reports. Queries never write; a write here is dropped.
pub struct SupplyView<'a, R: StateRead + ?Sized>(pub &'a R);

impl<R: StateRead + ?Sized> SupplyStore for SupplyView<'_, R> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    fn put(&mut self, _key: Vec<u8>, _value: Vec<u8>) {
        debug_assert!(false, "supply queries do not write");
    }

    fn is_member(&self, org: &SupplyOrg) -> bool {
        is_member(self.0, org)
    }
}

impl Module for Supply {
    fn name(&self) -> &'static str {
        DOMAIN
    }

    fn authorize(&self, principal: &Principal, body: &Body) -> Result<(), Rejection> {
        let Some(tx) = supply_tx(body) else {
            return Ok(());
        };
        let tx = tx?;
        let action = tx.action();
        let is_device = matches!(
            principal,
            Principal::Agent {
                kind: AgentKind::Device,
                ..
            }
        );
        match principal {
            Principal::Patient { .. } => Err(Rejection::NotAllowed(
                "patients do not take part in the supply chain",
            )),
            Principal::Node { .. } if tx.agent().is_none() => Err(Rejection::NotAllowed(
                "a node signs supply actions only on behalf of one of its organisation's \
                 agents: name the agent in on_behalf_of",
            )),
            _ if is_device && !action.only_readings() => Err(Rejection::NotAllowed(
                "devices may only report sensor readings (record_readings, or EPCIS events \
                 with sensorElementList and no other business step)",
            )),
            _ if is_device && tx.agent().is_some() => Err(Rejection::NotAllowed(
                "a device signs for itself; on_behalf_of is for nodes",
            )),
            Principal::Admin { .. } | Principal::Agent { .. }
                if !is_device && !action.reporting_devices().is_empty() =>
            {
                Err(Rejection::NotAllowed(
                    "sensor readings must be signed by the device's own key (a registered \
                     agent of kind device)",
                ))
            }
            _ => Ok(()),
        }
    }

    fn read_set(&self, _signer: &PublicKey, body: &Body, keys: &mut BTreeSet<Vec<u8>>) {
        let Some(Ok(supply)) = supply_tx(body) else {
            return;
        };
        if let Some(agent) = supply.agent() {
            keys.insert(keys::principal(agent));
        }
        for device in supply.action().reporting_devices() {
            if let Ok(key) = custodia_types::parse_public_key(device) {
                keys.insert(keys::principal(&key));
            }
        }
        if let SupplyAction::RegisterDevice { device } = supply.action() {
            if let Ok(key) = custodia_types::parse_public_key(device) {
                keys.insert(keys::principal(&key));
            }
        }
        keys.extend(supply.action().likely_keys());
    }

    fn apply(&self, ctx: &mut TxContext<'_>, body: &Body) -> Result<(), Rejection> {
        let tx = supply_tx(body).unwrap_or(Err(Rejection::NotAllowed(
            "the supply module applies supply actions only",
        )))?;
        let (org, role, kind, agent) = acting(ctx, tx.agent())?;
        let action = tx.action();
        if kind == Some(AgentKind::Device) && tx.agent().is_some() {
            // A device's key is its identity: nobody signs in its name.
            return Err(Rejection::NotAllowed(
                "a device signs for itself; a node may not act on behalf of a device",
            ));
        }
        if matches!(action, SupplyAction::RegisterProduct(_)) && role != OrgRole::Manufacturer {
            // Whoever registers a GTIN is the one whose packs verify as
            // genuine: only manufacturers may.
            return Err(Rejection::NotAllowed(
                "only a member whose role is manufacturer registers products",
            ));
        }
        let supply_ctx = supply_ctx(ctx, &org, &agent)?;
        check_devices(&*ctx.state, ctx.signer, &org, kind, action)?;
        let mut store = ChainStore {
            state: &mut *ctx.state,
        };
        register_reporting_devices(&mut store, &supply_ctx, action)?;
        ledger::apply(&mut store, &supply_ctx, action).map_err(refused)
    }

    fn record_refusal(&self, ctx: &mut TxContext<'_>, body: &Body, refusal: &Rejection) {
        let (Some(Ok(tx)), Rejection::Domain(error)) = (supply_tx(body), refusal) else {
            return;
        };
        let Some(error) = error.downcast_ref::<SupplyError>() else {
            return;
        };
        if error.signal().is_none() {
            return;
        }
        let Ok((org, _, _, agent)) = acting(ctx, tx.agent()) else {
            return;
        };
        let Ok(supply_ctx) = supply_ctx(ctx, &org, &agent) else {
            return;
        };
        let mut store = ChainStore {
            state: &mut *ctx.state,
        };
        // A damaged record cannot hold the signal; the refusal stands.
        let _ = ledger::record_refusal(&mut store, &supply_ctx, error);
    }
}

/// The organisation acting, its role, the agent's kind (`None` for an
/// admin) and the agent's key.
fn acting(
    ctx: &TxContext<'_>,
    on_behalf_of: Option<&PublicKey>,
) -> Result<(OrgId, OrgRole, Option<AgentKind>, PublicKey), Rejection> {
    let agent = on_behalf_of.unwrap_or(ctx.signer).clone();
    match resolve_actor(&*ctx.state, ctx.signer, ctx.principal, &KeyId::from(&agent))? {
        Actor::Agent { org, role, kind } => Ok((org, role, kind, agent)),
        Actor::Patient(_) => Err(Rejection::NotAllowed(
            "patients do not take part in the supply chain",
        )),
    }
}

fn supply_ctx(ctx: &TxContext<'_>, org: &OrgId, agent: &PublicKey) -> Result<Ctx, Rejection> {
    let org = SupplyOrg::new(org.as_str()).map_err(|e| refused(SupplyError::Invalid(e)))?;
    Ok(Ctx::new(
        org,
        &key_hex(agent),
        ctx.time_ms,
        &hex::encode(ctx.tx_id),
    ))
}

/// Sensor readings come only from the device itself: a registered device
/// agent of the acting organisation whose key is the device id. Registering
/// a device names a device agent of the organisation.
fn check_devices(
    state: &(impl StateRead + ?Sized),
    signer: &PublicKey,
    org: &OrgId,
    kind: Option<AgentKind>,
    action: &SupplyAction,
) -> Result<(), Rejection> {
    let reporting = action.reporting_devices();
    if !reporting.is_empty() && kind != Some(AgentKind::Device) {
        return Err(Rejection::NotAllowed(
            "sensor readings must be signed by the device's own key (a registered agent of \
             kind device)",
        ));
    }
    for device in reporting {
        device_agent(state, org, device)?;
        if device != key_hex(signer) {
            return Err(refused(SupplyError::Invalid(format!(
                "readings of device {device} must be signed by that device's own key, not by \
                 {}",
                key_hex(signer)
            ))));
        }
    }
    if let SupplyAction::RegisterDevice { device } = action {
        device_agent(state, org, device)?;
    }
    Ok(())
}

/// `device` is the hex key of a live device agent of `org`.
fn device_agent(
    state: &(impl StateRead + ?Sized),
    org: &OrgId,
    device: &str,
) -> Result<(), Rejection> {
    let unknown = || {
        refused(SupplyError::UnknownDevice(format!(
            "{device} (a device is an agent of kind device, registered by its organisation's \
             admin; its id is its key in hex)"
        )))
    };
    let key = custodia_types::parse_public_key(device).map_err(|_| unknown())?;
    match records::read::<Principal>(state, &keys::principal(&key)) {
        Some(Principal::Agent {
            org: owner,
            kind: AgentKind::Device,
            revoked,
            ..
        }) => {
            if &owner != org {
                return Err(refused(SupplyError::DeviceOfOtherOrg {
                    device: device.to_string(),
                    owner: SupplyOrg::new(owner.as_str())
                        .map_err(|e| refused(SupplyError::Invalid(e)))?,
                    org: SupplyOrg::new(org.as_str())
                        .map_err(|e| refused(SupplyError::Invalid(e)))?,
                }));
            }
            if revoked {
                return Err(Rejection::RevokedSigner(device.to_string()));
            }
            Ok(())
        }
        _ => Err(unknown()),
    }
}

/// A device agent's supply record comes into being with its first readings.
fn register_reporting_devices(
    store: &mut ChainStore<'_, '_>,
    ctx: &Ctx,
    action: &SupplyAction,
) -> Result<(), Rejection> {
    for device in action.reporting_devices() {
        if store.device(device).map_err(refused)?.is_none() {
            ledger::register_device(store, ctx, device).map_err(refused)?;
        }
    }
    Ok(())
}
