//! Hosts removed from the cluster (`brickyard host remove`): the pool lock's holder takes
//! their bricks out of the volumes being deleted, detaches each from gluster's pool, then
//! deletes its removal record. The record is written only once no other volume record lists
//! a brick on the host and its config is gone, so no agent probes it back.

use std::sync::Arc;

use brickyard_model::keys::HOST_REMOVAL_PREFIX;
use brickyard_model::records::agent::{HostRemoval, PeerView};
use brickyard_store::{Held, Op, Store, Txn};
use brickyard_volumes::reconcile::{HostBricks, free_host};
use tracing::{info, warn};

use crate::options::AgentOptions;

/// Detaches every removed host that gluster's pool still has; forgets the removal of each
/// that it no longer has. Each failure is logged and tried again at the next pass. Returns
/// whether a host was being removed (its bricks may have left volumes: gluster changed).
pub(crate) async fn detach_removed(
    opts: &AgentOptions,
    store: &Arc<dyn Store>,
    held: &Held,
    known: &[PeerView],
) -> bool {
    let entries = match store.list(HOST_REMOVAL_PREFIX).await {
        Ok(e) => e,
        Err(e) => {
            warn!("cannot read the hosts being removed: {e}");
            return false;
        }
    };
    let removing = !entries.is_empty();
    for e in entries {
        let removal = match HostRemoval::decode(&e.key, &e.value) {
            Ok(r) => r,
            Err(err) => {
                warn!("{err}");
                continue;
            }
        };
        let ip = removal.ip.to_string();
        if known.iter().any(|p| p.hostname == ip) {
            // Bricks of volumes being deleted leave first: gluster detaches no peer that
            // holds a brick.
            match free_host(store.as_ref(), &opts.gluster, &ip).await {
                Ok(HostBricks::None) => {}
                Ok(HostBricks::Releasing) => continue,
                Ok(HostBricks::Kept(why)) => {
                    warn!(host = %removal.host, %ip, "the peer stays in the pool: {why}");
                    continue;
                }
                Err(err) => {
                    warn!(host = %removal.host, %ip, "cannot tell which bricks it holds: {err}");
                    continue;
                }
            }
            // A peer that is down is detached only with force; one that answers without.
            let mut result = opts.gluster.peer_detach(&ip, false).await;
            if result.is_err() {
                result = opts.gluster.peer_detach(&ip, true).await;
            }
            match result {
                Ok(()) => info!(host = %removal.host, %ip, "peer detached from the pool"),
                Err(err) => warn!(host = %removal.host, %ip, "cannot detach the peer: {err}"),
            }
            continue;
        }
        let txn = Txn {
            guards: vec![held.guard()],
            ops: vec![Op::Delete { key: e.key.clone() }],
        };
        match store.commit(txn).await {
            Ok(true) => info!(host = %removal.host, "host removed from the cluster"),
            Ok(false) => info!(
                "the pool lock moved: removal of {} left to the next holder",
                removal.host
            ),
            Err(err) => warn!("cannot record the removal of {}: {err}", removal.host),
        }
    }
    removing
}
