//! The cluster's health: [`gather`] reads what the store and one live glusterd report,
//! [`assess`] judges it without I/O.
//!
//! What could not be asked is part of the picture, never a zero: a `volume status` that
//! failed leaves the bricks online unknown (and the cluster not healthy: nobody looked), a
//! liveness record that cannot be read is reported as such (the agent may be alive), and heal
//! counts not observed yet are shown as not known.

use std::collections::BTreeMap;
use std::time::Duration;

use brickyard_gluster::{VolumeInfo, VolumeState, VolumeStatus};
use brickyard_model::keys::{CONFIG_PREFIX, OBSERVED_VOLUMES, name_in};
use brickyard_model::records::RecordError;
use brickyard_model::records::agent::{
    AgentState, AgentStatus, HealProgress, ObservedVolumes, RebalanceSeen,
};
use brickyard_store::{Store, StoreError, configs};
use serde::Serialize;

use crate::agents::{agents, ask_live_glusterd};

/// What was gathered for one judgement.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Host names with a config in the store, and their address.
    pub hosts: Vec<(String, String)>,
    /// Live agents' records, by host name.
    pub agents: BTreeMap<String, AgentStatus>,
    /// Liveness records that cannot be read.
    pub unreadable_agents: Vec<RecordError>,
    /// `volume info` from one glusterd, when one answered.
    pub volumes: Option<Vec<VolumeInfo>>,
    /// `volume status` of the started volumes; `Err` with why when it could not be asked.
    pub volume_status: Option<Result<Vec<VolumeStatus>, String>>,
    /// What the pool lock's holder last observed of the volumes (heal counts); `Err` with
    /// why when that record cannot be read, `None` when there is none yet.
    pub heal: Option<Result<ObservedVolumes, String>>,
    /// Why glusterd could not be asked, when it could not.
    pub gluster_error: Option<String>,
    /// Volume records and statuses in the store that cannot be used.
    pub invalid_records: Vec<RecordError>,
}

/// Gathers what the store and one live glusterd say.
///
/// Only the store's failures are errors: glusterd not answering is part of the picture
/// (`gluster_error`), not a reason to show nothing. `gluster_timeout` bounds each call to
/// one host's glusterd.
pub async fn gather(store: &dyn Store, gluster_timeout: Duration) -> Result<Observed, StoreError> {
    let mut o = Observed::default();
    for c in configs::list(store).await? {
        let host = name_in(CONFIG_PREFIX, &c.entry.key)
            .unwrap_or(&c.entry.key)
            .to_owned();
        let ip = c
            .parsed
            .as_ref()
            .map_or_else(|_| "?".to_owned(), |c| c.ip().to_string());
        o.hosts.push((host, ip));
    }
    let a = agents(store).await?;
    o.agents = a.live;
    o.unreadable_agents = a.unreadable;
    o.invalid_records = match brickyard_volumes::api::stored(store).await {
        Ok(st) => st.invalid,
        Err(brickyard_volumes::VolumeError::Store(e)) => return Err(e),
        Err(e) => vec![RecordError {
            key: "gluster/volumes/".into(),
            problem: e.to_string(),
            fix: String::new(),
        }],
    };
    // The cluster's settings: one that cannot be used leaves gluster's options as they are.
    match brickyard_volumes::settings::get(store).await {
        Ok(_) => {}
        Err(brickyard_volumes::VolumeError::Store(e)) => return Err(e),
        Err(brickyard_volumes::VolumeError::Invalid(e)) => o.invalid_records.push(e),
        Err(e) => o.invalid_records.push(RecordError {
            key: brickyard_model::keys::CLUSTER_SETTINGS.into(),
            problem: e.to_string(),
            fix: String::new(),
        }),
    }
    let live: Vec<AgentStatus> = o.agents.values().cloned().collect();
    match ask_live_glusterd(&live, gluster_timeout).await {
        Ok((gluster, volumes)) => {
            if volumes.iter().any(|v| v.state == VolumeState::Started) {
                o.volume_status =
                    Some(gluster.volume_status(None).await.map_err(|e| e.to_string()));
            }
            o.volumes = Some(volumes);
        }
        Err(why) => o.gluster_error = Some(why),
    }
    // Heal info only works from inside a host; the pool lock's holder records it.
    o.heal = store
        .get(OBSERVED_VOLUMES)
        .await?
        .map(|e| ObservedVolumes::decode(&e.value).map_err(|err| err.to_string()));
    Ok(o)
}

/// One host's line.
#[derive(Debug, Clone, Serialize)]
pub struct HostHealth {
    /// HostName.
    pub host: String,
    /// Its address.
    pub ip: String,
    /// Whether its agent's lease is alive (with a record that can be read).
    pub agent_live: bool,
    /// The agent's state, when live.
    pub state: Option<AgentState>,
    /// Its glusterd UUID.
    pub uuid: Option<String>,
    /// Peers connected / known by its glusterd.
    pub peers_connected: usize,
    /// Peers its glusterd knows.
    pub peers_known: usize,
    /// Its brick disks that fail, with the bricks on them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_disks: Vec<FailedDisk>,
}

/// A brick disk that fails, and what it takes down.
#[derive(Debug, Clone, Serialize)]
pub struct FailedDisk {
    /// The device in the host's config.
    pub device: String,
    /// Its brick mount.
    pub mount_point: String,
    /// What is wrong, as the agent saw it.
    pub reason: String,
    /// The bricks on it, as gluster names them (`IP:PATH`), by volume; empty when glusterd
    /// could not be asked (see the volumes' health) or no brick is there.
    pub bricks: BTreeMap<String, Vec<String>>,
}

/// The bricks gluster has on `mount` of the host at `ip`, by volume.
fn bricks_on(o: &Observed, ip: &str, mount: &str) -> BTreeMap<String, Vec<String>> {
    let prefix = format!("{ip}:{mount}/");
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for v in o.volumes.iter().flatten() {
        for b in v.bricks.iter().filter(|b| b.name.starts_with(&prefix)) {
            out.entry(v.name.clone()).or_default().push(b.name.clone());
        }
    }
    out
}

/// One volume's line.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeHealth {
    /// Volume name.
    pub name: String,
    /// gluster's type ("Replicate", "Distributed-Replicate", "Disperse"...).
    pub kind: String,
    /// "Created", "Started" or "Stopped".
    pub status: String,
    /// Bricks online; `None` when it could not be asked (see `unknown`) or the volume is
    /// not started.
    pub bricks_online: Option<usize>,
    /// Bricks in the volume.
    pub bricks: usize,
    /// Entries pending heal, summed over bricks; `None` when not known (see `unknown`).
    pub heal_pending: Option<u64>,
    /// How fast its heal drains, once measured (while entries are pending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heal_progress: Option<HealProgress>,
    /// Its last rebalance, when it has one, as the pool lock's holder last saw it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<RebalanceSeen>,
    /// What could not be observed about this volume, and why.
    pub unknown: Vec<String>,
}

/// The judgement: lines for people and scripts, and every reason the cluster is degraded.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterHealth {
    /// `true` when nothing is degraded and nothing that matters could not be asked.
    pub healthy: bool,
    /// Hosts.
    pub hosts: Vec<HostHealth>,
    /// Volumes.
    pub volumes: Vec<VolumeHealth>,
    /// Why it is degraded (or could not be judged), one line each.
    pub problems: Vec<String>,
    /// What is not known yet without being a problem (e.g. heal counts before the pool
    /// lock's holder first observed them), one line each.
    pub notes: Vec<String>,
}

/// The hosts of `hosts` whose agent is not yet running with every other host of `hosts`
/// connected: what a pool still waits for (empty when it has formed).
pub fn pool_waiting(agents: &[AgentStatus], hosts: &[String]) -> Vec<String> {
    let n = hosts.len();
    hosts
        .iter()
        .filter(|h| {
            !agents.iter().any(|a| {
                &a.host == *h && a.state == AgentState::Running && a.connected_peers() + 1 == n
            })
        })
        .cloned()
        .collect()
}

/// Judges the cluster.
pub fn assess(o: &Observed) -> ClusterHealth {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let wanted = o.hosts.len();
    let mut hosts = Vec::new();
    for (host, ip) in &o.hosts {
        let agent = o.agents.get(host);
        match agent {
            None => {
                let unreadable = o
                    .unreadable_agents
                    .iter()
                    .find(|e| name_in(brickyard_model::keys::STATUS_PREFIX, &e.key) == Some(host));
                match unreadable {
                    Some(e) => problems.push(format!("host {host} ({ip}): {e}")),
                    None => problems.push(format!("host {host} ({ip}): no live agent")),
                }
            }
            Some(a) => {
                if a.state != AgentState::Running {
                    let why = if a.problems.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", a.problems.join("; "))
                    };
                    problems
                        .push(format!("host {host}: agent is {:?}{why}", a.state).to_lowercase());
                }
                for d in &a.failed_disks {
                    let on = bricks_on(o, &a.ip.to_string(), &d.mount_point);
                    let what = if on.is_empty() {
                        "no brick is on it".to_owned()
                    } else {
                        format!(
                            "its bricks are offline: {}; move each with `brickyard volume replace-brick VOLUME {host}:PATH`",
                            on.iter()
                                .map(|(v, b)| format!("{v} ({})", b.join(", ")))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    };
                    problems.push(format!(
                        "host {host}: brick disk {} at {} fails ({}); {what}",
                        d.device, d.mount_point, d.reason
                    ));
                }
                for b in a.bricks.iter().filter(|b| b.below_reserve()) {
                    let on = bricks_on(o, &a.ip.to_string(), &b.mount_point);
                    let volumes = if on.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (volumes {})",
                            on.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    };
                    problems.push(format!(
                        "host {host}: brick filesystem {} is full, {} MiB free of {} MiB: gluster refuses new data below {} % free, so writes to its bricks{volumes} fail with \"No space left on device\"; delete data or move bricks off it with `brickyard volume replace-brick`",
                        b.mount_point,
                        b.free_bytes >> 20,
                        b.size_bytes >> 20,
                        brickyard_model::records::agent::BrickSpace::GLUSTER_RESERVE_PERCENT,
                    ));
                }
                let connected = a.connected_peers();
                if connected + 1 < wanted {
                    problems.push(format!(
                        "host {host}: glusterd sees {connected} of {} other hosts connected",
                        wanted - 1
                    ));
                }
            }
        }
        hosts.push(HostHealth {
            host: host.clone(),
            ip: ip.clone(),
            agent_live: agent.is_some(),
            state: agent.map(|a| a.state),
            uuid: agent.and_then(|a| a.uuid.clone()),
            peers_connected: agent.map_or(0, AgentStatus::connected_peers),
            peers_known: agent.map_or(0, |a| a.peers.len()),
            failed_disks: agent
                .map(|a| {
                    a.failed_disks
                        .iter()
                        .map(|d| FailedDisk {
                            device: d.device.clone(),
                            mount_point: d.mount_point.clone(),
                            reason: d.reason.clone(),
                            bricks: bricks_on(o, &a.ip.to_string(), &d.mount_point),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    for e in &o.unreadable_agents {
        if !o
            .hosts
            .iter()
            .any(|(h, _)| name_in(brickyard_model::keys::STATUS_PREFIX, &e.key) == Some(h))
        {
            problems.push(e.to_string());
        }
    }
    for e in &o.invalid_records {
        problems.push(e.to_string());
    }
    if let Some(e) = &o.gluster_error {
        problems.push(format!("no glusterd answered for volumes: {e}"));
    }
    if let Some(Err(e)) = &o.heal {
        problems.push(format!("could not read the heal counts: {e}"));
    }
    let mut volumes = Vec::new();
    for v in o.volumes.iter().flatten() {
        let mut unknown = Vec::new();
        let total = v.bricks.len();
        let state = match v.state {
            VolumeState::Created => "Created",
            VolumeState::Started => "Started",
            VolumeState::Stopped => "Stopped",
            VolumeState::Other(_) => "Unknown",
        };
        let started = v.state == VolumeState::Started;
        let online = match (&o.volume_status, started) {
            (_, false) => None,
            (Some(Ok(all)), true) => Some(
                all.iter()
                    .find(|s| s.name == v.name)
                    .map_or(0, VolumeStatus::bricks_online),
            ),
            (Some(Err(why)), true) => {
                unknown.push(format!("bricks online: could not ask ({why})"));
                None
            }
            (None, true) => {
                unknown.push("bricks online: not asked".to_owned());
                None
            }
        };
        let replicated = v.replica_count > 1 || v.disperse_count > 0;
        let heal_pending = match &o.heal {
            Some(Ok(obs)) => match obs.heal_pending.get(&v.name) {
                Some(n) => Some(*n),
                None => {
                    if started && replicated {
                        let why = obs.heal_unknown.get(&v.name).map_or_else(
                            || "not observed yet by the pool lock's holder".to_owned(),
                            |w| format!("could not ask ({w})"),
                        );
                        unknown.push(format!("heal: {why}"));
                    }
                    None
                }
            },
            Some(Err(why)) => {
                unknown.push(format!("heal: could not read the observation ({why})"));
                None
            }
            None => {
                if started && replicated {
                    unknown.push("heal: not observed yet by the pool lock's holder".to_owned());
                }
                None
            }
        };
        let heal_progress = match &o.heal {
            Some(Ok(obs)) => obs.heal_progress(&v.name),
            _ => None,
        };
        if started {
            match online {
                Some(n) if n < total => {
                    problems.push(format!("volume {}: {n} of {total} bricks online", v.name))
                }
                None => problems.push(format!(
                    "volume {}: could not tell which bricks are online",
                    v.name
                )),
                Some(_) => {}
            }
            if let Some(n) = heal_pending.filter(|n| *n > 0) {
                problems.push(match heal_progress {
                    Some(p) => format!("volume {}: {n} entries pending heal, {p}", v.name),
                    None => format!("volume {}: {n} entries pending heal", v.name),
                });
            }
        }
        for u in &unknown {
            if u.starts_with("heal:") {
                notes.push(format!("volume {}: {u}", v.name));
            }
        }
        let rebalance = match &o.heal {
            Some(Ok(obs)) => obs.rebalance.get(&v.name).cloned(),
            _ => None,
        };
        match &rebalance {
            Some(r) if r.running() => notes.push(format!(
                "volume {}: rebalance in progress: {}",
                v.name,
                r.summary().unwrap_or_else(|| "not counted yet".into())
            )),
            Some(r) if r.status == "failed" => problems.push(format!(
                "volume {}: its last rebalance failed ({} files could not move); its hosts' /var/log/glusterfs/{}-rebalance.log say why",
                v.name,
                r.failures.unwrap_or(0),
                v.name
            )),
            _ => {}
        }
        volumes.push(VolumeHealth {
            name: v.name.clone(),
            kind: v.type_str.clone(),
            status: state.to_owned(),
            bricks_online: online,
            bricks: total,
            heal_pending,
            heal_progress,
            rebalance,
            unknown,
        });
    }
    ClusterHealth {
        healthy: problems.is_empty(),
        hosts,
        volumes,
        problems,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brickyard_model::records::agent::{DiskFailure, PeerView};

    fn agent(host: &str, peers: usize) -> AgentStatus {
        AgentStatus {
            schema: 1,
            host: host.into(),
            node_name: format!("g-{host}"),
            ip: "10.0.0.1".parse().expect("ip"),
            uuid: Some("u".into()),
            state: AgentState::Running,
            glusterd_pid: Some(1),
            glusterd_restarts: 0,
            peers: (0..peers)
                .map(|i| PeerView {
                    hostname: format!("10.0.0.{}", i + 2),
                    uuid: format!("u{i}"),
                    connected: true,
                    state: "Peer in Cluster".into(),
                })
                .collect(),
            problems: vec![],
            version: "t".into(),
            started_at: 0,
            updated_at: 0,
            reconcile: Default::default(),
            bricks: Vec::new(),
            failed_disks: Vec::new(),
            heal_index: Default::default(),
            open_files: None,
            extra: Default::default(),
        }
    }

    fn volume(name: &str, state: VolumeState) -> VolumeInfo {
        VolumeInfo {
            name: name.into(),
            id: "id".into(),
            state,
            type_str: "Replicate".into(),
            brick_count: 3,
            dist_count: 1,
            replica_count: 3,
            arbiter_count: 0,
            disperse_count: 0,
            redundancy_count: 0,
            bricks: Vec::new(),
            options: BTreeMap::new(),
        }
    }

    #[test]
    fn a_full_pool_without_volumes_is_healthy() {
        let mut o = Observed {
            hosts: vec![
                ("a".into(), "10.0.0.1".into()),
                ("b".into(), "10.0.0.2".into()),
            ],
            volumes: Some(vec![]),
            ..Observed::default()
        };
        o.agents.insert("a".into(), agent("a", 1));
        o.agents.insert("b".into(), agent("b", 1));
        let h = assess(&o);
        assert!(h.healthy, "{:?}", h.problems);
    }

    #[test]
    fn a_failing_disk_names_the_bricks_it_takes_down() {
        let mut gv0 = volume("gv0", VolumeState::Started);
        for (i, path) in ["/gluster/brick2/gv0", "/gluster/brick1/gv0"]
            .iter()
            .enumerate()
        {
            gv0.bricks.push(brickyard_gluster::Brick {
                name: format!("10.0.0.{}:{path}", i + 1),
                host: format!("10.0.0.{}", i + 1),
                path: (*path).into(),
                host_uuid: String::new(),
                is_arbiter: false,
            });
        }
        let mut o = Observed {
            hosts: vec![
                ("a".into(), "10.0.0.1".into()),
                ("b".into(), "10.0.0.2".into()),
            ],
            volumes: Some(vec![gv0]),
            volume_status: Some(Ok(vec![])),
            ..Observed::default()
        };
        let mut a = agent("a", 1);
        a.failed_disks.push(DiskFailure {
            device: "/dev/sdc".into(),
            mount_point: "/gluster/brick2".into(),
            reason: "Input/output error (os error 5)".into(),
        });
        o.agents.insert("a".into(), a);
        o.agents.insert("b".into(), agent("b", 1));
        let h = assess(&o);
        assert!(!h.healthy);
        assert!(
            h.problems.iter().any(|p| p.contains(
                "host a: brick disk /dev/sdc at /gluster/brick2 fails (Input/output error (os error 5)); its bricks are offline: gv0 (10.0.0.1:/gluster/brick2/gv0)"
            )),
            "{:?}",
            h.problems
        );
        assert_eq!(
            h.hosts[0].failed_disks[0].bricks["gv0"],
            vec!["10.0.0.1:/gluster/brick2/gv0".to_owned()]
        );
    }

    #[test]
    fn a_brick_filesystem_below_glusters_reserve_is_a_problem() {
        let mut gv0 = volume("gv0", VolumeState::Started);
        gv0.bricks.push(brickyard_gluster::Brick {
            name: "10.0.0.1:/gluster/brick1/gv0".into(),
            host: "10.0.0.1".into(),
            path: "/gluster/brick1/gv0".into(),
            host_uuid: String::new(),
            is_arbiter: false,
        });
        let mut o = Observed {
            hosts: vec![("a".into(), "10.0.0.1".into())],
            volumes: Some(vec![gv0]),
            volume_status: Some(Ok(vec![])),
            ..Observed::default()
        };
        let space = |mount: &str, free: u64| brickyard_model::records::agent::BrickSpace {
            mount_point: mount.into(),
            size_bytes: 1000 << 20,
            free_bytes: free,
        };
        let mut a = agent("a", 0);
        // 1 % of 1000 MiB is 10 MiB: just under it is full, exactly it is not.
        a.bricks = vec![
            space("/gluster/brick1", (10 << 20) - 1),
            space("/gluster/brick2", 10 << 20),
        ];
        o.agents.insert("a".into(), a);
        let h = assess(&o);
        let full: Vec<_> = h
            .problems
            .iter()
            .filter(|p| p.contains("is full"))
            .collect();
        assert_eq!(
            full,
            vec![
                "host a: brick filesystem /gluster/brick1 is full, 9 MiB free of 1000 MiB: gluster refuses new data below 1 % free, so writes to its bricks (volumes gv0) fail with \"No space left on device\"; delete data or move bricks off it with `brickyard volume replace-brick`"
            ],
            "{:?}",
            h.problems
        );
    }

    #[test]
    fn a_running_rebalance_is_a_note_and_a_failed_one_a_problem() {
        let mut o = Observed {
            hosts: vec![("a".into(), "10.0.0.1".into())],
            volumes: Some(vec![
                volume("moving", VolumeState::Started),
                volume("broken", VolumeState::Started),
            ]),
            volume_status: Some(Ok(vec![])),
            ..Observed::default()
        };
        o.agents.insert("a".into(), agent("a", 0));
        let mut obs = ObservedVolumes::default();
        obs.rebalance.insert(
            "moving".into(),
            RebalanceSeen {
                status: "in progress".into(),
                files: Some(16),
                bytes: Some(4096),
                lookups: Some(40),
                failures: Some(0),
                runtime_secs: Some(3),
            },
        );
        obs.rebalance.insert(
            "broken".into(),
            RebalanceSeen {
                status: "failed".into(),
                failures: Some(2),
                ..RebalanceSeen::default()
            },
        );
        // Its heal drained 100 entries in 20 s since its peak.
        obs.at = 20;
        obs.heal_pending.insert("moving".into(), 300);
        obs.heal_peak.insert(
            "moving".into(),
            brickyard_model::records::agent::HealPeak {
                at: 0,
                pending: 400,
            },
        );
        o.heal = Some(Ok(obs));
        let h = assess(&o);
        assert!(
            h.problems.contains(
                &"volume moving: 300 entries pending heal, healing 300 a minute, about 1m left"
                    .to_owned()
            ),
            "{:?}",
            h.problems
        );
        assert!(
            h.notes.contains(&"volume moving: rebalance in progress: 16 files (4096 bytes) moved, 40 looked at, in 3 s (5 files, 1365 bytes a second)".to_owned()),
            "{:?}",
            h.notes
        );
        assert!(
            h.problems
                .iter()
                .any(|p| p.starts_with("volume broken: its last rebalance failed (2 files")),
            "{:?}",
            h.problems
        );
        assert!(h.volumes[0].rebalance.is_some());
    }

    #[test]
    fn a_missing_agent_and_a_lonely_glusterd_are_reported() {
        let mut o = Observed {
            hosts: vec![
                ("a".into(), "10.0.0.1".into()),
                ("b".into(), "10.0.0.2".into()),
                ("c".into(), "10.0.0.3".into()),
            ],
            volumes: Some(vec![]),
            ..Observed::default()
        };
        o.agents.insert("a".into(), agent("a", 1));
        o.agents.insert("b".into(), agent("b", 2));
        let h = assess(&o);
        assert!(!h.healthy);
        assert_eq!(
            h.problems,
            vec![
                "host a: glusterd sees 1 of 2 other hosts connected".to_owned(),
                "host c (10.0.0.3): no live agent".to_owned()
            ]
        );
    }

    #[test]
    fn what_could_not_be_asked_is_never_zero_and_never_healthy() {
        let mut o = Observed {
            hosts: vec![("a".into(), "10.0.0.1".into())],
            volumes: Some(vec![volume("gv0", VolumeState::Started)]),
            volume_status: Some(Err("timed out".into())),
            ..Observed::default()
        };
        o.agents.insert("a".into(), agent("a", 0));
        let h = assess(&o);
        assert!(!h.healthy);
        assert_eq!(h.volumes[0].bricks_online, None);
        assert!(
            h.volumes[0].unknown[0].contains("could not ask (timed out)"),
            "{h:?}"
        );
        assert!(
            h.problems
                .contains(&"volume gv0: could not tell which bricks are online".to_owned()),
            "{h:?}"
        );
        assert_eq!(h.volumes[0].heal_pending, None);
        assert!(h.notes[0].contains("heal: not observed yet"), "{h:?}");

        // A liveness record that cannot be read is said so, not "no live agent".
        o.agents.clear();
        o.unreadable_agents.push(RecordError {
            key: "gluster/status/a".into(),
            problem: "it is not a valid record".into(),
            fix: "see the agent's log".into(),
        });
        let h = assess(&o);
        assert!(
            h.problems[0].starts_with("host a (10.0.0.1): record gluster/status/a cannot be used"),
            "{h:?}"
        );
    }
}
