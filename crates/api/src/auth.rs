//! Bearer-token authentication.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use subtle::ConstantTimeEq as _;
use thiserror::Error;

use crate::AppState;
use crate::error::ApiError;

/// The shared secret callers present as `Authorization: Bearer TOKEN`.
///
/// Its `Debug` output never shows the secret, so it cannot leak into logs.
#[derive(Clone)]
pub struct Token(Arc<[u8]>);

/// Why a token was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    /// Nothing but white space.
    #[error("the API token is empty; put a long random string in it, e.g. `openssl rand -hex 32`")]
    Empty,
    /// Characters an HTTP header cannot carry.
    #[error(
        "the API token contains white space or control characters; use printable ASCII only, e.g. `openssl rand -hex 32`"
    )]
    BadCharacters,
}

impl Token {
    /// A token from text as read from a file or the environment: surrounding white space
    /// (a file's trailing newline) is not part of it.
    pub fn new(text: &str) -> Result<Self, TokenError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(TokenError::Empty);
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::BadCharacters);
        }
        Ok(Self(t.as_bytes().into()))
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    fn matches(&self, presented: &[u8]) -> bool {
        // subtle returns early only when the lengths differ, which reveals the length of
        // the token but nothing of its content.
        self.0.as_ref().ct_eq(presented).into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Who may call the API.
#[derive(Debug, Clone)]
pub enum Auth {
    /// Callers must present this token.
    Token(Token),
    /// Anyone who can connect may call (only with `--insecure-no-auth`).
    Disabled,
}

/// Rejects requests without the right bearer token with 401 and a JSON error.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Auth::Token(token) = &state.config.auth else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme is case-insensitive (RFC 9110 section 11.1).
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().as_bytes())
        });
    let mut refused = match presented {
        Some(p) if token.matches(p) => return next.run(request).await,
        Some(_) => ApiError::Unauthorized("the bearer token is wrong").into_response(),
        None => ApiError::Unauthorized(
            "this endpoint needs the header `Authorization: Bearer TOKEN` (the token `brickyard serve` was started with)",
        )
        .into_response(),
    };
    // The body of a refused request is never read, so the connection cannot carry another
    // request after it: say so, or a client that keeps the connection for its next request
    // finds it closed under it.
    if has_body(&request) {
        refused
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    refused
}

/// Whether a request has a body, or announces one.
fn has_body(request: &Request) -> bool {
    use axum::body::HttpBody as _;
    let h = request.headers();
    !request.body().is_end_stream()
        || h.contains_key(TRANSFER_ENCODING)
        || h.get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(Token::new(" \n").err(), Some(TokenError::Empty));
        assert_eq!(Token::new("a b").err(), Some(TokenError::BadCharacters));
        let t = Token::new("s3cret\n").expect("token");
        assert!(t.matches(b"s3cret"));
        assert!(!t.matches(b"s3cre"));
        assert!(!t.matches(b"s3crex"));
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
    }
}
