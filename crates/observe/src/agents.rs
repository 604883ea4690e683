//! The live agents, from their liveness records, and one live host's glusterd.

use std::collections::BTreeMap;
use std::time::Duration;

use brickyard_gluster::{Gluster, Target, VolumeInfo};
use brickyard_model::keys::STATUS_PREFIX;
use brickyard_model::records::RecordError;
use brickyard_model::records::agent::{AgentState, AgentStatus};
use brickyard_store::{Store, StoreError};

/// The agents' liveness records.
#[derive(Debug, Clone, Default)]
pub struct Agents {
    /// Records that can be used, by host name.
    pub live: BTreeMap<String, AgentStatus>,
    /// Records that cannot: the agent may well be alive, its record says nothing usable.
    pub unreadable: Vec<RecordError>,
}

/// Reads every liveness record, checking each.
pub async fn agents(store: &dyn Store) -> Result<Agents, StoreError> {
    let mut out = Agents::default();
    for e in store.list(STATUS_PREFIX).await? {
        match AgentStatus::decode(&e.key, &e.value) {
            Ok(s) => {
                out.live.insert(s.host.clone(), s);
            }
            Err(err) => out.unreadable.push(err),
        }
    }
    Ok(out)
}

/// The live agents' records that can be used.
pub async fn live_agents(store: &dyn Store) -> Result<Vec<AgentStatus>, StoreError> {
    Ok(agents(store).await?.live.into_values().collect())
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
