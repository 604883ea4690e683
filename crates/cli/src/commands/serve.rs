//! `brickyard serve`: the REST API over the store in force, behind a bearer token.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use brickyard_api::{ApiConfig, AppState, Auth, DEFAULT_LISTEN, Token, Transport};
use clap::Args;

use crate::globals::Globals;

/// The environment variable holding the API token when no `--token-file` is given.
const TOKEN_ENV: &str = "BRICKYARD_API_TOKEN";

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on. The default is loopback only; give e.g.
    /// 0.0.0.0:8470 to serve other machines.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// File holding the bearer token clients must present (surrounding white space is
    /// ignored). Without it, the token is read from BRICKYARD_API_TOKEN.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,

    /// Serve without authentication: anyone who can connect may call every endpoint.
    #[arg(long)]
    insecure_no_auth: bool,

    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key. Without it the API
    /// is plain HTTP: keep it on loopback, or behind a proxy that adds TLS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert; readable by its owner only.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// The most client connections served at once; more wait until one ends.
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_connections: usize,

    /// Seconds a client may take to send a request's headers (or finish a TLS handshake);
    /// a connection idle for six times this long is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    header_timeout: u64,
}

/// Decides who may call, from the flags and the environment; refuses to guess.
fn auth(a: &ServeArgs) -> Result<Auth> {
    let from_env = std::env::var(TOKEN_ENV).ok();
    let token = match (&a.token_file, from_env) {
        (Some(path), _) => {
            brickyard_sys::fs::check_private(path).context("the API token file")?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("read the API token from {}", path.display()))?;
            Some(Token::new(&text).with_context(|| format!("token file {}", path.display()))?)
        }
        (None, Some(text)) => Some(Token::new(&text).with_context(|| TOKEN_ENV.to_owned())?),
        (None, None) => None,
    };
    match (token, a.insecure_no_auth) {
        (Some(t), false) => Ok(Auth::Token(t)),
        (None, true) => Ok(Auth::Disabled),
        (Some(_), true) => bail!(
            "--insecure-no-auth was given together with a token (--token-file or {TOKEN_ENV}); drop one of them"
        ),
        (None, false) => bail!(
            "refusing to serve without authentication: give --token-file FILE or set {TOKEN_ENV} (or --insecure-no-auth to let anyone who can connect call every endpoint)"
        ),
    }
}

/// Completes on SIGTERM or SIGINT.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the server can still be killed; it just does not
        // finish the requests in flight.
        tracing::warn!("cannot install signal handlers; SIGTERM will not shut down gracefully");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, finishing requests in flight"),
        _ = int.recv() => tracing::info!("SIGINT received, finishing requests in flight"),
    }
}

/// Runs `serve`.
pub async fn run(g: &Globals, a: ServeArgs) -> Result<()> {
    let auth = auth(&a)?;
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => {
            brickyard_sys::fs::check_private(key).context("the TLS key")?;
            Some(brickyard_api::tls_config(cert, key)?)
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let store = g.open_store().await?;
    // A store that does not answer yet is not a reason to stay down: it may come up
    // later, and /healthz says 503 until it does.
    if let Err(e) = store.get(brickyard_model::keys::OBSERVED_VOLUMES).await {
        tracing::warn!("the store does not answer yet: {e}");
    }
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("listen on {}", a.listen))?;
    let addr = listener.local_addr().unwrap_or(a.listen);
    match &auth {
        Auth::Token(_) => tracing::info!(
            "serving the REST API on {scheme}://{addr} (store {}; bearer token required; OpenAPI document at /openapi.json)",
            store.endpoint()
        ),
        Auth::Disabled => tracing::warn!(
            "serving the REST API on {scheme}://{addr} WITHOUT authentication (store {})",
            store.endpoint()
        ),
    }
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            "the API is plain HTTP on {addr}: the bearer token crosses the network in clear; give --tls-cert and --tls-key"
        );
    }
    let state = AppState::new(store, ApiConfig::new(auth));
    let transport = Transport {
        tls,
        max_connections: a.max_connections,
        header_timeout: std::time::Duration::from_secs(a.header_timeout.max(1)),
        idle_timeout: std::time::Duration::from_secs(a.header_timeout.max(1) * 6),
    };
    brickyard_api::serve(listener, state, transport, shutdown_signal())
        .await
        .with_context(|| format!("serve the REST API on {addr}"))?;
    tracing::info!("stopped");
    Ok(())
}
