//! The cluster's health: [`gather`] reads what the store and one live glusterd report,
//! [`assess`] judges it without I/O. `brickyard status` and the REST API share both, so
//! they cannot disagree about what "healthy" means.

use std::collections::BTreeMap;
use std::time::Duration;

use brickyard_gluster::{Gluster, Target, VolumeInfo, VolumeState, VolumeStatus};
use brickyard_model::keys::{CONFIG_PREFIX, OBSERVED_VOLUMES, STATUS_PREFIX};
use brickyard_store::{Store, StoreError, configs};
use serde::Serialize;

use crate::ObservedVolumes;
use crate::status::{AgentState, AgentStatus};

/// What was gathered for one judgement.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Host names with a config in the store, and their address.
    pub hosts: Vec<(String, String)>,
    /// Live agents' records, by host name.
    pub agents: BTreeMap<String, AgentStatus>,
    /// `volume info` from one glusterd, when one answered.
    pub volumes: Option<Vec<VolumeInfo>>,
    /// `volume status` (started volumes only).
    pub volume_status: Vec<VolumeStatus>,
    /// Entries pending heal per replicated or dispersed started volume, as the pool
    /// lock's holder last recorded them.
    pub heal_pending: BTreeMap<String, u64>,
    /// Why glusterd could not be asked, when it could not.
    pub gluster_error: Option<String>,
}

/// Gathers what the store and one live glusterd say.
///
/// Only the store's failures are errors: glusterd not answering is part of the picture
/// (`gluster_error`), not a reason to show nothing. `gluster_timeout` bounds each call to
/// one host's glusterd.
pub async fn gather(store: &dyn Store, gluster_timeout: Duration) -> Result<Observed, StoreError> {
    let mut o = Observed::default();
    for c in configs::list(store).await? {
        let host = c.entry.key.trim_start_matches(CONFIG_PREFIX).to_owned();
        let ip = c
            .parsed
            .as_ref()
            .map_or_else(|_| "?".to_owned(), |c| c.ip().to_string());
        o.hosts.push((host, ip));
    }
    for e in store.list(STATUS_PREFIX).await? {
        if let Ok(s) = serde_json::from_slice::<AgentStatus>(&e.value) {
            o.agents.insert(s.host.clone(), s);
        }
    }
    let agents: Vec<AgentStatus> = o.agents.values().cloned().collect();
    match ask_live_glusterd(&agents, gluster_timeout).await {
        Ok((gluster, volumes)) => {
            if volumes.iter().any(|v| v.state == VolumeState::Started) {
                o.volume_status = gluster.volume_status(None).await.unwrap_or_default();
            }
            // Heal info only works from inside a host; the pool lock's holder records it.
            if let Ok(Some(e)) = store.get(OBSERVED_VOLUMES).await
                && let Ok(obs) = serde_json::from_slice::<ObservedVolumes>(&e.value)
            {
                o.heal_pending = obs.heal_pending;
            }
            o.volumes = Some(volumes);
        }
        Err(why) => o.gluster_error = Some(why),
    }
    Ok(o)
}

/// Asks the glusterd of live hosts for `volume info`, running agents first, until one
/// answers; returns the handle that answered (to ask it more) and the volumes, or why none
/// could be asked. Reads over `--remote-host` work on IP-bound nodes, so nothing needs to
/// run on the hosts.
pub async fn ask_live_glusterd(
    agents: &[AgentStatus],
    timeout: Duration,
) -> Result<(Gluster, Vec<VolumeInfo>), String> {
    let mut candidates: Vec<&AgentStatus> = agents.iter().collect();
    candidates.sort_by_key(|a| a.state != AgentState::Running);
    let mut errors = Vec::new();
    for a in candidates {
        let gluster = Gluster::new()
            .target(Target::RemoteHost(a.ip))
            .timeout(timeout);
        match gluster.volume_info(None).await {
            Ok(v) => return Ok((gluster, v)),
            Err(e) => errors.push(format!("{} ({}): {e}", a.host, a.ip)),
        }
    }
    Err(if errors.is_empty() {
        "no live agent to ask".into()
    } else {
        errors.join("; ")
    })
}

/// The live agents' records in the store.
pub async fn live_agents(store: &dyn Store) -> Result<Vec<AgentStatus>, StoreError> {
    Ok(store
        .list(STATUS_PREFIX)
        .await?
        .iter()
        .filter_map(|e| serde_json::from_slice(&e.value).ok())
        .collect())
}

/// One host's line.
#[derive(Debug, Clone, Serialize)]
pub struct HostHealth {
    /// HostName.
    pub host: String,
    /// Its address.
    pub ip: String,
    /// Whether its agent's lease is alive.
    pub agent_live: bool,
    /// The agent's state, when live.
    pub state: Option<AgentState>,
    /// Its glusterd UUID.
    pub uuid: Option<String>,
    /// Peers connected / known by its glusterd.
    pub peers_connected: usize,
    /// Peers its glusterd knows.
    pub peers_known: usize,
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
    /// Bricks online.
    pub bricks_online: usize,
    /// Bricks in the volume.
    pub bricks: usize,
    /// Entries pending heal, summed over bricks; `None` when not asked.
    pub heal_pending: Option<u64>,
}

/// The judgement: lines for people and scripts, and every reason the cluster is degraded.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterHealth {
    /// `true` when nothing is degraded.
    pub healthy: bool,
    /// Hosts.
    pub hosts: Vec<HostHealth>,
    /// Volumes.
    pub volumes: Vec<VolumeHealth>,
    /// Why it is degraded, one line each.
    pub problems: Vec<String>,
}

/// Judges the cluster.
pub fn assess(o: &Observed) -> ClusterHealth {
    let mut problems = Vec::new();
    let wanted = o.hosts.len();
    let mut hosts = Vec::new();
    for (host, ip) in &o.hosts {
        let agent = o.agents.get(host);
        match agent {
            None => problems.push(format!("host {host} ({ip}): no live agent")),
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
        });
    }
    if let Some(e) = &o.gluster_error {
        problems.push(format!("no glusterd answered for volumes: {e}"));
    }
    let mut volumes = Vec::new();
    for v in o.volumes.iter().flatten() {
        let status = o.volume_status.iter().find(|s| s.name == v.name);
        let online = status.map_or(0, VolumeStatus::bricks_online);
        let total = v.bricks.len();
        let state = match v.state {
            VolumeState::Created => "Created",
            VolumeState::Started => "Started",
            VolumeState::Stopped => "Stopped",
            VolumeState::Other(_) => "Unknown",
        };
        let heal_pending = o.heal_pending.get(&v.name).copied();
        if v.state == VolumeState::Started {
            if online < total {
                problems.push(format!(
                    "volume {}: {online} of {total} bricks online",
                    v.name
                ));
            }
            if let Some(n) = heal_pending.filter(|n| *n > 0) {
                problems.push(format!("volume {}: {n} entries pending heal", v.name));
            }
        }
        volumes.push(VolumeHealth {
            name: v.name.clone(),
            kind: v.type_str.clone(),
            status: state.to_owned(),
            bricks_online: online,
            bricks: total,
            heal_pending,
        });
    }
    ClusterHealth {
        healthy: problems.is_empty(),
        hosts,
        volumes,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::PeerView;

    fn agent(host: &str, peers: usize) -> AgentStatus {
        AgentStatus {
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
}
