//! `custodia demo`: a whole consortium as local processes.

use anyhow::{Context, Result};
use custodia_node::{
    home::Home,
    init::{init_consortium, InitOptions},
};
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tokio::process::{Child, Command};

struct RunningNode {
    org: String,
    api: String,
    child: Child,
}

/// Each demo node's state cache, in MiB.
const DEMO_STATE_CACHE_MIB: usize = 32;

pub fn run(dir: &Path, orgs: usize) -> Result<()> {
    let fresh = !Home::genesis_path(dir).exists();
    let homes = prepare(dir, orgs)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the demo supervisor")?;
    let seed_dir = fresh.then(|| dir.to_path_buf());
    runtime.block_on(supervise(homes, seed_dir))
}

/// Initialise the consortium on the first run; reuse it afterwards.
fn prepare(dir: &Path, orgs: usize) -> Result<Vec<PathBuf>> {
    if Home::genesis_path(dir).exists() {
        println!("Reusing the consortium in {}", dir.display());
        let genesis = custodia_types::Genesis::from_toml(
            &std::fs::read_to_string(Home::genesis_path(dir)).context("reading genesis.toml")?,
        )?;
        return Ok(genesis
            .members
            .iter()
            .map(|m| dir.join(m.id.as_str()))
            .collect());
    }
    println!(
        "Creating a {orgs}-organisation consortium in {}",
        dir.display()
    );
    let options = InitOptions {
        // Nine nodes share the machine: each gets a smaller state cache
        // than a server would (a demo's state stays small anyway).
        state_cache_mib: DEMO_STATE_CACHE_MIB,
        ..InitOptions::new(orgs)
    };
    let created = init_consortium(dir, &options)?;
    Ok(created.into_iter().map(|org| org.home).collect())
}

async fn supervise(homes: Vec<PathBuf>, seed: Option<PathBuf>) -> Result<()> {
    let exe = std::env::current_exe().context("finding the custodia binary")?;
    let mut nodes = Vec::with_capacity(homes.len());
    for home in &homes {
        let loaded = Home::load(home)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("node.log"))
            .with_context(|| format!("opening {}/node.log", home.display()))?;
        let child = Command::new(&exe)
            .arg("node")
            .arg("--home")
            .arg(home)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the node in {}", home.display()))?;
        nodes.push(RunningNode {
            org: loaded.config.org.clone(),
            api: format!("http://{}", loaded.config.api),
            child,
        });
    }
    println!("\nThe consortium is running. Node APIs:");
    for node in &nodes {
        println!("  {:<20} {}/v1/status", node.org, node.api);
    }
    println!(
        "\nTry:  custodia status --node {}\nLogs: <home>/node.log   Stop: Ctrl-C\n",
        nodes[0].api
    );

    if let Some(dir) = seed {
        match tokio::task::spawn_blocking(move || crate::seed::seed(&dir)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("seeding sample data failed: {error:#}"),
            Err(error) => eprintln!("seeding sample data failed: {error}"),
        }
    }
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let exited = async {
        loop {
            for node in nodes.iter_mut() {
                if let Ok(Some(status)) = node.child.try_wait() {
                    return (node.org.clone(), status);
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => println!("\nStopping the consortium..."),
        _ = sigterm.recv() => println!("Stopping the consortium..."),
        (org, status) = exited => eprintln!("node {org} exited ({status}); stopping the others; see its node.log"),
    }
    stop_all(&mut nodes).await;
    Ok(())
}

/// Ask every node to stop (SIGTERM), then force any that do not within 15 s.
async fn stop_all(nodes: &mut [RunningNode]) {
    for node in nodes.iter() {
        if let Some(pid) = node.child.id() {
            // SAFETY: kill(2) with a pid we spawned and still own.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
    }
    for node in nodes.iter_mut() {
        match tokio::time::timeout(Duration::from_secs(15), node.child.wait()).await {
            Ok(_) => println!("  {} stopped", node.org),
            Err(_) => {
                let _ = node.child.kill().await;
                println!("  {} did not stop in time and was killed", node.org);
            }
        }
    }
}
