//! The router: one table of routes, from which both the router and the list the OpenAPI
//! test checks against are made, so the two cannot drift apart.

use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use brickyard_model::keys::OBSERVED_VOLUMES;
use brickyard_observe::ClusterHealth;

use crate::error::ApiError;
use crate::{AppState, auth, hosts, metrics, openapi, volumes};

/// One route: a path (in the router's and OpenAPI's `{param}` syntax) and its methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The path.
    pub path: &'static str,
    /// The HTTP methods served there.
    pub methods: Vec<Method>,
    /// Whether a bearer token is needed.
    pub auth: bool,
}

struct Entry {
    route: Route,
    handler: MethodRouter<AppState>,
}

fn entry(
    path: &'static str,
    methods: &[Method],
    auth: bool,
    handler: MethodRouter<AppState>,
) -> Entry {
    Entry {
        route: Route {
            path,
            methods: methods.to_vec(),
            auth,
        },
        handler,
    }
}

fn table() -> Vec<Entry> {
    vec![
        entry("/healthz", &[Method::GET], false, get(healthz)),
        entry("/openapi.json", &[Method::GET], true, get(openapi::serve)),
        entry("/metrics", &[Method::GET], true, get(metrics::metrics)),
        entry("/v1/hosts", &[Method::GET], true, get(hosts::list)),
        entry(
            "/v1/hosts/{name}",
            &[Method::GET, Method::DELETE],
            true,
            get(hosts::get).delete(volumes::remove_host),
        ),
        entry(
            "/v1/hosts/{name}/drain",
            &[Method::POST],
            true,
            post(volumes::drain),
        ),
        entry(
            "/v1/cluster/settings",
            &[Method::GET, Method::PUT],
            true,
            get(volumes::settings).put(volumes::change_settings),
        ),
        entry("/v1/status", &[Method::GET], true, get(status)),
        entry(
            "/v1/volumes",
            &[Method::GET, Method::POST],
            true,
            get(volumes::list).post(volumes::create),
        ),
        entry(
            "/v1/volumes/{name}",
            &[Method::GET, Method::DELETE],
            true,
            get(volumes::get).delete(volumes::delete),
        ),
        entry(
            "/v1/volumes/{name}/start",
            &[Method::POST],
            true,
            post(volumes::start),
        ),
        entry(
            "/v1/volumes/{name}/stop",
            &[Method::POST],
            true,
            post(volumes::stop),
        ),
        entry(
            "/v1/volumes/{name}/expand",
            &[Method::POST],
            true,
            post(volumes::expand),
        ),
        entry(
            "/v1/volumes/{name}/replace-brick",
            &[Method::POST],
            true,
            post(volumes::replace_brick),
        ),
    ]
}

/// Every route the router serves.
pub fn routes() -> Vec<Route> {
    table().into_iter().map(|e| e.route).collect()
}

/// The API's router over `state`.
pub fn router(state: AppState) -> Router {
    let mut public = Router::new();
    let mut protected = Router::new();
    for e in table() {
        if e.route.auth {
            protected = protected.route(e.route.path, e.handler);
        } else {
            public = public.route(e.route.path, e.handler);
        }
    }
    // route_layer: the token is checked only on requests that match a protected route, so
    // an unknown path is a 404 rather than a misleading 401.
    let protected = protected.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_token,
    ));
    public
        .merge(protected)
        .fallback(not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Logs every request at debug with its answer's status and duration.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    // The path only: a query string could carry something a caller did not mean to log.
    let path = request.uri().path().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        path,
        status = response.status().as_u16(),
        ms = start.elapsed().as_millis() as u64,
        "request"
    );
    response
}

async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound {
        kind: "endpoint",
        name: format!("{method} {}", uri.path()),
    }
}

/// `GET /healthz`: 200 when the store answers, 503 when it does not.
async fn healthz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    // Any read proves the store answers; this key is small or absent.
    state.store.get(OBSERVED_VOLUMES).await?;
    Ok((StatusCode::OK, "ok"))
}

/// `GET /v1/status`: `brickyard status` as JSON. A degraded cluster is still a successful
/// answer (200 with `healthy: false`): the request worked, the cluster is what is unwell.
async fn status(State(state): State<AppState>) -> Result<axum::Json<ClusterHealth>, ApiError> {
    let o = state.observation().await?;
    Ok(axum::Json(o.1.clone()))
}
