//! Pool formation, decided without I/O: which peers to probe, which to wait for, and which
//! came back under a new identity.
//!
//! The agent that holds the pool lock probes the peers in its `PeerList` that answer on
//! glusterd's port and that its glusterd does not know yet. A peer that its glusterd knows
//! under one UUID while that peer's own agent reports another was reinstalled (its
//! /var/lib/glusterd was lost): that is reported with the repair commands, never fixed by
//! detaching it, which would drop its bricks from every volume.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use brickyard_model::records::agent::{AgentStatus, PeerView};

/// What this host observes, gathered by the agent before planning.
#[derive(Debug, Clone, Default)]
pub struct PoolView {
    /// This host's address.
    pub me: Option<IpAddr>,
    /// This host's glusterd UUID.
    pub my_uuid: Option<String>,
    /// The `PeerList` of this host's config.
    pub desired: Vec<IpAddr>,
    /// The peers this host's glusterd knows (`gluster peer status`).
    pub known: Vec<PeerView>,
    /// Live agents' records, by their address.
    pub agents: BTreeMap<IpAddr, AgentStatus>,
    /// Desired peers that answer on glusterd's port now.
    pub reachable: BTreeSet<IpAddr>,
}

/// A peer that came back with the same address and a new glusterd UUID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reinstalled {
    /// Its address.
    pub ip: IpAddr,
    /// The UUID the pool knows it by.
    pub pool_uuid: String,
    /// The UUID its glusterd has now.
    pub new_uuid: String,
    /// The commands that give it back its identity, to run on it.
    pub repair: Vec<String>,
}

/// What to do about the pool now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PoolPlan {
    /// Peers to probe, in order.
    pub probe: Vec<IpAddr>,
    /// Desired peers not reachable yet.
    pub waiting_for: Vec<IpAddr>,
    /// Desired peers that are in the pool and connected.
    pub connected: Vec<IpAddr>,
    /// Peers that came back under a new identity.
    pub reinstalled: Vec<Reinstalled>,
}

impl PoolPlan {
    /// Hosts up, counting this one, and hosts wanted, for "2/3 peers up" lines.
    pub fn progress(&self, desired: usize) -> (usize, usize) {
        (self.connected.len() + 1, desired + 1)
    }

    /// Whether every desired peer is in the pool and connected.
    pub fn complete(&self, desired: usize) -> bool {
        self.connected.len() == desired && self.reinstalled.is_empty()
    }
}

/// The commands that restore a reinstalled node's old identity (measured on gluster 10.3,
/// see docs/gluster-notes.md): stop glusterd, put the old UUID back into glusterd.info,
/// start it, probe a pool member, wait for "Accepted peer request" on both sides, restart
/// glusterd so it loads the peers and volumes it received, and restart its bricks.
pub fn repair_commands(pool_uuid: &str, via_peer: Option<IpAddr>) -> Vec<String> {
    let mut cmds = vec![
        "# on the reinstalled host (inside its gluster container or lab host):".to_owned(),
        "pkill -x glusterd   # or stop the node agent".to_owned(),
        format!("sed -i 's/^UUID=.*/UUID={pool_uuid}/' /var/lib/glusterd/glusterd.info"),
        "glusterd   # or start the node agent again".to_owned(),
    ];
    if let Some(peer) = via_peer {
        cmds.push(format!("gluster peer probe {peer}"));
    }
    cmds.push(
        "gluster peer status   # repeat until both sides show 'Accepted peer request'".to_owned(),
    );
    cmds.push("pkill -x glusterd; glusterd   # restart to load the peers and volumes".to_owned());
    cmds.push("gluster volume start VOLUME force   # for each volume with a brick here".to_owned());
    cmds
}

/// Decides what to do about the pool from this host's point of view.
pub fn plan(view: &PoolView) -> PoolPlan {
    let mut plan = PoolPlan::default();
    for &ip in &view.desired {
        if Some(ip) == view.me {
            continue;
        }
        let text = ip.to_string();
        let known = view.known.iter().find(|p| p.hostname == text);
        let agent = view.agents.get(&ip);
        match known {
            Some(peer) => {
                if let Some(new_uuid) = agent.and_then(|a| a.uuid.as_ref())
                    && *new_uuid != peer.uuid
                {
                    plan.reinstalled.push(Reinstalled {
                        ip,
                        pool_uuid: peer.uuid.clone(),
                        new_uuid: new_uuid.clone(),
                        repair: repair_commands(&peer.uuid, view.me),
                    });
                } else if peer.connected && peer.state == "Peer in Cluster" {
                    plan.connected.push(ip);
                } else {
                    plan.waiting_for.push(ip);
                }
            }
            None if view.reachable.contains(&ip) => plan.probe.push(ip),
            None => plan.waiting_for.push(ip),
        }
    }
    plan
}

/// Whether this host may take the pool lock and probe: it is in the pool already, or no
/// live agent is (the pool is still to be formed). A host outside an existing pool must
/// not probe: gluster refuses a probe from outside into a pool, and the pool's members
/// will probe it.
pub fn may_lead(view: &PoolView) -> bool {
    !view.known.is_empty()
        || view
            .agents
            .iter()
            .filter(|(ip, _)| Some(**ip) != view.me)
            .all(|(_, a)| a.peers.is_empty())
}

/// When this host was reinstalled: the pool (another live agent's glusterd) knows this
/// host's address under a different UUID.
pub fn self_reinstalled(view: &PoolView) -> Option<Reinstalled> {
    let me = view.me?;
    let mine = view.my_uuid.as_ref()?;
    let text = me.to_string();
    view.agents.iter().find_map(|(ip, agent)| {
        let seen = agent.peers.iter().find(|p| p.hostname == text)?;
        (seen.uuid != *mine).then(|| Reinstalled {
            ip: me,
            pool_uuid: seen.uuid.clone(),
            new_uuid: mine.clone(),
            repair: repair_commands(&seen.uuid, Some(*ip)),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use brickyard_model::records::agent::AgentState;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn peer(host: &str, uuid: &str, connected: bool) -> PeerView {
        PeerView {
            hostname: host.into(),
            uuid: uuid.into(),
            connected,
            state: "Peer in Cluster".into(),
        }
    }

    fn agent(addr: &str, uuid: &str, peers: Vec<PeerView>) -> AgentStatus {
        AgentStatus {
            schema: 1,
            host: format!("h-{addr}"),
            node_name: format!("g-{addr}"),
            ip: ip(addr),
            uuid: Some(uuid.into()),
            state: AgentState::Running,
            glusterd_pid: Some(1),
            glusterd_restarts: 0,
            peers,
            problems: vec![],
            version: "test".into(),
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

    fn view() -> PoolView {
        PoolView {
            me: Some(ip("10.0.0.1")),
            my_uuid: Some("u1".into()),
            desired: vec![ip("10.0.0.2"), ip("10.0.0.3")],
            ..PoolView::default()
        }
    }

    #[test]
    fn fresh_pool_probes_reachable_peers_and_waits_for_the_rest() {
        let mut v = view();
        v.reachable.insert(ip("10.0.0.2"));
        let p = plan(&v);
        assert_eq!(p.probe, vec![ip("10.0.0.2")]);
        assert_eq!(p.waiting_for, vec![ip("10.0.0.3")]);
        assert_eq!(p.progress(2), (1, 3));
        assert!(may_lead(&v));
    }

    #[test]
    fn known_connected_peers_are_not_probed_again() {
        let mut v = view();
        v.reachable.extend([ip("10.0.0.2"), ip("10.0.0.3")]);
        v.known = vec![peer("10.0.0.2", "u2", true), peer("10.0.0.3", "u3", true)];
        let p = plan(&v);
        assert!(p.probe.is_empty());
        assert_eq!(p.connected.len(), 2);
        assert!(p.complete(2));
        assert_eq!(p.progress(2), (3, 3));
    }

    #[test]
    fn a_disconnected_known_peer_is_waited_for_not_probed() {
        let mut v = view();
        v.known = vec![peer("10.0.0.2", "u2", false), peer("10.0.0.3", "u3", true)];
        v.reachable.insert(ip("10.0.0.2"));
        let p = plan(&v);
        assert!(p.probe.is_empty());
        assert_eq!(p.waiting_for, vec![ip("10.0.0.2")]);
    }

    #[test]
    fn a_reinstalled_peer_is_reported_with_repair_commands() {
        let mut v = view();
        v.known = vec![
            peer("10.0.0.2", "u2-old", false),
            peer("10.0.0.3", "u3", true),
        ];
        v.agents
            .insert(ip("10.0.0.2"), agent("10.0.0.2", "u2-new", vec![]));
        let p = plan(&v);
        assert!(p.probe.is_empty(), "never probed or detached");
        assert_eq!(p.reinstalled.len(), 1);
        let r = &p.reinstalled[0];
        assert_eq!(
            (r.pool_uuid.as_str(), r.new_uuid.as_str()),
            ("u2-old", "u2-new")
        );
        assert!(
            r.repair.iter().any(|c| c.contains("UUID=u2-old")),
            "{:?}",
            r.repair
        );
        assert!(!p.complete(2));
    }

    #[test]
    fn a_newcomer_does_not_lead_an_existing_pool_but_a_member_does() {
        let mut v = view();
        v.agents.insert(
            ip("10.0.0.2"),
            agent("10.0.0.2", "u2", vec![peer("10.0.0.3", "u3", true)]),
        );
        assert!(!may_lead(&v));
        v.known = vec![peer("10.0.0.2", "u2", true)];
        assert!(may_lead(&v));
    }

    #[test]
    fn a_host_learns_it_was_reinstalled_from_the_pool() {
        let mut v = view();
        v.my_uuid = Some("u1-new".into());
        v.agents.insert(
            ip("10.0.0.2"),
            agent("10.0.0.2", "u2", vec![peer("10.0.0.1", "u1-old", false)]),
        );
        let r = self_reinstalled(&v).expect("detected");
        assert_eq!(r.pool_uuid, "u1-old");
        assert!(
            r.repair.iter().any(|c| c == "gluster peer probe 10.0.0.2"),
            "{:?}",
            r.repair
        );
        v.my_uuid = Some("u1-old".into());
        assert_eq!(self_reinstalled(&v), None);
    }
}
