//! `GET /openapi.json`: the OpenAPI 3.1 document describing every endpoint.
//!
//! Written by hand (`openapi.json` beside this file) rather than generated, so that it reads
//! as documentation; the tests check it against the router's routes and validate it, and
//! the real answers against its schemas.

use axum::Json;

const DOCUMENT: &str = include_str!("openapi.json");

/// The OpenAPI document, with `info.version` set to this build's version.
pub fn document() -> serde_json::Value {
    // The document is part of the source and parsed in the tests; a parse failure here
    // cannot come from outside, but is still answered with an empty object, not a panic.
    let mut doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap_or_default();
    if let Some(info) = doc.get_mut("info").and_then(|i| i.as_object_mut()) {
        info.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    }
    doc
}

/// `GET /openapi.json`.
pub(crate) async fn serve() -> Json<serde_json::Value> {
    Json(document())
}
