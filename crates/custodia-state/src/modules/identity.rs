//! Identity: organisations register and revoke their own agents.

use super::{Module, TxContext};
use crate::{
    keys,
    records::{self, Principal},
    Rejection,
};
use custodia_types::{key_hex, Body, PublicKey};
use std::collections::BTreeSet;

#[derive(Default)]
pub struct Identity;

impl Module for Identity {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn authorize(&self, principal: &Principal, _: &Body) -> Result<(), Rejection> {
        match principal {
            Principal::Admin { .. } => Ok(()),
            _ => Err(Rejection::NotMemberAdmin("register or revoke agents")),
        }
    }

    fn read_set(&self, _signer: &PublicKey, body: &Body, keys: &mut BTreeSet<Vec<u8>>) {
        if let Body::RegisterAgent { key, .. } | Body::RevokeAgent { key } = body {
            keys.insert(keys::principal(key));
        }
    }

    fn apply(&self, ctx: &mut TxContext<'_>, body: &Body) -> Result<(), Rejection> {
        let Principal::Admin { org } = ctx.principal.clone() else {
            unreachable!("authorize admits only admins")
        };
        match body {
            Body::RegisterAgent { key, kind, label } => {
                if ctx.state.get(&keys::principal(key)).is_some() {
                    return Err(Rejection::AgentExists(key_hex(key)));
                }
                let agent = Principal::Agent {
                    org,
                    kind: *kind,
                    label: label.clone(),
                    revoked: false,
                };
                ctx.state.put(keys::principal(key), records::encode(&agent));
                Ok(())
            }
            Body::RevokeAgent { key } => {
                let Some(Principal::Agent {
                    org: owner,
                    kind,
                    label,
                    ..
                }) = records::read::<Principal>(&*ctx.state, &keys::principal(key))
                else {
                    return Err(Rejection::AgentNotOwned(key_hex(key)));
                };
                if owner != org {
                    return Err(Rejection::AgentNotOwned(key_hex(key)));
                }
                let revoked = Principal::Agent {
                    org,
                    kind,
                    label,
                    revoked: true,
                };
                ctx.state
                    .put(keys::principal(key), records::encode(&revoked));
                Ok(())
            }
            _ => unreachable!("dispatch only sends identity bodies here"),
        }
    }
}
