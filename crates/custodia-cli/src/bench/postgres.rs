//! The records workload against PostgreSQL, for the side-by-side numbers: a
//! throwaway cluster (Debian's `postgresql` package, default durability:
//! `fsync` and `synchronous_commit` on) reachable only on a Unix socket,
//! driven by `pgbench` with as many clients as the chain had requests in
//! flight. A write is one row per resource version; a read selects the row
//! and inserts an audit row, committed before it counts as answered.

use super::{records::Phase, Latencies};
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

/// Writes then reads; `None` when PostgreSQL is not installed.
pub fn run(records: usize, clients: usize, body: &str) -> Result<Option<(Phase, Phase)>> {
    let (Some(initdb), Some(pg_ctl), Some(pgbench)) =
        (binary("initdb"), binary("pg_ctl"), binary("pgbench"))
    else {
        return Ok(None);
    };
    let dir = std::env::temp_dir().join(format!("custodia-bench-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let cluster = Cluster::start(&dir, &initdb, &pg_ctl, clients)?;
    cluster.psql(SCHEMA)?;
    let per_client = records.div_ceil(clients);
    eprintln!(
        "PostgreSQL: {} writes, {clients} clients...",
        per_client * clients
    );
    let writes = cluster.pgbench(
        &pgbench,
        "write",
        WRITE,
        clients,
        per_client,
        &[("body", body)],
    )?;
    let rows = (per_client * clients).to_string();
    eprintln!("PostgreSQL: as many audited reads...");
    let reads = cluster.pgbench(
        &pgbench,
        "read",
        READ,
        clients,
        per_client,
        &[("rows", &rows)],
    )?;
    Ok(Some((writes, reads)))
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

/// A running throwaway cluster; stopped and deleted when dropped.
struct Cluster {
    dir: PathBuf,
    pg_ctl: PathBuf,
    port: u16,
}

impl Cluster {
    fn start(dir: &Path, initdb: &Path, pg_ctl: &Path, clients: usize) -> Result<Self> {
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
        };
        // Unix socket only (no TCP listener); durability left at its
        // defaults, stated explicitly.
        let options = format!(
            "-p {port} -k {} -c listen_addresses='' -c fsync=on -c synchronous_commit=on -c max_connections={}",
            dir.display(),
            clients + 10
        );
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
        let Some(psql) = binary("psql") else {
            bail!("psql not found");
        };
        succeed(
            Command::new(psql)
                .env("PGDATABASE", "postgres")
                .args(self.connection())
                .args(["-q", "-v", "ON_ERROR_STOP=1", "-c", sql]),
        )
        .context("creating the schema")?;
        Ok(())
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
        per_client: usize,
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
            .args(["-c", &clients.to_string(), "-t", &per_client.to_string()])
            .arg("-f")
            .arg(&script_path)
            .arg("-l")
            .arg(format!("--log-prefix={}", log_prefix.display()));
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

    /// pgbench's `-l` log: `client transaction latency_us script epoch us`.
    fn logged_latencies(&self, name: &str) -> Result<Vec<Duration>> {
        let mut latencies = Vec::new();
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
                if let Some(us) = line.split_whitespace().nth(2).and_then(|t| t.parse().ok()) {
                    latencies.push(Duration::from_micros(us));
                }
            }
        }
        Ok(latencies)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let as_root = running_as_root();
        let _ = as_postgres(as_root, &self.pg_ctl)
            .args(["-D", &self.dir.join("data").to_string_lossy()])
            .args(["-m", "fast", "-w", "stop"])
            .output();
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
