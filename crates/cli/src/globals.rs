//! Options accepted anywhere on the command line: the store, its credentials, logging.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use brickyard_store::{DEFAULT_STORE_URL, EtcdOptions, Store, StoreUrl, Timeouts};
use clap::{Args, ValueEnum};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines for people.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Options shared by every command.
#[derive(Debug, Clone, Args)]
pub struct Globals {
    /// Where the desired state lives: file:///ABS/DIR (embedded, the default is
    /// file:///var/lib/brickyard/store) or etcd://HOST:PORT[,HOST:PORT...]. Without it,
    /// KV_IP=HOST (the seed's variable) means etcd://HOST:2379.
    #[arg(long, global = true, env = "BRICKYARD_STORE", value_name = "URL")]
    pub store: Option<String>,

    /// CA certificate (PEM) of the etcd servers; turns on TLS.
    #[arg(long, global = true, env = "BRICKYARD_ETCD_CA", value_name = "FILE")]
    pub etcd_ca: Option<PathBuf>,

    /// Client certificate (PEM) for etcd's mutual TLS.
    #[arg(long, global = true, env = "BRICKYARD_ETCD_CERT", value_name = "FILE")]
    pub etcd_cert: Option<PathBuf>,

    /// Client key (PEM) for etcd's mutual TLS.
    #[arg(long, global = true, env = "BRICKYARD_ETCD_KEY", value_name = "FILE")]
    pub etcd_key: Option<PathBuf>,

    /// etcd user name.
    #[arg(long, global = true, env = "BRICKYARD_ETCD_USER", value_name = "NAME")]
    pub etcd_user: Option<String>,

    /// File holding the etcd user's password (or set BRICKYARD_ETCD_PASSWORD).
    #[arg(long, global = true, value_name = "FILE")]
    pub etcd_password_file: Option<PathBuf>,

    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "BRICKYARD_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// More log detail (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Globals {
    /// The store URL in force: --store / BRICKYARD_STORE, else KV_IP, else the default.
    pub fn store_url(&self) -> Result<StoreUrl> {
        let (raw, from) = match (&self.store, std::env::var("KV_IP")) {
            (Some(s), _) => (s.clone(), "--store"),
            (None, Ok(kv)) if !kv.trim().is_empty() => {
                let host = kv
                    .trim()
                    .trim_start_matches("http://")
                    .trim_end_matches('/');
                (format!("etcd://{host}"), "KV_IP")
            }
            _ => (DEFAULT_STORE_URL.to_owned(), "the default"),
        };
        raw.parse::<StoreUrl>()
            .with_context(|| format!("store URL from {from}"))
    }

    fn etcd_options(&self) -> Result<EtcdOptions> {
        let password = match &self.etcd_password_file {
            Some(path) => Some({
                brickyard_sys::fs::check_private(path).context("the etcd password file")?;
                std::fs::read_to_string(path)
                    .with_context(|| format!("read the etcd password from {}", path.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_owned()
            }),
            None => std::env::var("BRICKYARD_ETCD_PASSWORD").ok(),
        };
        if password.is_some() && self.etcd_user.is_none() {
            anyhow::bail!("an etcd password was given without a user: add --etcd-user NAME");
        }
        match (&self.etcd_cert, &self.etcd_key) {
            (Some(_), None) => anyhow::bail!(
                "--etcd-cert was given without --etcd-key: mutual TLS needs both (or neither)"
            ),
            (None, Some(_)) => anyhow::bail!(
                "--etcd-key was given without --etcd-cert: mutual TLS needs both (or neither)"
            ),
            (Some(_), Some(_)) if self.etcd_ca.is_none() => anyhow::bail!(
                "--etcd-cert and --etcd-key need --etcd-ca, the CA of the etcd servers, to turn TLS on"
            ),
            _ => {}
        }
        if let Some(key) = &self.etcd_key {
            brickyard_sys::fs::check_private(key).context("the etcd client key")?;
        }
        if self.etcd_user.is_some() && self.etcd_ca.is_none() {
            tracing::warn!(
                "the etcd user's password goes to etcd over plain HTTP: give --etcd-ca to use TLS"
            );
        }
        Ok(EtcdOptions {
            endpoints: Vec::new(),
            ca: self.etcd_ca.clone(),
            cert: self.etcd_cert.clone(),
            key: self.etcd_key.clone(),
            user: self.etcd_user.clone(),
            password,
            timeouts: Timeouts::default(),
        })
    }

    /// Opens the store in force.
    pub async fn open_store(&self) -> Result<Arc<dyn Store>> {
        let url = self.store_url()?;
        let etcd = self.etcd_options()?;
        brickyard_store::open(&url, &etcd)
            .await
            .with_context(|| format!("open the store {url}"))
    }
}

/// Sets up `tracing`: human-readable lines on stderr by default, JSON on request.
pub fn init_logging(g: &Globals) {
    use tracing_subscriber::EnvFilter;
    let default = match g.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match g.log_format {
        LogFormat::Human => builder
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A second initialisation only happens in tests; the first subscriber stays.
    let _ = result;
}
