//! Notes: opaque data any registered signer may record. Used to exercise the
//! chain in tests and benchmarks; carries no meaning for other modules.

use super::{Module, TxContext};
use crate::{keys, records::Principal, Rejection};
use custodia_types::{Body, PublicKey};
use std::collections::BTreeSet;

#[derive(Default)]
pub struct Note;

impl Module for Note {
    fn name(&self) -> &'static str {
        "note"
    }

    fn authorize(&self, _: &Principal, _: &Body) -> Result<(), Rejection> {
        Ok(())
    }

    fn read_set(&self, _: &PublicKey, _: &Body, _: &mut BTreeSet<Vec<u8>>) {}

    fn apply(&self, ctx: &mut TxContext<'_>, body: &Body) -> Result<(), Rejection> {
        if let Body::Note { data } = body {
            ctx.state.put(keys::note(&ctx.tx_id), data.to_vec());
        }
        Ok(())
    }
}
