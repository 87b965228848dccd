//! Sample data for `custodia demo`: once the consortium has formed, every
//! plugged-in domain seeds its own (the clinical records' clinicians,
//! patients and records first), through the public API, as an integration
//! would, so a new user can follow the README from the first minute.

use crate::client::get_json;
use anyhow::{anyhow, bail, Context, Result};
use custodia_engine::domain::{Demo, DemoMember};
use custodia_node::home::Home;
use std::{path::Path, time::Duration};

/// Seed a fresh demo consortium with each plugged-in domain's data (the
/// clinical records first); each part is skipped when the consortium lacks
/// its members.
pub fn seed(dir: &Path) -> Result<()> {
    await_first_block(dir)?;
    let demo = demo(dir)?;
    for domain in custodia_node::domains::all::<custodia_node::domains::NodeContext>() {
        domain
            .seed_demo(&demo)
            .with_context(|| format!("seeding the demo's {} data", domain.name()))?;
    }
    Ok(())
}

/// The consortium's genesis file.
fn genesis(dir: &Path) -> Result<custodia_types::Genesis> {
    let text = std::fs::read_to_string(Home::genesis_path(dir)).context("reading genesis.toml")?;
    Ok(custodia_types::Genesis::from_toml(&text)?)
}

/// The consortium in `dir` as the domains see it: every member's node.
fn demo(dir: &Path) -> Result<Demo> {
    let genesis = genesis(dir)?;
    let members = genesis
        .members
        .iter()
        .map(|member| {
            let org = member.id.as_str().to_string();
            let home = dir.join(&org);
            let loaded = Home::load(&home)?;
            let member = DemoMember {
                api: format!("http://{}", loaded.config.api),
                admin_key: loaded.admin_key,
                home,
            };
            Ok((org, member))
        })
        .collect::<Result<_>>()?;
    Ok(Demo {
        dir: dir.to_path_buf(),
        members,
    })
}

/// Wait (up to a minute) until the consortium has finalized a block.
fn await_first_block(dir: &Path) -> Result<()> {
    let genesis = genesis(dir)?;
    let first = genesis
        .members
        .first()
        .ok_or_else(|| anyhow!("genesis names no members"))?;
    let node = format!(
        "http://{}",
        Home::load(&dir.join(first.id.as_str()))?.config.api
    );
    for _ in 0..600 {
        if get_json(&node, "/v1/status").is_ok_and(|s| s["finalized_height"].as_u64() >= Some(1)) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the consortium finalized no block within a minute; see <dir>/<org>/node.log")
}
