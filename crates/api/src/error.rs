//! The API's errors, each mapped explicitly to one HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use brickyard_store::StoreError;
use brickyard_volumes::VolumeError;
use serde::Serialize;
use thiserror::Error;

/// The JSON body of every error answer: `{ "error": "..." }`.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// What went wrong and what to do about it.
    pub error: String,
}

/// Why a request failed.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The request is malformed; names the field (or path segment) at fault.
    #[error("{field}: {reason}")]
    BadRequest {
        /// The field or path parameter.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No credentials, or the wrong ones.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The named object does not exist.
    #[error("no {kind} named {name:?}")]
    NotFound {
        /// What kind of object (`host`, `volume`).
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The request conflicts with the current state (exists already, changed meanwhile).
    #[error("{0}")]
    Conflict(String),
    /// The request is well formed but the cluster cannot carry it out as it is (too few
    /// live hosts, zones or brick mounts for the layout).
    #[error("{0}")]
    Unprocessable(String),
    /// The body is not in a format the endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A failure of the server itself.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Store(e) => match e {
                // A store that cannot be reached is a temporary condition of the server
                // side: clients should retry, load balancers should look elsewhere.
                StoreError::Unreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                StoreError::BadKey { .. } => StatusCode::BAD_REQUEST,
                StoreError::Backend { .. }
                | StoreError::Io { .. }
                | StoreError::Corrupt { .. }
                | StoreError::BadUrl { .. }
                | StoreError::LeaseGone(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }
}

impl From<VolumeError> for ApiError {
    /// Maps each refusal of the volumes crate to one status. `BadLayout` names the field
    /// `layout` here; the create handler, which knows the layout asked for, names the exact
    /// one instead.
    fn from(e: VolumeError) -> Self {
        let message = e.to_string();
        match e {
            VolumeError::BadName(n) => Self::BadRequest {
                field: "name".into(),
                reason: n.to_string(),
            },
            VolumeError::BadLayout { reason, .. } => Self::BadRequest {
                field: "layout".into(),
                reason,
            },
            VolumeError::UnknownProfile { .. } => Self::BadRequest {
                field: "profile".into(),
                reason: message,
            },
            VolumeError::NotFound { name } => Self::NotFound {
                kind: "volume",
                name,
            },
            // All three depend on the state of the record, not on the request alone: the
            // same request may succeed once the state changes (or, when contended, at once).
            VolumeError::Exists { .. }
            | VolumeError::Refused { .. }
            | VolumeError::Drain { .. }
            | VolumeError::HostRemove { .. }
            | VolumeError::Contended { .. }
            | VolumeError::SettingsContended => Self::Conflict(message),
            // Distinct from 409 so that a client can tell "that name is taken" from "this
            // cluster cannot hold that layout" without reading the message.
            VolumeError::Placement { .. } => Self::Unprocessable(message),
            // A record in the store that cannot be used: the server's data, not the request,
            // is at fault; the message names the key and the way out.
            VolumeError::Invalid(_) => Self::Internal(message),
            VolumeError::Store(s) => Self::Store(s),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Server-side failures are logged here, where they are handled; client mistakes
        // are the client's to read in the answer.
        if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), "{self}");
        }
        let mut response = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"brickyard\""),
            );
        }
        response
    }
}
