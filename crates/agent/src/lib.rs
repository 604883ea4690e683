//! The node agent: one per storage host. It bootstraps glusterd from the host's config in
//! the store, keeps it running, publishes the host's liveness, and forms the trusted pool.
//!
//! Architecture invariant: cluster-wide actions (peer probes) are taken only by the agent
//! that holds the store's `pool` lock; host-local actions (brick mounts, glusterd) only by
//! the host's own agent. Decisions ([`pool`]) are pure and tested without glusterd.

use std::path::PathBuf;

use thiserror::Error;

mod agent;
pub mod bootstrap;
mod config;
mod full;
mod gfidless;
mod liveness;
mod observe;
mod options;
pub mod pool;
mod removal;
pub mod supervise;
pub mod uts;

pub use agent::{bootstrap_once, run};
pub use options::{AgentOptions, GLUSTERD_PORT, HostnamePolicy};

/// Why the agent stopped.
#[derive(Debug, Error)]
pub enum AgentError {
    /// The store failed in a way retrying will not fix.
    #[error(transparent)]
    Store(#[from] brickyard_store::StoreError),
    /// The config's address is not on this host.
    #[error(
        "IPAddress {ip} is not on any interface of this host; run `brickyard host prepare` first (or add it: ip addr add {ip} dev IFACE)"
    )]
    AddressMissing {
        /// The address with its prefix.
        ip: String,
    },
    /// A brick is not mounted and cannot be.
    #[error(
        "brick {mount_point} (device {device}) is not mounted: {reason}; run `brickyard host prepare` on this host"
    )]
    BrickNotMounted {
        /// Where the brick belongs.
        mount_point: String,
        /// Its device.
        device: String,
        /// What mount said.
        reason: String,
    },
    /// glusterd.vol could not be rendered.
    #[error("cannot configure glusterd in {path}: {reason}")]
    GlusterdVol {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The host name could not be set.
    #[error("cannot set the host name to {name}: {reason}")]
    Hostname {
        /// The wanted name.
        name: String,
        /// The OS error.
        reason: String,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Something about this host could not be observed.
    #[error("cannot read {what}: {reason}")]
    Observe {
        /// What was being read.
        what: &'static str,
        /// Why it could not be.
        reason: String,
    },
    /// A command failed.
    #[error(transparent)]
    Exec(#[from] brickyard_exec::ExecError),
    /// Shutdown was asked for before bootstrap finished.
    #[error("interrupted")]
    Interrupted,
}
