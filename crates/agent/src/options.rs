//! How the agent runs: its options and their defaults.

use std::path::PathBuf;
use std::time::Duration;

use brickyard_gluster::Gluster;

use crate::bootstrap::Paths;
use crate::supervise::GlusterdCommand;

/// glusterd's management port, which peers must answer on before they are probed.
pub const GLUSTERD_PORT: u16 = 24007;

/// Where the agent keeps its claim mounts by default.
pub const CLAIMS_DIR: &str = "/run/brickyard/claims";

/// Whether the agent may set the host name to `GlusterNodeName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostnamePolicy {
    /// Only in a UTS namespace of our own (a container, a lab host): never on the machine.
    Auto,
    /// Never.
    Never,
}

/// What the agent runs with.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// This host's `HostName`.
    pub host: String,
    /// Where the host's gluster state lives.
    pub paths: Paths,
    /// How glusterd is started.
    pub glusterd: GlusterdCommand,
    /// How the gluster CLI reaches glusterd.
    pub gluster: Gluster,
    /// Host name policy.
    pub hostname: HostnamePolicy,
    /// TTL of the liveness lease; the record vanishes this long after the agent dies.
    pub lease_ttl: Duration,
    /// How often the pool is reconciled and liveness renewed.
    pub tick: Duration,
    /// Where the FUSE mounts that carry out claims are kept, under a directory named as the
    /// host (so that lab hosts sharing one machine's /run never meet).
    pub claims_dir: PathBuf,
}

impl AgentOptions {
    /// Options with the defaults for `host`.
    pub fn new(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            paths: Paths::default(),
            glusterd: GlusterdCommand::default(),
            gluster: Gluster::new(),
            hostname: HostnamePolicy::Auto,
            lease_ttl: Duration::from_secs(10),
            tick: Duration::from_secs(2),
            claims_dir: PathBuf::from(CLAIMS_DIR),
        }
    }
}
