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

/// gluster's option for how many bricks one multiplexed brick process takes before the
/// next brick gets a process of its own (gluster's default: 250).
pub const MAX_BRICKS_PER_PROCESS: &str = "cluster.max-bricks-per-process";

/// gluster's own most bricks per process, kept where the open-files limit allows it.
const GLUSTER_MAX_BRICKS: u64 = 250;

/// Files a multiplexed brick process keeps open per brick, with room to spare: measured
/// 261 on gluster 10.3 (an open directory for each of the 256 `.glusterfs/XX` handle
/// directories, the brick's own files and its clients' connections).
const FILES_PER_BRICK: u64 = 300;

/// Files a brick process keeps open whatever its bricks (logs, its own connections).
const FILES_PER_PROCESS: u64 = 1024;

/// How many bricks one multiplexed brick process can take when it may keep `open_files`
/// files open. Past the limit a brick fails to attach ("Too many open files") and stays
/// offline while its volume reads as started: measured with a limit of 20000, from about
/// the 76th brick of a process on.
pub fn bricks_per_process(open_files: u64) -> u64 {
    (open_files.saturating_sub(FILES_PER_PROCESS) / FILES_PER_BRICK).clamp(1, GLUSTER_MAX_BRICKS)
}

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
    /// The bricks per process it kept gluster at, with multiplexing on.
    per_process: Option<u64>,
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
    // With multiplexing, the bricks per process follow the lowest open-files limit of the
    // live agents (what their glusterd and brick processes inherit).
    let per_process = if want.brick_multiplex {
        let agents = crate::api::live_agents(store).await?;
        agents
            .values()
            .filter_map(|a| a.open_files)
            .min()
            .map(bricks_per_process)
    } else {
        None
    };
    let fresh = memo.revision == Some(revision)
        && memo.per_process == per_process
        && memo.at.is_some_and(|t| t.elapsed() < RECHECK);
    if fresh {
        return Ok(None);
    }
    let mut changed = Vec::new();
    let have = gluster.global_option(BRICK_MULTIPLEX).await?;
    if parse_switch(&have) != Some(want.brick_multiplex) {
        let value = if want.brick_multiplex { "on" } else { "off" };
        fence.check()?;
        gluster.set_global_option(BRICK_MULTIPLEX, value).await?;
        info!(
            "{BRICK_MULTIPLEX} set to {value} (it was {have}); it applies to bricks started from now on"
        );
        changed.push(format!("{BRICK_MULTIPLEX} {value}"));
    }
    // gluster takes the bricks per process only with multiplexing on.
    if let Some(n) = per_process {
        let have = gluster.global_option(MAX_BRICKS_PER_PROCESS).await?;
        if have
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            != Some(n)
        {
            fence.check()?;
            gluster
                .set_global_option(MAX_BRICKS_PER_PROCESS, &n.to_string())
                .await?;
            info!(
                "{MAX_BRICKS_PER_PROCESS} set to {n} (it was {have}): the brick processes may keep too few files open for more"
            );
            changed.push(format!("{MAX_BRICKS_PER_PROCESS} {n}"));
        }
    }
    memo.revision = Some(revision);
    memo.per_process = per_process;
    memo.at = Some(Instant::now());
    Ok((!changed.is_empty()).then(|| changed.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bricks_per_process_stays_within_the_open_files_limit() {
        // This machine's sandbox: 20000, where the 76th brick of a process failed.
        assert_eq!(bricks_per_process(20_000), 63);
        assert!(bricks_per_process(20_000) * 261 + 1024 < 20_000);
        // A host whose limit is gluster's own (it raises it to 1048576 when it may).
        assert_eq!(bricks_per_process(1_048_576), 250);
        assert_eq!(bricks_per_process(u64::MAX), 250);
        // Absurdly low limits still let every brick start somewhere.
        assert_eq!(bricks_per_process(1024), 1);
        assert_eq!(bricks_per_process(0), 1);
    }
}
