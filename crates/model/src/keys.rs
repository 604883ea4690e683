//! The store's key layout, shared by every component that reads or writes it: the one place
//! a key is spelled.
//!
//! Keys are `/`-separated paths of names validated elsewhere; nothing here accepts free text.
//! A name read back out of a key ([`name_in`]) is only the raw last part: the record types in
//! [`crate::records`] check it before anything acts on it.

/// Prefix of host configs: `gluster/config/<HostName>`, as in the seed.
pub const CONFIG_PREFIX: &str = "gluster/config/";
/// Prefix of agent liveness records: `gluster/status/<HostName>` (lease-backed).
pub const STATUS_PREFIX: &str = "gluster/status/";
/// What the pool lock's holder last observed of the volumes (heal counts), lease-backed:
/// it vanishes with its writer.
pub const OBSERVED_VOLUMES: &str = "gluster/observed/volumes";
/// Gluster volumes that no record asks for (made by hand), as the pool lock's holder last
/// saw them: a JSON list of names.
pub const UNMANAGED_VOLUMES: &str = "gluster/observed/unmanaged-volumes";
/// Prefix of desired volumes: `gluster/volumes/<Volume>`.
pub const VOLUME_PREFIX: &str = "gluster/volumes/";
/// Prefix of the agents' observed state of each volume: `gluster/volume-status/<Volume>`.
pub const VOLUME_STATUS_PREFIX: &str = "gluster/volume-status/";
/// Prefix of brick clean-up acknowledgements: `gluster/volume-cleanup/<Volume>/<HostName>`,
/// written by a host's agent once its brick directories of a deleted volume are gone.
pub const CLEANUP_PREFIX: &str = "gluster/volume-cleanup/";
/// Prefix of brick directories left behind: `gluster/leftovers/<HostName>/<Volume>`, written
/// when a volume's delete finished without that host (it was removed from the cluster while
/// down) and removed by that host's agent once it has removed the directories, if it ever
/// runs again.
pub const LEFTOVER_PREFIX: &str = "gluster/leftovers/";
/// Prefix of the full heals a host's agent owes: `gluster/full-heals/<HostName>`, the brick
/// filesystems of that host that were found full and whose volumes have not been healed in
/// full since. Not lease-backed: an agent that restarts in between still owes them.
pub const FULL_HEAL_PREFIX: &str = "gluster/full-heals/";
/// Prefix of CSI claims: `gluster/csi/claims/<ID>`, written by the CSI controller.
pub const CLAIM_PREFIX: &str = "gluster/csi/claims/";
/// Prefix of what the agents did about each claim: `gluster/csi/claim-status/<ID>`.
pub const CLAIM_STATUS_PREFIX: &str = "gluster/csi/claim-status/";
/// Prefix of hosts being removed from the pool: `gluster/host-removals/<HostName>`, written
/// by `brickyard host remove` and deleted by the pool lock's holder once the peer is
/// detached.
pub const HOST_REMOVAL_PREFIX: &str = "gluster/host-removals/";
/// The cluster's settings ([`crate::records::settings::ClusterSettings`]), which the pool
/// lock's holder applies to gluster's cluster-wide options.
pub const CLUSTER_SETTINGS: &str = "gluster/cluster/settings";
/// Prefix of cluster-wide locks: `gluster/locks/<name>` (lease-backed).
pub const LOCK_PREFIX: &str = "gluster/locks/";
/// The lock whose holder drives the pool and the volumes.
pub const POOL_LOCK: &str = "pool";

/// The key of a host's config.
pub fn config_key(host: &str) -> String {
    format!("{CONFIG_PREFIX}{host}")
}

/// The key of a host agent's liveness record.
pub fn status_key(host: &str) -> String {
    format!("{STATUS_PREFIX}{host}")
}

/// The key of the full heals a host's agent owes.
pub fn full_heal_key(host: &str) -> String {
    format!("{FULL_HEAL_PREFIX}{host}")
}

/// The key of a host's removal from the pool.
pub fn host_removal_key(host: &str) -> String {
    format!("{HOST_REMOVAL_PREFIX}{host}")
}

/// The key of a desired volume.
pub fn volume_key(volume: &str) -> String {
    format!("{VOLUME_PREFIX}{volume}")
}

/// The key of a volume's observed status.
pub fn volume_status_key(volume: &str) -> String {
    format!("{VOLUME_STATUS_PREFIX}{volume}")
}

/// The prefix of a volume's clean-up acknowledgements.
pub fn cleanup_prefix(volume: &str) -> String {
    format!("{CLEANUP_PREFIX}{volume}/")
}

/// The key of one host's clean-up acknowledgement for a volume.
pub fn cleanup_key(volume: &str, host: &str) -> String {
    format!("{CLEANUP_PREFIX}{volume}/{host}")
}

/// The prefix of one host's leftovers.
pub fn leftover_prefix(host: &str) -> String {
    format!("{LEFTOVER_PREFIX}{host}/")
}

/// The key of the brick directories of `volume` left on `host`.
pub fn leftover_key(host: &str, volume: &str) -> String {
    format!("{LEFTOVER_PREFIX}{host}/{volume}")
}

/// The (host, volume) of a leftover's key. Not validated.
pub fn leftover_of(key: &str) -> Option<(&str, &str)> {
    let (host, volume) = key.strip_prefix(LEFTOVER_PREFIX)?.split_once('/')?;
    (!volume.contains('/')).then_some((host, volume))
}

/// The key of a CSI claim.
pub fn claim_key(id: &str) -> String {
    format!("{CLAIM_PREFIX}{id}")
}

/// The key of a CSI claim's status.
pub fn claim_status_key(id: &str) -> String {
    format!("{CLAIM_STATUS_PREFIX}{id}")
}

/// The key of a named lock.
pub fn lock_key(name: &str) -> String {
    format!("{LOCK_PREFIX}{name}")
}

/// The part of `key` after `prefix` when that is a single path element: the host or volume
/// name a key is about. Not validated.
pub fn name_in<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    key.strip_prefix(prefix).filter(|rest| !rest.contains('/'))
}

/// The (volume, host) of a clean-up acknowledgement's key. Not validated.
pub fn cleanup_of(key: &str) -> Option<(&str, &str)> {
    let (volume, host) = key.strip_prefix(CLEANUP_PREFIX)?.split_once('/')?;
    (!host.contains('/')).then_some((volume, host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_back_out_of_keys() {
        assert_eq!(
            name_in(CONFIG_PREFIX, &config_key("atomic-1")),
            Some("atomic-1")
        );
        assert_eq!(name_in(VOLUME_PREFIX, "gluster/volumes/a/b"), None);
        assert_eq!(name_in(VOLUME_PREFIX, "gluster/config/x"), None);
        assert_eq!(cleanup_of(&cleanup_key("gv0", "h1")), Some(("gv0", "h1")));
        assert_eq!(cleanup_of("gluster/volume-cleanup/gv0"), None);
        assert_eq!(leftover_of(&leftover_key("h1", "gv0")), Some(("h1", "gv0")));
        assert!(leftover_key("h1", "gv0").starts_with(&leftover_prefix("h1")));
        assert_eq!(leftover_of("gluster/leftovers/h1/gv0/x"), None);
    }
}
