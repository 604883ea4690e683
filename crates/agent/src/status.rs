//! What an agent publishes about itself at `gluster/status/<HostName>`, attached to its
//! lease: when the agent dies, the record goes away with the lease.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The agent's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentState {
    /// Preparing the host: config, address, directories, brick mounts.
    Bootstrapping,
    /// glusterd is being started (or restarted after it died).
    StartingGlusterd,
    /// glusterd is running and answering.
    Running,
    /// Running, but something needs attention; see `problems`.
    Degraded,
    /// Shutting down on a signal.
    Stopping,
}

/// One peer as this host's glusterd sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// The peer's address as glusterd knows it.
    pub hostname: String,
    /// The peer's glusterd UUID as recorded in this host's glusterd.
    pub uuid: String,
    /// Whether glusterd is connected to it now.
    pub connected: bool,
    /// glusterd's state string, e.g. "Peer in Cluster".
    pub state: String,
}

impl From<&brickyard_gluster::Peer> for PeerView {
    fn from(p: &brickyard_gluster::Peer) -> Self {
        Self {
            hostname: p.hostname.clone(),
            uuid: p.uuid.clone(),
            connected: p.connected,
            state: p.state_str.clone().unwrap_or_default(),
        }
    }
}

/// The liveness record of one host's agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// `HostName` of the host.
    pub host: String,
    /// `GlusterNodeName` of the host.
    pub node_name: String,
    /// glusterd's address.
    pub ip: IpAddr,
    /// glusterd's UUID, once known.
    pub uuid: Option<String>,
    /// The agent's phase.
    pub state: AgentState,
    /// glusterd's process id, while it runs.
    pub glusterd_pid: Option<u32>,
    /// How many times the agent restarted glusterd after it died.
    pub glusterd_restarts: u32,
    /// The peers this host's glusterd knows.
    pub peers: Vec<PeerView>,
    /// Things a person should look at, one line each.
    pub problems: Vec<String>,
    /// The agent's version.
    pub version: String,
    /// When the agent started (seconds since the epoch).
    pub started_at: u64,
    /// When this record was written (seconds since the epoch).
    pub updated_at: u64,
    /// The agent's volume reconciliation so far.
    #[serde(default)]
    pub reconcile: ReconcileStats,
    /// This host's mounted brick filesystems: their size and free space, for placement
    /// and for checking what a volume can hold.
    #[serde(default)]
    pub bricks: Vec<brickyard_volumes::BrickSpace>,
}

/// How the agent's volume reconciliation has gone since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileStats {
    /// Passes run.
    pub passes: u64,
    /// Failed passes and failed volume actions.
    pub errors: u64,
    /// How long the last pass took, in milliseconds.
    pub last_duration_ms: u64,
}

impl AgentStatus {
    /// How many of this host's peers glusterd sees connected and in the cluster.
    pub fn connected_peers(&self) -> usize {
        self.peers
            .iter()
            .filter(|p| p.connected && p.state == "Peer in Cluster")
            .count()
    }
}
