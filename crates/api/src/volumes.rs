//! The volume endpoints under `/v1/volumes`.
//!
//! They only write the desired volume to the store (through `brickyard_volumes`, the same
//! compare-and-swap operations the CLI uses) and answer at once: the node agents make
//! gluster match, and `GET /v1/volumes/{name}` shows how far they got. That is why a change
//! is answered with 202 Accepted rather than 200: the request is recorded, not yet done.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use brickyard_gluster::VolumeInfo;
use brickyard_store::Store;
use brickyard_volumes::{
    DesiredState, Layout, LayoutKind, VolumeError, VolumeRecord, VolumeSpec, VolumeView,
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
    /// The layout the fields ask for, as `brickyard volume create` reads its flags;
    /// combinations the CLI refuses are refused here too, naming the field.
    pub fn layout(&self) -> Result<Layout, ApiError> {
        let sets = self.distribute.unwrap_or(1);
        let kind = match (self.replica, self.disperse, self.redundancy) {
            (Some(_), Some(_), _) => {
                return Err(bad(
                    "disperse",
                    "replica and disperse exclude each other; give one of them",
                ));
            }
            (None, Some(_), _) if self.arbiter => {
                return Err(bad(
                    "arbiter",
                    "an arbiter goes with replica 2, not with disperse",
                ));
            }
            (None, Some(disperse), Some(redundancy)) => LayoutKind::Disperse {
                disperse,
                redundancy,
            },
            (None, Some(_), None) => {
                return Err(bad(
                    "redundancy",
                    "disperse needs redundancy, the bricks of a set that may fail (e.g. disperse 3, redundancy 1)",
                ));
            }
            (_, None, Some(_)) => {
                return Err(bad(
                    "redundancy",
                    "redundancy goes with disperse; give disperse too",
                ));
            }
            (Some(replica), None, None) => LayoutKind::Replicate {
                replica,
                arbiter: self.arbiter,
            },
            (None, None, None) if self.arbiter => {
                return Err(bad(
                    "arbiter",
                    "an arbiter goes with replica 2; give \"replica\": 2 too",
                ));
            }
            (None, None, None) if self.distribute.is_some() => LayoutKind::Distribute,
            (None, None, None) => return Ok(Layout::replicate(3)),
        };
        Ok(Layout { kind, sets })
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

/// The body field at fault when `Layout::check` refuses `layout`.
///
/// Follows the order of that check (sets first, then the kind's numbers); a test checks
/// that the field chosen is the one the refusal speaks of.
pub(crate) fn layout_field(layout: &Layout) -> &'static str {
    if !(1..=64).contains(&layout.sets) {
        return "distribute";
    }
    match layout.kind {
        LayoutKind::Replicate {
            replica,
            arbiter: true,
        } if replica != 2 => "arbiter",
        LayoutKind::Replicate { .. } => "replica",
        LayoutKind::Disperse { disperse, .. } if !(3..=16).contains(&disperse) => "disperse",
        LayoutKind::Disperse { .. } => "redundancy",
        LayoutKind::Distribute => "distribute",
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
}

/// One volume: what was asked for, what the agents report, what gluster shows, and where
/// they differ. The same shape as `brickyard volume info --output json`.
#[derive(Debug, Serialize)]
pub struct VolumeDetail {
    /// The record and the agents' status.
    #[serde(flatten)]
    pub view: VolumeView,
    /// gluster's `volume info` for the volume, when a glusterd answered and has it.
    pub gluster: Option<VolumeInfo>,
    /// Why no glusterd could be asked, when none could.
    pub gluster_error: Option<String>,
    /// Where desired and observed state differ, one line each; empty when they agree or
    /// when gluster could not be asked.
    pub differences: Vec<String>,
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
    Ok(Json(VolumesView {
        volumes: brickyard_volumes::list(store).await?,
        unmanaged: brickyard_volumes::unmanaged(store).await?,
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

/// gluster's view of one volume from a live host (`None` when gluster has no volume of that
/// name), or why no glusterd could be asked.
async fn gluster_view(
    store: &dyn Store,
    name: &str,
    timeout: Duration,
) -> Result<Result<Option<VolumeInfo>, String>, ApiError> {
    let agents = brickyard_agent::health::live_agents(store).await?;
    Ok(brickyard_agent::health::ask_live_glusterd(&agents, timeout)
        .await
        .map(|(_, all)| all.into_iter().find(|v| v.name == name)))
}

/// `GET /v1/volumes/{name}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<VolumeDetail>, ApiError> {
    let store = state.store.as_ref();
    let view = brickyard_volumes::get(store, &name).await?;
    let (gluster, gluster_error) =
        match gluster_view(store, &name, state.config.gluster_timeout).await? {
            Ok(v) => (v, None),
            Err(e) => (None, Some(e)),
        };
    // Without gluster's answer, comparing would report "gluster has no volume", which is
    // not known; say nothing and let gluster_error explain.
    let differences = if gluster_error.is_some() {
        Vec::new()
    } else {
        brickyard_volumes::plan::differences(&view.record, view.status.as_ref(), gluster.as_ref())
    };
    Ok(Json(VolumeDetail {
        view,
        gluster,
        gluster_error,
        differences,
    }))
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

    #[test]
    fn the_field_named_is_the_one_the_refusal_speaks_of() {
        let replicate = |replica, arbiter| Layout {
            kind: LayoutKind::Replicate { replica, arbiter },
            sets: 1,
        };
        for (layout, field) in [
            (Layout::replicate(1), "replica"),
            (Layout::replicate(4), "replica"),
            (replicate(3, true), "arbiter"),
            (Layout::disperse(2, 1), "disperse"),
            (Layout::disperse(17, 1), "disperse"),
            (Layout::disperse(4, 2), "redundancy"),
            (Layout::disperse(3, 0), "redundancy"),
            (Layout::distribute(0), "distribute"),
            (Layout::replicate(3).with_sets(65), "distribute"),
        ] {
            let reason = layout.check().expect_err("refused");
            assert_eq!(layout_field(&layout), field, "{layout:?}");
            assert!(reason.contains(field), "{layout:?}: {reason}");
        }
    }
}
