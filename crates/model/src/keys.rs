//! The store's key layout, shared by every component that reads or writes it.
//!
//! Keys are `/`-separated paths of names validated elsewhere; nothing here accepts free text.

/// Prefix of host configs: `gluster/config/<HostName>`, as in the seed.
pub const CONFIG_PREFIX: &str = "gluster/config/";
/// Prefix of agent liveness records: `gluster/status/<HostName>` (lease-backed).
pub const STATUS_PREFIX: &str = "gluster/status/";
/// What the pool lock's holder last observed of the volumes (heal counts), lease-backed:
/// it vanishes with its writer.
pub const OBSERVED_VOLUMES: &str = "gluster/observed/volumes";
/// Prefix of desired volumes: `gluster/volumes/<Volume>`.
pub const VOLUME_PREFIX: &str = "gluster/volumes/";
/// Prefix of cluster-wide locks: `gluster/locks/<name>` (lease-backed).
pub const LOCK_PREFIX: &str = "gluster/locks/";

/// The key of a host's config.
pub fn config_key(host: &str) -> String {
    format!("{CONFIG_PREFIX}{host}")
}

/// The key of a host agent's liveness record.
pub fn status_key(host: &str) -> String {
    format!("{STATUS_PREFIX}{host}")
}

/// The key of a desired volume.
pub fn volume_key(volume: &str) -> String {
    format!("{VOLUME_PREFIX}{volume}")
}

/// The key of a named lock.
pub fn lock_key(name: &str) -> String {
    format!("{LOCK_PREFIX}{name}")
}
