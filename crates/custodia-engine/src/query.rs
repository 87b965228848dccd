//! Queries over committed state that answer at one finalized height.
//!
//! A query is a pure function over the state it has been given
//! (`Preloaded`), which records every key it missed. It is run round by
//! round: the missed keys (and any a `hint` names once others are known)
//! are loaded in one batch under the chain's lock, then the query runs
//! again, until it misses nothing. If a block was committed between two
//! rounds the query starts over at the new tip, so an answer always
//! reflects one finalized height, which it names ([`AsOf`]); the last
//! attempt holds the chain's lock throughout, so a busy chain slows a
//! query down but never starves it.

use crate::engine::{Runtime, SharedChain};
use custodia_state::Preloaded;

/// Rounds of loading one attempt may take (a query that needs more is
/// refused: it reads something nested deeper than any rule allows, or
/// damaged state).
const MAX_ROUNDS: usize = 64;
/// Fresh starts when blocks keep being committed under a query.
const MAX_ATTEMPTS: usize = 4;

/// The finalized block an answer was computed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsOf {
    pub height: u64,
    /// That block's timestamp: "now" for expiry, identical on every node.
    pub time_ms: u64,
}

/// Why a query has no answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError<D> {
    /// The query's own refusal (an unknown item, a bad argument).
    #[error("{0}")]
    Refused(D),
    /// The committed state could not be read.
    #[error("the committed state could not be read: {0}")]
    Store(String),
    /// The query kept asking for more keys.
    #[error("the query needed more than {MAX_ROUNDS} rounds of loading")]
    TooManyRounds,
}

/// Runs `query` over committed state at the finalized tip. `hint` names
/// keys worth loading together once others are known (a lot's packs),
/// saving rounds.
pub async fn at_finalized_tip<E: Runtime, T, D>(
    chain: &SharedChain<E>,
    hint: impl Fn(&Preloaded) -> Vec<Vec<u8>>,
    query: impl Fn(&Preloaded, AsOf) -> Result<T, D>,
) -> Result<(T, AsOf), QueryError<D>> {
    for attempt in 1..MAX_ATTEMPTS {
        if let Some(answer) = attempt_at_tip(chain, &hint, &query, false).await? {
            return Ok(answer);
        }
        tracing::debug!(
            attempt,
            "a block was committed under a query; starting over"
        );
    }
    let answer = attempt_at_tip(chain, &hint, &query, true).await?;
    Ok(answer.expect("an attempt holding the chain's lock sees no new block"))
}

/// One attempt at the current tip; `None` if a block was committed
/// between two of its rounds. With `hold_lock` the chain's lock is kept
/// from the first round to the last.
async fn attempt_at_tip<E: Runtime, T, D>(
    chain: &SharedChain<E>,
    hint: &impl Fn(&Preloaded) -> Vec<Vec<u8>>,
    query: &impl Fn(&Preloaded, AsOf) -> Result<T, D>,
    hold_lock: bool,
) -> Result<Option<(T, AsOf)>, QueryError<D>> {
    let guard = match hold_lock {
        true => Some(chain.lock().await),
        false => None,
    };
    let tip = match &guard {
        Some(chain) => chain.tip().clone(),
        None => chain.lock().await.tip().clone(),
    };
    let as_of = AsOf {
        height: tip.height,
        time_ms: tip.header.timestamp_ms,
    };
    let mut loaded = Preloaded::default();
    for _ in 0..MAX_ROUNDS {
        let result = query(&loaded, as_of);
        let mut wanted = loaded.take_misses();
        wanted.extend(hint(&loaded).into_iter().filter(|k| !loaded.contains(k)));
        loaded.take_misses();
        if wanted.is_empty() {
            return result
                .map(|answer| Some((answer, as_of)))
                .map_err(QueryError::Refused);
        }
        let round = match &guard {
            Some(chain) => chain.load_committed(&wanted, &mut loaded).await,
            None => {
                let chain = chain.lock().await;
                if chain.tip().height != as_of.height {
                    return Ok(None);
                }
                chain.load_committed(&wanted, &mut loaded).await
            }
        };
        round.map_err(|e| QueryError::Store(e.to_string()))?;
    }
    Err(QueryError::TooManyRounds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Chain;
    use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
    use custodia_state::{keys, records, StateRead as _};
    use custodia_types::{Genesis, OrgRole};
    use std::sync::Arc;

    fn genesis() -> Genesis {
        crate::test_support::one_member_genesis("custodia-query-test")
    }

    async fn chain(context: deterministic::Context) -> SharedChain<deterministic::Context> {
        let genesis = genesis();
        let (first, writes) = crate::chain::genesis_block(context.child("genesis"), &genesis, "q")
            .await
            .expect("genesis");
        let chain = Chain::open(
            context.child("chain"),
            &genesis,
            custodia_state::Domains::none(),
            &first,
            &writes,
            crate::test_support::small_sizing(),
            "q",
        )
        .await
        .expect("open a chain");
        Arc::new(futures::lock::Mutex::new(chain))
    }

    #[test]
    fn a_query_that_learns_which_keys_it_needs_answers_at_one_height() {
        deterministic::Runner::default().start(|context| async move {
            let chain = chain(context).await;
            // Round one reads the member list; round two the principal
            // record of the admin key it names.
            let (role, as_of) = at_finalized_tip(
                &chain,
                |_| Vec::new(),
                |state: &Preloaded, _| {
                    let members: Vec<records::Member> =
                        records::read(state, keys::MEMBERS).unwrap_or_default();
                    let Some(admin) = members.first().map(|member| member.admin_key.clone()) else {
                        return Ok::<_, String>(None);
                    };
                    Ok(state.get(&keys::principal(&admin)).map(|_| members[0].role))
                },
            )
            .await
            .expect("an answer");
            assert_eq!(role, Some(OrgRole::Provider));
            assert_eq!(
                as_of,
                AsOf {
                    height: 0,
                    time_ms: genesis().genesis_time_ms
                }
            );
        });
    }

    #[test]
    fn a_refusal_is_the_queries_own_and_an_endless_query_is_cut_off() {
        deterministic::Runner::default().start(|context| async move {
            let chain = chain(context).await;
            let refused = at_finalized_tip(&chain, |_| Vec::new(), |_, _| Err::<(), _>("no"))
                .await
                .expect_err("refused");
            assert!(matches!(refused, QueryError::Refused("no")));

            let rounds = std::sync::atomic::AtomicU64::new(0);
            let endless = at_finalized_tip(
                &chain,
                |_| Vec::new(),
                |state: &Preloaded, _| {
                    let round = rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    state.get(format!("missing/{round}").as_bytes());
                    Ok::<_, ()>(())
                },
            )
            .await
            .expect_err("cut off");
            assert!(matches!(endless, QueryError::TooManyRounds));
            assert_eq!(rounds.into_inner(), MAX_ROUNDS as u64);
        });
    }
}
