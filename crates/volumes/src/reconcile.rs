//! The reconciler the node agents run every pass.
//!
//! - [`cluster_pass`], on the pool lock's holder only: reads the records, the statuses and
//!   gluster's `volume info`, plans ([`crate::plan::plan`]) and carries the plan out with the
//!   gluster CLI, recording each volume's phase. Every step is safe to repeat, and the phase
//!   is recorded before the step that needs it ("creating" before `volume create`,
//!   "expanding" with a rebalance pending before `add-brick`): when that record cannot be
//!   written, the step is not taken. An agent killed half-way leaves something the next
//!   pass — on this host or the next lock holder — completes.
//! - [`host_pass`], on every host: removes this host's brick directories of deleted volumes
//!   once its glusterd no longer knows them, and acknowledges that in the store (the lock
//!   holder forgets a deleted volume once every brick host acknowledged); removes the
//!   directories left to it while it was out of the cluster (leftovers), and those its
//!   bricks moved away from once gluster no longer uses them.
//!
//! Every write of the lock holder is fenced ([`Fence`]): it is a transaction guarded by the
//! pool lock's revision, so a holder whose lease lapsed mid-pass cannot overwrite the next
//! holder's work, and a pass whose lease keeper lost the lease stops before its next gluster
//! command. Records that cannot be used are skipped and reported, never acted on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use brickyard_gluster::{Gluster, GlusterError, parse::parse_ok};
use brickyard_model::HostConfig;
use brickyard_model::keys::{
    CLEANUP_PREFIX, LEFTOVER_PREFIX, UNMANAGED_VOLUMES, cleanup_key, cleanup_of, cleanup_prefix,
    leftover_of, leftover_prefix, volume_key, volume_status_key,
};
use brickyard_model::names::check_volume_name;
use brickyard_model::records::RecordError;
use brickyard_store::{Expect, Held, Op, Store, StoreError, Txn};
use thiserror::Error;
use tracing::{info, warn};

use crate::api::{Stored, now, stored};
use crate::plan::{Action, HostAction, HostInputs, Inputs, host_plan, plan};
use crate::record::{Phase, VolumeRecord, VolumeStatus};
use brickyard_model::records::volume::Leftover;

/// How long one cluster pass may keep starting work: the agent renews its liveness lease
/// between passes, so a pass stays well inside the lease's TTL and continues next time.
pub const PASS_BUDGET: Duration = Duration::from_secs(4);

/// How often the pool lock's holder asks gluster about every volume at least: in between,
/// a pass asks only about the volumes that changed (see [`GlusterView`]).
pub const FULL_VIEW_EVERY: Duration = Duration::from_secs(10);

/// How much longer than its last `volume info` of every volume took the view waits before
/// it asks again, when that is longer than [`FULL_VIEW_EVERY`]: glusterd and the CLI spend
/// time in proportion to the number of volumes (about 1 ms each), and an idle holder should
/// not spend more than a few percent of a core on asking what it already knows.
const FULL_VIEW_SPACING: u32 = 20;

/// A pass asks about at most this many volumes one by one; with more, one `volume info` of
/// all is cheaper.
const ASK_ONE_BY_ONE: usize = 8;

/// What the pool lock's holder knows of gluster's volumes, kept from pass to pass, so that
/// a pass costs what changed: `volume info` of every volume takes glusterd time in
/// proportion to their number (60 ms for 100 here), paid by every create when each pass
/// asked for all of them.
///
/// A pass asks `volume info NAME` for the volumes whose record changed since the last pass,
/// the ones it acted on or left work for last time, and those it never saw; the rest it
/// takes from here. Every [`FULL_VIEW_EVERY`] (or 20 times what the last such call took,
/// when that is longer), and when there is no view yet, it asks about all of them, which
/// also finds what changed behind brickyard's back (a volume stopped or made by hand). A new
/// holder starts with an empty view.
#[derive(Debug, Default)]
pub struct GlusterView {
    volumes: BTreeMap<String, brickyard_gluster::VolumeInfo>,
    full_at: Option<Instant>,
    /// How long the last `volume info` of every volume took.
    full_took: Duration,
    /// Each record's store revision as of the last pass.
    revisions: BTreeMap<String, i64>,
    /// Volumes the last pass acted on or left actions for: asked about again.
    dirty: BTreeSet<String>,
}

impl GlusterView {
    /// Every volume gluster has, as of the last pass; `None` before the first full look.
    pub fn known(&self) -> Option<Vec<brickyard_gluster::VolumeInfo>> {
        self.full_at
            .map(|_| self.volumes.values().cloned().collect())
    }

    /// Whether a pass now could learn something from gluster that the view does not hold:
    /// there is no view yet, the next look at every volume is due, or the last pass acted
    /// on volumes or left work for them. When not, and no record or status changed, a pass
    /// would plan nothing: the agent skips it.
    pub fn due(&self) -> bool {
        self.full_due() || !self.dirty.is_empty()
    }

    fn full_due(&self) -> bool {
        let every = FULL_VIEW_EVERY.max(self.full_took * FULL_VIEW_SPACING);
        self.full_at.is_none_or(|t| t.elapsed() >= every)
    }

    /// Forgets everything: the next pass asks about every volume.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The volumes to ask about one by one for a pass over `records` (name, store revision):
    /// those whose record changed, appeared or went, and the dirty ones; `None` when all
    /// are to be asked about at once.
    fn to_ask(&self, records: &BTreeMap<&str, i64>) -> Option<BTreeSet<String>> {
        if self.full_due() {
            return None;
        }
        let ask: BTreeSet<String> = records
            .iter()
            .filter(|(name, rev)| self.revisions.get(**name) != Some(*rev))
            .map(|(name, _)| (*name).to_owned())
            .chain(self.dirty.iter().cloned())
            .chain(
                self.revisions
                    .keys()
                    .filter(|n| !records.contains_key(n.as_str()))
                    .cloned(),
            )
            .collect();
        (ask.len() <= ASK_ONE_BY_ONE).then_some(ask)
    }

    /// Brings the view up to date for a pass over `records` (name, store revision), asking
    /// gluster about what may have changed; returns every volume gluster has.
    async fn refresh(
        &mut self,
        gluster: &Gluster,
        records: &BTreeMap<&str, i64>,
    ) -> Result<Vec<brickyard_gluster::VolumeInfo>, GlusterError> {
        let ask = self.to_ask(records);
        if let Some(ask) = ask {
            let mut fresh = Vec::with_capacity(ask.len());
            for name in &ask {
                fresh.push((name.clone(), gluster.volume_info_of(name).await?));
            }
            for (name, info) in fresh {
                match info {
                    Some(v) => self.volumes.insert(name, v),
                    None => self.volumes.remove(&name),
                };
            }
        } else {
            let started = Instant::now();
            let all = gluster.volume_info(None).await?;
            self.full_at = Some(Instant::now());
            self.full_took = started.elapsed();
            self.volumes = all.into_iter().map(|v| (v.name.clone(), v)).collect();
        }
        self.revisions = records.iter().map(|(n, r)| ((*n).to_owned(), *r)).collect();
        Ok(self.volumes.values().cloned().collect())
    }
}

/// Why a pass could not run, or stopped (failures of single volumes are recorded in their
/// status instead).
#[derive(Debug, Error)]
pub enum ReconcileError {
    /// The store failed.
    #[error("volume reconcile: {0}")]
    Store(#[from] StoreError),
    /// glusterd did not answer `volume info` / `volume list`.
    #[error("volume reconcile: cannot read gluster's volumes: {0}")]
    Gluster(#[from] GlusterError),
    /// The pool lock moved or its lease lapsed: this agent no longer leads.
    #[error(
        "volume reconcile stopped: this agent lost the pool lock ({0}); the next holder continues"
    )]
    LostLock(&'static str),
}

impl From<crate::VolumeError> for ReconcileError {
    fn from(e: crate::VolumeError) -> Self {
        match e {
            crate::VolumeError::Store(s) => Self::Store(s),
            other => Self::Store(StoreError::Backend {
                endpoint: String::new(),
                op: "read",
                key: "gluster/volumes/".into(),
                reason: other.to_string(),
            }),
        }
    }
}

/// The pool lock as this pass holds it: its writes are guarded by the lock's revision, and
/// `lost` turns true when the lease keeper could not renew the lease.
#[derive(Debug, Clone)]
pub struct Fence {
    held: Held,
    lost: Arc<AtomicBool>,
}

impl Fence {
    /// A fence for a pass holding `held`; `lost` is set by whoever keeps the lease alive.
    pub fn new(held: Held, lost: Arc<AtomicBool>) -> Self {
        Self { held, lost }
    }

    pub(crate) fn check(&self) -> Result<(), ReconcileError> {
        if self.lost.load(Ordering::SeqCst) {
            Err(ReconcileError::LostLock("its lease could not be renewed"))
        } else {
            Ok(())
        }
    }

    /// Commits `ops` only while the lock is still held as at the start of the pass.
    async fn commit(&self, store: &dyn Store, mut txn: Txn) -> Result<bool, ReconcileError> {
        self.check()?;
        txn.guards.push(self.held.guard());
        Ok(store.commit(txn).await?)
    }

    /// Writes `key` fenced; an error when the lock moved.
    pub(crate) async fn put(
        &self,
        store: &dyn Store,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), ReconcileError> {
        let txn = Txn {
            guards: Vec::new(),
            ops: vec![Op::Put {
                key,
                value,
                lease: None,
            }],
        };
        if self.commit(store, txn).await? {
            Ok(())
        } else {
            Err(ReconcileError::LostLock("the lock's key changed"))
        }
    }
}

/// What a cluster pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Actions carried out.
    pub done: usize,
    /// Volumes whose actions failed this pass.
    pub failed: usize,
    /// Gluster volumes no record asks for.
    pub unmanaged: Vec<String>,
    /// Stored records and statuses that cannot be used (skipped).
    pub invalid: Vec<RecordError>,
}

/// Hosts that acknowledged their clean-up, by volume. An error when the acknowledgements
/// cannot be listed: a stale list must never let a record be forgotten early.
/// A host that left the cluster with brick directories of a volume (a leftover record,
/// written by `brickyard host remove`) counts as done: it removes them if it ever runs again.
async fn cleaned(store: &dyn Store) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in store.list(CLEANUP_PREFIX).await? {
        if let Some((vol, host)) = cleanup_of(&e.key) {
            out.entry(vol.to_owned())
                .or_default()
                .insert(host.to_owned());
        }
    }
    for e in store.list(LEFTOVER_PREFIX).await? {
        if let Some((host, vol)) = leftover_of(&e.key) {
            out.entry(vol.to_owned())
                .or_default()
                .insert(host.to_owned());
        }
    }
    Ok(out)
}

fn split(
    st: &Stored,
) -> (
    Vec<VolumeRecord>,
    BTreeMap<String, VolumeStatus>,
    BTreeSet<String>,
) {
    let records = st.records.iter().map(|(_, r)| r.clone()).collect();
    let mut status = BTreeMap::new();
    let mut unreadable = BTreeSet::new();
    for (name, s) in &st.statuses {
        match s {
            Ok(s) => {
                status.insert(name.clone(), s.clone());
            }
            Err(_) => {
                unreadable.insert(name.clone());
            }
        }
    }
    (records, status, unreadable)
}

/// One pass of the pool lock's holder `host` over every volume; `view` is what it kept of
/// gluster's volumes from its last pass (see [`GlusterView`]).
pub async fn cluster_pass(
    store: &dyn Store,
    gluster: &Gluster,
    host: &str,
    fence: &Fence,
    view: &mut GlusterView,
) -> Result<PassReport, ReconcileError> {
    let started = Instant::now();
    let st = stored(store).await?;
    let (records, status, unreadable) = split(&st);
    let cleaned = cleaned(store).await?;
    let revisions: BTreeMap<&str, i64> = st
        .records
        .iter()
        .map(|(e, r)| (r.name.as_str(), e.mod_revision))
        .collect();
    let volumes = match view.refresh(gluster, &revisions).await {
        Ok(v) => v,
        Err(e) => {
            view.clear();
            return Err(e.into());
        }
    };
    let p = plan(&Inputs {
        records: &records,
        status: &status,
        unreadable: &unreadable,
        gluster: &volumes,
        cleaned: &cleaned,
    });
    let mut report = PassReport {
        unmanaged: p.unmanaged.clone(),
        invalid: st.invalid.clone(),
        ..PassReport::default()
    };
    record_unmanaged(store, fence, &p.unmanaged).await?;
    // Whatever this pass does or leaves to do changes gluster: asked about next pass.
    view.dirty = p
        .volumes
        .iter()
        .filter(|(_, actions)| !actions.is_empty())
        .map(|(name, _)| name.clone())
        .collect();
    for (name, actions) in &p.volumes {
        if started.elapsed() > PASS_BUDGET {
            break;
        }
        let mut vs = status
            .get(name)
            .cloned()
            .unwrap_or_else(|| VolumeStatus::new(name, Phase::Creating, host, now()));
        for action in actions {
            fence.check()?;
            match execute(
                store,
                gluster,
                host,
                fence,
                action,
                &mut vs,
                revisions.get(name.as_str()),
            )
            .await
            {
                Ok(()) => report.done += 1,
                Err(Skip::Quietly(why)) => {
                    info!(volume = %name, "{why}; continuing next pass");
                    break;
                }
                Err(Skip::Failed(reason)) => {
                    warn!(volume = %name, "{reason}");
                    report.failed += 1;
                    vs.phase = Phase::Failed;
                    vs.reason = reason;
                    write_status(store, fence, host, &mut vs).await?;
                    break;
                }
                Err(Skip::Wait(reason)) => {
                    info!(volume = %name, "{reason}");
                    if vs.reason != reason {
                        vs.reason = reason;
                        write_status(store, fence, host, &mut vs).await?;
                    }
                    break;
                }
                Err(Skip::Stop(e)) => return Err(e),
            }
        }
    }
    Ok(report)
}

/// The status reason while glusterd refuses a command because another transaction holds a
/// lock (`refused`: the command and gluster's words). The same text each pass, so that
/// waiting does not rewrite the status.
fn busy_reason(refused: &str) -> String {
    format!(
        "waiting: another gluster transaction holds a lock this volume needs ({refused}); retrying. A lock left by a glusterd that died mid-transaction is released 3 minutes after it was taken"
    )
}

async fn record_unmanaged(
    store: &dyn Store,
    fence: &Fence,
    names: &[String],
) -> Result<(), ReconcileError> {
    let value = serde_json::to_vec(names).expect("names always serialise");
    let same = matches!(store.get(UNMANAGED_VOLUMES).await, Ok(Some(e)) if e.value == value);
    if !same {
        if !names.is_empty() {
            info!(
                "gluster volumes not managed by brickyard (left alone): {}",
                names.join(", ")
            );
        }
        fence
            .put(store, UNMANAGED_VOLUMES.to_owned(), value)
            .await?;
    }
    Ok(())
}

/// Records the volume's status, fenced; an error (and no further action on the volume) when
/// it cannot be recorded.
async fn write_status(
    store: &dyn Store,
    fence: &Fence,
    host: &str,
    st: &mut VolumeStatus,
) -> Result<(), ReconcileError> {
    st.by = host.to_owned();
    st.updated_at = now();
    let value = serde_json::to_vec(st).expect("statuses always serialise");
    fence.put(store, volume_status_key(&st.name), value).await
}

/// Why a volume's remaining actions are skipped this pass.
enum Skip {
    /// Nothing is wrong that the next pass will not see and handle (e.g. another agent's
    /// interrupted command completed meanwhile).
    Quietly(String),
    /// Recorded as the volume's failure.
    Failed(String),
    /// Gluster cannot do it yet: another transaction holds a lock it needs, or it waits
    /// for something outside this volume (the text: the whole reason, the same each pass).
    /// Not a failure: the volume keeps its phase, the status says what it waits for, and
    /// the next pass tries again.
    Wait(String),
    /// The whole pass stops: the lock is lost, or the store cannot record what this pass
    /// is about to do.
    Stop(ReconcileError),
}

impl From<ReconcileError> for Skip {
    fn from(e: ReconcileError) -> Self {
        Self::Stop(e)
    }
}

fn failed(what: &str, e: &GlusterError) -> Skip {
    if let Some(f) = e.op_failure().filter(|f| f.is_busy()) {
        return Skip::Wait(busy_reason(&format!("`{what}` refused: {}", f.op_errstr)));
    }
    Skip::Failed(format!("{what} failed: {e}"))
}

/// Moves the files of brick `from` of a plain distribute volume onto its other bricks, then
/// takes it out: each pass asks how far gluster's `remove-brick` got and takes the next
/// step. `Ok` once the brick is out; a wait while files move; a failure, with nothing
/// committed, when a file could not move (committing would leave it behind).
async fn migrate_off(gluster: &Gluster, name: &str, from: &str) -> Result<(), Skip> {
    let status = match gluster.remove_brick_status(name, from).await {
        Ok(s) if s.status != "stopped" => s,
        // Not started, or stopped by hand (to make room): start it (again).
        Ok(_) => return Err(start_migration(gluster, name, from).await),
        Err(e) if already(&e, &["remove-brick not started"]) => {
            return Err(start_migration(gluster, name, from).await);
        }
        Err(e) => return Err(failed("volume remove-brick status", &e)),
    };
    let counts = format!(
        "{} files ({} bytes) moved, {} looked at, in {:.0} s",
        status.files, status.bytes, status.lookups, status.runtime_secs
    );
    match status.status.as_str() {
        "completed" if status.failures == 0 && status.skipped == 0 => {
            gluster
                .run(
                    &["volume", "remove-brick", name, from, "commit"],
                    true,
                    parse_ok,
                )
                .await
                .map_err(|e| failed("volume remove-brick commit", &e))?;
            info!(volume = %name, %from, "brick removed, its files moved ({counts})");
            Ok(())
        }
        "completed" => Err(Skip::Failed(format!(
            "{} files could not move off {from} ({} failed, {} skipped; {counts}); they are still on it and nothing is committed. Its host's /var/log/glusterfs/{name}-rebalance.log says why (often no room on the other bricks); once fixed, `gluster volume remove-brick {name} {from} stop` lets brickyard start the move again",
            status.failures + status.skipped,
            status.failures,
            status.skipped
        ))),
        "in progress" | "not started" => Err(Skip::Wait(format!(
            "moving the files of {from} onto the volume's other bricks: {counts}"
        ))),
        other => Err(Skip::Failed(format!(
            "moving the files off {from} {other} ({counts}); nothing is committed. Its host's /var/log/glusterfs/{name}-rebalance.log says why; `gluster volume remove-brick {name} {from} stop` lets brickyard start the move again"
        ))),
    }
}

/// Starts moving the files off `from`; the volume then waits for them.
async fn start_migration(gluster: &Gluster, name: &str, from: &str) -> Skip {
    let start = ["volume", "remove-brick", name, from, "start"];
    match gluster.run(&start, true, parse_ok).await {
        Ok(()) => {
            info!(volume = %name, %from, "moving the brick's files onto the other bricks");
            Skip::Wait(format!(
                "moving the files of {from} onto the volume's other bricks: started"
            ))
        }
        Err(e) => failed("volume remove-brick start", &e),
    }
}

/// gluster's refusal of a `volume delete` while any peer of the pool is down, whatever
/// peers the volume's bricks are on (measured on gluster 10.3).
const PEERS_DOWN: &str = "Some of the peers are down";

/// Whether gluster refused because the thing is already the way it is asked to be.
fn already(e: &GlusterError, needles: &[&str]) -> bool {
    e.op_failure()
        .is_some_and(|f| needles.iter().any(|n| f.op_errstr.contains(n)))
}

async fn execute(
    store: &dyn Store,
    gluster: &Gluster,
    host: &str,
    fence: &Fence,
    action: &Action,
    st: &mut VolumeStatus,
    revision: Option<&i64>,
) -> Result<(), Skip> {
    match action {
        Action::MarkCreating { name } => {
            // A create already recorded as attempted keeps its status (and the reason it
            // waits), so that a wait does not rewrite the status twice a pass.
            if st.phase != Phase::Creating || !st.create_attempted {
                info!(volume = %name, "creating");
                st.phase = Phase::Creating;
                st.reason.clear();
                st.create_attempted = true;
                // Recorded before the create, or the create does not happen.
                write_status(store, fence, host, st).await?;
            }
        }
        Action::Create { spec } => {
            let t = Instant::now();
            match gluster.volume_create(spec).await {
                Ok(_) => info!(
                    volume = %spec.name,
                    "gluster volume create took {:.2}s",
                    t.elapsed().as_secs_f32()
                ),
                Err(e) if already(&e, &["already exists"]) => {
                    return Err(Skip::Quietly(format!(
                        "volume {} appeared meanwhile",
                        spec.name
                    )));
                }
                Err(e) => return Err(failed("volume create", &e)),
            }
        }
        Action::SetOptions { name, options } => {
            let mut args = vec!["volume", "set", name.as_str()];
            for (key, value) in options {
                args.extend([key.as_str(), value.as_str()]);
            }
            gluster
                .run(&args, true, parse_ok)
                .await
                .map_err(|e| failed(&args.join(" "), &e))?;
        }
        Action::Start { name } => match gluster.volume_start(name, false).await {
            Ok(_) => info!(volume = %name, "started"),
            Err(e) if already(&e, &["already started"]) => {}
            Err(e) => return Err(failed("volume start", &e)),
        },
        Action::Stop { name, force } => match gluster.volume_stop(name, *force).await {
            Ok(_) => info!(volume = %name, "stopped"),
            Err(e) if already(&e, &["is not in the started state", "not started"]) => {}
            Err(e) => return Err(failed("volume stop", &e)),
        },
        Action::Delete { name } => match gluster.volume_delete(name).await {
            Ok(_) => {
                info!(volume = %name, "deleted from gluster; the hosts remove the brick directories")
            }
            Err(e) if already(&e, &["does not exist"]) => {}
            Err(e) if already(&e, &[PEERS_DOWN]) => {
                st.phase = Phase::Deleting;
                return Err(Skip::Wait(format!(
                    "waiting: gluster deletes no volume while a peer of the pool is down (\"{PEERS_DOWN}\"); the delete finishes once the peer is back or, for a host that will never return, once `brickyard host remove HOST` took it out of the pool (`brickyard status` shows which host is down)"
                )));
            }
            Err(e) => return Err(failed("volume delete", &e)),
        },
        Action::MarkExpanding { name } => {
            info!(volume = %name, "expanding");
            st.phase = Phase::Expanding;
            st.reason.clear();
            st.rebalance_pending = true;
            // Recorded before the bricks are added, or they are not added.
            write_status(store, fence, host, st).await?;
        }
        Action::AddBricks {
            name,
            bricks,
            replica,
            arbiter,
        } => {
            let mut args: Vec<String> = vec!["volume".into(), "add-brick".into(), name.clone()];
            if let Some(r) = replica {
                args.extend(["replica".into(), r.to_string()]);
            }
            if let Some(a) = arbiter {
                args.extend(["arbiter".into(), a.to_string()]);
            }
            args.extend(bricks.iter().cloned());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            gluster
                .run(&args, true, parse_ok)
                .await
                .map_err(|e| failed("volume add-brick", &e))?;
            info!(volume = %name, "added bricks {}", bricks.join(" "));
        }
        Action::MarkReplacing { name } => {
            // A move that waits (for heal, for files to move) keeps its status and reason
            // until the wait's next text, so that waiting does not rewrite it twice a pass.
            if st.phase != Phase::Replacing {
                info!(volume = %name, "replacing bricks");
                st.phase = Phase::Replacing;
                st.reason.clear();
                write_status(store, fence, host, st).await?;
            }
        }
        Action::ReplaceBrick { name, from, to } => {
            // The leaving brick must not be the only good copy of anything: entries it
            // holds for the rest of its set (heal pending on it) would go with it.
            let bricks = gluster.heal_info(name).await.map_err(|e| {
                Skip::Failed(format!(
                    "brick {from} is not replaced yet: could not ask for its pending heals ({e}); it must be started to be healed"
                ))
            })?;
            if let Some(n) = bricks
                .iter()
                .find(|b| b.name == *from && b.connected())
                .and_then(|b| b.pending)
                .filter(|n| *n > 0)
            {
                // Not a failure: the replacement waits for heal, which runs by itself.
                let reason = format!(
                    "waiting: brick {from} holds {n} entries the rest of its set has not received yet; it is replaced once heal brings them there"
                );
                if st.reason != reason {
                    st.reason = reason;
                    write_status(store, fence, host, st).await?;
                }
                return Err(Skip::Quietly(format!("{from} waits for heal")));
            }
            let args = ["volume", "replace-brick", name, from, to, "commit", "force"];
            match gluster.run(&args, true, parse_ok).await {
                Ok(()) => info!(volume = %name, %from, %to, "brick replaced"),
                // An earlier pass's command completed after all.
                Err(e) if already(&e, &["not a brick of", "does not exist in volume"]) => {}
                Err(e) => return Err(failed("volume replace-brick", &e)),
            }
            if let Err(e) = gluster.heal_start(name).await {
                warn!(volume = %name, "cannot start its heal after replace-brick: {e}");
            }
        }
        Action::MigrateOff { name, from } => migrate_off(gluster, name, from).await?,
        Action::Rebalance { name } => {
            match gluster
                .run(&["volume", "rebalance", name, "start"], true, parse_ok)
                .await
            {
                Ok(()) => info!(volume = %name, "rebalance started"),
                Err(e) if already(&e, &["already", "in progress"]) => {}
                Err(e) => return Err(failed("volume rebalance start", &e)),
            }
            st.rebalance_pending = false;
            write_status(store, fence, host, st).await?;
        }
        Action::Settle {
            name: _,
            phase,
            reason,
            bricks,
        } => {
            if st.phase != *phase || st.reason != *reason || st.bricks != *bricks {
                st.phase = *phase;
                st.reason.clone_from(reason);
                st.bricks = *bricks;
                write_status(store, fence, host, st).await?;
            }
        }
        Action::Forget { name } => {
            let Some(&rev) = revision else {
                return Ok(());
            };
            let acks = store.list(&cleanup_prefix(name)).await.map_err(|e| {
                Skip::Quietly(format!("cannot list the clean-up acknowledgements: {e}"))
            })?;
            let mut ops = vec![
                Op::Delete {
                    key: volume_key(name),
                },
                Op::Delete {
                    key: volume_status_key(name),
                },
            ];
            ops.extend(acks.into_iter().map(|e| Op::Delete { key: e.key }));
            let txn = Txn {
                guards: vec![(volume_key(name), Expect::ModRevision(rev))],
                ops,
            };
            if fence.commit(store, txn).await? {
                info!(volume = %name, "deleted: gone from gluster and from every host");
            } else if fence
                .held
                .still_held(store)
                .await
                .map_err(ReconcileError::from)?
            {
                return Err(Skip::Quietly("the record changed".into()));
            } else {
                return Err(Skip::Stop(ReconcileError::LostLock(
                    "the lock's key changed",
                )));
            }
        }
    }
    Ok(())
}

/// Whether a host leaving the pool still holds bricks in gluster ([`free_host`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostBricks {
    /// No volume of gluster has a brick on it: its peer can be detached.
    None,
    /// Bricks of volumes being deleted were taken out this pass; more may follow.
    Releasing,
    /// It holds bricks that stay: why, and what to do.
    Kept(String),
}

/// On the pool lock's holder, before a removed host's peer is detached: takes the bricks
/// on `ip` out of gluster's volumes that are being deleted, one `remove-brick ... force`
/// step per volume per pass ([`crate::release`]). A brick of any other volume keeps the
/// peer (gluster would refuse the detach anyway).
pub async fn free_host(
    store: &dyn Store,
    gluster: &Gluster,
    ip: &str,
) -> Result<HostBricks, ReconcileError> {
    let volumes = gluster.volume_info(None).await?;
    let st = stored(store).await?;
    let mut kept = Vec::new();
    let mut releasing = false;
    for v in volumes
        .iter()
        .filter(|v| v.bricks.iter().any(|b| b.host == ip))
    {
        let deleted = st
            .records
            .iter()
            .any(|(_, r)| r.name == v.name && r.state == crate::DesiredState::Deleted);
        if !deleted {
            kept.push(format!(
                "volume {} has a brick there and is not being deleted (move it with `brickyard host replace`)",
                v.name
            ));
            continue;
        }
        let (shape, slots) = crate::release::from_gluster(v, ip);
        match crate::release::steps(shape, &slots) {
            Ok(steps) => {
                let Some(step) = steps.first() else { continue };
                let args = step.args(&v.name);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                match gluster.run(&args, true, parse_ok).await {
                    Ok(()) => {
                        info!(volume = %v.name, "took bricks {} out of the volume being deleted, so that their host can leave the pool", step.bricks.join(" "));
                        releasing = true;
                    }
                    Err(e) => kept.push(format!("volume {}: `remove-brick` failed: {e}", v.name)),
                }
            }
            Err(why) => kept.push(format!(
                "volume {} cannot let go of its bricks there: {why}",
                v.name
            )),
        }
    }
    Ok(if !kept.is_empty() {
        HostBricks::Kept(kept.join("; "))
    } else if releasing {
        HostBricks::Releasing
    } else {
        HostBricks::None
    })
}

/// What a [`host_pass`] did.
#[derive(Debug, Default)]
pub struct HostPass {
    /// The directories removed.
    pub removed: Vec<String>,
    /// There was nothing to look at: no leftover, no directory a brick moved away from,
    /// no volume being deleted. Until the store changes, the next pass would do nothing.
    pub idle: bool,
}

/// One pass of a host's own agent: removes this host's leftovers and the directories its
/// bricks moved away from, then its brick directories of deleted volumes, acknowledging
/// each volume.
pub async fn host_pass(
    store: &dyn Store,
    gluster: &Gluster,
    config: &HostConfig,
) -> Result<HostPass, ReconcileError> {
    let st = stored(store).await?;
    let (mut removed, leftovers) = leftover_pass(store, gluster, config, &st).await?;
    let (moved, moves) = moved_away_pass(gluster, config, &st).await?;
    removed.extend(moved);
    let (records, status, unreadable) = split(&st);
    let records: Vec<VolumeRecord> = records
        .into_iter()
        .filter(|r| r.state == crate::DesiredState::Deleted)
        .collect();
    if records.is_empty() {
        return Ok(HostPass {
            removed,
            idle: !leftovers && !moves && unreadable.is_empty(),
        });
    }
    let acked: BTreeSet<String> = cleaned(store)
        .await?
        .into_iter()
        .filter(|(_, hosts)| hosts.contains(&config.host_name))
        .map(|(v, _)| v)
        .collect();
    let local: BTreeSet<String> = gluster.volume_list().await?.into_iter().collect();
    let mounts: Vec<String> = config.bricks().into_iter().map(|(_, m)| m).collect();
    let actions = host_plan(&HostInputs {
        host: &config.host_name,
        mounts: &mounts,
        records: &records,
        status: &status,
        unreadable: &unreadable,
        local_volumes: &local,
        acked: &acked,
    });
    let mut failed: BTreeSet<String> = BTreeSet::new();
    for a in actions {
        match a {
            HostAction::RemoveDir { name, path } => match remove_brick_dir(&name, &path, &mounts) {
                Ok(true) => {
                    info!(volume = %name, "removed brick directory {path}");
                    removed.push(path);
                }
                Ok(false) => {}
                Err(e) => {
                    warn!(volume = %name, "cannot remove brick directory {path}: {e}; retrying next pass");
                    failed.insert(name);
                }
            },
            HostAction::Ack { name } => {
                if failed.contains(&name) {
                    continue;
                }
                store
                    .put(&cleanup_key(&name, &config.host_name), b"{}", None)
                    .await?;
            }
        }
    }
    Ok(HostPass {
        removed,
        idle: false,
    })
}

/// Removes this host's leftovers: brick directories of volumes whose delete finished while
/// the host was out of the cluster (`brickyard host remove`), then each leftover record.
/// A directory is left alone while this host's glusterd still knows a volume of that name,
/// or while a record of that name (not being deleted, or one that cannot be read) may use
/// it; the record is removed all the same in the second case, since the directory is
/// another volume's now.
async fn leftover_pass(
    store: &dyn Store,
    gluster: &Gluster,
    config: &HostConfig,
    st: &Stored,
) -> Result<(Vec<String>, bool), ReconcileError> {
    let entries = store.list(&leftover_prefix(&config.host_name)).await?;
    if entries.is_empty() {
        return Ok((Vec::new(), false));
    }
    let local: BTreeSet<String> = gluster.volume_list().await?.into_iter().collect();
    let mounts: Vec<String> = config.bricks().into_iter().map(|(_, m)| m).collect();
    let mut removed = Vec::new();
    for e in entries {
        let l = match Leftover::decode(&e.key, &e.value) {
            Ok(l) => l,
            Err(err) => {
                warn!("{err}");
                continue;
            }
        };
        if local.contains(&l.volume) {
            // Checked every pass: quiet unless asked for.
            tracing::debug!(volume = %l.volume, "brick directories left from a deleted volume wait: this host's glusterd still has a volume of that name");
            continue;
        }
        if st.invalid.iter().any(|r| r.key == volume_key(&l.volume)) {
            continue;
        }
        let in_use: BTreeSet<&str> = st
            .records
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.name == l.volume && r.state != crate::DesiredState::Deleted)
            .flat_map(|r| r.bricks.iter())
            .filter(|b| b.host == config.host_name)
            .map(|b| b.path.as_str())
            .collect();
        let mut done = true;
        for path in &l.paths {
            if in_use.contains(path.as_str()) {
                continue;
            }
            match remove_brick_dir(&l.volume, path, &mounts) {
                Ok(true) => {
                    info!(volume = %l.volume, "removed brick directory {path}, left from when the volume was deleted without this host");
                    removed.push(path.clone());
                }
                Ok(false) => {}
                Err(err) => {
                    warn!(volume = %l.volume, "cannot remove brick directory {path}: {err}; retrying next pass");
                    done = false;
                }
            }
        }
        if done {
            let txn = Txn {
                guards: vec![(e.key.clone(), Expect::ModRevision(e.mod_revision))],
                ops: vec![Op::Delete { key: e.key }],
            };
            store.commit(txn).await?;
        }
    }
    Ok((removed, true))
}

/// Removes this host's brick directories that a finished move left behind: the `from` of a
/// recorded move on this host, which the record no longer lists here and no gluster volume
/// uses as a brick any more. Directories that cannot be looked at (a failed disk) are left
/// alone; gluster is asked only when such a directory is there.
async fn moved_away_pass(
    gluster: &Gluster,
    config: &HostConfig,
    st: &Stored,
) -> Result<(Vec<String>, bool), ReconcileError> {
    let here = |b: &crate::BrickRef, path: &str| b.host == config.host_name && b.path == path;
    let left: Vec<(&str, &crate::BrickRef)> = st
        .records
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.state != crate::DesiredState::Deleted)
        .flat_map(|r| {
            r.moves
                .iter()
                .filter(|m| m.from.host == config.host_name)
                .filter(|m| !r.bricks.iter().any(|b| here(b, &m.from.path)))
                .map(move |m| (r.name.as_str(), &m.from))
        })
        .filter(|(_, b)| std::fs::symlink_metadata(&b.path).is_ok_and(|m| m.is_dir()))
        .collect();
    if left.is_empty() {
        return Ok((Vec::new(), false));
    }
    let volumes = gluster.volume_info(None).await?;
    let ip = config.ip().to_string();
    let mounts: Vec<String> = config.bricks().into_iter().map(|(_, m)| m).collect();
    let mut removed = Vec::new();
    for (name, b) in left {
        // Only what this glusterd positively reports: the volume there, the brick not.
        let known = volumes.iter().any(|v| v.name == name);
        let in_use = volumes
            .iter()
            .flat_map(|v| v.bricks.iter())
            .any(|g| g.path == b.path && (g.host == b.ip || g.host == ip));
        if !known || in_use {
            continue;
        }
        match remove_brick_dir(name, &b.path, &mounts) {
            Ok(true) => {
                info!(volume = %name, "removed brick directory {}, which the brick moved away from", b.path);
                removed.push(b.path.clone());
            }
            Ok(false) => {}
            Err(e) => {
                warn!(volume = %name, "cannot remove brick directory {}, which the brick moved away from: {e}", b.path)
            }
        }
    }
    Ok((removed, true))
}

/// Removes `path`, a brick directory of volume `name`, only when it is exactly
/// `<one of this host's brick mounts>/<name>` for a valid volume name, a real directory (not
/// a link) and not a mount point itself: whatever a record says, nothing else is ever
/// removed. Returns whether something was removed.
fn remove_brick_dir(name: &str, path: &str, mounts: &[String]) -> std::io::Result<bool> {
    let refuse = |why: &str| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("refused: {why}"),
        ))
    };
    if check_volume_name(name).is_err() {
        return refuse("the volume name is not valid");
    }
    let p = Path::new(path);
    let under_mount = p.file_name().is_some_and(|f| f == name)
        && p.parent()
            .is_some_and(|parent| mounts.iter().any(|m| Path::new(m) == parent));
    if !under_mount {
        return refuse("it is not <brick mount>/<volume>");
    }
    let meta = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return refuse("it is not a directory");
    }
    match brickyard_sys::mounts::is_mount_point(p) {
        Ok(false) => {}
        Ok(true) => return refuse("it is a mount point"),
        Err(e) => return Err(std::io::Error::other(e.to_string())),
    }
    match std::fs::remove_dir_all(p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_asks_about_what_changed_and_about_all_when_old_or_asked_too_much() {
        let mut view = GlusterView::default();
        let records: BTreeMap<&str, i64> = [("a", 1), ("b", 2)].into();
        assert_eq!(view.to_ask(&records), None, "no view yet: all at once");
        view.full_at = Some(Instant::now());
        view.revisions = [
            ("a".to_owned(), 1),
            ("b".to_owned(), 2),
            ("gone".to_owned(), 3),
        ]
        .into();
        view.dirty = ["x".to_owned()].into();
        let changed: BTreeMap<&str, i64> = [("a", 1), ("b", 5), ("new", 6)].into();
        let ask = view.to_ask(&changed).expect("a few, one by one");
        assert_eq!(
            ask.into_iter().collect::<Vec<_>>(),
            ["b", "gone", "new", "x"],
            "changed, went, appeared and dirty; not the unchanged a"
        );
        let many: BTreeMap<String, i64> =
            (0..=ASK_ONE_BY_ONE).map(|i| (format!("v{i}"), 1)).collect();
        let many: BTreeMap<&str, i64> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(view.to_ask(&many), None, "too many: all at once");
        view.full_at = Some(Instant::now() - FULL_VIEW_EVERY);
        assert_eq!(view.to_ask(&records), None, "old: all at once");
        // A slow `volume info` of all is asked for less often: 20 times what it took.
        view.full_took = Duration::from_secs(1);
        assert!(view.to_ask(&records).is_some(), "10 s is not yet 20 s");
        view.full_at = Some(Instant::now() - Duration::from_secs(20));
        assert_eq!(view.to_ask(&records), None, "20 s: all at once");
    }

    #[test]
    fn only_a_brick_directory_of_the_volume_is_ever_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mount = dir.path().join("brick1");
        std::fs::create_dir_all(mount.join("gv0/data")).expect("mkdir");
        std::fs::create_dir_all(mount.join("other")).expect("mkdir");
        let mounts = vec![mount.display().to_string()];
        let m = mount.display().to_string();
        for (name, path) in [
            ("", m.clone()),
            ("..", format!("{m}/..")),
            ("gv0", m.clone()),
            ("gv0", format!("{m}/other")),
            ("gv0", "/etc".to_owned()),
        ] {
            assert!(
                remove_brick_dir(name, &path, &mounts).is_err(),
                "{name:?} {path}"
            );
        }
        assert!(mount.join("other").is_dir() && mount.join("gv0/data").is_dir());
        assert!(remove_brick_dir("gv0", &format!("{m}/gv0"), &mounts).expect("removes"));
        assert!(!mount.join("gv0").exists());
        assert!(!remove_brick_dir("gv0", &format!("{m}/gv0"), &mounts).expect("gone already"));
    }
}
