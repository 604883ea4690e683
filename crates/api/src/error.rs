//! The API's errors, each mapped explicitly to one HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use brickyard_store::StoreError;
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
