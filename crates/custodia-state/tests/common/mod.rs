//! A chain in memory for tests: blocks executed the way a node executes them.
#![allow(dead_code)]

use bytes::Bytes;
use commonware_cryptography::Signer as _;
use custodia_state::{keys, MapState, Preloaded, StateMachine, StateRead, TxStatus};
use custodia_types::{
    AgentKind, Body, Genesis, Member, OrgId, OrgRole, Params, PrivateKey, PublicKey, SignedTx,
    TxPayload,
};

pub const CHAIN: &str = "custodia-test";

pub struct Chain {
    pub machine: StateMachine,
    pub state: MapState,
    pub height: u64,
    /// The next block's timestamp.
    pub time_ms: u64,
    pub admins: Vec<PrivateKey>,
}

pub fn admin(i: u64) -> PrivateKey {
    PrivateKey::from_seed(100 + i)
}

pub fn validator(i: u64) -> PrivateKey {
    PrivateKey::from_seed(200 + i)
}

pub fn member(i: u64) -> Member {
    member_as(i, OrgRole::Provider)
}

pub fn member_as(i: u64, role: OrgRole) -> Member {
    Member {
        id: OrgId::new(format!("org-{i}")).unwrap(),
        name: format!("Org {i}"),
        role,
        admin_key: admin(i).public_key(),
        validator_key: validator(i).public_key(),
        p2p: format!("127.0.0.1:{}", 4000 + i).parse().unwrap(),
        api: None,
    }
}

impl Chain {
    pub fn new(members: u64, params: Params) -> Self {
        Self::with_roles(&vec![OrgRole::Provider; members as usize], params)
    }

    /// Members `org-0`, `org-1`, ... playing these roles.
    pub fn with_roles(roles: &[OrgRole], params: Params) -> Self {
        let members = roles.len() as u64;
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            genesis_time_ms: 0,
            params,
            members: roles
                .iter()
                .enumerate()
                .map(|(i, role)| member_as(i as u64, *role))
                .collect(),
        };
        Self {
            machine: StateMachine::new(CHAIN, domains()),
            state: StateMachine::genesis_state(&genesis),
            height: 0,
            time_ms: 1_000,
            admins: (0..members).map(admin).collect(),
        }
    }

    /// Execute one block the way a node does: pre-load the read set, execute,
    /// load whatever was missed and execute again until nothing is missed.
    pub fn block(&mut self, txs: Vec<SignedTx>) -> Vec<TxStatus> {
        self.block_receipts(txs)
            .into_iter()
            .map(|r| r.status)
            .collect()
    }

    /// As [`Self::block`], with the whole receipts (a batch's entries too).
    pub fn block_receipts(&mut self, txs: Vec<SignedTx>) -> Vec<custodia_state::Receipt> {
        self.height += 1;
        for tx in &txs {
            self.machine
                .check_stateless(tx)
                .expect("test txs are well formed");
        }
        let mut visible = Preloaded::default();
        self.state
            .preload(&self.machine.read_set(self.height, &txs), &mut visible);
        let outcome = loop {
            let outcome = self
                .machine
                .execute_block(&visible, self.height, self.time_ms, &txs);
            let misses = visible.take_misses();
            if misses.is_empty() {
                break outcome;
            }
            self.state.preload(&misses, &mut visible);
        };
        let full = self
            .machine
            .execute_block(&self.state, self.height, self.time_ms, &txs);
        assert_eq!(
            outcome, full,
            "pre-loaded execution must equal execution on full state"
        );
        self.state.apply(&outcome.writes);
        outcome.receipts.into_iter().map(|(_, r)| r).collect()
    }

    pub fn nonce(&self, key: &PrivateKey) -> u64 {
        self.state
            .get(&keys::nonce(&key.public_key()))
            .and_then(|b| keys::decode_u64(&b))
            .unwrap_or(0)
    }

    pub fn tx(&self, key: &PrivateKey, body: Body) -> SignedTx {
        sign(key, self.nonce(key), body)
    }

    /// Member `admin`'s admin key registering `agent` as an agent of its
    /// organisation, signed at the admin's next nonce (not yet in a block).
    pub fn register_agent(
        &self,
        admin: usize,
        agent: &PublicKey,
        kind: AgentKind,
        label: &str,
    ) -> SignedTx {
        self.tx(
            &self.admins[admin],
            Body::RegisterAgent {
                key: agent.clone(),
                kind,
                label: label.into(),
            },
        )
    }

    /// One block holding `txs`, every one of which must apply.
    pub fn block_applied(&mut self, txs: Vec<SignedTx>) {
        let count = txs.len();
        assert_eq!(self.block(txs), vec![TxStatus::Applied; count]);
    }

    /// One block holding `tx` alone; its status.
    pub fn send_tx(&mut self, tx: &SignedTx) -> TxStatus {
        self.block(vec![tx.clone()]).remove(0)
    }

    /// One block holding one transaction: `body` signed by `key` at its next
    /// nonce. Its status.
    pub fn send(&mut self, key: &PrivateKey, body: Body) -> TxStatus {
        let tx = self.tx(key, body);
        self.send_tx(&tx)
    }
}

pub fn sign(key: &PrivateKey, nonce: u64, body: Body) -> SignedTx {
    TxPayload {
        chain_id: CHAIN.into(),
        signer: key.public_key(),
        nonce,
        body,
    }
    .sign(key)
}

pub fn note(text: &'static str) -> Body {
    Body::Note {
        data: Bytes::from_static(text.as_bytes()),
    }
}

pub fn rejected(status: &TxStatus, needle: &str) -> bool {
    matches!(status, TxStatus::Rejected { reason } if reason.contains(needle))
}

/// The domains the tests plug in: supply.
pub fn domains() -> custodia_state::Domains {
    let supply: std::sync::Arc<dyn custodia_state::modules::Module> =
        std::sync::Arc::new(custodia_supply::module::Supply);
    custodia_state::Domains::new([supply]).expect("one domain")
}
