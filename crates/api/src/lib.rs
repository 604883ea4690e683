//! brickyard's REST API: hosts, volumes, cluster status, metrics and an OpenAPI document
//! over HTTP, served by `brickyard serve` on any machine that can reach the store.
//!
//! Architecture invariant: the API holds no state of its own. Every answer is read from the
//! store (and, for volumes and bricks, one live glusterd), through the same functions the CLI
//! uses ([`brickyard_observe::gather`], [`brickyard_observe::assess`],
//! [`brickyard_observe::volume_detail`]), so `brickyard status` and `GET /v1/status` cannot
//! disagree.
//!
//! The volume endpoints only write the desired state (through `brickyard_volumes`, as the
//! CLI does) and answer at once, 201 for a create and 202 for the other changes; the node
//! agents carry them out, and `GET /v1/volumes/{name}` shows how far they got.
//!
//! Everything except `GET /healthz` needs `Authorization: Bearer TOKEN`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use brickyard_observe::{ClusterHealth, Observed};
use brickyard_store::Store;

mod auth;
mod error;
mod hosts;
mod metrics;
mod openapi;
mod routes;
mod server;
mod volumes;

pub use auth::{Auth, Token, TokenError};
pub use brickyard_observe::VolumeDetail;
pub use error::{ApiError, ErrorBody};
pub use hosts::{HostAgent, HostView, HostsView};
pub use openapi::document as openapi_document;
pub use routes::{Route, router, routes};
pub use server::{TlsError, Transport, serve, tls_config};
pub use volumes::{CreateVolume, VolumesView};

/// The address `brickyard serve` listens on unless told otherwise: loopback only, so that
/// exposing the API to a network is a deliberate choice.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";

/// How the API behaves.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Who may call the API.
    pub auth: Auth,
    /// How long one host's glusterd may take to answer a read (status and metrics ask
    /// the live hosts in turn until one answers).
    pub gluster_timeout: Duration,
    /// How long one observation of the cluster serves `/v1/status` and `/metrics`: however
    /// many clients ask, the store and glusterd are asked at most once per this interval.
    pub observe_every: Duration,
}

impl ApiConfig {
    /// A config with the given authentication and the default timeouts.
    pub fn new(auth: Auth) -> Self {
        Self {
            auth,
            // Short enough that a scrape (Prometheus' default timeout is 10 s) still gets
            // an answer when the first host asked is down.
            gluster_timeout: Duration::from_secs(4),
            observe_every: Duration::from_secs(2),
        }
    }
}

/// The last observation of the cluster and its judgement, shared by `/v1/status` and
/// `/metrics`. Callers that come while one is being made wait for it rather than making
/// their own.
#[derive(Debug, Default)]
pub(crate) struct ObservationCache {
    last: tokio::sync::Mutex<Option<(Instant, Observation)>>,
}

/// One observation of the cluster and its judgement.
pub(crate) type Observation = Arc<(Observed, ClusterHealth)>;

impl ObservationCache {
    /// The current observation: the cached one when it is younger than `max_age`, else a
    /// new one. A failed observation is not cached.
    pub(crate) async fn get(
        &self,
        store: &dyn Store,
        gluster_timeout: Duration,
        max_age: Duration,
    ) -> Result<Observation, brickyard_store::StoreError> {
        let mut last = self.last.lock().await;
        if let Some((at, o)) = last.as_ref()
            && at.elapsed() < max_age
        {
            return Ok(Arc::clone(o));
        }
        let observed = brickyard_observe::gather(store, gluster_timeout).await?;
        let health = brickyard_observe::assess(&observed);
        let fresh = Arc::new((observed, health));
        *last = Some((Instant::now(), Arc::clone(&fresh)));
        Ok(fresh)
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The store holding the desired state and the agents' records.
    pub store: Arc<dyn Store>,
    /// The API's configuration.
    pub config: Arc<ApiConfig>,
    pub(crate) observations: Arc<ObservationCache>,
}

impl AppState {
    /// State over `store` with `config`.
    pub fn new(store: Arc<dyn Store>, config: ApiConfig) -> Self {
        Self {
            store,
            config: Arc::new(config),
            observations: Arc::default(),
        }
    }

    /// The current observation of the cluster (see [`ApiConfig::observe_every`]).
    pub(crate) async fn observation(&self) -> Result<Observation, brickyard_store::StoreError> {
        self.observations
            .get(
                self.store.as_ref(),
                self.config.gluster_timeout,
                self.config.observe_every,
            )
            .await
    }
}

#[cfg(test)]
mod tests;
