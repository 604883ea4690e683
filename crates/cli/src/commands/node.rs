//! `brickyard node`: run the node agent, one bootstrap pass, status and health.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use brickyard_agent::{AgentOptions, HostnamePolicy};
use brickyard_model::keys::status_key;
use brickyard_model::records::agent::{AgentState, AgentStatus};
use brickyard_store::configs;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::globals::Globals;
use crate::output::{OutputFormat, print_json, table};

/// `brickyard node ...`
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Run the node agent: bootstrap glusterd from this host's config, keep it running,
    /// publish liveness, and form the trusted pool. Meant as PID 1 of a gluster container
    /// or a systemd service; stops glusterd and its bricks cleanly on SIGTERM/SIGINT.
    Run(RunArgs),
    /// One bootstrap pass without supervising (for debugging): prepare, start glusterd as a
    /// daemon, take one look at the pool, print the status.
    Bootstrap(RunArgs),
    /// Show the agents' liveness and state, as published in the store.
    Status(StatusArgs),
    /// Exit 0 when this host is healthy: glusterd answers and (without --glusterd) the
    /// agent's published state is running. For liveness and readiness probes.
    Health(HealthArgs),
}

/// Arguments of `node run` and `node bootstrap`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// This host's HostName (default: the machine's host name).
    #[arg(long, env = "BRICKYARD_HOST")]
    host: Option<String>,
    /// A copy of the package's files to seed empty directories from: DIR/etc/glusterfs and
    /// DIR/var/lib/glusterd (a container image keeps one, as host directories mounted over
    /// them start empty; brickyard's image sets BRICKYARD_SEED_FROM).
    #[arg(long, value_name = "DIR", env = "BRICKYARD_SEED_FROM")]
    seed_from: Option<PathBuf>,
    /// Never set the host name, even in a UTS namespace of our own.
    #[arg(long)]
    keep_hostname: bool,
}

/// Arguments of `node status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this host.
    #[arg(long)]
    host: Option<String>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `node health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// This host's HostName (default: the machine's host name).
    #[arg(long, env = "BRICKYARD_HOST")]
    host: Option<String>,
    /// Only check that glusterd answers (liveness), not the agent's state (readiness).
    #[arg(long)]
    glusterd: bool,
}

/// Runs a `node` subcommand.
pub async fn run(g: &Globals, cmd: NodeCommand) -> Result<()> {
    match cmd {
        NodeCommand::Run(a) => run_agent(g, a).await,
        NodeCommand::Bootstrap(a) => bootstrap(g, a).await,
        NodeCommand::Status(a) => status(g, a).await,
        NodeCommand::Health(a) => health(g, a).await,
    }
}

fn this_host(host: Option<String>) -> Result<String> {
    let host = match host {
        Some(h) => h,
        None => nix::unistd::gethostname()
            .context("read this machine's host name")?
            .to_string_lossy()
            .into_owned(),
    };
    brickyard_model::names::check_hostname("host name", &host)
        .map_err(|e| anyhow::anyhow!("{e}; pass --host NAME"))?;
    Ok(host)
}

fn options(a: RunArgs) -> Result<AgentOptions> {
    let mut opts = AgentOptions::new(&this_host(a.host)?);
    opts.paths.seed_from = a.seed_from;
    if a.keep_hostname {
        opts.hostname = HostnamePolicy::Never;
    }
    Ok(opts)
}

async fn run_agent(g: &Globals, a: RunArgs) -> Result<()> {
    let opts = options(a)?;
    let store = g.open_store().await?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
        let _ = tx.send(true);
    });
    let host = opts.host.clone();
    brickyard_agent::run(opts, store, rx)
        .await
        .with_context(|| format!("node agent of {host}"))
}

async fn bootstrap(g: &Globals, a: RunArgs) -> Result<()> {
    let opts = options(a)?;
    let store = g.open_store().await?;
    let host = opts.host.clone();
    let status = brickyard_agent::bootstrap_once(opts, store)
        .await
        .with_context(|| format!("bootstrap of {host}"))?;
    print_json(&status)
}

#[derive(Serialize)]
struct NodeRow {
    host: String,
    live: bool,
    #[serde(flatten)]
    status: Option<AgentStatus>,
}

async fn status(g: &Globals, a: StatusArgs) -> Result<()> {
    let store = g.open_store().await?;
    let mut rows: BTreeMap<String, NodeRow> = BTreeMap::new();
    for c in configs::list(store.as_ref())
        .await
        .context("read host configs")?
    {
        let host =
            brickyard_model::keys::name_in(brickyard_model::keys::CONFIG_PREFIX, &c.entry.key)
                .unwrap_or(&c.entry.key)
                .to_owned();
        rows.insert(
            host.clone(),
            NodeRow {
                host,
                live: false,
                status: None,
            },
        );
    }
    let agents = brickyard_observe::agents(store.as_ref())
        .await
        .context("read agent status")?;
    for e in &agents.unreadable {
        eprintln!("warning: {e}");
    }
    for s in agents.live.into_values() {
        rows.insert(
            s.host.clone(),
            NodeRow {
                host: s.host.clone(),
                live: true,
                status: Some(s),
            },
        );
    }
    if let Some(h) = &a.host {
        rows.retain(|k, _| k == h);
        if rows.is_empty() {
            bail!(
                "no config and no live agent for host {h} in {}",
                store.endpoint()
            );
        }
    }
    let rows: Vec<NodeRow> = rows.into_values().collect();
    match a.output {
        OutputFormat::Json => print_json(&rows),
        OutputFormat::Table => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let lines: Vec<Vec<String>> = rows
                .iter()
                .map(|r| match &r.status {
                    None => vec![
                        r.host.clone(),
                        "-".into(),
                        "-".into(),
                        "down (no live agent)".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                    ],
                    Some(s) => vec![
                        r.host.clone(),
                        s.node_name.clone(),
                        s.ip.to_string(),
                        state_text(s.state).into(),
                        s.uuid.clone().unwrap_or_else(|| "-".into()),
                        format!("{}/{}", s.connected_peers(), s.peers.len()),
                        match s.glusterd_pid {
                            Some(pid) => format!("pid {pid}, {} restart(s)", s.glusterd_restarts),
                            None => "not running".into(),
                        },
                        format!("{}s ago", now.saturating_sub(s.updated_at)),
                    ],
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "HOST",
                        "NODE NAME",
                        "IP",
                        "STATE",
                        "UUID",
                        "PEERS",
                        "GLUSTERD",
                        "UPDATED"
                    ],
                    &lines
                )
            );
            for r in &rows {
                if let Some(s) = &r.status {
                    for p in &s.problems {
                        println!("{}: {p}", r.host);
                    }
                }
            }
            Ok(())
        }
    }
}

fn state_text(s: AgentState) -> &'static str {
    match s {
        AgentState::Bootstrapping => "bootstrapping",
        AgentState::StartingGlusterd => "starting glusterd",
        AgentState::Running => "running",
        AgentState::Degraded => "degraded",
        AgentState::Stopping => "stopping",
    }
}

async fn health(g: &Globals, a: HealthArgs) -> Result<()> {
    let gluster = brickyard_gluster::Gluster::new().timeout(Duration::from_secs(10));
    gluster
        .peer_status()
        .await
        .context("glusterd does not answer on this host")?;
    if a.glusterd {
        return Ok(());
    }
    let host = this_host(a.host)?;
    let store = g.open_store().await?;
    let entry = store
        .get(&status_key(&host))
        .await
        .context("read this agent's status")?
        .with_context(|| format!("no live agent status for {host} in {}", store.endpoint()))?;
    let s = AgentStatus::decode(&entry.key, &entry.value)?;
    match s.state {
        AgentState::Running => Ok(()),
        other => bail!(
            "agent of {host} is {}: {}",
            state_text(other),
            s.problems.join("; ")
        ),
    }
}
