//! The state machine: dispatches transactions to modules and keeps the
//! cross-cutting rules (signer known, nonce order, receipts) in one place.

use crate::MAX_STATE_VALUE;
use crate::{
    keys,
    modules::{
        Access, Clinical, Consent, Governance, Identity, Module, Note, Origin, StateWrite,
        TxContext,
    },
    records::{self, EntryReceipt, Member, Principal, Receipt, TxStatus, Validators},
    view::Overlay,
    Domains, MapState, Rejection, StateRead, WriteSet,
};
use custodia_types::{entry_id, key_hex, Body, Digest, Genesis, SignedTx};
use std::collections::BTreeSet;

/// The result of executing one block.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BlockOutcome {
    pub writes: WriteSet,
    pub receipts: Vec<(custodia_types::Digest, Receipt)>,
}

pub struct StateMachine {
    chain_id: String,
    modules: Modules,
}

/// The core's modules, one field each, and the plugged-in domains.
/// [`Modules::owner`] matches every body kind to its module with no
/// wildcard: a body kind without a module does not compile, and a domain
/// action whose domain is not plugged in is refused, so no proposed block
/// can reach a missing module.
#[derive(Default)]
struct Modules {
    identity: Identity,
    governance: Governance,
    note: Note,
    clinical: Clinical,
    consent: Consent,
    access: Access,
    domains: Domains,
}

impl Modules {
    /// Every module, in the order their end-of-block work runs: the
    /// core's, then the plugged-in domains' by name. (The pattern names
    /// every field: a module added to the struct and not here does not
    /// compile.)
    fn all(&self) -> impl Iterator<Item = &dyn Module> {
        let Modules {
            identity,
            governance,
            note,
            clinical,
            consent,
            access,
            domains,
        } = self;
        let core: [&dyn Module; 6] = [identity, governance, note, clinical, consent, access];
        core.into_iter().chain(domains.modules())
    }

    /// The module that applies `body`. A batch has none of its own (its
    /// entries each have theirs), so as an entry it is refused.
    fn owner(&self, body: &Body) -> Result<&dyn Module, Rejection> {
        Ok(match body {
            Body::Note { .. } => &self.note,
            Body::RegisterAgent { .. } | Body::RevokeAgent { .. } => &self.identity,
            Body::Propose { .. } | Body::Vote { .. } => &self.governance,
            Body::WriteRecord(_)
            | Body::WriteRecords { .. }
            | Body::StageRecords { .. }
            | Body::CommitRecords { .. }
            | Body::DiscardStaged { .. }
            | Body::EraseRecord { .. } => &self.clinical,
            Body::EnrolPatient { .. } | Body::GrantConsent(_) | Body::RevokeConsent { .. } => {
                &self.consent
            }
            Body::Access(_) | Body::QueryAudit { .. } => &self.access,
            Body::Domain(tx) => self.domains.get(tx.domain())?,
            Body::Batch { .. } => return Err(Rejection::NestedBatch),
        })
    }
}

impl StateMachine {
    /// The core's modules and the plugged-in `domains`.
    pub fn new(chain_id: impl Into<String>, domains: Domains) -> Self {
        Self {
            chain_id: chain_id.into(),
            modules: Modules {
                domains,
                ..Modules::default()
            },
        }
    }

    /// The domains plugged into this machine.
    pub fn domains(&self) -> &Domains {
        &self.modules.domains
    }

    /// The name of the module that applies `body` (a batch entry's, for
    /// an entry), or why none does.
    pub fn module_name(&self, body: &Body) -> Result<&'static str, Rejection> {
        self.modules.owner(body).map(|module| module.name())
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The state at height 0.
    pub fn genesis_state(genesis: &Genesis) -> MapState {
        let mut state = MapState::default();
        let mut writes = WriteSet::new();
        let members: Vec<Member> = genesis.members.clone();
        for member in &members {
            let admin = Principal::Admin {
                org: member.id.clone(),
            };
            writes.insert(
                keys::principal(&member.admin_key),
                Some(records::encode(&admin)),
            );
            let node = Principal::Node {
                org: member.id.clone(),
            };
            writes.insert(
                keys::principal(&member.validator_key),
                Some(records::encode(&node)),
            );
        }
        writes.insert(
            keys::POLICY.to_vec(),
            Some(records::encode(&crate::policy::DEFAULT_POLICY)),
        );
        let validator_keys: Vec<_> = members.iter().map(|m| m.validator_key.clone()).collect();
        let validators = Validators {
            epoch: 0,
            current: validator_keys.clone(),
            next: validator_keys,
        };
        let committee: Vec<String> = validators.current.iter().map(key_hex).collect();
        writes.insert(keys::committee(0), Some(records::encode(&committee)));
        writes.insert(keys::MEMBERS.to_vec(), Some(records::encode(&members)));
        writes.insert(
            keys::VALIDATORS.to_vec(),
            Some(records::encode(&validators)),
        );
        writes.insert(
            keys::PARAMS.to_vec(),
            Some(records::encode(&genesis.params)),
        );
        state.apply(&writes);
        state
    }

    /// Checks that need no state: right chain, valid signature.
    pub fn check_stateless(&self, tx: &SignedTx) -> Result<(), Rejection> {
        if tx.payload().chain_id != self.chain_id {
            return Err(Rejection::WrongChainId {
                expected: self.chain_id.clone(),
                got: tx.payload().chain_id.clone(),
            });
        }
        if !tx.verify_signature() {
            return Err(Rejection::BadSignature);
        }
        Ok(())
    }

    /// Mempool admission against finalized state. `next_nonce` is the
    /// signer's next nonce counting transactions already pending.
    pub fn check_admission(
        &self,
        state: &(impl StateRead + ?Sized),
        tx: &SignedTx,
        next_nonce: Option<u64>,
    ) -> Result<(), Rejection> {
        let principal = self.principal(state, tx)?;
        let finalized_next = Self::next_nonce(state, tx);
        if tx.nonce() < finalized_next {
            return Err(Rejection::NonceReplayed {
                expected: finalized_next,
                got: tx.nonce(),
            });
        }
        let expected = next_nonce.unwrap_or(finalized_next).max(finalized_next);
        if tx.nonce() > expected {
            return Err(Rejection::NonceGap {
                expected,
                got: tx.nonce(),
            });
        }
        self.authorize(&principal, tx.body())
    }

    /// May `principal` send `body`? A batch: every entry.
    fn authorize(&self, principal: &Principal, body: &Body) -> Result<(), Rejection> {
        match body {
            Body::Batch { entries } => entries
                .iter()
                .try_for_each(|entry| self.modules.owner(entry)?.authorize(principal, entry)),
            single => self.modules.owner(single)?.authorize(principal, single),
        }
    }

    /// The signer's next nonce in `state`.
    pub fn next_nonce(state: &(impl StateRead + ?Sized), tx: &SignedTx) -> u64 {
        state
            .get(&keys::nonce(tx.signer()))
            .and_then(|b| keys::decode_u64(&b))
            .unwrap_or(0)
    }

    /// Every key `execute_block` may read for these transactions.
    pub fn read_set(&self, height: u64, txs: &[SignedTx]) -> BTreeSet<Vec<u8>> {
        let mut keys = BTreeSet::new();
        keys.insert(keys::MEMBERS.to_vec());
        keys.insert(keys::PARAMS.to_vec());
        keys.insert(keys::VALIDATORS.to_vec());
        for tx in txs {
            keys.insert(keys::principal(tx.signer()));
            keys.insert(keys::nonce(tx.signer()));
            keys.insert(keys::receipt(&tx.id()));
            let actions = match tx.body() {
                Body::Batch { entries } => entries.as_slice(),
                single => std::slice::from_ref(single),
            };
            for action in actions {
                // (A nested batch is refused before anything is read.)
                if let Ok(module) = self.modules.owner(action) {
                    module.read_set(tx.signer(), action, &mut keys);
                }
            }
        }
        for module in self.modules.all() {
            module.end_block_read_set(height, &mut keys);
        }
        keys
    }

    /// Apply a block's transactions (already checked statelessly) to `state`.
    /// `time_ms` is the block's timestamp: the only clock modules see.
    pub fn execute_block(
        &self,
        state: &(impl StateRead + ?Sized),
        height: u64,
        time_ms: u64,
        txs: &[SignedTx],
    ) -> BlockOutcome {
        let mut block = Overlay::new(state);
        let mut receipts = Vec::with_capacity(txs.len());
        for (index, tx) in txs.iter().enumerate() {
            let receipt_key = keys::receipt(&tx.id());
            if block.get(&receipt_key).is_some() {
                // The very same transaction is already on the chain; a
                // second copy changes nothing, not even the first receipt.
                continue;
            }
            let (status, entries) = match self.apply_tx(&mut block, height, time_ms, tx) {
                Ok(entries) => (TxStatus::Applied, entries),
                Err(reason) => (
                    TxStatus::Rejected {
                        reason: reason.to_string(),
                    },
                    Vec::new(),
                ),
            };
            let receipt = Receipt {
                height,
                index: index as u32,
                kind: tx.body().kind().to_string(),
                status,
                entries,
            };
            block.put(receipt_key, records::encode(&receipt));
            receipts.push((tx.id(), receipt));
        }
        for module in self.modules.all() {
            module.end_block(height, &mut block);
        }
        BlockOutcome {
            writes: block.into_writes(),
            receipts,
        }
    }

    /// Check the signer and spend its nonce, then apply the body: one
    /// action, or each entry of a batch on its own. A batch's entries'
    /// outcomes are returned; a refusal of the transaction itself is the
    /// error.
    fn apply_tx<R: StateRead + ?Sized>(
        &self,
        block: &mut Overlay<'_, R>,
        height: u64,
        time_ms: u64,
        tx: &SignedTx,
    ) -> Result<Vec<EntryReceipt>, Rejection> {
        let principal = self.principal(&*block, tx)?;
        let expected = Self::next_nonce(&*block, tx);
        if tx.nonce() != expected {
            return Err(if tx.nonce() < expected {
                Rejection::NonceReplayed {
                    expected,
                    got: tx.nonce(),
                }
            } else {
                Rejection::NonceGap {
                    expected,
                    got: tx.nonce(),
                }
            });
        }
        // The nonce is spent whether or not the body succeeds, so a rejected
        // transaction can never be replayed into success later.
        block.put(keys::nonce(tx.signer()), keys::encode_u64(expected + 1));
        // Only decoded transactions come here, and the codec refuses
        // nested batches; one built in memory is refused the same way.
        self.authorize(&principal, tx.body())?;
        let action = Action {
            height,
            time_ms,
            tx,
            principal: &principal,
        };
        let Body::Batch { entries } = tx.body() else {
            return self
                .apply_action(block, &action, (tx.id(), None), tx.body())
                .map(|()| Vec::new());
        };
        let tx_id = tx.id();
        Ok(entries
            .iter()
            .zip(0u32..)
            .map(|(entry, index)| {
                let id = entry_id(&tx_id, index);
                let status = match self.apply_action(block, &action, (id, Some(index)), entry) {
                    Ok(()) => TxStatus::Applied,
                    Err(reason) => TxStatus::Rejected {
                        reason: reason.to_string(),
                    },
                };
                EntryReceipt {
                    kind: entry.kind().to_string(),
                    status,
                }
            })
            .collect())
    }

    /// Apply one action (`id`: its transaction's id, or its entry id and
    /// index in a batch) on top of `block`, keeping its writes only if it
    /// succeeds.
    fn apply_action<R: StateRead + ?Sized>(
        &self,
        block: &mut Overlay<'_, R>,
        action: &Action<'_>,
        id: (Digest, Option<u32>),
        body: &Body,
    ) -> Result<(), Rejection> {
        // (Authorized with its whole transaction, in `apply_tx`.)
        let module = self.modules.owner(body)?;
        let mut scratch = Overlay::new(&*block);
        let mut ctx = action.context(id, &mut scratch);
        if let Err(refusal) = module.apply(&mut ctx, body) {
            drop(scratch);
            // The refused writes are gone; what the refusal itself must
            // leave behind (a counterfeit signal) is kept.
            let mut kept = Overlay::new(&*block);
            let mut ctx = action.context(id, &mut kept);
            module.record_refusal(&mut ctx, body, &refusal);
            let writes = kept.into_writes();
            // A record too large to keep is dropped; the refusal stands.
            if oversized(&writes).is_none() {
                block.merge(writes);
            }
            return Err(refusal);
        }
        let writes = scratch.into_writes();
        if let Some(too_large) = oversized(&writes) {
            return Err(too_large);
        }
        block.merge(writes);
        Ok(())
    }

    /// Who signed: a member's admin or one of its live agents.
    fn principal(
        &self,
        state: &(impl StateRead + ?Sized),
        tx: &SignedTx,
    ) -> Result<Principal, Rejection> {
        let signer = key_hex(tx.signer());
        let principal: Principal = records::read(state, &keys::principal(tx.signer()))
            .ok_or_else(|| Rejection::UnknownSigner(signer.clone()))?;
        if let Principal::Agent { revoked: true, .. } = principal {
            return Err(Rejection::RevokedSigner(signer));
        }
        let Some(org) = principal.org() else {
            // Patients belong to no member; their key stays theirs even if
            // the custodian that enrolled them leaves the consortium.
            return Ok(principal);
        };
        if records::member_role(state, org).is_none() {
            return Err(Rejection::UnknownSigner(signer));
        }
        Ok(principal)
    }
}

/// What every action of one transaction shares.
struct Action<'a> {
    height: u64,
    time_ms: u64,
    tx: &'a SignedTx,
    principal: &'a Principal,
}

impl Action<'_> {
    fn context<'c>(
        &'c self,
        (id, entry): (Digest, Option<u32>),
        state: &'c mut dyn StateWrite,
    ) -> TxContext<'c> {
        TxContext {
            height: self.height,
            time_ms: self.time_ms,
            tx_id: id,
            origin: Origin {
                tx: self.tx.id(),
                entry,
            },
            signer: self.tx.signer(),
            principal: self.principal,
            state,
        }
    }
}

/// A write the state store could not read back, as the refusal naming it.
fn oversized(writes: &WriteSet) -> Option<Rejection> {
    writes.iter().find_map(|(key, value)| {
        let size = value.as_ref().map_or(0, Vec::len);
        (size > MAX_STATE_VALUE).then(|| Rejection::ValueTooLarge {
            key: String::from_utf8_lossy(key).into_owned(),
            size,
            max: MAX_STATE_VALUE,
        })
    })
}
