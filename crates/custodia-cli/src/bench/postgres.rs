//! The records workload against PostgreSQL, for the side-by-side numbers: a
//! throwaway cluster (Debian's `postgresql` package, default durability:
//! `fsync` and `synchronous_commit` on) reachable only on a Unix socket,
//! driven by `pgbench` with as many clients as the chain had requests in
//! flight. A write is one row per resource version; a read selects the row
//! and inserts an audit row, committed before it counts as answered.
//!
//! With standbys, the primary streams its log to that many hot standbys on
//! the same machine and a commit waits until every one of them has flushed
//! it (`synchronous_standby_names = 'FIRST n (...)'`): a central database
//! keeping as many copies of each row as the consortium keeps of each write.

use super::{rate::RateRun, records::Phase, Latencies};
use anyhow::{bail, Context, Result};
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

const SCHEMA: &str = "
CREATE TABLE resource_version (
    seq           bigserial PRIMARY KEY,
    resource_type text        NOT NULL,
    id            uuid        NOT NULL,
    version       integer     NOT NULL,
    patient       text        NOT NULL,
    author        text        NOT NULL,
    custodian     text        NOT NULL,
    body          jsonb       NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (resource_type, id, version)
);
CREATE INDEX ON resource_version (patient);
CREATE TABLE audit_event (
    seq           bigserial PRIMARY KEY,
    agent         text        NOT NULL,
    org           text        NOT NULL,
    patient       text        NOT NULL,
    resource_type text        NOT NULL,
    id            uuid        NOT NULL,
    version       integer     NOT NULL,
    action        text        NOT NULL,
    purpose       text        NOT NULL,
    decision      text        NOT NULL,
    break_glass   boolean     NOT NULL DEFAULT false,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON audit_event (patient);
";

const WRITE: &str = "
\\set p random(1, 60)
INSERT INTO resource_version (resource_type, id, version, patient, author, custodian, body)
VALUES ('Observation', gen_random_uuid(), 1, concat('patient-', :p::int), 'clinician', 'st-mary', :body::jsonb);
";

const READ: &str = "
\\set r random(1, :rows)
BEGIN;
SELECT body FROM resource_version WHERE seq = :r;
INSERT INTO audit_event (agent, org, patient, resource_type, id, version, action, purpose, decision)
SELECT 'clinician', custodian, patient, resource_type, id, version, 'read', 'treatment', 'permit'
FROM resource_version WHERE seq = :r;
COMMIT;
";

/// What to run against PostgreSQL.
pub struct Comparison<'a> {
    /// Rows written, and as many audited reads.
    pub records: usize,
    /// pgbench clients: as many as the chain had requests in flight.
    pub clients: usize,
    /// Synchronous standbys of the primary.
    pub standbys: usize,
    /// The FHIR resource each row holds.
    pub body: &'a str,
    /// Fixed write rates to run after the saturated phases, with their
    /// labels (the chain's, so the rows line up).
    pub rates: &'a [(String, f64)],
    pub rate_secs: u64,
}

/// What PostgreSQL measured.
pub struct Measured {
    pub writes: Phase,
    pub reads: Phase,
    pub at_rates: Vec<RateRun>,
}

/// Writes then reads, then writes at each fixed rate, on a primary with
/// its synchronous standbys; `None` when PostgreSQL is not installed.
pub fn run(comparison: &Comparison) -> Result<Option<Measured>> {
    let Comparison {
        records,
        clients,
        standbys,
        body,
        rates,
        rate_secs,
    } = *comparison;
    let Some((cluster, pgbench)) = Cluster::with_standbys(clients, standbys)? else {
        return Ok(None);
    };
    cluster.psql(SCHEMA)?;
    let per_client = records.div_ceil(clients);
    eprintln!(
        "PostgreSQL: {} writes, {clients} clients...",
        per_client * clients
    );
    let bench = |name: &str, script: &str, length: Length, variables: &[(&str, &str)]| {
        cluster.pgbench(&pgbench, name, script, clients, length, variables)
    };
    let writes = bench(
        "write",
        WRITE,
        Length::PerClient(per_client),
        &[("body", body)],
    )?;
    let rows = (per_client * clients).to_string();
    eprintln!("PostgreSQL: as many audited reads...");
    let reads = bench(
        "read",
        READ,
        Length::PerClient(per_client),
        &[("rows", &rows)],
    )?;
    let mut at_rates = Vec::new();
    for (index, (label, rate)) in rates.iter().enumerate() {
        eprintln!("PostgreSQL: writes at {label} for {rate_secs} s...");
        let phase = bench(
            &format!("rate{index}"),
            WRITE,
            Length::Rate(*rate, rate_secs),
            &[("body", body)],
        )?;
        at_rates.push(RateRun {
            label: label.clone(),
            done: phase.done,
            failed: phase.failed,
            first_error: None,
            seconds: rate_secs as f64,
            latencies: phase.latencies,
        });
    }
    Ok(Some(Measured {
        writes,
        reads,
        at_rates,
    }))
}

const INGEST_SCHEMA: &str = "
CREATE TABLE identifier (
    resource_type text NOT NULL,
    system        text NOT NULL,
    value         text NOT NULL,
    id            uuid NOT NULL
);
CREATE INDEX ON identifier (resource_type, value);
CREATE SEQUENCE mrn;
";

/// One patient's bundle in one transaction: the patient with its
/// identifier row, and the rest of the bundle's resources. (pgbench reads
/// `:name` even inside a string literal, so the system is a variable.)
const INGEST: &str = "
BEGIN;
WITH p AS (
    INSERT INTO resource_version (resource_type, id, version, patient, author, custodian, body)
    VALUES ('Patient', gen_random_uuid(), 1, concat('MRN-', nextval('mrn')), 'clinician', 'st-mary', :patient::jsonb)
    RETURNING id, patient
)
INSERT INTO identifier SELECT 'Patient', :system::text, patient, id FROM p;
INSERT INTO resource_version (resource_type, id, version, patient, author, custodian, body)
SELECT 'Observation', gen_random_uuid(), 1, concat('MRN-', currval('mrn')), 'clinician', 'st-mary', :resource::jsonb
FROM generate_series(2, :per_bundle);
COMMIT;
";

/// A patient found by identifier, and the audit row of the lookup.
const FIND: &str = "
\\set p random(1, :patients)
BEGIN;
SELECT v.body FROM identifier i
JOIN resource_version v ON v.resource_type = 'Patient' AND v.id = i.id AND v.version = 1
WHERE i.resource_type = 'Patient' AND i.value = concat('MRN-', :p::int);
INSERT INTO audit_event (agent, org, patient, resource_type, id, version, action, purpose, decision)
SELECT 'clinician', 'st-mary', i.value, 'Patient', i.id, 1, 'search', 'treatment', 'permit'
FROM identifier i WHERE i.resource_type = 'Patient' AND i.value = concat('MRN-', :p::int);
COMMIT;
";

/// The ingest workload's rows: bundles as transactions, then lookups.
pub struct IngestComparison<'a> {
    pub patients: usize,
    pub clients: usize,
    pub standbys: usize,
    pub searches: usize,
    /// The Patient each bundle's first row holds, and the resource of
    /// its other rows.
    pub patient: &'a str,
    pub resource: &'a str,
    pub per_bundle: usize,
    /// The identifier system of the patients' record numbers.
    pub system: &'a str,
}

pub struct IngestMeasured {
    pub bundles: Phase,
    /// When each bundle committed, since the first began.
    pub ends: Vec<Duration>,
    pub searches: Phase,
}

/// The ingest workload on a primary with its synchronous standbys;
/// `None` when PostgreSQL is not installed.
pub fn ingest(comparison: &IngestComparison) -> Result<Option<IngestMeasured>> {
    let clients = comparison.clients.min(comparison.patients).max(1);
    let Some((cluster, pgbench)) = Cluster::with_standbys(clients, comparison.standbys)? else {
        return Ok(None);
    };
    cluster.psql(SCHEMA)?;
    cluster.psql(INGEST_SCHEMA)?;
    let per_client = comparison.patients.div_ceil(clients);
    eprintln!(
        "PostgreSQL: {} bundles of {} rows, {clients} clients...",
        per_client * clients,
        comparison.per_bundle
    );
    let per_bundle = comparison.per_bundle.to_string();
    let bundles = cluster.pgbench(
        &pgbench,
        "ingest",
        INGEST,
        clients,
        Length::PerClient(per_client),
        &[
            ("patient", comparison.patient),
            ("resource", comparison.resource),
            ("per_bundle", &per_bundle),
            ("system", comparison.system),
        ],
    )?;
    let logged = cluster.logged("ingest")?;
    let began = logged.iter().map(|(latency, end)| *end - *latency).min();
    let ends = match began {
        Some(began) => logged.iter().map(|(_, end)| *end - began).collect(),
        None => Vec::new(),
    };
    let searches = comparison.searches.div_ceil(clients);
    eprintln!("PostgreSQL: {} identifier lookups...", searches * clients);
    let patients = (per_client * clients).to_string();
    let searches = cluster.pgbench(
        &pgbench,
        "find",
        FIND,
        clients,
        Length::PerClient(searches),
        &[("patients", &patients)],
    )?;
    Ok(Some(IngestMeasured {
        bundles,
        ends,
        searches,
    }))
}

/// How long a pgbench run lasts.
#[derive(Clone, Copy)]
enum Length {
    /// This many transactions per client, as fast as they go.
    PerClient(usize),
    /// Transactions a second (pgbench's Poisson schedule) for this many
    /// seconds; latency then counts from each one's scheduled start.
    Rate(f64, u64),
}

/// A PostgreSQL program: on PATH, or in Debian's versioned directory.
fn binary(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name));
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin").join(name));
    on_path.chain(debian).find(|p| p.is_file())
}

/// A running throwaway cluster (a primary and its standbys); stopped and
/// deleted when dropped.
struct Cluster {
    dir: PathBuf,
    pg_ctl: PathBuf,
    port: u16,
    /// The standbys' data directories, started after the primary.
    standbys: Vec<PathBuf>,
}

/// What a standby streaming from the primary is called there.
fn standby_name(index: usize) -> String {
    format!("standby{index}")
}

impl Cluster {
    /// A primary and `standbys` synchronous standbys, with `clients`
    /// connection slots, and pgbench; `None` when PostgreSQL is missing.
    fn with_standbys(clients: usize, standbys: usize) -> Result<Option<(Self, PathBuf)>> {
        let (Some(initdb), Some(pg_ctl), Some(pgbench)) =
            (binary("initdb"), binary("pg_ctl"), binary("pgbench"))
        else {
            return Ok(None);
        };
        let dir = std::env::temp_dir().join(format!("custodia-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let mut cluster = Self::start(&dir, &initdb, &pg_ctl, clients, standbys)?;
        if standbys > 0 {
            let Some(basebackup) = binary("pg_basebackup") else {
                bail!("pg_basebackup not found: it copies the primary to make standbys");
            };
            eprintln!("PostgreSQL: copying the primary to {standbys} synchronous standbys...");
            cluster.add_standbys(&basebackup, standbys, clients)?;
        }
        Ok(Some((cluster, pgbench)))
    }

    fn start(
        dir: &Path,
        initdb: &Path,
        pg_ctl: &Path,
        clients: usize,
        standbys: usize,
    ) -> Result<Self> {
        let data = dir.join("data");
        // PostgreSQL refuses to run as root: hand the directory to the
        // `postgres` account the Debian package creates.
        let as_root = running_as_root();
        if as_root {
            let (uid, gid) = postgres_account()?;
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
        }
        let port = super::free_ports(1)?;
        succeed(as_postgres(as_root, initdb).args([
            "-D",
            &data.to_string_lossy(),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]))
        .context("initdb")?;
        let cluster = Self {
            dir: dir.to_path_buf(),
            pg_ctl: pg_ctl.to_path_buf(),
            port,
            standbys: Vec::new(),
        };
        // Unix socket only (no TCP listener); durability left at its
        // defaults, stated explicitly.
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses='' -c fsync=on -c synchronous_commit=on -c max_connections={}",
            dir.display(),
            clients + 10
        );
        if standbys > 0 {
            let names: Vec<String> = (1..=standbys).map(standby_name).collect();
            options.push_str(&format!(
                " -c wal_level=replica -c max_wal_senders={} -c synchronous_standby_names='FIRST {standbys} ({})'",
                standbys + 2,
                names.join(",")
            ));
        }
        succeed(as_postgres(as_root, pg_ctl).args([
            "-D",
            &data.to_string_lossy(),
            "-o",
            &options,
            "-l",
            &dir.join("postgres.log").to_string_lossy(),
            "-w",
            "start",
        ]))
        .context("starting PostgreSQL")?;
        Ok(cluster)
    }

    fn psql(&self, sql: &str) -> Result<()> {
        self.query(sql).context("creating the schema").map(|_| ())
    }

    /// What `sql` prints, unaligned and without headers.
    fn query(&self, sql: &str) -> Result<String> {
        let Some(psql) = binary("psql") else {
            bail!("psql not found");
        };
        let output = succeed(
            Command::new(psql)
                .env("PGDATABASE", "postgres")
                .args(self.connection())
                .args(["-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]),
        )?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Copy the primary into `count` hot standbys, start them streaming
    /// from it, and wait until the primary counts every one as synchronous.
    fn add_standbys(&mut self, basebackup: &Path, count: usize, clients: usize) -> Result<()> {
        let as_root = running_as_root();
        let ports = super::free_ports(count as u16)?;
        for index in 1..=count {
            let data = self.dir.join(standby_name(index));
            succeed(as_postgres(as_root, basebackup).args([
                "-h",
                &self.dir.to_string_lossy(),
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &data.to_string_lossy(),
                "--write-recovery-conf",
                "--no-sync",
            ]))
            .context("pg_basebackup")?;
            // Later lines win: the connection pg_basebackup wrote, now
            // under the name the primary waits for.
            let conninfo = format!(
                "\nprimary_conninfo = 'host={} port={} user=postgres application_name={}'\n",
                self.dir.display(),
                self.port,
                standby_name(index)
            );
            let auto = data.join("postgresql.auto.conf");
            let mut config = std::fs::read_to_string(&auto)?;
            config.push_str(&conninfo);
            std::fs::write(&auto, config)?;
            let port = ports + index as u16 - 1;
            // A hot standby needs at least the primary's connection slots.
            let options = format!(
                "-p {port} -k {} -c listen_addresses='' -c max_connections={}",
                self.dir.display(),
                clients + 10
            );
            succeed(
                as_postgres(as_root, &self.pg_ctl).args([
                    "-D",
                    &data.to_string_lossy(),
                    "-o",
                    &options,
                    "-l",
                    &self
                        .dir
                        .join(format!("{}.log", standby_name(index)))
                        .to_string_lossy(),
                    "-w",
                    "start",
                ]),
            )
            .with_context(|| format!("starting {}", standby_name(index)))?;
            self.standbys.push(data);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let synchronous =
                self.query("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'")?;
            if synchronous == count.to_string() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                bail!("only {synchronous} of {count} standbys became synchronous in 60 s");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn connection(&self) -> Vec<String> {
        vec![
            "-h".into(),
            self.dir.display().to_string(),
            "-p".into(),
            self.port.to_string(),
            "-U".into(),
            "postgres".into(),
        ]
    }

    /// Run `script` with `clients` connections, `per_client` transactions
    /// each; throughput from pgbench, latencies from its per-transaction log.
    fn pgbench(
        &self,
        pgbench: &Path,
        name: &str,
        script: &str,
        clients: usize,
        length: Length,
        variables: &[(&str, &str)],
    ) -> Result<Phase> {
        let script_path = self.dir.join(format!("{name}.sql"));
        std::fs::write(&script_path, script)?;
        let log_prefix = self.dir.join(name);
        let mut command = Command::new(pgbench);
        command
            .env("PGDATABASE", "postgres")
            .args(self.connection())
            .args(["-n", "-M", "prepared", "-j", "2"])
            .args(["-c", &clients.to_string()])
            .arg("-f")
            .arg(&script_path)
            .arg("-l")
            .arg(format!("--log-prefix={}", log_prefix.display()));
        match length {
            Length::PerClient(count) => command.args(["-t", &count.to_string()]),
            Length::Rate(rate, secs) => {
                command.args(["-R", &format!("{rate:.0}"), "-T", &secs.to_string()])
            }
        };
        for (key, value) in variables {
            command.arg("-D").arg(format!("{key}={value}"));
        }
        let started = super::cpu::now();
        let output = succeed(&mut command).with_context(|| format!("pgbench ({name})"))?;
        let cpu = super::cpu::Use::since(started);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let tps = stdout
            .lines()
            .find_map(|line| line.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
            .with_context(|| format!("no tps in pgbench's output:\n{stdout}"))?;
        let failed = stdout
            .lines()
            .find_map(|line| line.strip_prefix("number of failed transactions: "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let latencies = self.logged_latencies(name)?;
        let done = latencies.len();
        Ok(Phase {
            done,
            failed,
            first_error: None,
            seconds: done as f64 / tps.max(1e-9),
            latencies: Latencies::new(latencies),
            cpu,
        })
    }

    /// pgbench's `-l` log: `client transaction latency_us script epoch us
    /// [schedule_lag]`; under `--rate` the latency already counts from the
    /// scheduled start (the lag is part of it).
    fn logged_latencies(&self, name: &str) -> Result<Vec<Duration>> {
        Ok(self
            .logged(name)?
            .into_iter()
            .map(|(latency, _)| latency)
            .collect())
    }

    /// Each logged transaction's latency and when it ended (since the
    /// epoch).
    fn logged(&self, name: &str) -> Result<Vec<(Duration, Duration)>> {
        let mut transactions = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let is_log = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}.")) && !n.ends_with(".sql"));
            if !is_log {
                continue;
            }
            for line in std::fs::read_to_string(&path)?.lines() {
                let fields: Vec<u64> = line
                    .split_whitespace()
                    .filter_map(|t| t.parse().ok())
                    .collect();
                if let [_, _, latency_us, _, epoch, us, ..] = fields[..] {
                    transactions.push((
                        Duration::from_micros(latency_us),
                        Duration::from_secs(epoch) + Duration::from_micros(us),
                    ));
                }
            }
        }
        Ok(transactions)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let as_root = running_as_root();
        // The primary first: stopped, it waits for no standby.
        let primary = self.dir.join("data");
        for data in std::iter::once(&primary).chain(&self.standbys) {
            let _ = as_postgres(as_root, &self.pg_ctl)
                .args(["-D", &data.to_string_lossy()])
                .args(["-m", "fast", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The uid and gid of the `postgres` account.
fn postgres_account() -> Result<(u32, u32)> {
    // SAFETY: getpwnam with a NUL-terminated name; the record is read at once.
    let entry = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
    if entry.is_null() {
        bail!("running as root and there is no `postgres` account to run PostgreSQL as");
    }
    // SAFETY: non-null, just returned by getpwnam.
    let entry = unsafe { &*entry };
    Ok((entry.pw_uid, entry.pw_gid))
}

fn as_postgres(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn succeed(command: &mut Command) -> Result<Output> {
    let output = command
        .output()
        .with_context(|| format!("running {:?}", command.get_program()))?;
    if !output.status.success() {
        bail!(
            "{:?} failed ({}): {}{}",
            command.get_program(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// Whether this process runs as root (PostgreSQL refuses to).
fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions, touches no memory and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
