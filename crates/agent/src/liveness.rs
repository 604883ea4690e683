//! The agent's liveness record: renewing its lease, publishing what it sees of glusterd,
//! its peers and its brick filesystems.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brickyard_model::HostConfig;
use brickyard_model::keys::status_key;
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

/// How long a brick filesystem may take to list its root before it counts as failing.
const DISK_PROBE: Duration = Duration::from_secs(5);

/// The size and free space of this host's working brick filesystems, and the brick disks
/// that fail: not mounted, or a filesystem that cannot list its root (XFS shuts itself
/// down after an I/O error, and then answers `statvfs` but nothing else). A mount table
/// that cannot be read says nothing about the disks: such a brick is in neither list.
pub(crate) async fn brick_health(config: &HostConfig) -> (Vec<BrickSpace>, Vec<DiskFailure>) {
    let mut space = Vec::new();
    let mut failed = Vec::new();
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
            nix::sys::statvfs::statvfs(mp.as_str()).map_err(std::io::Error::from)
        });
        match tokio::time::timeout(DISK_PROBE, probe).await {
            Ok(Ok(Ok(st))) => {
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
    (space, failed)
}
