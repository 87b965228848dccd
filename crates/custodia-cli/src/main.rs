//! `custodia`: run and use a Custodia consortium ledger.

mod bench;
mod demo;
mod seed;
mod tx;
mod verify_record;

// jemalloc, not the system allocator: under load glibc's malloc spent about
// a sixth of a node's processor consolidating and unlinking free chunks,
// and jemalloc gave ~10 % more writes a second (BENCHMARKS.md). mimalloc
// lost to glibc here (it returned pages to the kernel and took them back).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use custodia_client as client;
use custodia_engine::domain::Domain;
use custodia_node::domains::NodeContext;
use custodia_node::init::{init_consortium, prepare_joiner, InitOptions, Joiner};
use custodia_types::{OrgId, OrgRole};
use std::{path::PathBuf, sync::Arc};

#[derive(Parser)]
#[command(
    name = "custodia",
    version,
    about = "A permissioned, Byzantine-fault-tolerant ledger for health data",
    long_about = "Custodia keeps one tamper-evident history of who wrote, shared and read what \
across hospitals, insurers, manufacturers, pharmacies and regulators. Each member \
organisation runs a validator; blocks are final once more than two thirds agree.\n\n\
Start here:\n  custodia demo              run a 9-organisation consortium on this machine\n  \
custodia status            ask a node how it is doing",
    after_help = "Every subcommand has its own --help with examples."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a consortium: a genesis file plus keys and config for each organisation.
    #[command(
        after_help = "Example:\n  custodia init --orgs 4 --dir ./consortium\n\n\
Writes ./consortium/genesis.toml and ./consortium/<org>/{config.toml,genesis.toml,keys/}.\n\
Copy each <org> directory to the machine that organisation runs its node on."
    )]
    Init {
        /// Where to write the consortium.
        #[arg(long, default_value = "./consortium")]
        dir: PathBuf,
        /// How many member organisations (one validator each).
        #[arg(long, default_value_t = 4)]
        orgs: usize,
        /// Start at this organisation of the demo list (0 st-mary, 1 riverside-clinic,
        /// 2 northwind-health, 3 health-authority, 4 acme-pharma, 5 medline-logistics,
        /// 6 corner-pharmacy, 7 oncology-trials, 8 harbour-pharmacy); e.g. `--first-org 4 --orgs 3` for a
        /// supply chain alone.
        #[arg(long, default_value_t = 0)]
        first_org: usize,
        /// The chain's id; transactions signed for another chain are refused.
        #[arg(long, default_value = "custodia-local")]
        chain_id: String,
        /// First p2p port; organisation i listens on this plus i.
        #[arg(long, default_value_t = 30400)]
        p2p_port: u16,
        /// First HTTP API port; organisation i listens on this plus i.
        #[arg(long, default_value_t = 8400)]
        api_port: u16,
    },
    /// Prepare the home of an organisation joining a running consortium, and
    /// print the governance proposal that admits it.
    #[command(after_help = "Example:\n  \
custodia join --genesis consortium/genesis.toml --org city-hospital --name 'City Hospital' \\\n    \
--role provider --p2p 203.0.113.7:30400 --api 203.0.113.7:8400 --dir ./city-hospital\n\n\
Writes ./city-hospital/{config.toml,genesis.toml,keys/} with fresh keys, and prints\n\
the proposal body. A member submits it (custodia tx --body '<printed body>'), and\n\
it passes once more than two thirds of members approve (the proposer's counts;\n\
the others send {\"type\":\"vote\",\"proposal_id\":<id>,\"approve\":true}).\n\
Start the node whenever you like: custodia node --home ./city-hospital. It\n\
follows the chain from genesis and votes from the first epoch after the\n\
proposal passed.")]
    Join {
        /// The consortium's genesis.toml.
        #[arg(long)]
        genesis: PathBuf,
        /// The organisation's id (lowercase letters, digits and dashes; at most 32).
        #[arg(long)]
        org: String,
        /// The organisation's name, as members will see it.
        #[arg(long)]
        name: String,
        /// provider, payer, manufacturer, distributor, pharmacy, regulator
        /// or research_sponsor.
        #[arg(long, value_parser = parse_role)]
        role: OrgRole,
        /// Where its validator listens for peers (reachable by every member).
        #[arg(long)]
        p2p: std::net::SocketAddr,
        /// Where its HTTP API listens.
        #[arg(long)]
        api: std::net::SocketAddr,
        /// The home directory to write.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Run one validator node from its home directory (made by `init`).
    #[command(
        after_help = "Example:\n  custodia node --home ./consortium/st-mary\n\n\
The node serves its HTTP API at the `api` address in <home>/config.toml and\n\
stops cleanly on Ctrl-C or SIGTERM. Its data survives restarts and crashes."
    )]
    Node {
        /// The node's home directory.
        #[arg(long)]
        home: PathBuf,
    },
    /// Run a whole local consortium (9 validators as 9 processes) until Ctrl-C.
    #[command(after_help = "Example:\n  custodia demo\n\n\
The first run creates ./custodia-demo; later runs reuse it and pick up where\n\
the chain stopped. Each node's log is <dir>/<org>/node.log.")]
    Demo {
        /// Where the demo consortium lives.
        #[arg(long, default_value = "./custodia-demo")]
        dir: PathBuf,
        /// How many organisations (validators). The default 9 holds the demo's
        /// hospitals, insurer and regulator (the first 4: clinical records) and its
        /// supply chain (acme-pharma, medline-logistics, corner-pharmacy,
        /// harbour-pharmacy); fewer skip the sample data of missing members.
        #[arg(long, default_value_t = 9)]
        orgs: usize,
    },
    /// Show a node's chain id, heights, validators and peers.
    #[command(after_help = "Example:\n  custodia status --node http://127.0.0.1:8400")]
    Status {
        /// The node's API base URL.
        #[arg(long, default_value = "http://127.0.0.1:8400", env = "CUSTODIA_NODE")]
        node: String,
    },
    /// Measure the chain: ledger throughput, FHIR writes and audited reads, and PostgreSQL doing the same.
    #[command(
        after_help = "Examples:\n  custodia bench                          # every workload\n  \
custodia bench --workload notes --txs-per-org 10000\n  \
custodia bench --workload records --records 5000 --concurrency 64\n  \
custodia bench --workload ingest --records 1000000 --concurrency 8 --postgres-standbys 3\n  \
custodia bench --workload supply --packs 3000\n  \
custodia bench --workload abuse --records 3000 --concurrency 32\n\n\
Starts a fresh 4-validator consortium as local processes for each workload and\n\
drives it over HTTP from a separate load generator:\n\
  notes    signed transactions, signed up front, POST /v1/txs in batches;\n\
           finalized tx/s and p50/p99 submit-to-finality latency, with this\n\
           machine's single-core ed25519 verifications/s as the ceiling.\n\
  records  FHIR Observations POSTed to each hospital's node (answered once\n\
           final), then read back by their custodian (answered once the read's\n\
           audit event is final): writes/s, reads/s, p50/p99. Then the same\n\
           workload against a throwaway PostgreSQL cluster (synchronous commit\n\
           on, a row per version, an audit row per read) driven by pgbench with\n\
           as many clients as there were requests in flight (with\n\
           --postgres-standbys 3, also keeping four synchronous copies).\n\
  supply   on the supply chain's validators (acme-pharma, medline-logistics,\n\
           corner-pharmacy, oncology-trials): custody events (commission,\n\
           ship, receive; 5 packs each) and signed truck-logger readings\n\
           (batches of 60), finalized and checked applied: events/s and\n\
           readings/s; then GET /v1/supply/verify from --concurrency clients\n\
           for 10 s: queries/s, p50/p99.\n\
  idle     (only when asked) nothing submitted for 5 minutes (the consensus\n\
           journal and caches fill to their pruned size), then for --idle-secs:\n\
           blocks made, the machine's processor use, each node's new data per\n\
           day; then\n\
           20 notes into the quiet chain, 2.3 s apart: submit-to-final p50/p99.\n\
  abuse    (only when asked) --records FHIR writes at the hospitals' nodes,\n\
           then as many again while this machine floods the regulator's node\n\
           with garbage (random bytes, oversized headers, bad transactions,\n\
           forged tokens, slow-loris): both rates, their ratio and the\n\
           flooded node's refusals.\n\
\n\
Latency at a planned load, not at saturation: --rate 25%,50%,80% offers\n\
that share of the maximum just measured, each request sent when due and\n\
timed from then (p50/p99/p99.9), and PostgreSQL the same rates.\n\
Needs initdb, pg_ctl and pgbench (Debian: apt install postgresql) for the comparison."
    )]
    Bench {
        /// Which workload to run.
        #[arg(long, value_enum, default_value_t = bench::Workload::All)]
        workload: bench::Workload,
        /// Note transactions each organisation submits (notes workload).
        #[arg(long, default_value_t = 5_000)]
        txs_per_org: usize,
        /// FHIR resources written: with as many audited reads (records workload), or
        /// in transaction Bundles of 51, one a patient (ingest workload).
        #[arg(long, default_value_t = 3_000)]
        records: usize,
        /// Serialised packs commissioned, shipped and received (supply workload).
        #[arg(long, default_value_t = 3_000)]
        packs: usize,
        /// FHIR requests in flight per writing organisation (records workload), bundles
        /// in flight per hospital (ingest workload), and verification clients (supply
        /// workload).
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Skip the PostgreSQL comparison.
        #[arg(long)]
        no_postgres: bool,
        /// Give the PostgreSQL comparison this many synchronous standbys on the same
        /// machine, every commit waiting until all of them have it on disk (3: four
        /// copies of each row, as the 4-validator consortium keeps of each write).
        #[arg(long, default_value_t = 0)]
        postgres_standbys: usize,
        /// The nodes' time between blocks while transactions wait
        /// (`busy_block_interval_ms`): lower means lower latency, so more throughput for
        /// the same requests in flight, and more, smaller blocks.
        #[arg(long, default_value_t = 50)]
        busy_block_interval_ms: u64,
        /// Keep the consortium directory afterwards (to inspect or `custodia verify` it).
        #[arg(long)]
        keep: bool,
        /// After the saturated run, offer load at these fixed rates (notes and
        /// records workloads): requests a second (2000) or shares of the
        /// maximum just measured (80%), comma-separated. Each request is sent
        /// when due and timed from then, so a stall is not hidden; PostgreSQL
        /// gets the same rates.
        #[arg(long, value_delimiter = ',')]
        rate: Vec<bench::Rate>,
        /// Seconds each fixed rate runs.
        #[arg(long, default_value_t = 20)]
        rate_secs: u64,
        /// Seconds the idle workload measures an untouched consortium (after
        /// five minutes of warm-up) before timing first writes.
        #[arg(long, default_value_t = 600)]
        idle_secs: u64,
    },
    /// Check a stopped node's stored chain offline, from genesis.
    #[command(
        after_help = "Example:\n  custodia verify --home ./custodia-demo/st-mary\n\n\
Replays every finalized block: checks that each block decodes, links to its\n\
parent, carries a finality certificate signed by a quorum of its epoch's\n\
validators, holds only well-signed transactions, and re-executes to the state\n\
root in its header; then checks the node's own state store against the chain,\n\
every operation of its log included. Names the first bad block (or the state\n\
file and operation) and exits with status 1 if anything was tampered with.\n\
Works on a copy; stop the node first; `custodia repair` rebuilds a damaged state."
    )]
    Verify {
        /// The node's home directory.
        #[arg(long)]
        home: PathBuf,
    },
    /// Rebuild a stopped node's state from its own verified blocks.
    #[command(
        after_help = "Example:\n  custodia repair --home ./custodia-demo/st-mary\n\n\
For a node whose state files are damaged (it refuses to start, or `custodia\n\
verify` names a state file): replays and verifies every stored block from\n\
genesis as `verify` does, then replaces the node's state with the replayed\n\
one. The old state files are kept aside under data/damaged-<time>/. A bad\n\
block is not repaired: restore the data directory from a verified copy, or\n\
set up the node again with `custodia join`. Stop the node first."
    )]
    Repair {
        /// The node's home directory.
        #[arg(long)]
        home: PathBuf,
    },
    /// Sign a transaction body given as JSON and submit it.
    #[command(after_help = "Examples:\n  \
custodia tx --key consortium/st-mary/keys/admin.key --body '{\"type\":\"note\",\"data\":\"68656c6c6f\"}'\n  \
custodia tx --key admin.key --body '{\"type\":\"vote\",\"proposal_id\":0,\"approve\":true}' --wait\n\n\
Body types: note, register_agent, revoke_agent, propose, vote, enrol_patient,\n\
grant_consent, revoke_consent (the last two signed by the patient's key).\n\
A proposal {\"kind\":\"set_policy\",\"policy\":\"<Cedar text>\"} replaces the access policy\n\
once more than two thirds of members vote for it. The nonce is\n\
fetched from the node unless --nonce is given.")]
    Tx {
        /// The node's API base URL.
        #[arg(long, default_value = "http://127.0.0.1:8400", env = "CUSTODIA_NODE")]
        node: String,
        /// File holding the signer's hex-encoded ed25519 private key.
        #[arg(long)]
        key: PathBuf,
        /// The body as JSON (or @file to read it from a file).
        #[arg(long)]
        body: String,
        /// Use this nonce instead of asking the node.
        #[arg(long)]
        nonce: Option<u64>,
        /// Wait until the transaction is finalized and print its receipt.
        #[arg(long)]
        wait: bool,
    },
    /// Read one version of a record and prove it: in the chain's state,
    /// finalized by a quorum, and matching its commitment.
    #[command(
        name = "verify-record",
        after_help = "Example:\n  \
custodia verify-record --node http://127.0.0.1:8401 --key custodia-demo/patients/alice.key \\\n    \
--genesis custodia-demo/genesis.toml --resource Observation/<id> --version 1\n\n\
The read is an ordinary, audited read with your key. The proof is checked\n\
offline: the version's entry against the state root of a finalized block, the\n\
block's finality certificate against the validators in genesis, and the\n\
content you received against the salted commitment in the entry."
    )]
    VerifyRecord {
        /// The node's API base URL.
        #[arg(long, default_value = "http://127.0.0.1:8400", env = "CUSTODIA_NODE")]
        node: String,
        /// File holding your (agent's or patient's) private key.
        #[arg(long)]
        key: PathBuf,
        /// The consortium's genesis.toml (the root of trust).
        #[arg(long)]
        genesis: PathBuf,
        /// The resource, as Type/id.
        #[arg(long)]
        resource: String,
        /// The version; the latest if omitted.
        #[arg(long)]
        version: Option<u64>,
    },
    /// Print a bearer token for a node's FHIR API, signed with an agent's
    /// or a patient's key.
    #[command(after_help = "Example:\n  \
T=$(custodia token --node http://127.0.0.1:8400 --key custodia-demo/st-mary/keys/clinician.key)\n  \
curl -H \"Authorization: Bearer $T\" http://127.0.0.1:8400/fhir/metadata\n\n\
The token names the chain, the node's organisation, the key and an expiry, and\n\
is signed by the key: it works only at that organisation's node (an agent's\n\
key only at its own organisation's; a patient's at any), until it expires.")]
    Token {
        /// The node's API base URL.
        #[arg(long, default_value = "http://127.0.0.1:8400", env = "CUSTODIA_NODE")]
        node: String,
        /// File holding the agent's or patient's hex-encoded ed25519 private key.
        #[arg(long)]
        key: PathBuf,
        /// How long the token is valid, in hours.
        #[arg(long, default_value = "8", value_parser = parse_hours)]
        hours: std::time::Duration,
    },
}

/// `custodia join`: the joiner's home, and the proposal that admits it.
fn join(genesis: &std::path::Path, joiner: &Joiner, dir: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(genesis)
        .with_context(|| format!("reading {}", genesis.display()))?;
    let genesis = custodia_types::Genesis::from_toml(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a genesis file: {e}", genesis.display()))?;
    let member = prepare_joiner(dir, &genesis, joiner)?;
    let proposal = custodia_types::Body::Propose {
        proposal: custodia_types::Proposal::AddMember(Box::new(member)),
    };
    eprintln!(
        "Wrote {}'s home in {} (keep keys/ secret). A member proposes its admission\n\
         with this body (custodia tx --key <member admin key> --body '<body>'):",
        joiner.id,
        dir.display()
    );
    println!("{}", serde_json::to_string(&proposal)?);
    eprintln!(
        "Once more than two thirds of members approve, it votes from the next epoch;\n\
         start it any time: custodia node --home {}",
        dir.display()
    );
    Ok(())
}

fn parse_role(text: &str) -> Result<OrgRole, String> {
    text.parse().map_err(|()| {
        let roles: Vec<&str> = OrgRole::ALL.iter().map(|r| r.as_str()).collect();
        format!("{text:?} is not a role; one of {}", roles.join(", "))
    })
}

fn parse_hours(text: &str) -> Result<std::time::Duration, String> {
    let hours: f64 = text
        .trim_end_matches('h')
        .parse()
        .map_err(|_| format!("{text:?} is not a number of hours (e.g. 8 or 0.5)"))?;
    if !(hours > 0.0 && hours <= 24.0 * 30.0) {
        return Err("between a few minutes and 30 days (720 hours)".into());
    }
    Ok(std::time::Duration::from_secs_f64(hours * 3600.0))
}

/// Progress of a replay on stderr, every 100 blocks.
fn replay_progress(verb: &'static str) -> impl FnMut(u64, u64) + Send + 'static {
    use std::io::Write as _;
    move |height: u64, last: u64| {
        if height.is_multiple_of(100) || height == last {
            eprint!("\r{verb} block {height}/{last}");
            let _ = std::io::stderr().flush();
        }
    }
}

fn repair(home: &std::path::Path) -> Result<()> {
    let repaired = custodia_node::verify::repair_home(home, replay_progress("replaying"))?;
    eprintln!();
    println!(
        "REPAIRED: the state was rebuilt from {} verified blocks (state root {}); the damaged state files are in {}",
        repaired.verified.height,
        repaired.verified.state_root,
        repaired.damaged.display()
    );
    Ok(())
}

fn verify(home: &std::path::Path) -> Result<()> {
    let progress = replay_progress("verifying");
    match custodia_node::verify::verify_home(home, progress) {
        Ok(verified) => {
            eprintln!();
            println!(
                "OK: {} blocks and {} transactions verified from genesis; state root {} matches the node's state",
                verified.height, verified.transactions, verified.state_root
            );
            Ok(())
        }
        Err(error) => {
            eprintln!();
            println!("TAMPERED: {error}");
            std::process::exit(1);
        }
    }
}

fn main() -> Result<()> {
    // The plugged-in domains' subcommands (`custodia fhir ...`, `custodia
    // supply ...`) join the built-in ones.
    let domains = custodia_node::domains::all::<NodeContext>();
    let mut command = <Cli as clap::CommandFactory>::command();
    for domain in &domains {
        if let Some(subcommand) = domain.command() {
            command = command.subcommand(subcommand);
        }
    }
    let matches = command.get_matches();
    if let Some((name, matches)) = matches.subcommand() {
        let named = |domain: &&Arc<dyn Domain<NodeContext>>| {
            domain
                .command()
                .is_some_and(|command| command.get_name() == name)
        };
        if let Some(domain) = domains.iter().find(named) {
            return domain.run_command(matches);
        }
    }
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
        .unwrap_or_else(|error| error.exit());
    match cli.command {
        Command::Init {
            dir,
            orgs,
            first_org,
            chain_id,
            p2p_port,
            api_port,
        } => {
            let options = InitOptions {
                chain_id,
                first_org,
                p2p_base_port: p2p_port,
                api_base_port: api_port,
                ..InitOptions::new(orgs)
            };
            let created = init_consortium(&dir, &options)?;
            println!(
                "Created a {}-organisation consortium in {}:",
                created.len(),
                dir.display()
            );
            for org in created {
                println!(
                    "  {:<20} home {}  api http://{}",
                    org.id,
                    org.home.display(),
                    org.api
                );
            }
            println!("Start a node with: custodia node --home <home>");
            Ok(())
        }
        Command::Join {
            genesis,
            org,
            name,
            role,
            p2p,
            api,
            dir,
        } => {
            let id = OrgId::new(org.as_str()).map_err(|e| anyhow::anyhow!("--org {org:?}: {e}"))?;
            join(
                &genesis,
                &Joiner {
                    id,
                    name,
                    role,
                    p2p,
                    api,
                },
                &dir,
            )
        }
        Command::Node { home } => custodia_node::run::run_node(&home)
            .with_context(|| format!("node at {} stopped with an error", home.display())),
        Command::Demo { dir, orgs } => demo::run(&dir, orgs),
        Command::Status { node } => client::status(&node),
        Command::Verify { home } => verify(&home),
        Command::Repair { home } => repair(&home),
        Command::Bench {
            workload,
            txs_per_org,
            records,
            packs,
            concurrency,
            no_postgres,
            postgres_standbys,
            busy_block_interval_ms,
            keep,
            rate,
            rate_secs,
            idle_secs,
        } => bench::run(bench::BenchOptions {
            rates: rate,
            rate_secs: rate_secs.max(1),
            idle_secs,
            packs,
            busy_block_interval_ms,
            workload,
            txs_per_org,
            records,
            concurrency: concurrency.max(1),
            no_postgres,
            postgres_standbys,
            keep,
        }),
        Command::Tx {
            node,
            key,
            body,
            nonce,
            wait,
        } => tx::submit(&node, &key, &body, nonce, wait),
        Command::VerifyRecord {
            node,
            key,
            genesis,
            resource,
            version,
        } => verify_record::run(&node, &key, &genesis, &resource, version),
        Command::Token { node, key, hours } => {
            println!("{}", client::token(&node, &client::read_key(&key)?, hours)?);
            Ok(())
        }
    }
}
