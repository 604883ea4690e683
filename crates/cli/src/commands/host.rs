//! `brickyard host prepare`: this host's directories, storage address and brick disks,
//! planned from what is observed and applied step by step. `host drain` and `host replace`:
//! every brick moved off a host.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use brickyard_host::{Action, Plan, PlanOptions, Progress, Step};
use brickyard_store::configs;
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::Reported;
use crate::globals::Globals;
use crate::output::{OutputFormat, print_json};

/// `brickyard host ...`
#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Prepare this host as its config in the store says: directories, IPAddress on its
    /// interface, brick disks formatted (XFS, on LVM thin volumes where LVM works), in fstab
    /// and mounted. Refuses a disk holding data unless ZapDevice is true. Safe to run again.
    Prepare(PrepareArgs),
    /// Move every brick off a host (for maintenance or before it leaves), each as `volume
    /// replace-brick` would: a brick of a replicated or dispersed volume goes to a live host
    /// outside its set and is healed there; a plain distribute brick's files move onto the
    /// volume's bricks. All moves are planned first; when one cannot be placed nothing
    /// changes. Works on a host that is down too, except for plain distribute bricks.
    Drain(DrainArgs),
    /// Rebuild the bricks of a host that will never return on a new host: `host drain DEAD
    /// --to NEW`. NEW needs a live agent and a free brick mount per volume.
    Replace(ReplaceHostArgs),
    /// Remove a host from the cluster for good: its config leaves the store, its address
    /// leaves the other hosts' PeerList, and the pool lock's holder detaches its peer from
    /// gluster's pool. Volumes being deleted with bricks on it finish without it (their
    /// bricks are taken out of gluster's volumes first; it removes the directories if it
    /// ever runs again). Refused while another volume has a brick on it (drain or replace
    /// it first) or while its agent runs. Waits until the peer is detached.
    Remove(RemoveHostArgs),
}

/// Arguments of `host remove`.
#[derive(Debug, Args)]
pub struct RemoveHostArgs {
    /// The host (its HostName).
    host: String,
    #[command(flatten)]
    wait: crate::commands::volume::WaitArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `host drain`.
#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The host to empty (its HostName).
    host: String,
    /// Move every brick to this host; default: placement chooses per brick.
    #[arg(long, value_name = "HOST")]
    to: Option<String>,
    /// Where no host outside a brick's set has room, put it beside another brick of its set
    /// (a host failure then takes two of its copies).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    wait: crate::commands::volume::WaitArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `host replace`.
#[derive(Debug, Args)]
pub struct ReplaceHostArgs {
    /// The host that will not return (its HostName).
    dead: String,
    /// The host that takes its bricks (its HostName).
    new: String,
    #[command(flatten)]
    wait: crate::commands::volume::WaitArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `host prepare`.
#[derive(Debug, Args)]
pub struct PrepareArgs {
    /// The host whose config is used (its HostName); default: this machine's host name.
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// Print the numbered steps with the exact command each runs, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Output format: with --dry-run, `json` prints the steps as a JSON array (empty when
    /// the host is prepared).
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
    /// Resolve every host path (config dirs, fstab, brick mount points) under DIR.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// The interface that gets IPAddress; default: the one holding the default route.
    #[arg(long, value_name = "IFACE")]
    interface: Option<String>,
    /// Put XFS directly on the brick devices even where LVM works.
    #[arg(long)]
    no_lvm: bool,
}

/// Runs a `host` subcommand.
pub async fn run(g: &Globals, cmd: HostCommand) -> Result<()> {
    match cmd {
        HostCommand::Prepare(a) => prepare(g, a).await,
        HostCommand::Drain(a) => {
            drain(g, &a.host, a.to.as_deref(), a.force, &a.wait, a.output).await
        }
        HostCommand::Replace(a) => drain(g, &a.dead, Some(&a.new), false, &a.wait, a.output).await,
        HostCommand::Remove(a) => remove(g, a).await,
    }
}

async fn remove(g: &Globals, a: RemoveHostArgs) -> Result<()> {
    let store = g.open_store().await?;
    let removal = brickyard_volumes::api::remove_host(store.as_ref(), &a.host)
        .await
        .with_context(|| format!("remove host {}", a.host))?;
    eprintln!(
        "host {}: config removed, {} taken out of the other hosts' PeerList; waiting for its peer to be detached",
        a.host, removal.ip
    );
    let left = store
        .list(&brickyard_model::keys::leftover_prefix(&a.host))
        .await
        .context("read the volumes being deleted that finish without it")?;
    let left: Vec<&str> = left
        .iter()
        .filter_map(|e| brickyard_model::keys::leftover_of(&e.key).map(|(_, v)| v))
        .collect();
    if !left.is_empty() {
        eprintln!(
            "host {}: volumes being deleted finish without it: {} (their bricks there leave gluster's volumes first; it removes the directories if it ever runs again)",
            a.host,
            left.join(", ")
        );
    }
    if !a.wait.no_wait {
        let key = brickyard_model::keys::host_removal_key(&a.host);
        let start = std::time::Instant::now();
        let mut changes = brickyard_store::Changes::watch(store.as_ref(), &[&key]).await;
        while store.get(&key).await.context("read the removal")?.is_some() {
            if start.elapsed().as_secs() > a.wait.timeout {
                bail!(
                    "host {}: its peer is not detached within {}s; the removal stays in the store and the pool lock's holder keeps trying (its log says why)",
                    a.host,
                    a.wait.timeout
                );
            }
            changes.next(std::time::Duration::from_secs(1)).await;
        }
    }
    match a.output {
        OutputFormat::Json => print_json(&removal),
        OutputFormat::Table => {
            println!(
                "host {} is removed from the cluster{}",
                a.host,
                if a.wait.no_wait {
                    " (asked; the pool lock's holder detaches its peer)"
                } else {
                    ""
                }
            );
            Ok(())
        }
    }
}

async fn drain(
    g: &Globals,
    host: &str,
    to: Option<&str>,
    force: bool,
    wait: &crate::commands::volume::WaitArgs,
    output: OutputFormat,
) -> Result<()> {
    let store = g.open_store().await?;
    let requested = crate::commands::volume::epoch();
    let moves = brickyard_volumes::api::drain_host(store.as_ref(), host, to, force)
        .await
        .with_context(|| format!("drain host {host}"))?;
    for m in &moves {
        eprintln!(
            "volume {}: moving brick {}:{} to {}:{}",
            m.record.name, m.from.host, m.from.path, m.to.host, m.to.path
        );
    }
    let mut volumes: Vec<String> = moves.iter().map(|m| m.record.name.clone()).collect();
    volumes.dedup();
    crate::commands::volume::follow_moves(store.as_ref(), &volumes, wait, requested).await?;
    match output {
        OutputFormat::Json => print_json(&moves),
        OutputFormat::Table => {
            if moves.is_empty() {
                println!("host {host} holds no brick: nothing to move");
            } else {
                println!(
                    "host {host} is drained: {} brick(s) of {} volume(s) moved{}",
                    moves.len(),
                    volumes.len(),
                    if wait.no_wait {
                        " (asked; the agents carry it out)"
                    } else {
                        " and healed"
                    }
                );
            }
            Ok(())
        }
    }
}

#[derive(Serialize)]
struct Applied {
    number: usize,
    status: &'static str,
    #[serde(flatten)]
    step: Step,
}

async fn prepare(g: &Globals, a: PrepareArgs) -> Result<()> {
    let host = match a.host {
        Some(h) => h,
        None => brickyard_host::hostname().context("find this machine's host name")?,
    };
    let store = g.open_store().await?;
    let stored = configs::get(store.as_ref(), &host)
        .await
        .with_context(|| format!("read the config of {host}"))?;
    let Some(stored) = stored else {
        bail!(
            "no config for host {host} in {}; load one with `brickyard config load FILE`, or name the host with --host",
            store.endpoint()
        );
    };
    let desired = match stored.parsed {
        Ok(c) => c,
        Err(report) => {
            for issue in report.errors() {
                eprintln!("error: {issue}");
            }
            eprintln!(
                "error: the config of {host} in the store is invalid; fix it and load it again"
            );
            return Err(Reported.into());
        }
    };
    if !a.root.is_absolute() {
        bail!(
            "--root {} is not an absolute path; give the directory as /...",
            a.root.display()
        );
    }
    let root = std::fs::canonicalize(&a.root)
        .with_context(|| format!("--root {}: the directory must exist", a.root.display()))?;
    let opts = PlanOptions {
        root,
        interface: a.interface,
        no_lvm: a.no_lvm,
    };
    let facts = brickyard_host::gather(&desired, &opts)
        .await
        .with_context(|| format!("inspect host {host}"))?;
    let json = a.output == OutputFormat::Json;
    let plan = match brickyard_host::plan(&desired, &facts, &opts) {
        Ok(plan) => plan,
        Err(refusal) => {
            for note in &refusal.notes {
                eprintln!("note: {note}");
            }
            for problem in &refusal.problems {
                eprintln!("error: {problem}");
            }
            eprintln!("error: host {host} was not prepared; nothing was changed");
            return Err(Reported.into());
        }
    };
    // Notes go to stderr with JSON so that stdout stays one JSON document.
    let note = |text: &str| {
        if json {
            eprintln!("note: {text}");
        } else {
            println!("note: {text}");
        }
    };
    for n in &plan.notes {
        note(n);
    }
    if a.dry_run {
        if json {
            return print_json(&plan.steps);
        }
        print_plan(&host, &plan);
        return Ok(());
    }
    if plan.is_empty() {
        if json {
            return print_json(&Vec::<Applied>::new());
        }
        println!("host {host} is prepared: nothing to do");
        return Ok(());
    }
    let total = plan.steps.len();
    let mut applied: Vec<Applied> = Vec::new();
    let result = brickyard_host::apply(&plan, |p| match p {
        Progress::Started { number, step } if !json => {
            println!("[{number}/{total}] {}", step.description);
            println!("      $ {}", step.shown());
        }
        Progress::Started { .. } => {}
        Progress::Done { number, step } => {
            if json {
                applied.push(Applied {
                    number,
                    status: "done",
                    step: step.clone(),
                });
            } else {
                println!("[{number}/{total}] done");
            }
        }
        Progress::Failed { number, step, .. } => {
            if json {
                applied.push(Applied {
                    number,
                    status: "failed",
                    step: step.clone(),
                });
            } else {
                println!("[{number}/{total}] failed");
            }
        }
    })
    .await;
    if json {
        print_json(&applied)?;
    }
    match result {
        Ok(()) => {
            if !json {
                println!("host {host} is prepared ({total} step(s) done)");
            }
            Ok(())
        }
        Err(e) => {
            eprintln!(
                "hint: the steps before it are done; fix the cause and run `brickyard host prepare` again to continue"
            );
            Err(anyhow::Error::new(e).context(format!("prepare host {host}")))
        }
    }
}

fn print_plan(host: &str, plan: &Plan) {
    if plan.is_empty() {
        println!("host {host} is prepared: nothing to do");
        return;
    }
    println!(
        "{} step(s) to prepare host {host} (dry run: nothing is changed):",
        plan.steps.len()
    );
    for (i, step) in plan.steps.iter().enumerate() {
        println!("{:>3}. {}", i + 1, step.description);
        println!("     $ {}", step.shown());
        if let Action::WriteFile { content, .. } = &step.action {
            for line in content.lines() {
                println!("     | {line}");
            }
        }
    }
}
