//! `GET /v1/hosts` and `GET /v1/hosts/{name}`: the host configs in the store, each with
//! its agent's liveness.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use brickyard_agent::{AgentState, AgentStatus};
use brickyard_model::keys::{CONFIG_PREFIX, STATUS_PREFIX, status_key};
use brickyard_store::configs::{self, StoredConfig};
use serde::Serialize;

use crate::AppState;
use crate::error::ApiError;

/// All hosts.
#[derive(Debug, Serialize)]
pub struct HostsView {
    /// The hosts with a config in the store, sorted by host name.
    pub hosts: Vec<HostView>,
}

/// One host: its config and its agent.
#[derive(Debug, Serialize)]
pub struct HostView {
    /// `HostName`.
    pub host: String,
    /// Whether the stored config is valid; when not, `problems` says why.
    pub valid: bool,
    /// `GlusterNodeName`.
    pub gluster_node_name: Option<String>,
    /// `IPAddress`, with its prefix length.
    pub ip_address: Option<String>,
    /// `Zone`.
    pub zone: Option<String>,
    /// `BrickDevice` then `ExtraBrickDevices`.
    pub brick_devices: Vec<String>,
    /// `PeerList` addresses.
    pub peers: Vec<String>,
    /// What is wrong with an invalid config, one line each.
    pub problems: Vec<String>,
    /// The config exactly as loaded (unknown fields included).
    pub config: serde_json::Value,
    /// The host's agent.
    pub agent: HostAgent,
}

/// A host's agent as its liveness record in the store shows it.
#[derive(Debug, Serialize)]
pub struct HostAgent {
    /// Whether the agent's lease is alive (its record exists).
    pub live: bool,
    /// The agent's phase, when live.
    pub state: Option<AgentState>,
    /// glusterd's UUID, when known.
    pub uuid: Option<String>,
    /// Peers glusterd sees connected and in the cluster.
    pub peers_connected: usize,
    /// Peers glusterd knows.
    pub peers_known: usize,
    /// Things a person should look at, one line each.
    pub problems: Vec<String>,
    /// The full liveness record, when live.
    pub status: Option<AgentStatus>,
}

impl HostAgent {
    fn from_status(status: Option<AgentStatus>) -> Self {
        Self {
            live: status.is_some(),
            state: status.as_ref().map(|s| s.state),
            uuid: status.as_ref().and_then(|s| s.uuid.clone()),
            peers_connected: status.as_ref().map_or(0, AgentStatus::connected_peers),
            peers_known: status.as_ref().map_or(0, |s| s.peers.len()),
            problems: status
                .as_ref()
                .map_or_else(Vec::new, |s| s.problems.clone()),
            status,
        }
    }
}

fn view(stored: &StoredConfig, agent: Option<AgentStatus>) -> HostView {
    let host = stored
        .entry
        .key
        .trim_start_matches(CONFIG_PREFIX)
        .to_owned();
    // The store holds the bytes as loaded; a value that is not JSON any more is shown as
    // null, and `problems` says why.
    let config = serde_json::from_slice(&stored.entry.value).unwrap_or(serde_json::Value::Null);
    let agent = HostAgent::from_status(agent);
    match &stored.parsed {
        Ok(c) => HostView {
            host,
            valid: true,
            gluster_node_name: Some(c.gluster_node_name.clone()),
            ip_address: Some(c.ip_address.to_string()),
            zone: c.zone.clone(),
            brick_devices: c.bricks().into_iter().map(|(d, _)| d).collect(),
            peers: c.peers.iter().map(ToString::to_string).collect(),
            problems: Vec::new(),
            config,
            agent,
        },
        Err(report) => HostView {
            host,
            valid: false,
            gluster_node_name: None,
            ip_address: None,
            zone: None,
            brick_devices: Vec::new(),
            peers: Vec::new(),
            problems: report.errors().map(ToString::to_string).collect(),
            config,
            agent,
        },
    }
}

/// `GET /v1/hosts`.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<HostsView>, ApiError> {
    let store = state.store.as_ref();
    let stored = configs::list(store).await?;
    let mut agents: BTreeMap<String, AgentStatus> = BTreeMap::new();
    for e in store.list(STATUS_PREFIX).await? {
        // A record that does not parse (an agent of another version) counts as no agent
        // rather than failing the whole listing.
        if let Ok(s) = serde_json::from_slice::<AgentStatus>(&e.value) {
            agents.insert(s.host.clone(), s);
        }
    }
    let hosts = stored
        .iter()
        .map(|s| {
            let host = s.entry.key.trim_start_matches(CONFIG_PREFIX);
            view(s, agents.remove(host))
        })
        .collect();
    Ok(Json(HostsView { hosts }))
}

/// `GET /v1/hosts/{name}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<HostView>, ApiError> {
    brickyard_model::names::check_hostname("host name", &name).map_err(|e| {
        ApiError::BadRequest {
            field: "name".into(),
            reason: e.to_string(),
        }
    })?;
    let store = state.store.as_ref();
    let Some(stored) = configs::get(store, &name).await? else {
        return Err(ApiError::NotFound { kind: "host", name });
    };
    let agent = store
        .get(&status_key(&name))
        .await?
        .and_then(|e| serde_json::from_slice::<AgentStatus>(&e.value).ok());
    Ok(Json(view(&stored, agent)))
}
