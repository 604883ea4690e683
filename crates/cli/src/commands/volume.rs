//! `brickyard volume`: ask for volumes in the store and follow the agents' progress.
//!
//! Every change goes through `brickyard_volumes` (compare-and-swap in the store); the node
//! agents act on it. Commands that change a volume wait (bounded) until the agents report
//! the result, unless `--no-wait`.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use brickyard_model::keys::{volume_key, volume_status_key};
use brickyard_observe::GLUSTER_TIMEOUT;
use brickyard_store::{Changes, Store};
use brickyard_volumes::{
    DesiredState, Layout, LayoutRequest, Phase, VolumeError, VolumeSpec, VolumeView,
};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::globals::Globals;
use crate::output::{OutputFormat, print_json, table};

/// `brickyard volume ...`
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Ask for a new volume; its bricks are placed on distinct live hosts (distinct zones
    /// when hosts declare Zone). Waits until the agents report it started.
    Create(CreateArgs),
    /// The volumes asked for, their state as the agents report it, and gluster volumes
    /// made outside brickyard (unmanaged, left alone).
    List(ListArgs),
    /// One volume: its record, its status, gluster's view, and where they differ.
    Info(InfoArgs),
    /// Ask for a volume to be started.
    Start(NameArgs),
    /// Ask for a volume to be stopped.
    Stop(NameArgs),
    /// Ask for a volume to be deleted: from gluster, then its brick directories on every
    /// host. A started volume needs --force. While any host of the pool is down gluster
    /// deletes nothing and the delete waits; `host remove` lets it finish without a host
    /// that will never return.
    Delete(DeleteArgs),
    /// Add one replica/disperse set (one brick for plain distribute) and rebalance.
    Expand(NameArgs),
    /// Move one brick to another host or disk (for a failed disk or a host leaving); waits
    /// until gluster has the new brick, then shows the heal that fills it until nothing is
    /// pending. A plain distribute brick moves with its files (its host must be up): the
    /// new brick is added and the old one leaves once gluster moved every file.
    ReplaceBrick(ReplaceArgs),
    /// Remove a volume's record, status and clean-up acknowledgements from the store
    /// without touching gluster or any brick: the way out for a record that cannot be used
    /// (`volume list` names them). A valid record needs --force, and gluster keeps the
    /// volume, which brickyard then reports as not its own.
    Forget(ForgetArgs),
}

/// Arguments of `volume info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The volume.
    name: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `volume forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The volume (the last part of its key, `gluster/volumes/NAME`).
    name: String,
    /// Forget a valid record too: brickyard stops managing the volume, gluster keeps it.
    #[arg(long)]
    force: bool,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `volume replace-brick`.
#[derive(Debug, Args)]
pub struct ReplaceArgs {
    /// The volume.
    name: String,
    /// The brick to move, as HOST:PATH (HostName or address; `volume info` lists them).
    brick: String,
    /// The host to move it to (HostName); default: placement chooses a live host with a
    /// free brick mount outside the brick's set.
    #[arg(long, value_name = "HOST")]
    to: Option<String>,
    #[command(flatten)]
    wait: WaitArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// How long to wait for the agents, and whether to.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Return as soon as the request is in the store.
    #[arg(long)]
    pub(crate) no_wait: bool,
    /// Give up waiting after this many seconds (the request stays in the store).
    #[arg(long, default_value_t = 180, value_name = "SECONDS")]
    pub(crate) timeout: u64,
}

/// Arguments of `volume create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The volume's name: 1-64 letters, digits, '-' or '_', starting with a letter.
    name: String,
    /// Copies per replica set (2 or 3). Without --replica, --disperse or --distribute:
    /// replica 3.
    #[arg(long, conflicts_with = "disperse")]
    replica: Option<u32>,
    /// With --replica 2: add an arbiter brick to each set (gluster's replica 3 arbiter 1).
    #[arg(long, requires = "replica")]
    arbiter: bool,
    /// Bricks per erasure-coded set.
    #[arg(long, requires = "redundancy")]
    disperse: Option<u32>,
    /// Bricks of a disperse set that may fail.
    #[arg(long, requires = "disperse")]
    redundancy: Option<u32>,
    /// Number of sets files are distributed over; alone, plain distribute over K bricks.
    #[arg(long, value_name = "K")]
    distribute: Option<u32>,
    /// Option profile: default, or small-files (metadata caching, parallel readdir, ...).
    #[arg(long, default_value = brickyard_volumes::profile::DEFAULT)]
    profile: String,
    #[command(flatten)]
    wait: WaitArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments naming one volume.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The volume.
    name: String,
    #[command(flatten)]
    wait: WaitArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `volume delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The volume.
    name: String,
    /// Delete a started volume (it is stopped first; clients lose it).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    wait: WaitArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `volume list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Runs `volume ...`.
pub async fn run(g: &Globals, cmd: VolumeCommand) -> Result<()> {
    let store = g.open_store().await?;
    let store = store.as_ref();
    match cmd {
        VolumeCommand::Create(a) => create(store, a).await,
        VolumeCommand::List(a) => list(store, a).await,
        VolumeCommand::Info(a) => info(store, a).await,
        VolumeCommand::Start(a) => {
            set_state(store, a, DesiredState::Started, Phase::Started, "start").await
        }
        VolumeCommand::Stop(a) => {
            set_state(store, a, DesiredState::Stopped, Phase::Stopped, "stop").await
        }
        VolumeCommand::Delete(a) => {
            let started = Instant::now();
            brickyard_volumes::delete(store, &a.name, a.force)
                .await
                .with_context(|| format!("delete volume {}", a.name))?;
            finish(store, &a.name, Goal::Gone, &a.wait, a.output, started).await
        }
        VolumeCommand::Forget(a) => {
            let gone = brickyard_volumes::forget(store, &a.name, a.force)
                .await
                .with_context(|| format!("forget volume {}", a.name))?;
            match a.output {
                OutputFormat::Json => print_json(&gone),
                OutputFormat::Table => {
                    println!("forgot volume {}: removed {}", a.name, gone.keys.join(", "));
                    Ok(())
                }
            }
        }
        VolumeCommand::ReplaceBrick(a) => replace_brick(store, a).await,
        VolumeCommand::Expand(a) => {
            let started = Instant::now();
            let rec = brickyard_volumes::expand(store, &a.name)
                .await
                .with_context(|| format!("expand volume {}", a.name))?;
            eprintln!(
                "volume {}: adding {} ({})",
                a.name,
                rec.set(rec.layout.sets as usize - 1)
                    .iter()
                    .map(|b| b.gluster_name())
                    .collect::<Vec<_>>()
                    .join(" "),
                rec.layout
            );
            let goal = Goal::Expanded(rec.bricks.len());
            finish(store, &a.name, goal, &a.wait, a.output, started).await
        }
    }
}

/// The layout the flags ask for, read as the REST API reads its fields.
fn layout(a: &CreateArgs) -> Result<Layout> {
    LayoutRequest {
        replica: a.replica,
        arbiter: a.arbiter,
        disperse: a.disperse,
        redundancy: a.redundancy,
        distribute: a.distribute,
    }
    .layout()
    .map_err(|r| anyhow::anyhow!("volume {}: --{}: {}", a.name, r.field, r.reason))
}

async fn create(store: &dyn Store, a: CreateArgs) -> Result<()> {
    let started = Instant::now();
    let spec = VolumeSpec {
        name: a.name.clone(),
        layout: layout(&a)?,
        profile: a.profile.clone(),
        state: DesiredState::Started,
    };
    let rec = match brickyard_volumes::create(store, &spec).await {
        Ok(r) => r,
        // Every error names the volume already.
        Err(e) => return Err(anyhow::Error::new(e)),
    };
    eprintln!(
        "volume {}: {} on {}",
        rec.name,
        rec.layout,
        rec.bricks
            .iter()
            .map(|b| b.gluster_name())
            .collect::<Vec<_>>()
            .join(" ")
    );
    finish(
        store,
        &a.name,
        Goal::Phase(Phase::Started),
        &a.wait,
        a.output,
        started,
    )
    .await
}

/// What a change waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// The agents report this phase.
    Phase(Phase),
    /// The record is gone (deleted everywhere).
    Gone,
    /// Started with this many bricks and the rebalance started.
    Expanded(usize),
}

/// Now, in seconds since the epoch (what the records' times use).
pub(crate) fn epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sets a volume's desired state and waits (unless told not to) until the agents reach
/// `phase`.
async fn set_state(
    store: &dyn Store,
    a: NameArgs,
    state: DesiredState,
    phase: Phase,
    verb: &str,
) -> Result<()> {
    let started = Instant::now();
    brickyard_volumes::set_state(store, &a.name, state)
        .await
        .with_context(|| format!("{verb} volume {}", a.name))?;
    finish(
        store,
        &a.name,
        Goal::Phase(phase),
        &a.wait,
        a.output,
        started,
    )
    .await
}

/// What a change printed with `--output json` when it returns: the volume, and how long the
/// command took when it waited for the agents.
#[derive(Serialize)]
struct Finished<'a> {
    #[serde(flatten)]
    view: &'a VolumeView,
    #[serde(skip_serializing_if = "Option::is_none")]
    took_seconds: Option<f64>,
}

/// Waits for `goal` (unless --no-wait), then says what was done: the volume's name, state,
/// layout, hosts and profile, and the time since `started` when it waited.
async fn finish(
    store: &dyn Store,
    name: &str,
    goal: Goal,
    wait: &WaitArgs,
    output: OutputFormat,
    started: Instant,
) -> Result<()> {
    if !wait.no_wait {
        wait_for(store, name, goal, Duration::from_secs(wait.timeout)).await?;
    }
    let took = (!wait.no_wait).then(|| started.elapsed().as_secs_f64());
    match brickyard_volumes::get(store, name).await {
        Ok(view) => match output {
            OutputFormat::Json => print_json(&Finished {
                view: &view,
                took_seconds: took,
            })?,
            OutputFormat::Table => println!("{}", summary(&view, took)),
        },
        Err(VolumeError::NotFound { .. }) if goal == Goal::Gone => match output {
            OutputFormat::Json => print_json(
                &serde_json::json!({"name": name, "deleted": true, "took_seconds": took}),
            )?,
            OutputFormat::Table => match took {
                Some(t) => println!("volume {name}: deleted; took {t:.1}s"),
                None => println!("volume {name}: deleted"),
            },
        },
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// One line on what a volume is now: `volume gv0: desired started, started; replica 3 on
/// h1, h2, h3; profile default; took 1.3s`.
fn summary(v: &VolumeView, took: Option<f64>) -> String {
    let mut hosts: Vec<&str> = Vec::new();
    for b in &v.record.bricks {
        if !hosts.contains(&b.host.as_str()) {
            hosts.push(&b.host);
        }
    }
    let mut line = format!(
        "volume {}: desired {}, {}; {} on {}; profile {}",
        v.record.name,
        v.record.state,
        phase_text(v),
        v.record.layout,
        hosts.join(", "),
        v.record.profile
    );
    if let Some(t) = took {
        let _ = write!(line, "; took {t:.1}s");
    }
    line
}

fn phase_text(v: &VolumeView) -> String {
    match &v.status {
        Some(s) if s.reason.is_empty() => s.phase.to_string(),
        Some(s) => format!("{} ({})", s.phase, s.reason),
        None => "waiting for an agent".to_owned(),
    }
}

/// How long the agents' report of a failure must stand before a wait gives up on it: the
/// agents retry at once, and a failure caused by a moment of the cluster (a peer's glusterd
/// restarting during a create, seen by the fault suite) is gone by their next pass.
const FAILED_GRACE: Duration = Duration::from_secs(10);

/// Follows the volume's record and status (a store watch, looking again at each change)
/// until the goal is reached, the agents report a failure newer than the request that stands
/// for [`FAILED_GRACE`], or the time is up. Progress: a spinner on a terminal, a line per
/// change otherwise.
async fn wait_for(store: &dyn Store, name: &str, goal: Goal, limit: Duration) -> Result<()> {
    let asked = epoch();
    let mut changes = Changes::watch(store, &[volume_key(name), volume_status_key(name)]).await;
    let start = Instant::now();
    let mut failed_since: Option<Instant> = None;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut last = String::new();
    let result = loop {
        let view = match brickyard_volumes::get(store, name).await {
            Ok(v) => Some(v),
            Err(VolumeError::NotFound { .. }) if goal == Goal::Gone => break Ok(()),
            Err(e) => break Err(anyhow::Error::new(e)),
        };
        if let Some(v) = &view {
            let text = phase_text(v);
            if text != last {
                match &bar {
                    Some(b) => b.set_message(format!("volume {name}: {text}")),
                    None => eprintln!(
                        "volume {name}: {text} ({:.1}s)",
                        start.elapsed().as_secs_f32()
                    ),
                }
                last = text;
            }
            if let Some(s) = &v.status {
                let done = match goal {
                    Goal::Phase(p) => s.phase == p,
                    Goal::Expanded(n) => {
                        s.phase == Phase::Started && !s.rebalance_pending && s.bricks == n
                    }
                    Goal::Gone => false,
                };
                if done {
                    break Ok(());
                }
                let failed = s.phase == Phase::Failed && s.updated_at >= asked;
                if !failed {
                    failed_since = None;
                } else if failed_since.get_or_insert_with(Instant::now).elapsed() >= FAILED_GRACE {
                    break Err(anyhow::anyhow!(
                        "volume {name} failed: {}; the request stays in the store and the agents keep retrying (`brickyard volume info {name}`)",
                        s.reason
                    ));
                }
            }
        }
        if start.elapsed() > limit {
            break Err(anyhow::anyhow!(
                "volume {name}: not done within {}s (last: {last}); the request stays in the store and the agents keep working on it. Are the node agents running? (`brickyard node status`)",
                limit.as_secs()
            ));
        }
        changes.next(Duration::from_secs(1)).await;
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    result
}

#[derive(Serialize)]
struct ListOut {
    volumes: Vec<VolumeView>,
    unmanaged: Vec<String>,
    invalid: Vec<brickyard_model::records::RecordError>,
}

async fn list(store: &dyn Store, a: ListArgs) -> Result<()> {
    let listing = brickyard_volumes::list(store)
        .await
        .context("list volumes")?;
    let out = ListOut {
        volumes: listing.volumes,
        unmanaged: brickyard_volumes::unmanaged(store)
            .await
            .context("read unmanaged volumes")?,
        invalid: listing.invalid,
    };
    match a.output {
        OutputFormat::Json => print_json(&out)?,
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = out
                .volumes
                .iter()
                .map(|v| {
                    vec![
                        v.record.name.clone(),
                        v.record.layout.to_string(),
                        v.record.profile.clone(),
                        v.record.state.to_string(),
                        phase_text(v),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["VOLUME", "LAYOUT", "PROFILE", "DESIRED", "OBSERVED"],
                    &rows
                )
            );
            if !out.unmanaged.is_empty() {
                println!(
                    "unmanaged (made outside brickyard, left alone): {}",
                    out.unmanaged.join(", ")
                );
            }
        }
    }
    for e in &out.invalid {
        eprintln!("skipped: {e}");
    }
    Ok(())
}

async fn info(store: &dyn Store, a: InfoArgs) -> Result<()> {
    let out = brickyard_observe::volume_detail(store, &a.name, GLUSTER_TIMEOUT)
        .await
        .with_context(|| format!("volume info {}", a.name))?;
    match a.output {
        OutputFormat::Json => print_json(&out)?,
        OutputFormat::Table => {
            let r = &out.view.record;
            println!("volume    {}", r.name);
            println!("layout    {}", r.layout);
            println!("profile   {}", r.profile);
            println!("desired   {}", r.state);
            println!("observed  {}", phase_text(&out.view));
            if let Some(g) = &out.gluster {
                println!(
                    "gluster   {} {:?}, {} bricks",
                    g.type_str, g.state, g.brick_count
                );
            }
            if let Some(e) = &out.gluster_error {
                println!("gluster   not asked: {e}");
            }
            if let Some(o) = &out.observed {
                match (o.heal_pending, &o.heal_unknown) {
                    (_, Some(why)) => println!("heal      could not ask: {why}"),
                    (Some(n), None) => match &o.heal_progress {
                        Some(p) => println!("heal      {n} entries pending, {p}"),
                        None => println!("heal      {n} entries pending"),
                    },
                    (None, None) => {}
                }
                if let Some(rb) = &o.rebalance {
                    match rb.summary() {
                        Some(s) => println!(
                            "rebalance {}: {s}; {} failed",
                            rb.status,
                            rb.failures.unwrap_or(0)
                        ),
                        None => println!("rebalance {}", rb.status),
                    }
                }
            }
            let rows: Vec<Vec<String>> = r
                .bricks
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    vec![
                        (i / r.layout.set_width() as usize + 1).to_string(),
                        b.host.clone(),
                        b.gluster_name(),
                    ]
                })
                .collect();
            println!();
            print!("{}", table(&["SET", "HOST", "BRICK"], &rows));
            if out.differences.is_empty() {
                if out.gluster_error.is_none() {
                    println!("\ndesired and observed agree");
                }
            } else {
                println!("\ndesired and observed differ:");
                for d in &out.differences {
                    println!("  - {d}");
                }
            }
        }
    }
    Ok(())
}

async fn replace_brick(store: &dyn Store, a: ReplaceArgs) -> Result<()> {
    let requested = epoch();
    let moved = brickyard_volumes::replace_brick(store, &a.name, &a.brick, a.to.as_deref())
        .await
        .with_context(|| format!("replace brick {} of volume {}", a.brick, a.name))?;
    eprintln!(
        "volume {}: moving brick {}:{} to {}:{}",
        a.name, moved.from.host, moved.from.path, moved.to.host, moved.to.path
    );
    follow_moves(store, std::slice::from_ref(&a.name), &a.wait, requested).await?;
    match a.output {
        OutputFormat::Json => print_json(&moved),
        OutputFormat::Table => {
            println!(
                "volume {}: brick {}:{} replaced by {}:{}{}",
                a.name,
                moved.from.host,
                moved.from.path,
                moved.to.host,
                moved.to.path,
                if a.wait.no_wait {
                    " (asked; the agents carry it out)"
                } else {
                    ", healed"
                }
            );
            Ok(())
        }
    }
}

/// Unless --no-wait: waits until the agents have moved the recorded bricks of each volume,
/// then until the heal that fills the new bricks is done, as counted after `requested`
/// (seconds since the epoch, taken before the moves were asked for).
pub(crate) async fn follow_moves(
    store: &dyn Store,
    volumes: &[String],
    wait: &WaitArgs,
    requested: u64,
) -> Result<()> {
    if wait.no_wait {
        return Ok(());
    }
    let limit = Duration::from_secs(wait.timeout);
    let mut healing = Vec::new();
    for name in volumes {
        if wait_moved(store, name, limit).await? {
            healing.push(name);
        }
    }
    for name in healing {
        wait_heal(store, name, limit, requested).await?;
    }
    Ok(())
}

/// Waits until gluster's bricks of `name` are the recorded ones (every recorded move done),
/// asking a live glusterd at each change of the volume's status and twice a second; shows
/// the agents' status as it changes, and gives up on a failure that stands for
/// [`FAILED_GRACE`]. Returns whether the new bricks fill by heal (a plain distribute
/// volume's files moved before its old brick left).
async fn wait_moved(store: &dyn Store, name: &str, limit: Duration) -> Result<bool> {
    let mut changes = Changes::watch(store, &[volume_status_key(name)]).await;
    let start = Instant::now();
    let mut last = String::new();
    let mut failed_since: Option<Instant> = None;
    loop {
        let d = brickyard_observe::volume_detail(store, name, GLUSTER_TIMEOUT).await?;
        let distribute = matches!(
            d.view.record.layout.kind,
            brickyard_volumes::LayoutKind::Distribute
        );
        let mut want: Vec<String> = d
            .view
            .record
            .bricks
            .iter()
            .map(|b| b.gluster_name())
            .collect();
        if let Some(g) = &d.gluster {
            let mut have: Vec<String> = g.bricks.iter().map(|b| b.name.clone()).collect();
            // gluster lists a distribute volume's moved brick last; order does not matter.
            if distribute {
                have.sort();
                want.sort();
            }
            if have == want {
                return Ok(!distribute);
            }
        }
        let text = phase_text(&d.view);
        if text != last {
            eprintln!(
                "volume {name}: {text} ({:.1}s)",
                start.elapsed().as_secs_f32()
            );
            last = text;
        }
        let failed = d
            .view
            .status
            .as_ref()
            .is_some_and(|s| s.phase == Phase::Failed);
        if !failed {
            failed_since = None;
        } else if failed_since.get_or_insert_with(Instant::now).elapsed() >= FAILED_GRACE {
            anyhow::bail!(
                "volume {name}: the bricks are not moved: {last}; the request stays in the store and the agents keep retrying (`brickyard volume info {name}`)"
            );
        }
        if start.elapsed() > limit {
            anyhow::bail!(
                "volume {name}: the bricks are not moved within {}s (last: {last}); the agents keep working on it (`brickyard volume info {name}`)",
                limit.as_secs()
            );
        }
        changes.next(Duration::from_millis(500)).await;
    }
}

/// Follows the pool lock holder's heal observations of `name` until one that asked about it
/// at or after `since` (seconds since the epoch) reports nothing pending: a count on a
/// terminal, a line per change otherwise. The holder asks about a volume at its next
/// observation after the volume's status changed.
async fn wait_heal(store: &dyn Store, name: &str, limit: Duration, since: u64) -> Result<()> {
    let start = Instant::now();
    let mut last = None;
    // On a terminal a bar of the entries healed since the first count; lines otherwise.
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} volume {prefix}: heal {pos}/{len} entries {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_prefix(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut most = 0;
    let mut changes = Changes::watch(store, &[brickyard_model::keys::OBSERVED_VOLUMES]).await;
    let result = loop {
        let observed = store
            .get(brickyard_model::keys::OBSERVED_VOLUMES)
            .await
            .context("read the heal observation")?
            .map(|e| brickyard_model::records::agent::ObservedVolumes::decode(&e.value))
            .transpose()
            .map_err(|e| anyhow::anyhow!("the heal observation cannot be used: {e}"))?;
        if let Some(o) = observed.filter(|o| o.heal_asked_at(name) >= since) {
            let now = match (o.heal_pending.get(name), o.heal_unknown.get(name)) {
                (_, Some(why)) => format!("heal: could not ask ({why})"),
                (Some(n), None) => match o.heal_progress(name) {
                    Some(p) => format!("{n} entries pending heal, {p}"),
                    None => format!("{n} entries pending heal"),
                },
                (None, None) => "heal: not observed yet".to_owned(),
            };
            if Some(&now) != last.as_ref() {
                match (&bar, o.heal_pending.get(name)) {
                    (Some(b), Some(&n)) => {
                        most = most.max(n);
                        b.set_length(most);
                        b.set_position(most - n);
                        b.set_message(
                            o.heal_progress(name)
                                .map(|p| p.to_string())
                                .unwrap_or_default(),
                        );
                    }
                    (Some(b), None) => b.set_message(now.clone()),
                    (None, _) => eprintln!(
                        "volume {name}: {now} ({:.1}s)",
                        start.elapsed().as_secs_f32()
                    ),
                }
                last = Some(now);
            }
            let unreachable = o.heal_unreachable.get(name).copied().unwrap_or(0);
            if o.heal_pending.get(name) == Some(&0) && unreachable == 0 {
                break Ok(());
            }
        }
        if start.elapsed() > limit {
            break Err(anyhow::anyhow!(
                "volume {name}: heal not done within {}s (last: {}); it goes on by itself, `brickyard status` shows it",
                limit.as_secs(),
                last.clone().unwrap_or_else(|| "no observation yet".into())
            ));
        }
        changes.next(Duration::from_secs(1)).await;
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if result.is_ok() && std::io::stderr().is_terminal() {
        eprintln!(
            "volume {name}: healed ({:.1}s)",
            start.elapsed().as_secs_f32()
        );
    }
    result
}
