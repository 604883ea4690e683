//! The volume endpoints under `/v1/volumes`.
//!
//! They only write the desired volume to the store (through `brickyard_volumes`, the same
//! compare-and-swap operations the CLI uses) and answer at once: the node agents make
//! gluster match, and `GET /v1/volumes/{name}` shows how far they got. That is why a change
//! is answered with 202 Accepted rather than 200: the request is recorded, not yet done.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use brickyard_model::records::RecordError;
use brickyard_observe::VolumeDetail;
use brickyard_volumes::{
    DesiredState, Layout, LayoutRequest, VolumeError, VolumeRecord, VolumeSpec, VolumeView,
    layout_field,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::ApiError;

/// The body of `POST /v1/volumes`: the flags of `brickyard volume create`, as JSON.
///
/// Strict: a field this server does not know is refused rather than ignored, so that a
/// misspelt `replcia` cannot silently give a volume of another shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateVolume {
    /// The volume's name: 1-64 letters, digits, `-` or `_`, starting with a letter.
    pub name: String,
    /// Copies per replica set (2 or 3). Without `replica`, `disperse` or `distribute`:
    /// replica 3.
    #[serde(default)]
    pub replica: Option<u32>,
    /// With `replica: 2`, an arbiter brick in each set (gluster's replica 3 arbiter 1).
    #[serde(default)]
    pub arbiter: bool,
    /// Bricks per erasure-coded set; needs `redundancy`.
    #[serde(default)]
    pub disperse: Option<u32>,
    /// Bricks of a disperse set that may fail; needs `disperse`.
    #[serde(default)]
    pub redundancy: Option<u32>,
    /// Number of sets files are distributed over; alone, plain distribute over that many
    /// bricks.
    #[serde(default)]
    pub distribute: Option<u32>,
    /// The option profile: `default` when absent.
    #[serde(default)]
    pub profile: Option<String>,
}

fn bad(field: &str, reason: &str) -> ApiError {
    ApiError::BadRequest {
        field: field.into(),
        reason: reason.into(),
    }
}

impl CreateVolume {
    /// The layout the fields ask for, as `brickyard volume create` reads its flags
    /// ([`LayoutRequest`]); combinations the CLI refuses are refused here too, naming the
    /// field.
    pub fn layout(&self) -> Result<Layout, ApiError> {
        LayoutRequest {
            replica: self.replica,
            arbiter: self.arbiter,
            disperse: self.disperse,
            redundancy: self.redundancy,
            distribute: self.distribute,
        }
        .layout()
        .map_err(|r| bad(r.field, &r.reason))
    }

    /// The spec to create; a new volume is started, as with the CLI.
    pub fn spec(&self) -> Result<VolumeSpec, ApiError> {
        let mut spec = VolumeSpec::new(&self.name, self.layout()?);
        if let Some(p) = &self.profile {
            spec.profile.clone_from(p);
        }
        Ok(spec)
    }
}

/// Every volume asked for, and the ones gluster has that nobody asked for.
#[derive(Debug, Serialize)]
pub struct VolumesView {
    /// The desired records with the agents' status, sorted by name.
    pub volumes: Vec<VolumeView>,
    /// Gluster volumes made outside brickyard, as the pool lock's holder last saw them;
    /// they are left alone.
    pub unmanaged: Vec<String>,
    /// Stored records that cannot be used, each naming its key and the way out; the
    /// agents skip them.
    pub invalid: Vec<RecordError>,
}

/// Reads a JSON body strictly: no other media type, no unknown field.
fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    // A missing Content-Type is accepted (the body says what it is); a different one is
    // most likely a form sent by `curl -d`, which is better refused than guessed at.
    if let Some(ct) = headers.get(CONTENT_TYPE) {
        let essence = ct
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body must be JSON; send `Content-Type: application/json` (got {essence:?})"
            )));
        }
    }
    let body = body.map_err(|e| bad("body", &e.body_text()))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad(
            "body",
            "a JSON object is needed, e.g. {\"name\": \"gv0\", \"replica\": 3}",
        ));
    }
    // serde's messages name the field: "unknown field `size`, expected one of ...".
    serde_json::from_slice(&body).map_err(|e| bad("body", &e.to_string()))
}

/// A change recorded in the store, for the agents to carry out.
fn accepted(record: VolumeRecord) -> Response {
    (StatusCode::ACCEPTED, Json(record)).into_response()
}

/// `GET /v1/volumes`.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<VolumesView>, ApiError> {
    let store = state.store.as_ref();
    let listing = brickyard_volumes::list(store).await?;
    Ok(Json(VolumesView {
        volumes: listing.volumes,
        unmanaged: brickyard_volumes::unmanaged(store).await?,
        invalid: listing.invalid,
    }))
}

/// `POST /v1/volumes`: 201 with the record written (bricks placed), or why not.
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: CreateVolume = json_body(&headers, body)?;
    let spec = request.spec()?;
    let record = brickyard_volumes::create(state.store.as_ref(), &spec)
        .await
        .map_err(|e| match e {
            VolumeError::BadLayout { reason, .. } => ApiError::BadRequest {
                field: layout_field(&spec.layout).into(),
                reason,
            },
            e => e.into(),
        })?;
    tracing::info!(volume = record.name, layout = %record.layout, "volume requested");
    // 201 rather than 202: the resource (the record) exists from now on, although gluster's
    // volume is still being made.
    let location = format!("/v1/volumes/{}", record.name);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(record)).into_response())
}

/// `GET /v1/volumes/{name}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<VolumeDetail>, ApiError> {
    let detail =
        brickyard_observe::volume_detail(state.store.as_ref(), &name, state.config.gluster_timeout)
            .await?;
    Ok(Json(detail))
}

/// `POST /v1/volumes/{name}/start`.
pub(crate) async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let r =
        brickyard_volumes::set_state(state.store.as_ref(), &name, DesiredState::Started).await?;
    Ok(accepted(r))
}

/// `POST /v1/volumes/{name}/stop`.
pub(crate) async fn stop(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let r =
        brickyard_volumes::set_state(state.store.as_ref(), &name, DesiredState::Stopped).await?;
    Ok(accepted(r))
}

/// `POST /v1/volumes/{name}/expand`.
pub(crate) async fn expand(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let r = brickyard_volumes::expand(state.store.as_ref(), &name).await?;
    Ok(accepted(r))
}

/// The body of `POST /v1/volumes/{name}/replace-brick`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceBrick {
    /// The brick to move, `HOST:PATH` (HostName or address).
    pub brick: String,
    /// The host to move it to; absent: placement chooses.
    #[serde(default)]
    pub to: Option<String>,
}

/// `POST /v1/volumes/{name}/replace-brick`.
pub(crate) async fn replace_brick(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: ReplaceBrick = json_body(&headers, body)?;
    let r = brickyard_volumes::replace_brick(
        state.store.as_ref(),
        &name,
        &request.brick,
        request.to.as_deref(),
    )
    .await?;
    tracing::info!(volume = name, from = %r.from.gluster_name(), to = %r.to.gluster_name(), "brick move requested");
    Ok(accepted(r.record))
}

/// The body of `POST /v1/hosts/{name}/drain`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drain {
    /// Move every brick to this host; absent: placement chooses per brick.
    #[serde(default)]
    pub to: Option<String>,
    /// Where no host outside a brick's set has room, put it beside another brick of its
    /// set.
    #[serde(default)]
    pub force: bool,
}

/// `POST /v1/hosts/{name}/drain`: 202 with every move recorded (`from`, `to`, and the
/// volume's record), or why nothing moved.
pub(crate) async fn drain(
    State(state): State<AppState>,
    Path(host): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: Drain = json_body(&headers, body)?;
    let moves = brickyard_volumes::api::drain_host(
        state.store.as_ref(),
        &host,
        request.to.as_deref(),
        request.force,
    )
    .await?;
    tracing::info!(host, bricks = moves.len(), "drain requested");
    Ok((StatusCode::ACCEPTED, Json(moves)).into_response())
}

/// `DELETE /v1/hosts/{name}`: 202 with the removal recorded (the pool lock's holder
/// detaches the peer), or 409 with why not.
pub(crate) async fn remove_host(
    State(state): State<AppState>,
    Path(host): Path<String>,
) -> Result<Response, ApiError> {
    let removal = brickyard_volumes::api::remove_host(state.store.as_ref(), &host).await?;
    tracing::info!(host, ip = %removal.ip, "host removal requested");
    Ok((StatusCode::ACCEPTED, Json(removal)).into_response())
}

/// The body of `PUT /v1/cluster/settings`: the settings to change; absent fields keep
/// their value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    /// gluster's brick multiplexing (`cluster.brick-multiplex`).
    #[serde(default)]
    pub brick_multiplex: Option<bool>,
}

/// `GET /v1/cluster/settings`: the cluster's settings (the defaults when none are stored).
pub(crate) async fn settings(
    State(state): State<AppState>,
) -> Result<Json<brickyard_model::records::settings::ClusterSettings>, ApiError> {
    Ok(Json(
        brickyard_volumes::settings::get(state.store.as_ref()).await?,
    ))
}

/// `PUT /v1/cluster/settings`: 202 with the settings as stored; the pool lock's holder
/// applies them to gluster.
pub(crate) async fn change_settings(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: SettingsChange = json_body(&headers, body)?;
    let store = state.store.as_ref();
    let settings = match request.brick_multiplex {
        Some(on) => brickyard_volumes::settings::set_brick_multiplex(store, on).await?,
        None => brickyard_volumes::settings::get(store).await?,
    };
    tracing::info!(
        brick_multiplex = settings.brick_multiplex,
        "cluster settings changed"
    );
    Ok((StatusCode::ACCEPTED, Json(settings)).into_response())
}

/// The query of `DELETE /v1/volumes/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteQuery {
    /// Delete a started volume too (it is stopped first).
    #[serde(default)]
    force: bool,
}

/// `DELETE /v1/volumes/{name}?force=true|false`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| bad("query", &e.body_text()))?;
    let r = brickyard_volumes::delete(state.store.as_ref(), &name, q.force).await?;
    Ok(accepted(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_mirror_the_cli_flags() {
        let ok = |v: serde_json::Value| {
            serde_json::from_value::<CreateVolume>(v)
                .expect("body")
                .layout()
                .expect("layout")
        };
        use serde_json::json;
        assert_eq!(ok(json!({"name": "a"})), Layout::replicate(3));
        assert_eq!(ok(json!({"name": "a", "replica": 2})), Layout::replicate(2));
        assert_eq!(
            ok(json!({"name": "a", "replica": 2, "arbiter": true})),
            Layout::arbiter()
        );
        assert_eq!(
            ok(json!({"name": "a", "disperse": 6, "redundancy": 2, "distribute": 2})),
            Layout::disperse(6, 2).with_sets(2)
        );
        assert_eq!(
            ok(json!({"name": "a", "distribute": 4})),
            Layout::distribute(4)
        );
        assert_eq!(
            ok(json!({"name": "a", "replica": 3, "distribute": 2})),
            Layout::replicate(3).with_sets(2)
        );
        for (body, field) in [
            (
                json!({"name": "a", "replica": 3, "disperse": 3}),
                "disperse",
            ),
            (json!({"name": "a", "disperse": 3}), "redundancy"),
            (json!({"name": "a", "redundancy": 1}), "redundancy"),
            (json!({"name": "a", "arbiter": true}), "arbiter"),
            (
                json!({"name": "a", "arbiter": true, "disperse": 3, "redundancy": 1}),
                "arbiter",
            ),
        ] {
            let err = serde_json::from_value::<CreateVolume>(body.clone())
                .expect("body")
                .layout()
                .expect_err("refused");
            assert!(
                matches!(&err, ApiError::BadRequest { field: f, .. } if f == field),
                "{body}: {err:?}"
            );
        }
    }
}
