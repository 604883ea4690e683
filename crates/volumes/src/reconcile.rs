//! The reconciler the node agents run every pass.
//!
//! - [`cluster_pass`], on the pool lock's holder only: reads the records, the statuses and
//!   gluster's `volume info`, plans ([`crate::plan::plan`]) and carries the plan out with the
//!   gluster CLI, recording each volume's phase. Every step is safe to repeat, and the phase
//!   is recorded before the step that needs it ("creating" before `volume create`,
//!   "expanding" with a rebalance pending before `add-brick`), so an agent killed half-way
//!   leaves something the next pass — on this host or the next lock holder — completes.
//! - [`host_pass`], on every host: removes this host's brick directories of deleted volumes
//!   once its glusterd no longer knows them, and acknowledges that in the store; the lock
//!   holder forgets a deleted volume once every brick host acknowledged.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use brickyard_gluster::{Gluster, GlusterError, parse::parse_ok};
use brickyard_model::HostConfig;
use brickyard_model::keys::{VOLUME_PREFIX, volume_key};
use brickyard_store::{Entry, Expect, Op, Store, StoreError, Txn};
use thiserror::Error;
use tracing::{info, warn};

use crate::api::{now, statuses};
use crate::plan::{Action, HostAction, HostInputs, Inputs, host_plan, plan};
use crate::record::{
    CLEANUP_PREFIX, Phase, UNMANAGED_KEY, VolumeRecord, VolumeStatus, cleanup_key, cleanup_prefix,
    status_key,
};

/// How long one cluster pass may keep starting work: the agent renews its liveness lease
/// between passes, so a pass stays well inside the lease's TTL and continues next time.
pub const PASS_BUDGET: Duration = Duration::from_secs(4);

/// Why a pass could not run at all (failures of single volumes are recorded in their status
/// instead).
#[derive(Debug, Error)]
pub enum ReconcileError {
    /// The store failed.
    #[error("volume reconcile: {0}")]
    Store(#[from] StoreError),
    /// glusterd did not answer `volume info` / `volume list`.
    #[error("volume reconcile: cannot read gluster's volumes: {0}")]
    Gluster(#[from] GlusterError),
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
}

/// Records that parse, with their entries; an unreadable one is logged and left alone.
async fn readable_records(store: &dyn Store) -> Result<Vec<(Entry, VolumeRecord)>, StoreError> {
    let mut out = Vec::new();
    for e in store.list(VOLUME_PREFIX).await? {
        match serde_json::from_slice::<VolumeRecord>(&e.value) {
            Ok(r) => out.push((e, r)),
            Err(err) => warn!("volume record {} cannot be read, skipped: {err}", e.key),
        }
    }
    Ok(out)
}

/// Hosts that acknowledged their clean-up, by volume.
async fn cleaned(store: &dyn Store) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in store.list(CLEANUP_PREFIX).await? {
        if let Some((vol, host)) = e
            .key
            .strip_prefix(CLEANUP_PREFIX)
            .and_then(|k| k.split_once('/'))
        {
            out.entry(vol.to_owned())
                .or_default()
                .insert(host.to_owned());
        }
    }
    Ok(out)
}

/// One pass of the pool lock's holder `host` over every volume.
pub async fn cluster_pass(
    store: &dyn Store,
    gluster: &Gluster,
    host: &str,
) -> Result<PassReport, ReconcileError> {
    let started = Instant::now();
    let entries = readable_records(store).await?;
    let records: Vec<VolumeRecord> = entries.iter().map(|(_, r)| r.clone()).collect();
    let status = statuses(store).await.map_err(|e| match e {
        crate::VolumeError::Store(s) => ReconcileError::Store(s),
        other => ReconcileError::Store(StoreError::Corrupt {
            path: "gluster/volume-status/".into(),
            reason: other.to_string(),
        }),
    })?;
    let cleaned = cleaned(store).await?;
    let volumes = gluster.volume_info(None).await?;
    let p = plan(&Inputs {
        records: &records,
        status: &status,
        gluster: &volumes,
        cleaned: &cleaned,
    });
    let mut report = PassReport {
        unmanaged: p.unmanaged.clone(),
        ..PassReport::default()
    };
    record_unmanaged(store, &p.unmanaged).await;
    let revisions: BTreeMap<&str, i64> = entries
        .iter()
        .map(|(e, r)| (r.name.as_str(), e.mod_revision))
        .collect();
    for (name, actions) in &p.volumes {
        if started.elapsed() > PASS_BUDGET {
            break;
        }
        let mut st = status.get(name).cloned().unwrap_or_else(|| VolumeStatus {
            name: name.clone(),
            phase: Phase::Creating,
            reason: String::new(),
            create_attempted: false,
            rebalance_pending: false,
            bricks: 0,
            by: host.to_owned(),
            updated_at: now(),
        });
        for action in actions {
            match execute(
                store,
                gluster,
                host,
                action,
                &mut st,
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
                    st.phase = Phase::Failed;
                    st.reason = reason;
                    write_status(store, host, &mut st).await;
                    break;
                }
            }
        }
    }
    Ok(report)
}

async fn record_unmanaged(store: &dyn Store, names: &[String]) {
    let Ok(value) = serde_json::to_vec(names) else {
        return;
    };
    let same = matches!(store.get(UNMANAGED_KEY).await, Ok(Some(e)) if e.value == value);
    if !same {
        if !names.is_empty() {
            info!(
                "gluster volumes not managed by brickyard (left alone): {}",
                names.join(", ")
            );
        }
        if let Err(e) = store.put(UNMANAGED_KEY, &value, None).await {
            warn!("cannot record the unmanaged volumes: {e}");
        }
    }
}

async fn write_status(store: &dyn Store, host: &str, st: &mut VolumeStatus) {
    st.by = host.to_owned();
    st.updated_at = now();
    let Ok(value) = serde_json::to_vec(st) else {
        return;
    };
    if let Err(e) = store.put(&status_key(&st.name), &value, None).await {
        warn!(volume = %st.name, "cannot record the volume's status: {e}");
    }
}

/// Why a volume's remaining actions are skipped this pass.
enum Skip {
    /// Nothing is wrong that the next pass will not see and handle (e.g. another agent's
    /// interrupted command completed meanwhile).
    Quietly(String),
    /// Recorded as the volume's failure.
    Failed(String),
}

fn failed(what: &str, e: &GlusterError) -> Skip {
    Skip::Failed(format!("{what} failed: {e}"))
}

/// Whether gluster refused because the thing is already the way it is asked to be.
fn already(e: &GlusterError, needles: &[&str]) -> bool {
    e.op_failure()
        .is_some_and(|f| needles.iter().any(|n| f.op_errstr.contains(n)))
}

async fn execute(
    store: &dyn Store,
    gluster: &Gluster,
    host: &str,
    action: &Action,
    st: &mut VolumeStatus,
    revision: Option<&i64>,
) -> Result<(), Skip> {
    match action {
        Action::MarkCreating { name } => {
            info!(volume = %name, "creating");
            st.phase = Phase::Creating;
            st.reason.clear();
            st.create_attempted = true;
            write_status(store, host, st).await;
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
        Action::SetOption { name, key, value } => {
            gluster
                .run(&["volume", "set", name, key, value], true, parse_ok)
                .await
                .map_err(|e| failed(&format!("volume set {key} {value}"), &e))?;
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
            Err(e) => return Err(failed("volume delete", &e)),
        },
        Action::MarkExpanding { name } => {
            info!(volume = %name, "expanding");
            st.phase = Phase::Expanding;
            st.reason.clear();
            st.rebalance_pending = true;
            write_status(store, host, st).await;
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
            write_status(store, host, st).await;
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
                write_status(store, host, st).await;
            }
        }
        Action::Forget { name } => {
            let Some(&rev) = revision else {
                return Ok(());
            };
            let mut ops = vec![
                Op::Delete {
                    key: volume_key(name),
                },
                Op::Delete {
                    key: status_key(name),
                },
            ];
            if let Ok(acks) = store.list(&cleanup_prefix(name)).await {
                ops.extend(acks.into_iter().map(|e| Op::Delete { key: e.key }));
            }
            match store
                .commit(Txn {
                    guards: vec![(volume_key(name), Expect::ModRevision(rev))],
                    ops,
                })
                .await
            {
                Ok(true) => info!(volume = %name, "deleted: gone from gluster and from every host"),
                Ok(false) => return Err(Skip::Quietly("the record changed".into())),
                Err(e) => return Err(Skip::Quietly(format!("cannot forget the record: {e}"))),
            }
        }
    }
    Ok(())
}

/// One pass of a host's own agent: removes this host's brick directories of deleted
/// volumes and acknowledges each volume. Returns the directories removed.
pub async fn host_pass(
    store: &dyn Store,
    gluster: &Gluster,
    config: &HostConfig,
) -> Result<Vec<String>, ReconcileError> {
    let records: Vec<VolumeRecord> = readable_records(store)
        .await?
        .into_iter()
        .map(|(_, r)| r)
        .filter(|r| r.state == crate::DesiredState::Deleted)
        .collect();
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let status = statuses(store).await.unwrap_or_default();
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
        local_volumes: &local,
        acked: &acked,
    });
    let mut removed = Vec::new();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    for a in actions {
        match a {
            HostAction::RemoveDir { name, path } => match std::fs::remove_dir_all(&path) {
                Ok(()) => {
                    info!(volume = %name, "removed brick directory {path}");
                    removed.push(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
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
    Ok(removed)
}
