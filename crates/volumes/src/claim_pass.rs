//! The pool lock's holder carries out claims ([`crate::claims`]): for each claim whose status
//! does not satisfy its record, the directory is made (owner and permissions from the
//! class) and its quota limit set, or it is archived or removed.
//!
//! Directories are made through a FUSE mount of the volume that this agent keeps under its
//! claims directory (one per volume, mounted on first use, remounted when its client died,
//! unmounted when the volume goes), since only a client may create files in gluster.
//! Quota is enabled on a volume the first time a claim needs it.
//!
//! Decisions ([`next_step`]) are pure; [`claim_pass`] carries them out.

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use brickyard_gluster::Gluster;
use brickyard_model::keys::claim_status_key;
use brickyard_model::records::claim::{
    ARCHIVE_DIR, ClaimMode, ClaimPhase, ClaimRecord, ClaimState, ClaimStatus,
};
use brickyard_model::records::volume::MAX_REASON;
use brickyard_store::Store;
use tracing::{info, warn};

use crate::api::now;
use crate::claims::{self, encode};
use crate::reconcile::{Fence, PASS_BUDGET, ReconcileError};
use crate::record::{Phase, VolumeStatus};

/// The option that makes `df` in a claim show the claim's limit instead of the volume's.
pub const DEEM_STATFS: &str = "features.quota-deem-statfs";

/// What to do about one claim now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing: its status satisfies its record, or another actor handles it.
    Nothing,
    /// Its volume is not started yet; wait (the reason says for what).
    Wait(String),
    /// Make its directory (when `fresh`, with the class's owner and permissions) and set
    /// its limit.
    Provide {
        /// Whether the directory is new to the claim (no size was ever applied).
        fresh: bool,
    },
    /// Remove its limit and move its directory to the archive.
    Archive,
    /// Remove its limit and its directory (or its archived directory).
    Remove,
    /// Record that it is archived (a claim with a volume of its own keeps the volume).
    MarkArchived,
}

/// Decides what to do about `record`, given its status and its volume's status.
pub fn next_step(
    record: &ClaimRecord,
    status: Option<&ClaimStatus>,
    volume: Option<&VolumeStatus>,
) -> Step {
    if status.is_some_and(|s| s.satisfies(record)) {
        return Step::Nothing;
    }
    match (record.mode, record.state) {
        // The controller deletes a claim's own volume through its record.
        (ClaimMode::Volume, ClaimState::Deleted) => return Step::Nothing,
        (ClaimMode::Volume, ClaimState::Archived) => return Step::MarkArchived,
        _ => {}
    }
    match volume.map(|v| v.phase) {
        Some(Phase::Started) => {}
        Some(p) => {
            return Step::Wait(format!(
                "waiting for volume {} to start ({p})",
                record.volume
            ));
        }
        None => {
            return Step::Wait(format!(
                "waiting for volume {} to be created",
                record.volume
            ));
        }
    }
    match record.state {
        ClaimState::Present => Step::Provide {
            fresh: status.is_none_or(|s| s.applied_bytes == 0),
        },
        ClaimState::Archived => Step::Archive,
        ClaimState::Deleted => Step::Remove,
    }
}

/// The FUSE mounts this agent keeps for claims, and the volumes whose quota it enabled.
#[derive(Debug)]
pub struct ClaimMounts {
    dir: PathBuf,
    quota_on: BTreeSet<String>,
    mounted: BTreeSet<String>,
}

impl ClaimMounts {
    /// Mounts kept under `dir` (one subdirectory per volume).
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            quota_on: BTreeSet::new(),
            mounted: BTreeSet::new(),
        }
    }

    fn path(&self, volume: &str) -> PathBuf {
        self.dir.join(volume)
    }

    /// The volume's mount, made (or made again, when its client died) as needed.
    async fn ensure(&mut self, server: &str, volume: &str) -> Result<PathBuf, String> {
        let path = self.path(volume);
        let mounted = brickyard_sys::mounts::is_mount_point(&path).map_err(|e| e.to_string())?;
        if mounted {
            match std::fs::metadata(&path) {
                Ok(_) => {
                    self.mounted.insert(volume.to_owned());
                    return Ok(path);
                }
                Err(e) => {
                    warn!("the claims mount of volume {volume} is broken ({e}); mounting it again");
                    let _ = brickyard_gluster::mount::unmount(&path).await;
                }
            }
        }
        std::fs::create_dir_all(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
        brickyard_gluster::mount::mount(&[server.to_owned()], volume, &path, &[])
            .await
            .map_err(|e| format!("mount volume {volume}: {e}"))?;
        self.mounted.insert(volume.to_owned());
        Ok(path)
    }

    /// Unmounts every volume not in `keep`.
    pub async fn release_except(&mut self, keep: &BTreeSet<String>) {
        let gone: Vec<String> = self.mounted.difference(keep).cloned().collect();
        for volume in gone {
            let path = self.path(&volume);
            if let Err(e) = brickyard_gluster::mount::unmount(&path).await {
                warn!("cannot unmount the claims mount of volume {volume}: {e}");
                continue;
            }
            let _ = std::fs::remove_dir(&path);
            self.mounted.remove(&volume);
            self.quota_on.remove(&volume);
        }
    }

    async fn quota(&mut self, gluster: &Gluster, volume: &str) -> Result<(), String> {
        if self.quota_on.contains(volume) {
            return Ok(());
        }
        let newly = gluster
            .quota_enable(volume)
            .await
            .map_err(|e| format!("enable quota on volume {volume}: {e}"))?;
        if newly {
            info!("quota enabled on volume {volume}");
        }
        gluster
            .run(
                &["volume", "set", volume, DEEM_STATFS, "on"],
                true,
                brickyard_gluster::parse::parse_ok,
            )
            .await
            .map_err(|e| format!("set {DEEM_STATFS} on volume {volume}: {e}"))?;
        self.quota_on.insert(volume.to_owned());
        Ok(())
    }
}

/// What a claim pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimReport {
    /// Claims acted on successfully.
    pub done: usize,
    /// Claims whose step failed (their status says why).
    pub failed: usize,
}

/// One pass over every claim, by the pool lock's holder; `server` is this host's address
/// (its own glusterd gives the mounts their volfile).
pub async fn claim_pass(
    store: &dyn Store,
    gluster: &Gluster,
    host: &str,
    server: &str,
    mounts: &mut ClaimMounts,
    fence: &Fence,
) -> Result<ClaimReport, ReconcileError> {
    let started = Instant::now();
    let listing = claims::list(store).await.map_err(|e| match e {
        claims::ClaimError::Store(s) => ReconcileError::Store(s),
        other => ReconcileError::from(crate::VolumeError::Refused {
            name: "claims".into(),
            reason: other.to_string(),
        }),
    })?;
    let (statuses, _) = crate::api::statuses(store).await?;
    let volumes: BTreeMap<String, VolumeStatus> = statuses
        .into_iter()
        .filter_map(|(name, s)| s.ok().map(|s| (name, s)))
        .collect();
    let mut report = ClaimReport::default();
    // Keep the mounts of volumes that claims still use.
    let in_use: BTreeSet<String> = listing
        .claims
        .iter()
        .filter(|c| {
            volumes
                .get(&c.record.volume)
                .is_some_and(|v| v.phase == Phase::Started)
        })
        .map(|c| c.record.volume.clone())
        .collect();
    mounts.release_except(&in_use).await;
    for c in &listing.claims {
        if started.elapsed() > PASS_BUDGET {
            break;
        }
        let record = &c.record;
        let step = next_step(record, c.status.as_ref(), volumes.get(&record.volume));
        let outcome: Result<(ClaimPhase, u64), String> = match step {
            Step::Nothing => continue,
            Step::Wait(reason) => {
                let same = c
                    .status
                    .as_ref()
                    .is_some_and(|s| s.phase == ClaimPhase::Pending && s.reason == reason);
                if !same {
                    write(store, fence, host, record, ClaimPhase::Pending, 0, &reason).await?;
                }
                continue;
            }
            Step::MarkArchived => Ok((ClaimPhase::Archived, 0)),
            Step::Provide { fresh } => provide(gluster, server, mounts, record, fresh)
                .await
                .map(|()| (ClaimPhase::Ready, record.size_bytes)),
            Step::Archive => archive(gluster, server, mounts, record)
                .await
                .map(|()| (ClaimPhase::Archived, 0)),
            Step::Remove => remove(gluster, server, mounts, record)
                .await
                .map(|()| (ClaimPhase::Deleted, 0)),
        };
        fence.check()?;
        match outcome {
            Ok((phase, bytes)) => {
                info!("claim {}: {phase} ({} bytes)", record.id, record.size_bytes);
                write(store, fence, host, record, phase, bytes, "").await?;
                report.done += 1;
            }
            Err(reason) => {
                warn!("claim {}: {reason}", record.id);
                write(store, fence, host, record, ClaimPhase::Failed, 0, &reason).await?;
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

async fn write(
    store: &dyn Store,
    fence: &Fence,
    host: &str,
    record: &ClaimRecord,
    phase: ClaimPhase,
    applied: u64,
    reason: &str,
) -> Result<(), ReconcileError> {
    let mut st = ClaimStatus::new(&record.id, phase, host, now());
    st.applied_bytes = applied;
    st.reason = reason.chars().take(MAX_REASON / 4).collect();
    fence
        .put(store, claim_status_key(&record.id), encode(&st))
        .await
}

async fn provide(
    gluster: &Gluster,
    server: &str,
    mounts: &mut ClaimMounts,
    record: &ClaimRecord,
    fresh: bool,
) -> Result<(), String> {
    let root = mounts.ensure(server, &record.volume).await?;
    mounts.quota(gluster, &record.volume).await?;
    let dir = match record.mode {
        ClaimMode::Subdir => root.join(&record.id),
        ClaimMode::Volume => root.clone(),
    };
    let created = match std::fs::create_dir(&dir) {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
        Err(e) => return Err(format!("create {}: {e}", record.path())),
    };
    if created || fresh {
        let own = record.ownership;
        std::os::unix::fs::chown(&dir, own.uid, own.gid)
            .map_err(|e| format!("chown {}: {e}", record.path()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(own.mode_bits()))
            .map_err(|e| format!("chmod {}: {e}", record.path()))?;
    }
    gluster
        .quota_limit(&record.volume, &record.path(), record.size_bytes)
        .await
        .map_err(|e| format!("set the limit of {}: {e}", record.path()))
}

async fn archive(
    gluster: &Gluster,
    server: &str,
    mounts: &mut ClaimMounts,
    record: &ClaimRecord,
) -> Result<(), String> {
    let root = mounts.ensure(server, &record.volume).await?;
    let from = root.join(&record.id);
    let to_dir = root.join(ARCHIVE_DIR);
    let to = to_dir.join(&record.id);
    if exists(&from)? {
        drop_limit(gluster, record).await?;
        match std::fs::create_dir(&to_dir) {
            Ok(()) => {
                let _ = std::fs::set_permissions(&to_dir, std::fs::Permissions::from_mode(0o700));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("create /{ARCHIVE_DIR}: {e}")),
        }
        std::fs::rename(&from, &to)
            .map_err(|e| format!("move {} to {}: {e}", record.path(), record.archive_path()))?;
    }
    Ok(())
}

async fn remove(
    gluster: &Gluster,
    server: &str,
    mounts: &mut ClaimMounts,
    record: &ClaimRecord,
) -> Result<(), String> {
    let root = mounts.ensure(server, &record.volume).await?;
    let live = root.join(&record.id);
    if exists(&live)? {
        drop_limit(gluster, record).await?;
    }
    for dir in [live, root.join(ARCHIVE_DIR).join(&record.id)] {
        remove_tree(dir).await?;
    }
    Ok(())
}

async fn drop_limit(gluster: &Gluster, record: &ClaimRecord) -> Result<(), String> {
    gluster
        .quota_remove(&record.volume, &record.path())
        .await
        .map(drop)
        .map_err(|e| format!("remove the limit of {}: {e}", record.path()))
}

fn exists(path: &Path) -> Result<bool, String> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("look at {}: {e}", path.display())),
    }
}

async fn remove_tree(dir: PathBuf) -> Result<(), String> {
    let shown = dir.display().to_string();
    tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(format!("remove {shown}: {e}")),
        _ => Ok(()),
    })
    .await
    .map_err(|e| format!("remove: {e}"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use brickyard_model::records::Extra;
    use brickyard_model::records::claim::{OnDelete, Ownership};

    fn record(mode: ClaimMode, state: ClaimState) -> ClaimRecord {
        ClaimRecord {
            schema: 1,
            id: "pvc-1".into(),
            request_name: "pvc-1".into(),
            mode,
            volume: if mode == ClaimMode::Volume {
                "pvc-1".into()
            } else {
                "shared".into()
            },
            size_bytes: 100,
            ownership: Ownership::default(),
            on_delete: OnDelete::Delete,
            state,
            parameters: BTreeMap::new(),
            created_at: 0,
            updated_at: 0,
            extra: Extra::new(),
        }
    }

    fn volume(phase: Phase) -> VolumeStatus {
        VolumeStatus {
            schema: 1,
            name: "shared".into(),
            phase,
            reason: String::new(),
            create_attempted: true,
            rebalance_pending: false,
            bricks: 3,
            by: "h1".into(),
            updated_at: 0,
            extra: Extra::new(),
        }
    }

    #[test]
    fn a_claim_waits_for_its_volume_then_is_provided_once() {
        let r = record(ClaimMode::Subdir, ClaimState::Present);
        assert!(matches!(next_step(&r, None, None), Step::Wait(w) if w.contains("created")));
        assert!(matches!(
            next_step(&r, None, Some(&volume(Phase::Creating))),
            Step::Wait(w) if w.contains("to start")
        ));
        let started = volume(Phase::Started);
        assert_eq!(
            next_step(&r, None, Some(&started)),
            Step::Provide { fresh: true }
        );
        let mut st = ClaimStatus::new("pvc-1", ClaimPhase::Ready, "h1", 0);
        st.applied_bytes = 100;
        assert_eq!(next_step(&r, Some(&st), Some(&started)), Step::Nothing);
        // Grown: the limit is raised, the owner left as the users made it.
        let grown = ClaimRecord {
            size_bytes: 200,
            ..r.clone()
        };
        assert_eq!(
            next_step(&grown, Some(&st), Some(&started)),
            Step::Provide { fresh: false }
        );
    }

    #[test]
    fn letting_go_archives_or_removes() {
        let started = volume(Phase::Started);
        let archived = record(ClaimMode::Subdir, ClaimState::Archived);
        assert_eq!(next_step(&archived, None, Some(&started)), Step::Archive);
        let deleted = record(ClaimMode::Subdir, ClaimState::Deleted);
        assert_eq!(next_step(&deleted, None, Some(&started)), Step::Remove);
        let own = record(ClaimMode::Volume, ClaimState::Deleted);
        assert_eq!(next_step(&own, None, None), Step::Nothing);
        let own = record(ClaimMode::Volume, ClaimState::Archived);
        assert_eq!(next_step(&own, None, None), Step::MarkArchived);
    }
}
