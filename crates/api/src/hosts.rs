//! `GET /v1/hosts` and `GET /v1/hosts/{name}`: the host configs in the store, each with
//! its agent's liveness.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use brickyard_model::keys::{CONFIG_PREFIX, name_in, status_key};
use brickyard_model::records::agent::{AgentState, AgentStatus};
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
    /// Why the agent's liveness record cannot be used, when there is one that cannot: the
    /// agent may well be alive.
    pub record_error: Option<String>,
}

impl HostAgent {
    fn from_status(status: Option<AgentStatus>, record_error: Option<String>) -> Self {
        Self {
            record_error,
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

fn view(stored: &StoredConfig, agent: Result<Option<AgentStatus>, String>) -> HostView {
    let host = name_in(CONFIG_PREFIX, &stored.entry.key)
        .unwrap_or(&stored.entry.key)
        .to_owned();
    // The store holds the bytes as loaded; a value that is not JSON any more is shown as
    // null, and `problems` says why.
    let config = serde_json::from_slice(&stored.entry.value).unwrap_or(serde_json::Value::Null);
    let agent = match agent {
        Ok(a) => HostAgent::from_status(a, None),
        Err(e) => HostAgent::from_status(None, Some(e)),
    };
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
    let all = brickyard_observe::agents(store).await?;
    let mut agents: BTreeMap<String, AgentStatus> = all.live;
    // A record that cannot be used (written by another version, or damaged) is shown as
    // such on its host rather than failing the whole listing.
    let unreadable: BTreeMap<&str, String> = all
        .unreadable
        .iter()
        .filter_map(|e| {
            Some((
                name_in(brickyard_model::keys::STATUS_PREFIX, &e.key)?,
                e.to_string(),
            ))
        })
        .collect();
    let hosts = stored
        .iter()
        .map(|s| {
            let host = name_in(CONFIG_PREFIX, &s.entry.key).unwrap_or_default();
            let agent = match (agents.remove(host), unreadable.get(host)) {
                (Some(a), _) => Ok(Some(a)),
                (None, Some(e)) => Err(e.clone()),
                (None, None) => Ok(None),
            };
            view(s, agent)
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
    let agent = match store.get(&status_key(&name)).await? {
        Some(e) => AgentStatus::decode(&e.key, &e.value)
            .map(Some)
            .map_err(|err| err.to_string()),
        None => Ok(None),
    };
    Ok(Json(view(&stored, agent)))
}
