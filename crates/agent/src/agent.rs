//! The agent's main loop: bootstrap, supervise glusterd, publish liveness, form the pool.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};

use brickyard_model::HostConfig;
use brickyard_model::keys::POOL_LOCK;
use brickyard_model::records::agent::{AgentState, AgentStatus};
use brickyard_store::{Held, LeaseId, Lock, Store, StoreError};
use tokio::sync::{mpsc, watch};
use tracing::{Instrument as _, error, info, info_span, warn};

use brickyard_volumes::claim_pass::ClaimMounts;

use crate::AgentError;
use crate::bootstrap::{self};
use crate::config::{add_disks, reload_config};
use crate::liveness::{brick_health, now, peer_view, publish};
use crate::observe::{OBSERVE_EVERY, observe_volumes};
use crate::options::{AgentOptions, GLUSTERD_PORT};
use crate::pool::{self, PoolPlan, PoolView};
use crate::supervise::{self, GlusterdEvent};

/// Everything the loop tracks between ticks.
pub(crate) struct Live {
    pub(crate) status: AgentStatus,
    pub(crate) lease: Option<LeaseId>,
    pub(crate) lock: Lock,
    /// The pool lock, while this agent's lease holds it.
    pub(crate) held: Option<Held>,
    pub(crate) last_progress: Option<(usize, usize)>,
    pub(crate) reported: Vec<String>,
    /// Keys of stored records that could not be used at the last pass (logged once each).
    pub(crate) invalid_seen: Vec<String>,
    /// What is wrong with the host's config in the store, when the agent runs on an older
    /// one (an invalid new config, or a change that needs a restart).
    pub(crate) config_problems: Vec<String>,
    /// Disks added to the config's `ExtraBrickDevices` that are not prepared yet, and why
    /// the last attempt failed.
    pub(crate) new_disks: Vec<String>,
    pub(crate) disk_problem: Option<String>,
    pub(crate) glusterd_answering: bool,
    pub(crate) formed_logged: bool,
    pub(crate) pool_complete: bool,
    pub(crate) started: Instant,
    pub(crate) last_observed: Option<Instant>,
    /// When the bricks' heal index was last counted.
    pub(crate) heal_counted: Option<Instant>,
    /// The generations of what each pass reads as this tick began.
    pub(crate) generations: Generations,
    /// The host pass (every host) when its last run found nothing to do.
    pub(crate) host_idle: Idle,
    /// The cluster pass (the pool lock's holder) when its last run found nothing to do.
    pub(crate) cluster_idle: Idle,
    /// The claim pass (the pool lock's holder) when its last run found nothing to do.
    pub(crate) claims_idle: Idle,
    pub(crate) observing: Option<tokio::task::JoinHandle<()>>,
    /// When the holder's observation may next ask `volume status` of every volume.
    pub(crate) status_due: crate::observe::StatusDue,
    /// The FUSE mounts this agent keeps to carry out claims (while it holds the pool lock).
    pub(crate) claims: ClaimMounts,
    /// What the cluster's settings last were applied as (the pool lock's holder only).
    pub(crate) settings: brickyard_volumes::settings::Applied,
    /// What the pool lock's holder knows of gluster's volumes from its last pass.
    pub(crate) gluster_view: brickyard_volumes::reconcile::GlusterView,
    /// The brick filesystems of this host that are full ([`crate::full`]).
    pub(crate) full: crate::full::Full,
    /// What the brick logs said about entries without a gfid ([`crate::gfidless`]).
    pub(crate) gfidless: crate::gfidless::Gfidless,
    /// Since when liveness could not be written to the store, while it cannot.
    pub(crate) store_lost: Option<Instant>,
}

impl Live {
    fn new(opts: &AgentOptions, config: &HostConfig, started: Instant) -> Self {
        Self {
            status: AgentStatus {
                schema: brickyard_model::records::SCHEMA,
                host: opts.host.clone(),
                node_name: config.gluster_node_name.clone(),
                ip: config.ip(),
                uuid: None,
                state: AgentState::StartingGlusterd,
                glusterd_pid: None,
                glusterd_restarts: 0,
                peers: Vec::new(),
                problems: Vec::new(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                started_at: now(),
                updated_at: now(),
                reconcile: Default::default(),
                bricks: Vec::new(),
                failed_disks: Vec::new(),
                heal_index: Default::default(),
                open_files: None,
                extra: Default::default(),
            },
            lease: None,
            lock: Lock::new(POOL_LOCK, &opts.host),
            held: None,
            last_progress: None,
            reported: Vec::new(),
            config_problems: Vec::new(),
            new_disks: Vec::new(),
            disk_problem: None,
            invalid_seen: Vec::new(),
            glusterd_answering: false,
            formed_logged: false,
            pool_complete: false,
            started,
            last_observed: None,
            heal_counted: None,
            generations: Generations::default(),
            host_idle: Idle::default(),
            cluster_idle: Idle::default(),
            claims_idle: Idle::default(),
            observing: None,
            status_due: Default::default(),
            claims: ClaimMounts::new(opts.claims_dir.join(&opts.host)),
            settings: Default::default(),
            gluster_view: Default::default(),
            full: crate::full::Full::default(),
            gfidless: crate::gfidless::Gfidless::default(),
            store_lost: None,
        }
    }
}

/// How often a pass that found nothing to do runs again although nothing it reads has
/// changed.
const IDLE_PASS_EVERY: Duration = Duration::from_secs(60);

/// The generations, from the mirrored store, of what each pass reads (`None`: it cannot
/// tell): equal numbers mean nothing it reads changed in between.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Generations {
    /// Records, statuses, leftovers.
    host: Option<u64>,
    /// Records, statuses, leftovers, clean-up acknowledgements.
    cluster: Option<u64>,
    /// Claims, their statuses, the volumes' statuses.
    claims: Option<u64>,
}

/// A pass whose last run found nothing to do, at the generation of what it read then:
/// while that stays the same the pass would find nothing again, so it is skipped, which
/// keeps an idle agent's cost from growing with the number of volumes. It runs all the
/// same every [`IDLE_PASS_EVERY`].
#[derive(Debug, Default)]
pub(crate) struct Idle(Option<(u64, Instant)>);

impl Idle {
    /// Whether a run at `generation` would find nothing to do.
    fn holds(&self, generation: Option<u64>) -> bool {
        matches!(
            (generation, self.0),
            (Some(now), Some((then, at))) if now == then && at.elapsed() < IDLE_PASS_EVERY
        )
    }

    /// Records a run at `generation` that found nothing to do (`idle`), or something.
    fn ran(&mut self, generation: Option<u64>, idle: bool) {
        self.0 = generation.filter(|_| idle).map(|g| (g, Instant::now()));
    }
}

/// The pace of the loop while the pool is incomplete.
const FAST_TICK: Duration = Duration::from_millis(500);
/// The pace of the loop while glusterd starts: a glusterd without geo-replication's set-up
/// answers about 50 ms after it starts (docs/benchmarks.md), and everything else waits on
/// the agent noticing.
const STARTING_TICK: Duration = Duration::from_millis(100);

/// Runs the agent until SIGTERM/SIGINT (or `shutdown` turning true).
pub async fn run(
    opts: AgentOptions,
    store: Arc<dyn Store>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), AgentError> {
    let span = info_span!("node", host = %opts.host);
    run_inner(opts, store, shutdown).instrument(span).await
}

async fn run_inner(
    opts: AgentOptions,
    store: Arc<dyn Store>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), AgentError> {
    let started = Instant::now();
    let mut config = bootstrap::prepare(&opts, &store, &shutdown).await?;
    // What passes read again and again (the desired volumes and claims, their statuses,
    // the agents', cleanups, leftovers and host removals) comes from memory, kept current
    // by watches, so that an idle pass costs what changed rather than what is stored.
    use brickyard_model::keys::{
        CLAIM_PREFIX, CLAIM_STATUS_PREFIX, CLEANUP_PREFIX, HOST_REMOVAL_PREFIX, LEFTOVER_PREFIX,
        STATUS_PREFIX, VOLUME_PREFIX, VOLUME_STATUS_PREFIX,
    };
    let mirrored = Arc::new(brickyard_store::Mirrored::new(
        store,
        &[
            VOLUME_PREFIX,
            VOLUME_STATUS_PREFIX,
            STATUS_PREFIX,
            LEFTOVER_PREFIX,
            CLAIM_PREFIX,
            CLAIM_STATUS_PREFIX,
            CLEANUP_PREFIX,
            HOST_REMOVAL_PREFIX,
        ],
    ));
    let store: Arc<dyn Store> = mirrored.clone();
    supervise::stop_leftover(&opts.glusterd.pid_file).await;
    let open_files = supervise::raise_open_files();
    info!("starting glusterd");
    let (events_tx, mut events) = mpsc::channel(16);
    let supervisor = tokio::spawn(
        supervise::supervise(opts.glusterd.clone(), shutdown.clone(), events_tx)
            .instrument(tracing::Span::current()),
    );
    let mut live = Live::new(&opts, &config, started);
    live.status.uuid = bootstrap::read_uuid(&opts.paths.var_lib_glusterd);
    live.status.open_files = open_files;
    let mut next_tick = tokio::time::Instant::now();
    // A change to the desired volumes or claims (once the mirror has it) starts a pass at
    // once instead of at the next tick, so a create does not wait for the agent's pace;
    // a change to the host's own config is applied at once (what can change live) or
    // reported. A watch that ends (the store went away) is made again at the next tick once
    // the store answers; without one the pace still converges, only more slowly.
    let mut config_watch = Watched::new(
        "this host's config",
        brickyard_model::keys::config_key(&opts.host),
    );
    config_watch.ensure(store.as_ref()).await;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => {
                    if matches!(ev, GlusterdEvent::Started { .. }) {
                        next_tick = next_tick.min(tokio::time::Instant::now() + STARTING_TICK);
                    }
                    on_glusterd_event(&mut live, ev);
                }
                None => break,
            },
            ev = config_watch.next(), if config_watch.is_on() => {
                if config_watch.event(ev) {
                    reload_config(&opts, &store, &mut config, &mut live).await;
                    next_tick = tokio::time::Instant::now();
                }
            }
            () = mirrored.changed(VOLUME_PREFIX) => {
                next_tick = tokio::time::Instant::now();
            }
            () = mirrored.changed(CLAIM_PREFIX) => {
                next_tick = tokio::time::Instant::now();
            }
            _ = tokio::time::sleep_until(next_tick) => {
                // The config's watch, lost with the store, is made again; what changed
                // meanwhile is read now (the config) or by this pass (volumes and claims,
                // whose mirrors watch again by themselves).
                if config_watch.ensure(store.as_ref()).await {
                    reload_config(&opts, &store, &mut config, &mut live).await;
                }
                supervise::reap_orphans(live.status.glusterd_pid);
                add_disks(&mut config, &mut live).await;
                live.generations = Generations {
                    host: mirrored.generation(&[
                        VOLUME_PREFIX,
                        VOLUME_STATUS_PREFIX,
                        LEFTOVER_PREFIX,
                    ]),
                    cluster: mirrored.generation(&[
                        VOLUME_PREFIX,
                        VOLUME_STATUS_PREFIX,
                        LEFTOVER_PREFIX,
                        CLEANUP_PREFIX,
                    ]),
                    claims: mirrored.generation(&[
                        CLAIM_PREFIX,
                        CLAIM_STATUS_PREFIX,
                        VOLUME_STATUS_PREFIX,
                    ]),
                };
                tick(&opts, &store, &config, &mut live).await;
                // Look often while glusterd starts and the pool forms, so that neither
                // waits on the agent; then settle to the configured pace.
                let pace = if live.status.glusterd_pid.is_some() && !live.glusterd_answering {
                    STARTING_TICK
                } else if !live.pool_complete || !live.glusterd_answering {
                    FAST_TICK
                } else {
                    opts.tick
                };
                next_tick = tokio::time::Instant::now() + pace;
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    info!("stopping: glusterd and the brick processes it started");
    live.claims.release_except(&Default::default()).await;
    live.status.state = AgentState::Stopping;
    publish(&opts, &store, &mut live).await;
    // The supervisor watches the same shutdown signal; wait for it to stop everything.
    while let Some(ev) = events.recv().await {
        on_glusterd_event(&mut live, ev);
    }
    let _ = supervisor.await;
    if let Some(lease) = live.lease {
        let _ = live.lock.release(store.as_ref(), lease).await;
        let _ = store.revoke_lease(lease).await;
    }
    info!("stopped");
    Ok(())
}

/// A store watch the loop keeps, made again after it ends.
struct Watched {
    what: &'static str,
    prefix: String,
    watch: Option<brickyard_store::Watch>,
    /// Whether its loss was reported (once per outage).
    reported: bool,
}

impl Watched {
    fn new(what: &'static str, prefix: String) -> Self {
        Self {
            what,
            prefix,
            watch: None,
            reported: false,
        }
    }

    fn is_on(&self) -> bool {
        self.watch.is_some()
    }

    /// Makes the watch when there is none; returns whether it was made again after a loss.
    async fn ensure(&mut self, store: &dyn Store) -> bool {
        if self.watch.is_some() {
            return false;
        }
        match store.watch(&self.prefix).await {
            Ok(w) => {
                self.watch = Some(w);
                let again = self.reported;
                if again {
                    info!("watching {} again", self.what);
                }
                self.reported = false;
                again
            }
            Err(e) => {
                if !self.reported {
                    warn!(
                        "cannot watch {}; passes follow the agent's pace until the store answers: {e}",
                        self.what
                    );
                    self.reported = true;
                }
                false
            }
        }
    }

    async fn next(&mut self) -> Option<Result<brickyard_store::WatchEvent, StoreError>> {
        self.watch.as_mut()?.next().await
    }

    /// Takes an event; returns whether something changed (false when the watch ended).
    fn event(&mut self, ev: Option<Result<brickyard_store::WatchEvent, StoreError>>) -> bool {
        match ev {
            Some(Ok(_)) => true,
            Some(Err(e)) => {
                warn!(
                    "the watch on {} ended ({e}); it is made again once the store answers",
                    self.what
                );
                self.watch = None;
                self.reported = true;
                false
            }
            None => {
                self.watch = None;
                self.reported = true;
                false
            }
        }
    }
}

fn on_glusterd_event(live: &mut Live, ev: GlusterdEvent) {
    match ev {
        GlusterdEvent::Started { pid, restarts } => {
            info!(pid, "glusterd started");
            live.status.glusterd_pid = Some(pid);
            live.status.glusterd_restarts = restarts;
            // A new glusterd may know other volumes than the last (a restored
            // /var/lib/glusterd): ask it about all of them.
            live.gluster_view.clear();
            live.glusterd_answering = false;
            live.status.state = AgentState::StartingGlusterd;
        }
        GlusterdEvent::Died { status, retry_in } => {
            warn!(
                "glusterd exited ({status}); starting it again in {}s",
                retry_in.as_secs()
            );
            live.status.glusterd_pid = None;
            live.glusterd_answering = false;
            live.status.state = AgentState::StartingGlusterd;
        }
        GlusterdEvent::SpawnFailed(reason) => {
            error!("{reason}; is glusterfs-server installed?");
            live.status.problems = vec![reason];
        }
        GlusterdEvent::Stopped { daemons } => {
            info!("glusterd stopped, and {daemons} brick and daemon process(es) it started");
            live.status.glusterd_pid = None;
        }
    }
}

/// One pass: renew liveness, look at the pool, probe if this agent leads, publish.
async fn tick(opts: &AgentOptions, store: &Arc<dyn Store>, config: &HostConfig, live: &mut Live) {
    if live.status.glusterd_pid.is_none() {
        publish(opts, store, live).await;
        return;
    }
    let known = match opts.gluster.peer_status().await {
        Ok(peers) => peers,
        Err(e) => {
            if live.glusterd_answering {
                warn!("glusterd does not answer: {e}");
            }
            live.glusterd_answering = false;
            publish(opts, store, live).await;
            return;
        }
    };
    if live.status.uuid.is_none() {
        // glusterd writes glusterd.info lazily; ask it when the file is not there yet.
        live.status.uuid = match bootstrap::read_uuid(&opts.paths.var_lib_glusterd) {
            Some(u) => Some(u),
            None => opts.gluster.own_uuid().await.ok(),
        };
    }
    if !live.glusterd_answering {
        live.glusterd_answering = true;
        info!(
            uuid = live.status.uuid.as_deref().unwrap_or("?"),
            "glusterd is answering ({:.1}s after the agent started)",
            live.started.elapsed().as_secs_f32()
        );
    }
    live.status.peers = known.iter().map(peer_view).collect();

    let agents = match brickyard_observe::live_agents(store.as_ref()).await {
        Ok(all) => all
            .into_iter()
            .map(|a| (a.ip, a))
            .collect::<BTreeMap<IpAddr, AgentStatus>>(),
        Err(e) => {
            warn!("cannot read the other agents' status: {e}");
            BTreeMap::new()
        }
    };
    let mut view = PoolView {
        me: Some(config.ip()),
        my_uuid: live.status.uuid.clone(),
        desired: config.peers.clone(),
        known: live.status.peers.clone(),
        agents,
        reachable: Default::default(),
    };
    // Ask every unknown peer at once: a host that is down costs its timeout only once.
    let mut asks = tokio::task::JoinSet::new();
    for &ip in &config.peers {
        let known = live
            .status
            .peers
            .iter()
            .any(|p| p.hostname == ip.to_string());
        if !known {
            asks.spawn(async move { (ip, answers(ip).await) });
        }
    }
    while let Some(Ok((ip, up))) = asks.join_next().await {
        if up {
            view.reachable.insert(ip);
        }
    }
    let mut plan = pool::plan(&view);
    live.held = if pool::may_lead(&view) {
        has_lock(store, live).await
    } else {
        None
    };
    let leads = live.held.is_some();
    if let Some(held) = &live.held {
        let known = live.status.peers.clone();
        if crate::removal::detach_removed(opts, store, held, &known).await {
            // It may have taken bricks out of volumes: the next pass asks about all.
            live.gluster_view.clear();
        }
    }
    if leads
        && live
            .last_observed
            .is_none_or(|t| t.elapsed() >= OBSERVE_EVERY)
    {
        observe_volumes(opts, store, live);
    }
    if !plan.probe.is_empty() && leads {
        for ip in plan.probe.clone() {
            match opts.gluster.peer_probe(&ip.to_string()).await {
                Ok(outcome) => info!("probed {ip}: {outcome:?}"),
                Err(e) => warn!("probe of {ip} failed: {e}"),
            }
        }
        // Look again, so progress reflects what the probes did.
        if let Ok(peers) = opts.gluster.peer_status().await {
            view.known = peers.iter().map(peer_view).collect();
            live.status.peers = view.known.clone();
            plan = pool::plan(&view);
        }
    }
    let count_heal = !live.status.heal_index.is_empty()
        || live
            .heal_counted
            .is_none_or(|t| t.elapsed() >= crate::liveness::HEAL_COUNT_IDLE);
    let health = brick_health(config, count_heal).await;
    let (space, failed) = (health.space, health.failed);
    if let Some(index) = health.heal_index {
        live.status.heal_index = index;
        live.heal_counted = Some(Instant::now());
    }
    for d in failed
        .iter()
        .filter(|d| !live.status.failed_disks.contains(d))
    {
        error!(
            "brick disk {} at {} fails: {}; its bricks are offline and it takes no new ones",
            d.device, d.mount_point, d.reason
        );
    }
    crate::full::follow(opts, store, config, &mut live.full, &space).await;
    crate::gfidless::follow(&opts.paths.var_log_glusterfs, config, &mut live.gfidless).await;
    live.status.bricks = space;
    live.status.failed_disks = failed;
    let started = Instant::now();
    let (errors, lost, invalid) = reconcile_volumes(opts, store, config, live).await;
    // Each unusable record is logged when it appears, not on every pass.
    if let Some(invalid) = invalid {
        let keys: Vec<String> = invalid.iter().map(|e| e.key.clone()).collect();
        for e in invalid
            .iter()
            .filter(|e| !live.invalid_seen.contains(&e.key))
        {
            warn!("skipped: {e}");
        }
        live.invalid_seen = keys;
    }
    if lost {
        live.held = None;
    }
    let stats = &mut live.status.reconcile;
    stats.passes += 1;
    stats.errors += errors;
    stats.last_duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report(config, live, &plan, pool::self_reinstalled(&view));
    publish(opts, store, live).await;
    // What the pass parsed and decoded (gluster's answers, the records) is freed: give it
    // back, so that an idle agent's memory is what it keeps, not its peaks.
    brickyard_sys::mem::trim();
}

/// Drives gluster to the desired volumes (the pool lock's holder only) and removes this
/// host's brick directories of deleted volumes (every host); see `brickyard_volumes`.
/// Returns how many passes or volume actions failed, whether the pool lock was lost, and
/// the stored records the cluster pass could not use (`None` when it did not run).
async fn reconcile_volumes(
    opts: &AgentOptions,
    store: &Arc<dyn Store>,
    config: &HostConfig,
    live: &mut Live,
) -> (
    u64,
    bool,
    Option<Vec<brickyard_model::records::RecordError>>,
) {
    use brickyard_volumes::reconcile::{self, Fence, ReconcileError};
    let (held, lease) = (live.held.clone(), live.lease);
    let (claims, settings, view) = (&mut live.claims, &mut live.settings, &mut live.gluster_view);
    // A gluster command can take longer than the lease's TTL (a rebalance start took 10 s):
    // keep the lease, and with it the pool lock, alive while the pass runs. When a renewal
    // fails, or none succeeded for longer than the lease lasts, the lease may be gone and
    // another agent may lead: the pass must stop before its next command.
    let lost = Arc::new(AtomicBool::new(false));
    let keeper = lease.map(|lease| {
        let (store, lost, ttl) = (store.clone(), Arc::clone(&lost), opts.lease_ttl);
        tokio::spawn(async move {
            let mut renewed = Instant::now();
            loop {
                tokio::time::sleep(ttl / 3).await;
                match store.keep_alive(lease).await {
                    Ok(()) => renewed = Instant::now(),
                    Err(e) => {
                        warn!("cannot renew the lease during a pass: {e}");
                        if matches!(e, StoreError::LeaseGone(_)) || renewed.elapsed() >= ttl {
                            lost.store(true, Ordering::SeqCst);
                            break;
                        }
                    }
                }
            }
        })
    });
    let mut errors = 0;
    let mut lost_lock = false;
    let mut invalid = None;
    let generations = live.generations;
    if let Some(held) = held {
        let fence = Fence::new(held, Arc::clone(&lost));
        let failed = |e: ReconcileError, errors: &mut u64, lost_lock: &mut bool| {
            warn!("{e}");
            *errors += 1;
            *lost_lock |= matches!(e, ReconcileError::LostLock(_));
        };
        // Skipped while nothing it reads changed since it last found nothing to do and
        // gluster's side is not due for a look: it would plan nothing.
        if !live.cluster_idle.holds(generations.cluster) || view.due() {
            let r =
                reconcile::cluster_pass(store.as_ref(), &opts.gluster, &opts.host, &fence, view)
                    .await;
            match r {
                Ok(report) => {
                    errors += report.failed as u64;
                    invalid = Some(report.invalid);
                    let idle = report.failed == 0 && !view.due();
                    live.cluster_idle.ran(generations.cluster, idle);
                }
                Err(e) => {
                    // What the pass did before it stopped is not known: ask about all next
                    // time.
                    view.clear();
                    live.cluster_idle.ran(generations.cluster, false);
                    failed(e, &mut errors, &mut lost_lock);
                }
            }
        }
        if !lost_lock {
            let applied =
                brickyard_volumes::settings::apply(store.as_ref(), &opts.gluster, &fence, settings)
                    .await;
            if let Err(e) = applied {
                failed(e, &mut errors, &mut lost_lock);
            }
        }
        if !lost_lock && !live.claims_idle.holds(generations.claims) {
            let server = config.ip().to_string();
            let pass = brickyard_volumes::claim_pass::claim_pass(
                store.as_ref(),
                &opts.gluster,
                &opts.host,
                &server,
                claims,
                &fence,
            )
            .await;
            match pass {
                Ok(report) => {
                    errors += report.failed as u64;
                    let idle = report.done == 0 && report.failed == 0;
                    live.claims_idle.ran(generations.claims, idle);
                }
                Err(e) => {
                    live.claims_idle.ran(generations.claims, false);
                    failed(e, &mut errors, &mut lost_lock);
                }
            }
        }
    } else {
        // Only the pool lock's holder keeps claim mounts; and it asks gluster afresh
        // about the settings when it holds the lock again.
        claims.release_except(&Default::default()).await;
        *settings = Default::default();
        view.clear();
        live.cluster_idle = Idle::default();
        live.claims_idle = Idle::default();
    }
    if !live.host_idle.holds(generations.host) {
        match reconcile::host_pass(store.as_ref(), &opts.gluster, config).await {
            Ok(pass) => live.host_idle.ran(generations.host, pass.idle),
            Err(e) => {
                warn!("{e}");
                errors += 1;
                live.host_idle.ran(generations.host, false);
            }
        }
    }
    if let Some(k) = keeper {
        k.abort();
    }
    (errors, lost_lock || lost.load(Ordering::SeqCst), invalid)
}

/// Logs progress when it changes, and problems once each; sets the state.
fn report(
    config: &HostConfig,
    live: &mut Live,
    plan: &PoolPlan,
    me_reinstalled: Option<pool::Reinstalled>,
) {
    let mut problems = Vec::new();
    for r in plan.reinstalled.iter().chain(me_reinstalled.iter()) {
        let line = format!(
            "{} came back with glusterd UUID {} but the pool knows it as {}: it was reinstalled or lost /var/lib/glusterd; it is NOT detached. To repair, on {}: {}",
            r.ip,
            r.new_uuid,
            r.pool_uuid,
            r.ip,
            r.repair
                .iter()
                .filter(|c| !c.starts_with('#'))
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        );
        if !live.reported.contains(&line) {
            error!("{line}");
            live.reported.push(line.clone());
        }
        problems.push(line);
    }
    let desired = config.peers.len();
    let progress = plan.progress(desired);
    if live.last_progress != Some(progress) {
        if plan.waiting_for.is_empty() {
            info!("{}/{} peers up", progress.0, progress.1);
        } else {
            let waiting: Vec<String> = plan.waiting_for.iter().map(ToString::to_string).collect();
            info!(
                "{}/{} peers up (waiting for {})",
                progress.0,
                progress.1,
                waiting.join(", ")
            );
        }
        live.last_progress = Some(progress);
    }
    live.pool_complete = plan.complete(desired);
    if live.pool_complete && !live.formed_logged {
        info!(
            "trusted pool of {} nodes formed ({:.1}s after the agent started)",
            desired + 1,
            live.started.elapsed().as_secs_f32()
        );
        live.formed_logged = true;
    }
    problems.extend(live.config_problems.iter().cloned());
    problems.extend(live.disk_problem.iter().cloned());
    problems.extend(live.status.failed_disks.iter().map(|d| {
        format!(
            "brick disk {} at {} fails: {}",
            d.device, d.mount_point, d.reason
        )
    }));
    live.status.state = if problems.is_empty() {
        AgentState::Running
    } else {
        AgentState::Degraded
    };
    live.status.problems = problems;
}

/// Whether glusterd answers on `ip`'s management port within a second.
async fn answers(ip: IpAddr) -> bool {
    let addr = SocketAddr::new(ip, GLUSTERD_PORT);
    matches!(
        tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// Takes (or keeps) the pool lock under this agent's lease; `None` when another lease holds
/// it, whatever that holder calls itself.
async fn has_lock(store: &Arc<dyn Store>, live: &mut Live) -> Option<Held> {
    let lease = live.lease?;
    match live.lock.try_acquire(store.as_ref(), lease).await {
        Ok(held) => {
            if held.is_some() != live.held.is_some() {
                if held.is_some() {
                    info!("this agent holds the pool lock");
                } else {
                    info!("another agent holds the pool lock");
                }
            }
            held
        }
        Err(e) => {
            warn!("cannot take the pool lock: {e}");
            None
        }
    }
}

/// One pass without supervising, for debugging: bootstrap, start glusterd as a daemon if it
/// is not running, wait until it answers, take one look at the pool (probing if this agent
/// may lead), publish the status, and return it. glusterd keeps running afterwards.
pub async fn bootstrap_once(
    opts: AgentOptions,
    store: Arc<dyn Store>,
) -> Result<AgentStatus, AgentError> {
    let span = info_span!("node", host = %opts.host);
    async move {
        let (_tx, shutdown) = watch::channel(false);
        let config = bootstrap::prepare(&opts, &store, &shutdown).await?;
        if opts.gluster.peer_status().await.is_err() {
            info!("starting glusterd (as a daemon: this pass does not supervise it)");
            let mut argv = vec![opts.glusterd.program.display().to_string()];
            argv.extend(
                opts.glusterd
                    .args
                    .iter()
                    .filter(|a| a.as_str() != "-N")
                    .cloned(),
            );
            brickyard_exec::run(&brickyard_exec::Cmd::new(argv).timeout(Duration::from_secs(60)))
                .await?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while opts.gluster.peer_status().await.is_err() {
            if Instant::now() > deadline {
                return Err(AgentError::GlusterdVol {
                    path: opts.paths.etc_glusterfs.join("glusterd.vol"),
                    reason:
                        "glusterd did not answer within 30s; see /var/log/glusterfs/glusterd.log"
                            .into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let pid = std::fs::read_to_string(&opts.glusterd.pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let mut live = Live::new(&opts, &config, Instant::now());
        live.status.glusterd_pid = pid.or(Some(0));
        tick(&opts, &store, &config, &mut live).await;
        Ok(live.status)
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::Idle;

    #[test]
    fn an_idle_pass_is_skipped_only_while_what_it_reads_stays_the_same() {
        let mut idle = Idle::default();
        assert!(!idle.holds(Some(1)), "never ran: runs");
        idle.ran(Some(1), true);
        assert!(idle.holds(Some(1)));
        assert!(!idle.holds(Some(2)), "something changed: runs");
        assert!(!idle.holds(None), "cannot tell: runs");
        idle.ran(Some(2), false);
        assert!(!idle.holds(Some(2)), "found work last time: runs again");
        idle.ran(None, true);
        assert!(!idle.holds(None), "a run that could not tell is not idle");
    }
}
