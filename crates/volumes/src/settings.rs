//! The cluster's settings ([`ClusterSettings`] at `gluster/cluster/settings`): written by a
//! client ([`get`], [`set_brick_multiplex`]), applied to gluster's cluster-wide options by
//! the pool lock's holder ([`apply`]).

use std::time::{Duration, Instant};

use brickyard_gluster::{Gluster, parse_switch};
use brickyard_model::keys::CLUSTER_SETTINGS;
use brickyard_model::records::settings::ClusterSettings;
use brickyard_store::{Expect, Store};
use tracing::info;

use crate::VolumeError;
use crate::reconcile::{Fence, ReconcileError};

/// gluster's option for brick multiplexing.
pub const BRICK_MULTIPLEX: &str = "cluster.brick-multiplex";

/// How often the holder asks gluster again when the stored settings have not changed, to
/// put back a value changed by hand.
const RECHECK: Duration = Duration::from_secs(60);

/// The stored settings (the defaults when none are stored) and their revision.
async fn load(store: &dyn Store) -> Result<(ClusterSettings, Option<i64>), VolumeError> {
    match store.get(CLUSTER_SETTINGS).await? {
        None => Ok((ClusterSettings::default(), None)),
        Some(e) => ClusterSettings::decode(&e.key, &e.value)
            .map(|s| (s, Some(e.mod_revision)))
            .map_err(VolumeError::Invalid),
    }
}

/// The cluster's settings; the defaults when none are stored. An error when the stored
/// record cannot be used (it names the key and the way out).
pub async fn get(store: &dyn Store) -> Result<ClusterSettings, VolumeError> {
    Ok(load(store).await?.0)
}

/// Asks for brick multiplexing on or off; the pool lock's holder applies it to gluster.
pub async fn set_brick_multiplex(
    store: &dyn Store,
    on: bool,
) -> Result<ClusterSettings, VolumeError> {
    for _ in 0..crate::api::ATTEMPTS {
        let (mut s, revision) = load(store).await?;
        s.brick_multiplex = on;
        let value = serde_json::to_vec(&s).expect("settings always serialise");
        let expect = revision.map_or(Expect::Absent, Expect::ModRevision);
        if store
            .compare_and_swap(CLUSTER_SETTINGS, expect, &value, None)
            .await?
        {
            return Ok(s);
        }
    }
    Err(VolumeError::SettingsContended)
}

/// What the holder last applied: gluster is asked again only when the stored settings
/// changed, or [`RECHECK`] after it last asked.
#[derive(Debug, Default)]
pub struct Applied {
    revision: Option<Option<i64>>,
    at: Option<Instant>,
    /// Whether the stored record's being unusable was logged since it last was usable.
    warned: bool,
}

/// One pass of the pool lock's holder: keeps gluster's cluster-wide options at the stored
/// settings. Returns what it changed, if anything (for the log and tests).
pub async fn apply(
    store: &dyn Store,
    gluster: &Gluster,
    fence: &Fence,
    memo: &mut Applied,
) -> Result<Option<String>, ReconcileError> {
    let (want, revision) = match load(store).await {
        Ok(v) => v,
        Err(VolumeError::Invalid(e)) => {
            // Logged once until it is usable again; gluster is left as it is.
            if !memo.warned {
                tracing::warn!("skipped: {e}");
                memo.warned = true;
            }
            memo.revision = None;
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    memo.warned = false;
    let fresh = memo.revision == Some(revision) && memo.at.is_some_and(|t| t.elapsed() < RECHECK);
    if fresh {
        return Ok(None);
    }
    let have = gluster.global_option(BRICK_MULTIPLEX).await?;
    let mut changed = None;
    if parse_switch(&have) != Some(want.brick_multiplex) {
        let value = if want.brick_multiplex { "on" } else { "off" };
        fence.check()?;
        gluster.set_global_option(BRICK_MULTIPLEX, value).await?;
        info!(
            "{BRICK_MULTIPLEX} set to {value} (it was {have}); it applies to bricks started from now on"
        );
        changed = Some(format!("{BRICK_MULTIPLEX} {value}"));
    }
    memo.revision = Some(revision);
    memo.at = Some(Instant::now());
    Ok(changed)
}
