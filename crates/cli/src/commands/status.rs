//! `brickyard status`: is the cluster healthy? Hosts and agents from the store, peers from
//! the agents' records, volumes, bricks and heal from one live host's glusterd.

use std::time::Duration;

use anyhow::{Context as _, Result};
use brickyard_agent::health::{Observed, assess};
use brickyard_agent::{AgentState, AgentStatus, ObservedVolumes};
use brickyard_gluster::{Gluster, Target, VolumeState};
use brickyard_model::keys::STATUS_PREFIX;
use brickyard_store::configs;
use clap::Args;

use crate::Reported;
use crate::globals::Globals;
use crate::output::{OutputFormat, print_json, table};

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Gathers what the store and one live glusterd say.
pub async fn observe(g: &Globals) -> Result<Observed> {
    let store = g.open_store().await?;
    let mut o = Observed::default();
    for c in configs::list(store.as_ref())
        .await
        .context("read host configs")?
    {
        let host = c
            .entry
            .key
            .trim_start_matches(brickyard_model::keys::CONFIG_PREFIX)
            .to_owned();
        let ip = c
            .parsed
            .as_ref()
            .map_or_else(|_| "?".to_owned(), |c| c.ip().to_string());
        o.hosts.push((host, ip));
    }
    for e in store
        .list(STATUS_PREFIX)
        .await
        .context("read agent status")?
    {
        if let Ok(s) = serde_json::from_slice::<AgentStatus>(&e.value) {
            o.agents.insert(s.host.clone(), s);
        }
    }
    // Ask the glusterd of live hosts, running ones first, until one answers. Reads over
    // --remote-host work on IP-bound nodes, so nothing needs to run on the hosts.
    let mut candidates: Vec<&AgentStatus> = o.agents.values().collect();
    candidates.sort_by_key(|a| a.state != AgentState::Running);
    let mut errors = Vec::new();
    let mut answered = None;
    for a in candidates {
        let gluster = Gluster::new()
            .target(Target::RemoteHost(a.ip))
            .timeout(Duration::from_secs(15));
        match gluster.volume_info(None).await {
            Ok(v) => {
                answered = Some((gluster, v));
                break;
            }
            Err(e) => errors.push(format!("{} ({}): {e}", a.host, a.ip)),
        }
    }
    match answered {
        Some((gluster, volumes)) => {
            if volumes.iter().any(|v| v.state == VolumeState::Started) {
                o.volume_status = gluster.volume_status(None).await.unwrap_or_default();
            }
            // Heal info only works from inside a host; the pool lock's holder records it.
            if let Ok(Some(e)) = store.get(brickyard_model::keys::OBSERVED_VOLUMES).await
                && let Ok(obs) = serde_json::from_slice::<ObservedVolumes>(&e.value)
            {
                o.heal_pending = obs.heal_pending;
            }
            o.volumes = Some(volumes);
        }
        None if errors.is_empty() => {
            o.gluster_error = Some("no live agent to ask".into());
        }
        None => o.gluster_error = Some(errors.join("; ")),
    }
    Ok(o)
}

/// Runs `status`.
pub async fn run(g: &Globals, a: StatusArgs) -> Result<()> {
    let health = assess(&observe(g).await?);
    match a.output {
        OutputFormat::Json => print_json(&health)?,
        OutputFormat::Table => {
            let hosts: Vec<Vec<String>> = health
                .hosts
                .iter()
                .map(|h| {
                    vec![
                        h.host.clone(),
                        h.ip.clone(),
                        match h.state {
                            Some(s) => format!("{s:?}").to_lowercase(),
                            None => "down".into(),
                        },
                        h.uuid.clone().unwrap_or_else(|| "-".into()),
                        format!("{}/{}", h.peers_connected, h.peers_known),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["HOST", "IP", "AGENT", "UUID", "PEERS CONNECTED"], &hosts)
            );
            if !health.volumes.is_empty() {
                println!();
                let vols: Vec<Vec<String>> = health
                    .volumes
                    .iter()
                    .map(|v| {
                        vec![
                            v.name.clone(),
                            v.kind.clone(),
                            v.status.clone(),
                            format!("{}/{}", v.bricks_online, v.bricks),
                            v.heal_pending.map_or_else(|| "-".into(), |n| n.to_string()),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &["VOLUME", "TYPE", "STATUS", "BRICKS ONLINE", "HEAL PENDING"],
                        &vols
                    )
                );
            }
            println!();
            if health.healthy {
                println!("healthy");
            } else {
                println!("DEGRADED:");
                for p in &health.problems {
                    println!("  - {p}");
                }
            }
        }
    }
    if health.healthy {
        Ok(())
    } else {
        if a.output == OutputFormat::Json {
            for p in &health.problems {
                eprintln!("degraded: {p}");
            }
        }
        Err(Reported.into())
    }
}
