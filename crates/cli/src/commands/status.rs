//! `brickyard status`: is the cluster healthy? Hosts and agents from the store, peers from
//! the agents' records, volumes, bricks and heal from one live host's glusterd.

use anyhow::{Context as _, Result};
use brickyard_observe::{Observed, assess, gather};
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
    gather(store.as_ref(), brickyard_observe::GLUSTER_TIMEOUT)
        .await
        .with_context(|| format!("read the cluster's state from {}", store.endpoint()))
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
                            match v.bricks_online {
                                Some(n) => format!("{n}/{}", v.bricks),
                                None if v.status == "Started" => {
                                    format!("?/{} (could not ask)", v.bricks)
                                }
                                None => format!("-/{}", v.bricks),
                            },
                            match v.heal_pending {
                                Some(n) => n.to_string(),
                                None if v.unknown.iter().any(|u| u.starts_with("heal:")) => {
                                    "?".into()
                                }
                                None => "-".into(),
                            },
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
            for n in &health.notes {
                println!("not known yet: {n}");
            }
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
