//! `custodia init`: a genesis and one home directory per organisation.

use crate::{config::Config, home::Home, home::HomeError};
use commonware_cryptography::Signer as _;
use custodia_types::{generate_key, Genesis, Member, OrgId, OrgRole, Params};
use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
};

/// The organisations a demo consortium is made of, in order.
const DEMO_ORGS: &[(&str, &str, OrgRole)] = &[
    ("st-mary", "St Mary's Hospital", OrgRole::Provider),
    ("riverside-clinic", "Riverside Clinic", OrgRole::Provider),
    (
        "northwind-health",
        "Northwind Health Insurance",
        OrgRole::Payer,
    ),
    (
        "health-authority",
        "National Health Authority",
        OrgRole::Regulator,
    ),
    ("acme-pharma", "Acme Pharmaceuticals", OrgRole::Manufacturer),
    (
        "medline-logistics",
        "Medline Logistics",
        OrgRole::Distributor,
    ),
    ("corner-pharmacy", "Corner Pharmacy", OrgRole::Pharmacy),
    (
        "oncology-trials",
        "Oncology Trials Group",
        OrgRole::ResearchSponsor,
    ),
    ("harbour-pharmacy", "Harbour Pharmacy", OrgRole::Pharmacy),
];

/// How to lay out a new consortium.
#[derive(Clone, Debug)]
pub struct InitOptions {
    pub chain_id: String,
    pub orgs: usize,
    /// Which of the demo organisations comes first (0 = st-mary): a
    /// consortium of, say, only the supply chain's members starts later in
    /// the list.
    pub first_org: usize,
    pub host: IpAddr,
    pub p2p_base_port: u16,
    pub api_base_port: u16,
    pub params: Params,
    pub genesis_time_ms: u64,
    /// Each node's state cache (`state_cache_mib` in its config.toml).
    pub state_cache_mib: usize,
}

impl InitOptions {
    pub fn new(orgs: usize) -> Self {
        Self {
            chain_id: "custodia-local".into(),
            orgs,
            first_org: 0,
            host: IpAddr::from([127, 0, 0, 1]),
            p2p_base_port: 30400,
            api_base_port: 8400,
            params: Params::default(),
            genesis_time_ms: 0,
            state_cache_mib: crate::config::DEFAULT_STATE_CACHE_MIB,
        }
    }
}

/// One initialised organisation.
#[derive(Clone, Debug)]
pub struct InitializedOrg {
    pub id: OrgId,
    pub home: PathBuf,
    pub api: SocketAddr,
}

/// Write `dir/genesis.toml` and `dir/<org>/` for each organisation.
pub fn init_consortium(
    dir: &Path,
    options: &InitOptions,
) -> Result<Vec<InitializedOrg>, HomeError> {
    if Home::genesis_path(dir).exists() {
        return Err(HomeError::Invalid {
            path: dir.to_path_buf(),
            message: "already holds a consortium (genesis.toml); refusing to overwrite it".into(),
        });
    }
    let mut members = Vec::with_capacity(options.orgs);
    let mut keys = Vec::with_capacity(options.orgs);
    for i in 0..options.orgs {
        let (id, name, role) = match DEMO_ORGS.get(options.first_org + i) {
            Some((id, name, role)) => ((*id).to_string(), (*name).to_string(), *role),
            None => (
                format!("org-{}", options.first_org + i),
                format!("Organisation {}", options.first_org + i),
                OrgRole::Provider,
            ),
        };
        let (validator, admin) = (generate_key(), generate_key());
        let port = |base: u16| base.checked_add(i as u16).expect("port range fits in u16");
        members.push(Member {
            id: OrgId::new(id).expect("demo org ids are valid"),
            name,
            role,
            admin_key: admin.public_key(),
            validator_key: validator.public_key(),
            p2p: SocketAddr::new(options.host, port(options.p2p_base_port)),
            api: Some(SocketAddr::new(options.host, port(options.api_base_port))),
        });
        keys.push((validator, admin));
    }
    let genesis = Genesis {
        chain_id: options.chain_id.clone(),
        genesis_time_ms: options.genesis_time_ms,
        params: options.params.clone(),
        members,
    };
    genesis.validate().map_err(|e| HomeError::Invalid {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    std::fs::create_dir_all(dir).map_err(|source| HomeError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    std::fs::write(Home::genesis_path(dir), genesis.to_toml()).map_err(|source| {
        HomeError::Write {
            path: Home::genesis_path(dir),
            source,
        }
    })?;
    let mut orgs = Vec::with_capacity(options.orgs);
    for (member, (validator, admin)) in genesis.members.iter().zip(keys) {
        let home = dir.join(member.id.as_str());
        let api = member.api.expect("set above");
        Home::create(
            &home,
            &Config {
                state_cache_mib: options.state_cache_mib,
                ..Config::new(member.id.as_str(), api)
            },
            &genesis,
            &validator,
            &admin,
        )?;
        orgs.push(InitializedOrg {
            id: member.id.clone(),
            home,
            api,
        });
    }
    Ok(orgs)
}

/// An organisation joining a running consortium (`custodia join`).
#[derive(Clone, Debug)]
pub struct Joiner {
    pub id: OrgId,
    pub name: String,
    pub role: OrgRole,
    /// Where its validator listens for peers: in the proposal, and in its
    /// config (genesis does not list it).
    pub p2p: SocketAddr,
    pub api: SocketAddr,
}

/// Write `dir` as the home of an organisation that governance is yet to
/// add: fresh keys, a config naming its own p2p address, and the
/// consortium's genesis (a joiner follows the chain from its start). The
/// member record the consortium must vote in.
pub fn prepare_joiner(dir: &Path, genesis: &Genesis, joiner: &Joiner) -> Result<Member, HomeError> {
    if genesis.members.iter().any(|m| m.id == joiner.id) {
        return Err(HomeError::Invalid {
            path: dir.to_path_buf(),
            message: format!(
                "{} is a member in genesis already; its home comes from `custodia init`",
                joiner.id
            ),
        });
    }
    let (validator, admin) = (generate_key(), generate_key());
    let config = Config {
        p2p: Some(joiner.p2p),
        ..Config::new(joiner.id.as_str(), joiner.api)
    };
    Home::create(dir, &config, genesis, &validator, &admin)?;
    Ok(Member {
        id: joiner.id.clone(),
        name: joiner.name.clone(),
        role: joiner.role,
        admin_key: admin.public_key(),
        validator_key: validator.public_key(),
        p2p: joiner.p2p,
        api: Some(joiner.api),
    })
}

/// Ports below this are left to well-known services.
const LOWEST_PICKED_PORT: u16 = 10_000;

/// The start of a run of `count` consecutive loopback ports that are free
/// now, for a throwaway consortium (benchmarks, end-to-end tests).
///
/// The run lies below the kernel's ephemeral range: outgoing connections,
/// such as nodes dialling each other while they start, take their local
/// port from that range and could otherwise claim a port a node has yet to
/// bind. Successive calls in one process walk the range from a per-process
/// starting point, so concurrent callers do not pick the same run.
pub fn free_loopback_ports(count: u16) -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CURSOR: AtomicU32 = AtomicU32::new(0);

    let ceiling = match ephemeral_floor() {
        Some(floor) if floor >= LOWEST_PICKED_PORT + 1_024 => floor,
        // The kernel may hand out (almost) any port: none is safe from it.
        Some(_) => u16::MAX,
        None => 32_768,
    };
    let span = u32::from(ceiling.saturating_sub(LOWEST_PICKED_PORT));
    let count32 = u32::from(count);
    if count == 0 || span < count32 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("cannot pick {count} consecutive ports below {ceiling}"),
        ));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let start = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
    for _ in 0..1_000 {
        // The range is cut into blocks of `count`; successive calls take
        // successive blocks, which never overlap.
        let offset = start.wrapping_add(CURSOR.fetch_add(count32, Ordering::Relaxed));
        let block = (offset / count32) % (span / count32);
        let base = LOWEST_PICKED_PORT + (block * count32) as u16;
        if (base..base + count).all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        {
            return Ok(base);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrNotAvailable,
        format!("no run of {count} free ports on 127.0.0.1 below {ceiling}"),
    ))
}

/// The lowest port the kernel hands out on its own (Linux; elsewhere the
/// caller's default applies).
fn ephemeral_floor() -> Option<u16> {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_loadable_homes_and_refuses_to_overwrite() {
        let dir = std::env::temp_dir().join(format!("custodia-init-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let orgs = init_consortium(&dir, &InitOptions::new(4)).unwrap();
        assert_eq!(orgs.len(), 4);
        for org in &orgs {
            let home = Home::load(&org.home).unwrap();
            assert_eq!(home.member().unwrap().id, org.id);
            assert_eq!(home.config.api, org.api);
        }
        let genesis = std::fs::read(Home::genesis_path(&dir)).unwrap();
        let err = init_consortium(&dir, &InitOptions::new(4)).unwrap_err();
        assert!(err.to_string().contains("refusing to overwrite"));
        assert_eq!(std::fs::read(Home::genesis_path(&dir)).unwrap(), genesis);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn free_ports_are_bindable_below_the_ephemeral_range_and_not_repeated() {
        let floor = ephemeral_floor()
            .filter(|floor| *floor >= LOWEST_PICKED_PORT + 1_024)
            .unwrap_or(u16::MAX);
        let first = free_loopback_ports(4).unwrap();
        let second = free_loopback_ports(4).unwrap();
        for base in [first, second] {
            assert!(base >= LOWEST_PICKED_PORT && base + 4 <= floor, "{base}");
            for port in base..base + 4 {
                std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
            }
        }
        assert!(first.abs_diff(second) >= 4, "{first} and {second} overlap");
        assert!(free_loopback_ports(0).is_err());
    }
}
