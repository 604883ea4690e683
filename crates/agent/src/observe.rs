//! What the pool lock's holder observes of the volumes in the background: entries pending
//! heal, recorded (fenced, under its lease) for `brickyard status` on any machine; and
//! brick processes that died while their glusterd runs, which it starts again.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brickyard_model::keys::OBSERVED_VOLUMES;
use brickyard_model::records::agent::{HealPeak, ObservedVolumes, RebalanceSeen};
use brickyard_store::{Op, Store, Txn};
use tracing::{Instrument as _, info, warn};

use crate::agent::Live;
use crate::liveness::now;
use crate::options::AgentOptions;

/// How often the pool lock's holder records what it observes of the volumes.
pub(crate) const OBSERVE_EVERY: Duration = Duration::from_secs(10);

/// How many `volume heal ... info` calls an observation runs at once.
pub(crate) const HEAL_INFO_PARALLEL: usize = 4;

/// How often an observation asks `heal info` about every replicated volume. In between it
/// asks only about volumes something points at (see [`worth_asking`]): each `heal info`
/// starts a gluster client (about 40 ms of CPU), which for every volume every 10 s kept
/// three quarters of a core busy at 150 volumes (measured).
pub(crate) const HEAL_FULL_EVERY: Duration = Duration::from_secs(60);

/// Whether an observation between full rounds asks `heal info` about `volume`: it had
/// entries pending, unreachable bricks or could not be asked last time (or was not
/// observed at all), its status changed since it was last asked about (a create, a move, an
/// expand: whoever waits for its heal sees counts asked after the change), some host's
/// agent counts entries in the volume's heal index on its bricks, or one of its bricks is
/// on a host without a live agent to count them.
fn worth_asking(
    volume: &brickyard_gluster::VolumeInfo,
    last: &ObservedVolumes,
    changed: &BTreeSet<String>,
    indexed: &BTreeSet<&str>,
    counting: &BTreeSet<String>,
) -> bool {
    let name = volume.name.as_str();
    last.heal_pending.get(name) != Some(&0)
        || changed.contains(name)
        || last.heal_unreachable.get(name).is_some_and(|n| *n > 0)
        || last.heal_unknown.contains_key(name)
        || indexed.contains(name)
        || volume.bricks.iter().any(|b| !counting.contains(&b.host))
}

/// Starts an observation of the volumes in the background, unless one still runs: heal info
/// costs about 0.3 s per volume, so with many volumes a round takes seconds and must never
/// hold up the agent's pass (which renews its lease and drives the volumes).
pub(crate) fn observe_volumes(opts: &AgentOptions, store: &Arc<dyn Store>, live: &mut Live) {
    if live.observing.as_ref().is_some_and(|t| !t.is_finished()) {
        return;
    }
    let Some(held) = live.held.clone() else {
        return;
    };
    live.last_observed = Some(Instant::now());
    let full = live
        .heal_full_at
        .is_none_or(|t| t.elapsed() >= HEAL_FULL_EVERY);
    if full {
        live.heal_full_at = Some(Instant::now());
    }
    let (gluster, store, host) = (opts.gluster.clone(), Arc::clone(store), opts.host.clone());
    let task = async move {
        let volumes = match gluster.volume_info(None).await {
            Ok(v) => v,
            Err(e) => {
                warn!("cannot observe the volumes: {e}");
                return;
            }
        };
        let mut rebalance = std::collections::BTreeMap::new();
        // The live agents: their failing disks, and the heal index entries they count.
        let agents = match brickyard_volumes::api::live_agents(store.as_ref()).await {
            Ok(a) => Some(a),
            Err(e) => {
                warn!("cannot read the agents' status (heal info asked of every volume): {e}");
                None
            }
        };
        if volumes
            .iter()
            .any(|v| v.state == brickyard_gluster::VolumeState::Started)
        {
            // Bricks on a disk its agent reports failing stay down: a restart would fail
            // again at once.
            let failing: Vec<String> = agents
                .iter()
                .flat_map(|agents| agents.values())
                .flat_map(|a| {
                    a.failed_disks
                        .iter()
                        .map(move |d| format!("{}:{}/", a.ip, d.mount_point))
                })
                .collect();
            match gluster.volume_status(None).await {
                Ok(status) => {
                    restart_dead_bricks(&gluster, &status, &failing).await;
                    rebalance = rebalances(&gluster, &status).await;
                }
                Err(e) => warn!("cannot read the bricks' status: {e}"),
            }
        }
        // The last observation (this holder's or the one before it): the heal peaks the
        // rate is measured from, and the counts of volumes not asked about again.
        let (last, full) = match store.get(OBSERVED_VOLUMES).await {
            Ok(Some(e)) => match ObservedVolumes::decode(&e.value) {
                Ok(o) => (o, full),
                Err(_) => (ObservedVolumes::default(), true),
            },
            Ok(None) => (ObservedVolumes::default(), true),
            Err(e) => {
                warn!("cannot read the last observation (heal rates start afresh): {e}");
                (ObservedVolumes::default(), true)
            }
        };
        // Volumes whose status changed since their heal was last asked about (or cannot be
        // read); every volume when the statuses cannot be listed.
        let changed: Option<BTreeSet<String>> =
            match brickyard_volumes::api::statuses(store.as_ref()).await {
                Ok((statuses, _)) => Some(
                    statuses
                        .into_iter()
                        .filter(|(name, s)| {
                            s.as_ref()
                                .map_or(true, |s| s.updated_at >= last.heal_asked_at(name))
                        })
                        .map(|(name, _)| name)
                        .collect(),
                ),
                Err(e) => {
                    warn!("cannot read the volumes' status (heal info asked of every volume): {e}");
                    None
                }
            };
        let full = full || agents.is_none() || changed.is_none();
        let changed = changed.unwrap_or_default();
        let peaks = &last.heal_peak;
        let live_agents = agents.iter().flat_map(|agents| agents.values());
        let indexed: BTreeSet<&str> = live_agents
            .clone()
            .flat_map(|a| a.heal_index.keys().map(String::as_str))
            .collect();
        let counting: BTreeSet<String> = live_agents.map(|a| a.ip.to_string()).collect();
        let mut obs = ObservedVolumes {
            schema: brickyard_model::records::SCHEMA,
            host,
            at: now(),
            rebalance,
            ..ObservedVolumes::default()
        };
        let mut names: Vec<String> = Vec::new();
        for v in volumes.iter().filter(|v| {
            v.state == brickyard_gluster::VolumeState::Started
                && (v.replica_count > 1 || v.disperse_count > 0)
        }) {
            if full || worth_asking(v, &last, &changed, &indexed, &counting) {
                names.push(v.name.clone());
                continue;
            }
            // Nothing points at it: its counts (none pending, every brick reachable) carry
            // over, with when they were asked.
            obs.heal_pending.insert(v.name.clone(), 0);
            obs.heal_unreachable.insert(v.name.clone(), 0);
            obs.heal_at
                .insert(v.name.clone(), last.heal_asked_at(&v.name));
        }
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < HEAL_INFO_PARALLEL
                && let Some(name) = names.pop()
            {
                let g = gluster.clone();
                running.spawn(async move {
                    let bricks = g.heal_info(&name).await;
                    (name, bricks)
                });
            }
            let Some(Ok((name, bricks))) = running.join_next().await else {
                break;
            };
            match bricks {
                Ok(bricks) => {
                    let pending: u64 = bricks.iter().filter_map(|b| b.pending).sum();
                    // Entries wait for the self-heal daemons' next crawl unless a brick
                    // came back (a full brick that was freed, a write that failed on one
                    // brick only): with every brick reachable, have them crawl now.
                    if pending > 0 && bricks.iter().all(|b| b.connected()) {
                        if let Err(e) = gluster.heal_start(&name).await {
                            warn!("volume {name}: cannot start its heal: {e}");
                        }
                    }
                    if let Some(p) = HealPeak::next(peaks.get(&name), obs.at, pending) {
                        obs.heal_peak.insert(name.clone(), p);
                    }
                    obs.heal_pending.insert(name.clone(), pending);
                    obs.heal_unreachable
                        .insert(name, bricks.iter().filter(|b| !b.connected()).count());
                }
                Err(e) => {
                    obs.heal_unknown.insert(name, e.to_string());
                }
            }
        }
        let value = serde_json::to_vec(&obs).expect("observations always serialise");
        // Fenced like every write of the lock's holder, and attached to its lease.
        let txn = Txn {
            guards: vec![held.guard()],
            ops: vec![Op::Put {
                key: OBSERVED_VOLUMES.to_owned(),
                value,
                lease: Some(held.lease()),
            }],
        };
        match store.commit(txn).await {
            Ok(true) => {}
            Ok(false) => info!("the pool lock moved: observation not recorded"),
            Err(e) => warn!("cannot record observed volumes: {e}"),
        }
    };
    live.observing = Some(tokio::spawn(task.instrument(tracing::Span::current())));
}

/// Starts again the brick processes that died while their host's glusterd kept running
/// (glusterd itself restarts a brick only when glusterd starts): a brick that
/// `volume status` lists offline on an answering host is dead, and `volume start VOL force`
/// starts exactly the offline bricks (and daemons) of a started volume, touching nothing
/// else. Bricks of hosts that do not answer are not listed, so a host that is down is
/// left alone.
async fn restart_dead_bricks(
    gluster: &brickyard_gluster::Gluster,
    status: &[brickyard_gluster::VolumeStatus],
    failing: &[String],
) {
    for v in status {
        let dead: Vec<String> = v
            .bricks
            .iter()
            .filter(|b| !b.online)
            .map(|b| format!("{}:{}", b.host, b.path))
            .filter(|b| !failing.iter().any(|f| b.starts_with(f)))
            .collect();
        if dead.is_empty() {
            continue;
        }
        match gluster.volume_start(&v.name, true).await {
            Ok(_) => info!(
                "volume {}: started its dead brick process(es) again: {}",
                v.name,
                dead.join(", ")
            ),
            Err(e) => warn!(
                "volume {}: cannot start its dead bricks ({}): {e}",
                v.name,
                dead.join(", ")
            ),
        }
    }
}

/// The last rebalance of each volume that has one: its status from `volume status`, and its
/// counts (`volume rebalance VOL status`) while it runs or once it failed; a completed one is
/// not asked again, so an idle cluster costs no extra gluster call per volume.
async fn rebalances(
    gluster: &brickyard_gluster::Gluster,
    status: &[brickyard_gluster::VolumeStatus],
) -> std::collections::BTreeMap<String, RebalanceSeen> {
    let mut out = std::collections::BTreeMap::new();
    for v in status {
        let Some(task) = v.tasks.iter().rev().find(|t| t.kind == "Rebalance") else {
            continue;
        };
        let mut seen = RebalanceSeen {
            status: task.status.clone(),
            ..RebalanceSeen::default()
        };
        if task.status != "completed" {
            match gluster.rebalance_status(&v.name).await {
                Ok(r) => {
                    seen = RebalanceSeen {
                        status: r.status,
                        files: Some(r.files),
                        bytes: Some(r.bytes),
                        lookups: Some(r.lookups),
                        failures: Some(r.failures),
                        runtime_secs: Some(r.runtime_secs.round() as u64),
                    };
                }
                Err(e) => warn!("volume {}: cannot read its rebalance: {e}", v.name),
            }
        }
        out.insert(v.name.clone(), seen);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use brickyard_gluster::{Brick, VolumeInfo, VolumeState};

    fn volume(name: &str, hosts: &[&str]) -> VolumeInfo {
        VolumeInfo {
            name: name.into(),
            id: String::new(),
            state: VolumeState::Started,
            type_str: "Replicate".into(),
            brick_count: hosts.len() as u32,
            dist_count: 1,
            replica_count: hosts.len() as u32,
            arbiter_count: 0,
            disperse_count: 0,
            redundancy_count: 0,
            bricks: hosts
                .iter()
                .map(|h| Brick {
                    name: format!("{h}:/gluster/brick1/{name}"),
                    host: (*h).into(),
                    path: format!("/gluster/brick1/{name}"),
                    host_uuid: String::new(),
                    is_arbiter: false,
                })
                .collect(),
            options: Default::default(),
        }
    }

    #[test]
    fn between_full_rounds_only_volumes_something_points_at_are_asked_about() {
        let hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
        let counting: BTreeSet<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        let mut last = ObservedVolumes::default();
        for v in [
            "quiet",
            "pending",
            "unreachable",
            "unknown",
            "indexed",
            "changed",
        ] {
            last.heal_pending.insert(v.into(), 0);
        }
        last.heal_pending.insert("pending".into(), 3);
        last.heal_unreachable.insert("unreachable".into(), 1);
        last.heal_unknown.insert("unknown".into(), "timeout".into());
        let indexed: BTreeSet<&str> = ["indexed"].into();
        let changed: BTreeSet<String> = ["changed".to_owned()].into();
        let asked = |v: &VolumeInfo, counting: &BTreeSet<String>| {
            worth_asking(v, &last, &changed, &indexed, counting)
        };
        assert!(!asked(&volume("quiet", &hosts), &counting));
        for v in [
            "pending",
            "unreachable",
            "unknown",
            "indexed",
            "changed",
            "never-seen",
        ] {
            assert!(asked(&volume(v, &hosts), &counting), "{v}");
        }
        // A brick on a host whose agent cannot count its index.
        let two: BTreeSet<String> = counting.iter().take(2).cloned().collect();
        assert!(asked(&volume("quiet", &hosts), &two));
    }
}
