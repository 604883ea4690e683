//! One volume in detail: what was asked for, what the agents report, what gluster shows, and
//! where they differ. `brickyard volume info --output json` and `GET /v1/volumes/NAME` give
//! exactly this.

use std::time::Duration;

use brickyard_gluster::VolumeInfo;
use brickyard_model::keys::OBSERVED_VOLUMES;
use brickyard_model::records::agent::{HealProgress, ObservedVolumes, RebalanceSeen};
use brickyard_store::Store;
use brickyard_volumes::{VolumeError, VolumeView};
use serde::Serialize;

use crate::agents::{ask_live_glusterd, live_agents};

/// One volume in detail.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeDetail {
    /// The record and the agents' status.
    #[serde(flatten)]
    pub view: VolumeView,
    /// gluster's `volume info` for the volume, when a glusterd answered and has it.
    pub gluster: Option<VolumeInfo>,
    /// Why no glusterd could be asked, when none could.
    pub gluster_error: Option<String>,
    /// Where desired and observed state differ, one line each; empty when they agree or
    /// when gluster could not be asked.
    pub differences: Vec<String>,
    /// What the pool lock's holder last saw of its heal and its rebalance; `None` before any
    /// observation (or when it cannot be read: `brickyard status` says why).
    pub observed: Option<VolumeObserved>,
}

/// A volume's heal and rebalance, as the pool lock's holder last observed them.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeObserved {
    /// When the volume's heal counts were asked (seconds since the epoch).
    pub at: u64,
    /// Entries pending heal; `None` when heal info could not be asked (see `heal_unknown`)
    /// or the volume has no replicas.
    pub heal_pending: Option<u64>,
    /// Why heal info could not be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heal_unknown: Option<String>,
    /// How fast its heal drains, once measured (while entries are pending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heal_progress: Option<HealProgress>,
    /// Its last rebalance, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebalance: Option<RebalanceSeen>,
}

/// Volume `name` in detail; `gluster_timeout` bounds each call to one host's glusterd.
pub async fn volume_detail(
    store: &dyn Store,
    name: &str,
    gluster_timeout: Duration,
) -> Result<VolumeDetail, VolumeError> {
    let view = brickyard_volumes::get(store, name).await?;
    let agents = live_agents(store).await?;
    let (gluster, gluster_error) = match ask_live_glusterd(&agents, gluster_timeout).await {
        Ok((_, all)) => (all.into_iter().find(|v| v.name == name), None),
        Err(e) => (None, Some(e)),
    };
    // Without gluster's answer, comparing would report "gluster has no volume", which is
    // not known; say nothing and let gluster_error explain.
    let differences = if gluster_error.is_some() {
        Vec::new()
    } else {
        brickyard_volumes::plan::differences(&view.record, view.status.as_ref(), gluster.as_ref())
    };
    let observed = store
        .get(OBSERVED_VOLUMES)
        .await
        .map_err(VolumeError::Store)?
        .and_then(|e| ObservedVolumes::decode(&e.value).ok())
        .map(|o| VolumeObserved {
            at: o.heal_asked_at(name),
            heal_pending: o.heal_pending.get(name).copied(),
            heal_unknown: o.heal_unknown.get(name).cloned(),
            heal_progress: o.heal_progress(name),
            rebalance: o.rebalance.get(name).cloned(),
        });
    Ok(VolumeDetail {
        view,
        gluster,
        gluster_error,
        differences,
        observed,
    })
}
