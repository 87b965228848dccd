//! Governance: members propose changes and vote; a proposal takes effect
//! once more than two thirds of members approve. Validator-set changes wait
//! for the next epoch boundary so consensus switches sets at a known height.

use super::{Module, StateWrite, TxContext};
use crate::{
    keys,
    records::{self, Member, Principal, ProposalRecord, ProposalStatus, Validators},
    Rejection,
};
use custodia_types::{key_hex, Body, OrgId, Parameter, Proposal, PublicKey};
use std::collections::BTreeSet;

#[derive(Default)]
pub struct Governance;

/// True once approvals are more than two thirds of `members`.
pub fn is_supermajority(approvals: usize, members: usize) -> bool {
    approvals * 3 > members * 2
}

impl Module for Governance {
    fn name(&self) -> &'static str {
        "governance"
    }

    fn authorize(&self, principal: &Principal, body: &Body) -> Result<(), Rejection> {
        match principal {
            Principal::Admin { .. } => Ok(()),
            _ => Err(Rejection::NotMemberAdmin(match body {
                Body::Vote { .. } => "vote on governance proposals",
                _ => "make governance proposals",
            })),
        }
    }

    fn read_set(&self, _signer: &PublicKey, body: &Body, keys: &mut BTreeSet<Vec<u8>>) {
        keys.insert(keys::NEXT_PROPOSAL.to_vec());
        match body {
            Body::Vote { proposal_id, .. } => {
                keys.insert(keys::proposal(*proposal_id));
            }
            Body::Propose {
                proposal: Proposal::AddMember(member),
            } => {
                keys.insert(keys::principal(&member.admin_key));
                keys.insert(keys::principal(&member.validator_key));
            }
            _ => {}
        }
    }

    fn apply(&self, ctx: &mut TxContext<'_>, body: &Body) -> Result<(), Rejection> {
        let Principal::Admin { org: voter } = ctx.principal.clone() else {
            unreachable!("authorize admits only admins")
        };
        match body {
            Body::Propose { proposal } => {
                check_proposal(&*ctx.state, proposal)?;
                let id = ctx
                    .state
                    .get(keys::NEXT_PROPOSAL)
                    .and_then(|b| keys::decode_u64(&b))
                    .unwrap_or(0);
                ctx.state
                    .put(keys::NEXT_PROPOSAL.to_vec(), keys::encode_u64(id + 1));
                let ttl = records::params(&*ctx.state).proposal_ttl;
                let record = ProposalRecord {
                    id,
                    proposer: voter.clone(),
                    proposal: proposal.clone(),
                    created_height: ctx.height,
                    expires_height: ctx.height.saturating_add(ttl),
                    approvals: vec![voter],
                    rejections: vec![],
                    status: ProposalStatus::Open,
                };
                settle(ctx.state, record);
                Ok(())
            }
            Body::Vote {
                proposal_id,
                approve,
            } => {
                let mut record: ProposalRecord =
                    records::read(&*ctx.state, &keys::proposal(*proposal_id))
                        .ok_or(Rejection::UnknownProposal(*proposal_id))?;
                if record.status == ProposalStatus::Open && ctx.height > record.expires_height {
                    record.status = ProposalStatus::Expired;
                }
                if record.status != ProposalStatus::Open {
                    return Err(Rejection::ProposalClosed {
                        id: record.id,
                        status: format!("{:?}", record.status).to_lowercase(),
                    });
                }
                if record.approvals.contains(&voter) || record.rejections.contains(&voter) {
                    return Err(Rejection::AlreadyVoted(voter, record.id));
                }
                if *approve {
                    record.approvals.push(voter);
                } else {
                    record.rejections.push(voter);
                }
                settle(ctx.state, record);
                Ok(())
            }
            _ => unreachable!("dispatch only sends governance bodies here"),
        }
    }

    fn end_block_read_set(&self, _: u64, keys: &mut BTreeSet<Vec<u8>>) {
        keys.insert(keys::VALIDATORS.to_vec());
        keys.insert(keys::PARAMS.to_vec());
    }

    /// After the last block of an epoch, the next epoch's validators take
    /// over. Epoch `e` spans heights `e * epoch_length ..= (e + 1) * epoch_length - 1`.
    fn end_block(&self, height: u64, state: &mut dyn StateWrite) {
        let epoch_length = records::params(&*state).epoch_length;
        if !(height + 1).is_multiple_of(epoch_length) {
            return;
        }
        let mut validators: Validators =
            records::read(&*state, keys::VALIDATORS).expect("validators are written at genesis");
        validators.epoch = (height + 1) / epoch_length;
        validators.current = validators.next.clone();
        state.put(
            keys::committee(validators.epoch),
            records::encode(
                &validators
                    .current
                    .iter()
                    .map(custodia_types::key_hex)
                    .collect::<Vec<_>>(),
            ),
        );
        state.put(keys::VALIDATORS.to_vec(), records::encode(&validators));
    }
}

/// Refuse proposals that could never be carried out.
fn check_proposal(state: &dyn StateWrite, proposal: &Proposal) -> Result<(), Rejection> {
    let members = records::members(state);
    let find = |id: &OrgId| members.iter().position(|m| &m.id == id);
    match proposal {
        Proposal::AddMember(new) => {
            if find(&new.id).is_some() {
                return Err(Rejection::MemberExists(new.id.clone()));
            }
            let in_use = |key| {
                state.get(&keys::principal(key)).is_some()
                    || members
                        .iter()
                        .any(|m| &m.validator_key == key || &m.admin_key == key)
            };
            if new.admin_key == new.validator_key
                || in_use(&new.admin_key)
                || in_use(&new.validator_key)
            {
                return Err(Rejection::KeyInUse(key_hex(&new.admin_key)));
            }
            Ok(())
        }
        Proposal::SetPolicy { policy } => crate::policy::parse(policy)
            .map(|_| ())
            .map_err(|e| Rejection::BadPolicy(e.to_string())),
        Proposal::RemoveMember { id } => match find(id) {
            None => Err(Rejection::UnknownMember(id.clone())),
            Some(_) if members.len() == 1 => Err(Rejection::LastMember(id.clone())),
            Some(_) => Ok(()),
        },
        Proposal::SetParameter { parameter, value } => {
            if *parameter == Parameter::MaxBlockTxs && *value > custodia_types::MAX_BLOCK_TXS as u64
            {
                return Err(Rejection::BadParameter {
                    name: parameter.as_str(),
                    min: 1,
                    value: *value,
                });
            }
            if *value < 1 {
                return Err(Rejection::BadParameter {
                    name: parameter.as_str(),
                    min: 1,
                    value: *value,
                });
            }
            Ok(())
        }
    }
}

/// Store a proposal after a vote, executing it if it passed.
fn settle(state: &mut dyn StateWrite, mut record: ProposalRecord) {
    let members = records::members(&*state).len();
    if is_supermajority(record.approvals.len(), members) {
        // The state may have moved since the proposal was made (another
        // proposal added the same member, say); then it fails instead.
        record.status = match check_proposal(&*state, &record.proposal) {
            Ok(()) => {
                execute(state, &record.proposal);
                ProposalStatus::Passed
            }
            Err(_) => ProposalStatus::Rejected,
        };
    } else if !is_supermajority(members - record.rejections.len().min(members), members) {
        record.status = ProposalStatus::Rejected;
    }
    state.put(keys::proposal(record.id), records::encode(&record));
}

fn execute(state: &mut dyn StateWrite, proposal: &Proposal) {
    let mut members = records::members(&*state);
    let mut validators: Validators =
        records::read(&*state, keys::VALIDATORS).expect("validators are written at genesis");
    match proposal {
        Proposal::AddMember(new) => {
            let org = new.id.clone();
            state.put(
                keys::principal(&new.admin_key),
                records::encode(&Principal::Admin { org: org.clone() }),
            );
            state.put(
                keys::principal(&new.validator_key),
                records::encode(&Principal::Node { org }),
            );
            validators.next.push(new.validator_key.clone());
            members.push(Member::clone(new));
        }
        Proposal::RemoveMember { id } => {
            let Some(index) = members.iter().position(|m| &m.id == id) else {
                return;
            };
            let removed = members.remove(index);
            state.delete(keys::principal(&removed.admin_key));
            state.delete(keys::principal(&removed.validator_key));
            validators.next.retain(|k| k != &removed.validator_key);
        }
        Proposal::SetParameter { parameter, value } => {
            let mut params = records::params(&*state);
            match parameter {
                Parameter::MaxBlockTxs => params.max_block_txs = *value,
                Parameter::ProposalTtl => params.proposal_ttl = *value,
            }
            state.put(keys::PARAMS.to_vec(), records::encode(&params));
        }
        Proposal::SetPolicy { policy } => {
            state.put(keys::POLICY.to_vec(), records::encode(policy));
        }
    }
    state.put(keys::MEMBERS.to_vec(), records::encode(&members));
    state.put(keys::VALIDATORS.to_vec(), records::encode(&validators));
}

#[cfg(test)]
mod tests {
    use super::is_supermajority;

    #[test]
    fn supermajority_is_strictly_more_than_two_thirds() {
        assert!(!is_supermajority(2, 3));
        assert!(is_supermajority(3, 3));
        assert!(!is_supermajority(2, 4));
        assert!(is_supermajority(3, 4));
        assert!(!is_supermajority(4, 6));
        assert!(is_supermajority(5, 6));
        assert!(is_supermajority(1, 1));
    }
}
