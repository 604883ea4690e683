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

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use brickyard_store::Store;

mod auth;
mod error;
mod hosts;
mod metrics;
mod openapi;
mod routes;
mod volumes;

pub use auth::{Auth, Token, TokenError};
pub use brickyard_observe::VolumeDetail;
pub use error::{ApiError, ErrorBody};
pub use hosts::{HostAgent, HostView, HostsView};
pub use openapi::document as openapi_document;
pub use routes::{Route, router, routes};
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
}

impl ApiConfig {
    /// A config with the given authentication and the default timeouts.
    pub fn new(auth: Auth) -> Self {
        Self {
            auth,
            // Short enough that a scrape (Prometheus' default timeout is 10 s) still gets
            // an answer when the first host asked is down.
            gluster_timeout: Duration::from_secs(4),
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The store holding the desired state and the agents' records.
    pub store: Arc<dyn Store>,
    /// The API's configuration.
    pub config: Arc<ApiConfig>,
}

impl AppState {
    /// State over `store` with `config`.
    pub fn new(store: Arc<dyn Store>, config: ApiConfig) -> Self {
        Self {
            store,
            config: Arc::new(config),
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, then finishes the requests in
/// flight and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests;
