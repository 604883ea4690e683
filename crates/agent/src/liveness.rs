//! The agent's liveness record: renewing its lease, publishing what it sees of glusterd,
//! its peers and its brick filesystems.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brickyard_model::HostConfig;
use brickyard_model::keys::status_key;
use brickyard_model::names::check_volume_name;
use brickyard_model::records::agent::{BrickSpace, DiskFailure, PeerView};
use brickyard_store::{Store, StoreError};
use tracing::warn;

use crate::agent::Live;
use crate::bootstrap::{self};
use crate::options::AgentOptions;

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Renews the lease (or gets a new one) and writes the status record.
pub(crate) async fn publish(opts: &AgentOptions, store: &Arc<dyn Store>, live: &mut Live) {
    live.status.updated_at = now();
    if let Some(lease) = live.lease {
        match store.keep_alive(lease).await {
            Ok(()) => {}
            Err(StoreError::LeaseGone(_)) => {
                warn!("liveness lease expired; taking a new one");
                live.lease = None;
            }
            Err(e) => {
                warn!("cannot renew liveness in the store: {e}");
                live.store_lost.get_or_insert_with(std::time::Instant::now);
                return;
            }
        }
    }
    if live.lease.is_none() {
        match store.grant_lease(opts.lease_ttl).await {
            Ok(l) => live.lease = Some(l),
            Err(e) => {
                warn!("cannot publish liveness in the store: {e}");
                live.store_lost.get_or_insert_with(std::time::Instant::now);
                return;
            }
        }
    }
    let Ok(value) = serde_json::to_vec(&live.status) else {
        return;
    };
    match store.put(&status_key(&opts.host), &value, live.lease).await {
        Ok(()) => {
            if let Some(since) = live.store_lost.take() {
                tracing::info!(
                    "the store answers again: liveness published after {:.1}s without",
                    since.elapsed().as_secs_f32()
                );
            }
        }
        Err(e) => {
            warn!("cannot publish liveness in the store: {e}");
            live.store_lost.get_or_insert_with(std::time::Instant::now);
        }
    }
}

/// glusterd's view of a peer, as the liveness record carries it.
pub(crate) fn peer_view(p: &brickyard_gluster::Peer) -> PeerView {
    PeerView {
        hostname: p.hostname.clone(),
        uuid: p.uuid.clone(),
        connected: p.connected,
        state: p.state_str.clone().unwrap_or_default(),
    }
}

/// How often an agent counts its bricks' heal index while it found nothing to heal: a few
/// directory reads per brick, most of an idle agent's work with a thousand volumes. While
/// there is something to heal it counts at every pass. The holder's observations, which
/// take these counts, come every 10 s.
pub(crate) const HEAL_COUNT_IDLE: Duration = Duration::from_secs(10);

/// How long a brick filesystem may take to list its root before it counts as failing.
const DISK_PROBE: Duration = Duration::from_secs(5);

/// The size and free space of this host's working brick filesystems, and the brick disks
/// that fail: not mounted, or a filesystem that cannot list its root (XFS shuts itself
/// down after an I/O error, and then answers `statvfs` but nothing else). A mount table
/// that cannot be read says nothing about the disks: such a brick is in neither list.
pub(crate) async fn brick_health(config: &HostConfig, count_heal: bool) -> BrickHealth {
    let mut space = Vec::new();
    let mut failed = Vec::new();
    let mut heal_index: BTreeMap<String, u64> = BTreeMap::new();
    for (device, mount_point) in config.bricks() {
        let fail = |reason: String| DiskFailure {
            device: device.clone(),
            mount_point: mount_point.clone(),
            reason,
        };
        match bootstrap::is_mounted(std::path::Path::new(&mount_point)) {
            Ok(true) => {}
            Ok(false) => {
                failed.push(fail("not mounted".into()));
                continue;
            }
            Err(_) => continue,
        }
        let mp = mount_point.clone();
        let probe = tokio::task::spawn_blocking(move || {
            std::fs::read_dir(&mp)?;
            let st = nix::sys::statvfs::statvfs(mp.as_str()).map_err(std::io::Error::from)?;
            let index = count_heal.then(|| heal_index_of(Path::new(&mp)));
            Ok::<_, std::io::Error>((st, index))
        });
        match tokio::time::timeout(DISK_PROBE, probe).await {
            Ok(Ok(Ok((st, index)))) => {
                for (volume, n) in index.into_iter().flatten() {
                    *heal_index.entry(volume).or_default() += n;
                }
                let unit = st.fragment_size();
                space.push(BrickSpace {
                    size_bytes: st.blocks().saturating_mul(unit),
                    free_bytes: st.blocks_available().saturating_mul(unit),
                    mount_point,
                });
            }
            Ok(Ok(Err(e))) => failed.push(fail(e.to_string())),
            Ok(Err(e)) => failed.push(fail(format!("its probe failed: {e}"))),
            Err(_) => failed.push(fail(format!(
                "it does not answer within {}s",
                DISK_PROBE.as_secs()
            ))),
        }
    }
    BrickHealth {
        space,
        failed,
        heal_index: count_heal.then_some(heal_index),
    }
}

/// What [`brick_health`] finds.
pub(crate) struct BrickHealth {
    /// The mounted brick filesystems' size and free space.
    pub(crate) space: Vec<BrickSpace>,
    /// Brick disks that fail.
    pub(crate) failed: Vec<DiskFailure>,
    /// Heal index entries by volume, on the disks that answered ([`heal_index_of`]);
    /// `None` when not counted this time.
    pub(crate) heal_index: Option<BTreeMap<String, u64>>,
}

/// Entries in the heal index of each brick under the brick filesystem `mount`
/// (`MOUNT/VOLUME` is a brick of VOLUME), by volume; only volumes with some.
///
/// gluster's replication records there every file a change could not reach on all bricks
/// of its set (`.glusterfs/indices/xattrop`: a link per file beside the `xattrop-<uuid>`
/// base file, also while a change is in flight), every file a change was cut short on
/// (`indices/dirty`, beside its `dirty-<uuid>` base file) and every directory with entries
/// to heal (`indices/entry-changes`); the self-heal daemon and `heal info` read the same
/// index.
/// Counting them is a few directory reads per brick, where `heal info` starts a gluster
/// client per volume. An index that exists but cannot be read counts one, so that the
/// holder asks gluster.
pub(crate) fn heal_index_of(mount: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(bricks) = std::fs::read_dir(mount) else {
        return out;
    };
    for brick in bricks.flatten() {
        let Ok(volume) = brick.file_name().into_string() else {
            continue;
        };
        if check_volume_name(&volume).is_err() {
            continue;
        }
        let indices = brick.path().join(".glusterfs/indices");
        let count = |dir: &str, skip: &str| -> u64 {
            match std::fs::read_dir(indices.join(dir)) {
                Ok(entries) => entries
                    .flatten()
                    .filter(|e| {
                        skip.is_empty() || !e.file_name().to_string_lossy().starts_with(skip)
                    })
                    .count() as u64,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(_) => 1,
            }
        };
        let n =
            count("xattrop", "xattrop-") + count("dirty", "dirty-") + count("entry-changes", "");
        if n > 0 {
            out.insert(volume, n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heal_index_counts_what_replication_left_to_heal_per_volume() {
        let mount = tempfile::tempdir().expect("temp dir");
        let index = |volume: &str| mount.path().join(volume).join(".glusterfs/indices");
        // A clean brick: only the base files.
        for (dir, base) in [("xattrop", "xattrop-1234"), ("dirty", "dirty-1234")] {
            std::fs::create_dir_all(index("clean").join(dir)).expect("mkdir");
            std::fs::write(index("clean").join(dir).join(base), b"").expect("write");
        }
        // A brick with two files, one file cut short and one directory to heal.
        std::fs::create_dir_all(index("dirty").join("xattrop")).expect("mkdir");
        std::fs::create_dir_all(index("dirty").join("dirty")).expect("mkdir");
        std::fs::create_dir_all(index("dirty").join("entry-changes/gfid-dir")).expect("mkdir");
        for f in ["xattrop-1234", "gfid-a", "gfid-b"] {
            std::fs::write(index("dirty").join("xattrop").join(f), b"").expect("write");
        }
        for f in ["dirty-1234", "gfid-c"] {
            std::fs::write(index("dirty").join("dirty").join(f), b"").expect("write");
        }
        // No index yet (a brick never started), and a name that is no volume.
        std::fs::create_dir_all(mount.path().join("fresh")).expect("mkdir");
        std::fs::create_dir_all(mount.path().join("lost+found/.glusterfs/indices/xattrop/x"))
            .expect("mkdir");
        let counts = heal_index_of(mount.path());
        assert_eq!(counts, BTreeMap::from([("dirty".to_owned(), 4)]));
    }
}
