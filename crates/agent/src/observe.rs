//! What the pool lock's holder observes of the volumes in the background: entries pending
//! heal (counted by the agents in their bricks' heal index, or asked of gluster where
//! counting cannot tell: [`look`]), recorded (fenced, under its lease) for `brickyard
//! status` on any machine; and brick processes that died while their glusterd runs, which
//! it starts again.

use std::collections::{BTreeMap, BTreeSet};
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

/// How much longer than its last `volume status` of every volume took an observation waits
/// before it asks again: about 40 ms per volume, it took over 30 s at 400 volumes (measured
/// with brick multiplexing), and asked every [`OBSERVE_EVERY`] it would keep glusterd busy
/// for good. Rounds in between count heals without it and restart no brick.
const STATUS_SPACING: u32 = 6;

/// When an observation may next ask `volume status` of every volume; shared with the
/// observation task, which sets it from how long its own `volume status` took.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatusDue(Arc<std::sync::Mutex<Option<Instant>>>);

impl StatusDue {
    fn due(&self) -> bool {
        self.0
            .lock()
            .map_or(true, |t| t.is_none_or(|t| Instant::now() >= t))
    }

    fn took(&self, started: Instant) {
        let next = started + (started.elapsed() * STATUS_SPACING).max(OBSERVE_EVERY);
        if let Ok(mut t) = self.0.lock() {
            *t = Some(next);
        }
    }
}

/// How many `volume heal ... info` calls an observation runs at once.
pub(crate) const HEAL_INFO_PARALLEL: usize = 4;

/// How an observation learns what a replicated volume has pending heal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    /// Ask gluster's `heal info`: a gluster client per volume (about 40 ms of CPU, and
    /// tens of seconds with thousands of entries, inspecting each while the self-heal
    /// daemon works on them: docs/gluster-notes.md).
    Ask,
    /// Add up the entries the volume's hosts' agents count in their bricks' heal index
    /// (a few directory reads each, on every agent tick): gluster's own `heal-count`.
    Count(u64),
}

/// How `volume` is observed. Its entries are counted from the agents' heal index when every
/// brick is online in this round's `volume status` (`online`; `None` in a round that did not
/// ask it, [`STATUS_SPACING`], or got no answer) and on a host whose live agent counts it, and gluster is
/// asked only where counting cannot tell: a brick offline, on a host
/// that does not answer or without a live agent (`heal info` says which bricks it cannot
/// reach); a volume never observed, or whose `heal info` failed or found bricks unreachable
/// last time; or whose status changed since gluster was last asked about it (a create, a
/// move, an expand), so that a wait for its heal sees an answer given after the change
/// (counted rounds keep the time of that answer, [`ObservedVolumes::heal_asked_at`]).
fn look(
    volume: &brickyard_gluster::VolumeInfo,
    last: &ObservedVolumes,
    changed: &BTreeSet<String>,
    index: &BTreeMap<String, &BTreeMap<String, u64>>,
    online: Option<&BTreeSet<String>>,
) -> Look {
    let name = volume.name.as_str();
    let ask = changed.contains(name)
        || !last.heal_pending.contains_key(name)
        || last.heal_unreachable.get(name).is_some_and(|n| *n > 0)
        || last.heal_unknown.contains_key(name)
        || volume
            .bricks
            .iter()
            .any(|b| !index.contains_key(&b.host) || !online.is_none_or(|o| o.contains(&b.name)));
    if ask {
        return Look::Ask;
    }
    let hosts: BTreeSet<&str> = volume.bricks.iter().map(|b| b.host.as_str()).collect();
    Look::Count(
        hosts
            .into_iter()
            .filter_map(|h| index.get(h))
            .filter_map(|counts| counts.get(name))
            .sum(),
    )
}

/// Starts an observation of the volumes in the background, unless one still runs: `volume
/// status` and any `heal info` it asks take seconds with many volumes or entries, and must
/// never hold up the agent's pass (which renews its lease and drives the volumes).
pub(crate) fn observe_volumes(opts: &AgentOptions, store: &Arc<dyn Store>, live: &mut Live) {
    if live.observing.as_ref().is_some_and(|t| !t.is_finished()) {
        return;
    }
    let Some(held) = live.held.clone() else {
        return;
    };
    live.last_observed = Some(Instant::now());
    let (gluster, store, host) = (opts.gluster.clone(), Arc::clone(store), opts.host.clone());
    let status_due = live.status_due.clone();
    // What the passes keep of gluster's volumes (each pass asks about what changed): with
    // a thousand volumes, `volume info` of all costs glusterd and the CLI about a second.
    let known = live.gluster_view.known();
    let task = async move {
        let volumes = match known {
            Some(v) => v,
            None => match gluster.volume_info(None).await {
                Ok(v) => v,
                Err(e) => {
                    warn!("cannot observe the volumes: {e}");
                    return;
                }
            },
        };
        // The live agents: their failing disks, and the heal index entries they count.
        let agents = match brickyard_volumes::api::live_agents(store.as_ref()).await {
            Ok(a) => Some(a),
            Err(e) => {
                warn!("cannot read the agents' status (heal info asked of every volume): {e}");
                None
            }
        };
        // The last observation (this holder's or the one before it): the heal peaks the
        // rate is measured from, the times gluster was last asked, the last rebalances.
        let last = match store.get(OBSERVED_VOLUMES).await {
            Ok(Some(e)) => ObservedVolumes::decode(&e.value).unwrap_or_default(),
            Ok(None) => ObservedVolumes::default(),
            Err(e) => {
                warn!("cannot read the last observation (heal rates start afresh): {e}");
                ObservedVolumes::default()
            }
        };
        // The bricks `volume status` lists online ("HOST:PATH"), in a round that asks it and
        // gets an answer; rounds in between carry the last rebalances over.
        let mut online = None;
        let mut rebalance = last.rebalance.clone();
        if status_due.due()
            && volumes
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
            let asked = Instant::now();
            let status = gluster.volume_status(None).await;
            status_due.took(asked);
            match status {
                Ok(status) => {
                    stop_failing_bricks(&gluster, &status, &failing).await;
                    restart_dead_bricks(&gluster, &status, &failing).await;
                    rebalance = rebalances(&gluster, &status).await;
                    online = Some(
                        status
                            .iter()
                            .flat_map(|v| v.bricks.iter().filter(|b| b.online))
                            .map(|b| format!("{}:{}", b.host, b.path))
                            .collect(),
                    );
                }
                // Heals are still counted where live agents count them; a `heal info` of
                // every volume would cost far more than the `volume status` that failed.
                Err(e) => warn!("cannot read the bricks' status: {e}"),
            }
        }
        // Volumes whose status changed since their heal was last asked about (or cannot be
        // read); every volume when the statuses cannot be listed.
        let changed: BTreeSet<String> = match brickyard_volumes::api::statuses(store.as_ref()).await
        {
            Ok((statuses, _)) => statuses
                .into_iter()
                .filter(|(name, s)| {
                    s.as_ref()
                        .map_or(true, |s| s.updated_at >= last.heal_asked_at(name))
                })
                .map(|(name, _)| name)
                .collect(),
            Err(e) => {
                warn!("cannot read the volumes' status (heal info asked of every volume): {e}");
                volumes.iter().map(|v| v.name.clone()).collect()
            }
        };
        let peaks = &last.heal_peak;
        // The live agents' heal index counts, by the address their bricks are named with.
        let index: BTreeMap<String, &BTreeMap<String, u64>> = agents
            .iter()
            .flat_map(|agents| agents.values())
            .map(|a| (a.ip.to_string(), &a.heal_index))
            .collect();
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
            let pending = match look(v, &last, &changed, &index, online.as_ref()) {
                Look::Ask => {
                    names.push(v.name.clone());
                    continue;
                }
                Look::Count(n) => n,
            };
            let name = &v.name;
            // Entries that stay without shrinking wait for the self-heal daemons' next
            // crawl (a full brick that was freed, a write that failed on one brick only):
            // every brick is online, so have them crawl now. Entries that shrink are being
            // healed, and entries of writes in flight come and go.
            let before = last.heal_pending.get(name).copied().unwrap_or(0);
            if pending > 0 && before > 0 && pending >= before {
                if let Err(e) = gluster.heal_start(name).await {
                    warn!("volume {name}: cannot start its heal: {e}");
                }
            }
            if let Some(p) = HealPeak::next(peaks.get(name), obs.at, pending) {
                obs.heal_peak.insert(name.clone(), p);
            }
            obs.heal_pending.insert(name.clone(), pending);
            obs.heal_unreachable.insert(name.clone(), 0);
            obs.heal_at.insert(name.clone(), last.heal_asked_at(name));
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

/// Whether the brick "HOST:PATH" is on a disk its agent reports failing; `failing` holds
/// "HOST:MOUNT/" prefixes.
fn on_failing_disk(brick: &str, failing: &[String]) -> bool {
    failing.iter().any(|f| brick.starts_with(f))
}

/// The bricks `volume status` lists online whose disk fails, as (volume, "HOST:PATH").
fn online_on_failing<'a>(
    status: &'a [brickyard_gluster::VolumeStatus],
    failing: &'a [String],
) -> impl Iterator<Item = (&'a str, String)> + 'a {
    status.iter().flat_map(move |v| {
        v.bricks
            .iter()
            .filter(|b| b.online)
            .map(|b| format!("{}:{}", b.host, b.path))
            .filter(|b| on_failing_disk(b, failing))
            .map(|b| (v.name.as_str(), b))
    })
}

/// Takes offline the bricks whose disk fails (`volume reset-brick VOL BRICK start`), the
/// work gluster's own health check would do: brickyard turns that check off
/// ([`brickyard_volumes::profile::HEALTH_CHECK`]) because it takes a brick whose
/// filesystem is merely full for a failing one. The agents' probe tells them apart: it
/// lists a brick filesystem and asks its free space, which a full one answers. A volume
/// started with force (for another dead brick) starts such a brick again; the next round
/// takes it offline again.
async fn stop_failing_bricks(
    gluster: &brickyard_gluster::Gluster,
    status: &[brickyard_gluster::VolumeStatus],
    failing: &[String],
) {
    for (volume, brick) in online_on_failing(status, failing) {
        match gluster.reset_brick_start(volume, &brick).await {
            Ok(()) => warn!("volume {volume}: brick {brick} taken offline: its disk fails"),
            Err(e) => {
                warn!("volume {volume}: cannot take brick {brick} offline (its disk fails): {e}")
            }
        }
    }
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
            .filter(|b| !on_failing_disk(b, failing))
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
    fn entries_are_counted_where_every_brick_is_online_and_counted_else_gluster_is_asked() {
        let hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];
        let names = [
            "quiet",
            "pending",
            "unreachable",
            "unknown",
            "changed",
            "offline",
        ];
        let mut last = ObservedVolumes::default();
        for v in names {
            last.heal_pending.insert(v.into(), 0);
        }
        last.heal_pending.insert("pending".into(), 3);
        last.heal_unreachable.insert("unreachable".into(), 1);
        last.heal_unknown.insert("unknown".into(), "timeout".into());
        let changed: BTreeSet<String> = ["changed".to_owned()].into();
        // Hosts 1 and 2 count two and one entries of `pending`; host 3 none.
        let counts: Vec<BTreeMap<String, u64>> = vec![
            [("pending".to_owned(), 2)].into(),
            [("pending".to_owned(), 1)].into(),
            BTreeMap::new(),
        ];
        let index: BTreeMap<String, &BTreeMap<String, u64>> = hosts
            .iter()
            .zip(&counts)
            .map(|(h, c)| ((*h).to_owned(), c))
            .collect();
        let mut online: BTreeSet<String> = names
            .iter()
            .chain(&["never-seen"])
            .flat_map(|v| {
                hosts
                    .iter()
                    .map(move |h| format!("{h}:/gluster/brick1/{v}"))
            })
            .collect();
        online.remove("10.0.0.2:/gluster/brick1/offline");
        let looked = |v: &str, index: &BTreeMap<String, &BTreeMap<String, u64>>| {
            look(&volume(v, &hosts), &last, &changed, index, Some(&online))
        };
        assert_eq!(looked("quiet", &index), Look::Count(0));
        assert_eq!(looked("pending", &index), Look::Count(3));
        for v in ["unreachable", "unknown", "changed", "offline", "never-seen"] {
            assert_eq!(looked(v, &index), Look::Ask, "{v}");
        }
        // A brick on a host without a live agent to count its index.
        let two: BTreeMap<String, &BTreeMap<String, u64>> =
            index.iter().take(2).map(|(h, c)| (h.clone(), *c)).collect();
        assert_eq!(looked("quiet", &two), Look::Ask);
        // A round that did not ask `volume status` counts what live agents count.
        let unasked = |v: &str| look(&volume(v, &hosts), &last, &changed, &index, None);
        assert_eq!(unasked("offline"), Look::Count(0));
        assert_eq!(unasked("pending"), Look::Count(3));
        assert_eq!(unasked("changed"), Look::Ask);
    }

    #[test]
    fn only_online_bricks_under_a_failing_mount_are_taken_offline() {
        let brick = |host: &str, path: &str, online: bool| brickyard_gluster::BrickStatus {
            host: host.into(),
            path: path.into(),
            peer_id: String::new(),
            online,
            port: None,
            pid: None,
        };
        let status = vec![brickyard_gluster::VolumeStatus {
            name: "gv0".into(),
            bricks: vec![
                brick("10.0.0.1", "/gluster/brick2/gv0", true),
                brick("10.0.0.2", "/gluster/brick2/gv0", true),
                brick("10.0.0.1", "/gluster/brick22/gv0", true),
                brick("10.0.0.3", "/gluster/brick2/gv0", false),
            ],
            daemons: Vec::new(),
            tasks: Vec::new(),
        }];
        // Host 1's /gluster/brick2 fails, and host 3's (whose brick is already offline).
        let failing = vec![
            "10.0.0.1:/gluster/brick2/".to_owned(),
            "10.0.0.3:/gluster/brick2/".to_owned(),
        ];
        let stopped: Vec<(&str, String)> = online_on_failing(&status, &failing).collect();
        assert_eq!(
            stopped,
            vec![("gv0", "10.0.0.1:/gluster/brick2/gv0".to_owned())]
        );
        assert_eq!(online_on_failing(&status, &[]).count(), 0);
    }

    #[test]
    fn volume_status_is_asked_again_after_six_times_what_it_took() {
        let due = StatusDue::default();
        assert!(due.due());
        due.took(Instant::now());
        assert!(!due.due(), "not before OBSERVE_EVERY");
        // A `volume status` that took 30 s is asked again 180 s after it started.
        let long_ago = Instant::now() - Duration::from_secs(30);
        due.took(long_ago);
        let next = due.0.lock().expect("lock").expect("set");
        let wait = next.duration_since(long_ago);
        assert!(
            wait >= Duration::from_secs(180) && wait < Duration::from_secs(181),
            "{wait:?}"
        );
    }
}
