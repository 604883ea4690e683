//! The Node service: one FUSE mount per gluster volume per node, shared by every claim on
//! that volume, and bind mounts from it.
//!
//! - NodeStageVolume mounts the claim's volume under the state directory
//!   (`<state>/volumes/<VOLUME>`) if it is not mounted yet, and bind-mounts the claim's
//!   directory (`/<ID>`, or the volume's root for a claim with a volume of its own) on the
//!   staging path.
//! - NodePublishVolume bind-mounts the staging path on the pod's target path, read-only
//!   when asked.
//! - NodeUnstageVolume unmounts the staging path, and the volume's mount when no bind of it
//!   is left (found in the mount table by device number).
//!
//! The FUSE client (`glusterfs`) daemonizes when mounted, so it is not a child of this
//! process and keeps serving the mounts when the plugin stops or restarts. Under
//! Kubernetes the plugin's container must not take the client down with it: see
//! docs/kubernetes.md.
//!
//! Every call is idempotent: the mount table says what is done already.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use brickyard_model::records::claim::{ClaimMode, ClaimRecord, ClaimState};
use brickyard_store::Store;
use brickyard_sys::mounts::Mount;
use brickyard_volumes::claims;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use crate::proto::node_server::Node as NodeService;
use crate::proto::node_service_capability::{self, rpc};
use crate::proto::volume_usage::Unit;
use crate::proto::*;
use crate::{caps, required, status};

/// How long a look at a mounted volume may take before it counts as hung.
const LOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The Node service of one node.
#[derive(Debug)]
pub struct Node {
    store: Arc<dyn Store>,
    node_id: String,
    state_dir: PathBuf,
    /// Mount changes one at a time: kubelet may stage two claims of one volume at once.
    lock: tokio::sync::Mutex<()>,
}

impl Node {
    /// The plugin of node `node_id`, keeping its volume mounts under `state_dir`.
    pub fn new(store: Arc<dyn Store>, node_id: &str, state_dir: PathBuf) -> Self {
        Self {
            store,
            node_id: node_id.to_owned(),
            state_dir,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Where volume `volume` is mounted on this node.
    pub fn volume_mount(&self, volume: &str) -> PathBuf {
        self.state_dir.join("volumes").join(volume)
    }

    async fn claim(&self, id: &str) -> Result<ClaimRecord, Status> {
        match claims::get(self.store.as_ref(), id).await {
            Ok(Some((_, r))) if r.state == ClaimState::Present => Ok(r),
            // None, or archived or being removed: Kubernetes let go of it.
            Ok(_) => Err(status::of(claims::ClaimError::NotFound {
                id: id.to_owned(),
            })),
            Err(e) => Err(status::of(e)),
        }
    }

    /// The volume's FUSE mount on this node, made (or made again when its client died).
    async fn ensure_volume(&self, volume: &str) -> Result<PathBuf, Status> {
        let path = self.volume_mount(volume);
        if mounted(&path)?.is_some() {
            match look(&path).await {
                Ok(()) => return Ok(path),
                Err(reason) => {
                    warn!("the mount of volume {volume} is broken ({reason}); mounting it again");
                    unmount(&path, true)?;
                }
            }
        }
        let agents = brickyard_volumes::api::live_agents(self.store.as_ref())
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let servers: Vec<String> = agents.values().map(|a| a.ip.to_string()).collect();
        if servers.is_empty() {
            return Err(Status::unavailable(format!(
                "no brickyard agent is live to mount volume {volume} from"
            )));
        }
        std::fs::create_dir_all(&path).map_err(|e| internal("create", &path, &e))?;
        brickyard_gluster::mount::mount(&servers, volume, &path, &[])
            .await
            .map_err(|e| Status::internal(format!("mount volume {volume}: {e}")))?;
        info!("mounted volume {volume} at {}", path.display());
        Ok(path)
    }

    /// Unmounts volume mounts under the state directory that no bind mount uses any more.
    fn release_unused(&self, device: &str) -> Result<(), Status> {
        let table = table()?;
        let ours = self.state_dir.join("volumes");
        let (shared, others): (Vec<&Mount>, Vec<&Mount>) = table
            .iter()
            .filter(|m| m.device == device)
            .partition(|m| m.target.parent() == Some(ours.as_path()));
        if others.is_empty() {
            for m in shared {
                unmount(&m.target, false)?;
                let _ = std::fs::remove_dir(&m.target);
                info!(
                    "unmounted {} (no claim of it is staged here)",
                    m.target.display()
                );
            }
        }
        Ok(())
    }
}

fn internal(op: &str, path: &Path, e: &std::io::Error) -> Status {
    Status::internal(format!("{op} {}: {e}", path.display()))
}

fn table() -> Result<Vec<Mount>, Status> {
    brickyard_sys::mounts::read().map_err(|e| Status::internal(e.to_string()))
}

/// The topmost mount at `path`, if any.
fn mounted(path: &Path) -> Result<Option<Mount>, Status> {
    Ok(table()?.into_iter().rfind(|m| m.target == path))
}

fn read_only(m: &Mount) -> bool {
    m.options.split(',').any(|o| o == "ro")
}

/// Looks at a mounted path without hanging on an unreachable server.
async fn look(path: &Path) -> Result<(), String> {
    let p = path.to_owned();
    match tokio::time::timeout(
        LOOK_TIMEOUT,
        tokio::task::spawn_blocking(move || nix::sys::statvfs::statvfs(&p)),
    )
    .await
    {
        Ok(Ok(Ok(_))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e.desc().to_owned()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", LOOK_TIMEOUT.as_secs())),
    }
}

fn bind(source: &Path, target: &Path, ro: bool) -> Result<(), Status> {
    let fail = |e: Errno| {
        Status::internal(format!(
            "bind-mount {} on {}: {}",
            source.display(),
            target.display(),
            e.desc()
        ))
    };
    nix::mount::mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(fail)?;
    if ro {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        if let Err(e) = nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>) {
            let _ = nix::mount::umount2(target, MntFlags::MNT_DETACH);
            return Err(fail(e));
        }
    }
    Ok(())
}

/// Unmounts `path` (detaching it when busy, or at once when `lazy`); not mounted is fine.
fn unmount(path: &Path, lazy: bool) -> Result<(), Status> {
    let flags = if lazy {
        MntFlags::MNT_DETACH
    } else {
        MntFlags::empty()
    };
    match nix::mount::umount2(path, flags) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => Ok(()),
        Err(Errno::EBUSY) => nix::mount::umount2(path, MntFlags::MNT_DETACH)
            .map_err(|e| Status::internal(format!("unmount {}: {}", path.display(), e.desc()))),
        Err(e) => Err(Status::internal(format!(
            "unmount {}: {}",
            path.display(),
            e.desc()
        ))),
    }
}

fn absolute<'a>(field: &'static str, value: &'a str) -> Result<&'a Path, Status> {
    let path = Path::new(required(field, value)?);
    if !path.is_absolute() || path.components().any(|c| c.as_os_str() == "..") {
        return Err(Status::invalid_argument(format!(
            "{field} {value:?} is not an absolute path without .."
        )));
    }
    Ok(path)
}

fn exists(path: &Path) -> Result<bool, Status> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        // A path on a dead FUSE mount: it is there, its file system is not.
        Err(e) if e.raw_os_error() == Some(Errno::ENOTCONN as i32) => Ok(true),
        Err(e) => Err(internal("look at", path, &e)),
    }
}

#[tonic::async_trait]
impl NodeService for Node {
    async fn node_stage_volume(
        &self,
        request: Request<NodeStageVolumeRequest>,
    ) -> Result<Response<NodeStageVolumeResponse>, Status> {
        let req = request.into_inner();
        let id = required("volume_id", &req.volume_id)?;
        let staging = absolute("staging_target_path", &req.staging_target_path)?;
        let cap = req
            .volume_capability
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("volume_capability is required"))?;
        caps::check(cap).map_err(Status::invalid_argument)?;
        let record = self.claim(id).await?;
        let _guard = self.lock.lock().await;
        let root = self.ensure_volume(&record.volume).await?;
        let source = match record.mode {
            ClaimMode::Subdir => root.join(&record.id),
            ClaimMode::Volume => root.clone(),
        };
        if !exists(&source)? {
            return Err(Status::failed_precondition(format!(
                "claim {id}'s directory {} is not in volume {} (yet); `brickyard csi list` shows its status",
                record.path(),
                record.volume
            )));
        }
        let volume_dev = mounted(&root)?.map(|m| m.device).unwrap_or_default();
        if let Some(m) = mounted(staging)? {
            if m.device == volume_dev && m.root == Path::new(&record.path()) {
                return Ok(Response::new(NodeStageVolumeResponse {}));
            }
            return Err(Status::already_exists(format!(
                "{} has another mount ({} {}); unstage it first",
                staging.display(),
                m.source,
                m.root.display()
            )));
        }
        std::fs::create_dir_all(staging).map_err(|e| internal("create", staging, &e))?;
        bind(&source, staging, false)?;
        info!("staged claim {id} at {}", staging.display());
        Ok(Response::new(NodeStageVolumeResponse {}))
    }

    async fn node_unstage_volume(
        &self,
        request: Request<NodeUnstageVolumeRequest>,
    ) -> Result<Response<NodeUnstageVolumeResponse>, Status> {
        let req = request.into_inner();
        let id = required("volume_id", &req.volume_id)?;
        let staging = absolute("staging_target_path", &req.staging_target_path)?;
        let _guard = self.lock.lock().await;
        if let Some(m) = mounted(staging)? {
            unmount(staging, false)?;
            self.release_unused(&m.device)?;
            info!("unstaged claim {id} from {}", staging.display());
        }
        Ok(Response::new(NodeUnstageVolumeResponse {}))
    }

    async fn node_publish_volume(
        &self,
        request: Request<NodePublishVolumeRequest>,
    ) -> Result<Response<NodePublishVolumeResponse>, Status> {
        let req = request.into_inner();
        let id = required("volume_id", &req.volume_id)?;
        let staging = absolute("staging_target_path", &req.staging_target_path)?;
        let target = absolute("target_path", &req.target_path)?;
        let cap = req
            .volume_capability
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("volume_capability is required"))?;
        caps::check(cap).map_err(Status::invalid_argument)?;
        let ro = req.readonly || caps::reads_only(cap);
        let _guard = self.lock.lock().await;
        let staged = mounted(staging)?.ok_or_else(|| {
            Status::failed_precondition(format!(
                "claim {id} is not staged at {}",
                staging.display()
            ))
        })?;
        if let Some(m) = mounted(target)? {
            if m.device == staged.device && m.root == staged.root && read_only(&m) == ro {
                return Ok(Response::new(NodePublishVolumeResponse {}));
            }
            return Err(Status::already_exists(format!(
                "{} is mounted already with other options (read-only: {}); unpublish it first",
                target.display(),
                read_only(&m)
            )));
        }
        std::fs::create_dir_all(target).map_err(|e| internal("create", target, &e))?;
        bind(staging, target, ro)?;
        info!(
            "published claim {id} at {}{}",
            target.display(),
            if ro { " (read-only)" } else { "" }
        );
        Ok(Response::new(NodePublishVolumeResponse {}))
    }

    async fn node_unpublish_volume(
        &self,
        request: Request<NodeUnpublishVolumeRequest>,
    ) -> Result<Response<NodeUnpublishVolumeResponse>, Status> {
        let req = request.into_inner();
        let id = required("volume_id", &req.volume_id)?;
        let target = absolute("target_path", &req.target_path)?;
        let _guard = self.lock.lock().await;
        if mounted(target)?.is_some() {
            unmount(target, false)?;
            info!("unpublished claim {id} from {}", target.display());
        }
        match std::fs::remove_dir(target) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => warn!("cannot remove {}: {e}", target.display()),
        }
        Ok(Response::new(NodeUnpublishVolumeResponse {}))
    }

    async fn node_get_volume_stats(
        &self,
        request: Request<NodeGetVolumeStatsRequest>,
    ) -> Result<Response<NodeGetVolumeStatsResponse>, Status> {
        let req = request.into_inner();
        let id = required("volume_id", &req.volume_id)?;
        let path = absolute("volume_path", &req.volume_path)?;
        if !exists(path)? {
            return Err(Status::not_found(format!(
                "{} does not exist",
                path.display()
            )));
        }
        let abnormal = |message: String| {
            Ok(Response::new(NodeGetVolumeStatsResponse {
                usage: Vec::new(),
                volume_condition: Some(VolumeCondition {
                    abnormal: true,
                    message,
                }),
            }))
        };
        if mounted(path)?.is_none() {
            return abnormal(format!("claim {id} is not mounted at {}", path.display()));
        }
        let p = path.to_owned();
        let st = match tokio::time::timeout(
            LOOK_TIMEOUT,
            tokio::task::spawn_blocking(move || nix::sys::statvfs::statvfs(&p)),
        )
        .await
        {
            Ok(Ok(Ok(st))) => st,
            Ok(Ok(Err(e))) => {
                return abnormal(format!(
                    "the GlusterFS mount of claim {id} fails: {}; the pod must be restarted to mount it again",
                    e.desc()
                ));
            }
            Ok(Err(e)) => return Err(Status::internal(e.to_string())),
            Err(_) => {
                return abnormal(format!(
                    "the GlusterFS mount of claim {id} did not answer within {}s",
                    LOOK_TIMEOUT.as_secs()
                ));
            }
        };
        let frag = st.fragment_size();
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let total = st.blocks().saturating_mul(frag);
        let available = st.blocks_available().saturating_mul(frag);
        let free = st.blocks_free().saturating_mul(frag);
        let inodes = st.files();
        let inodes_free = st.files_available();
        Ok(Response::new(NodeGetVolumeStatsResponse {
            usage: vec![
                VolumeUsage {
                    available: clamp(available),
                    total: clamp(total),
                    used: clamp(total.saturating_sub(free)),
                    unit: Unit::Bytes as i32,
                },
                VolumeUsage {
                    available: clamp(inodes_free),
                    total: clamp(inodes),
                    used: clamp(inodes.saturating_sub(st.files_free())),
                    unit: Unit::Inodes as i32,
                },
            ],
            volume_condition: Some(VolumeCondition {
                abnormal: false,
                message: String::new(),
            }),
        }))
    }

    async fn node_expand_volume(
        &self,
        request: Request<NodeExpandVolumeRequest>,
    ) -> Result<Response<NodeExpandVolumeResponse>, Status> {
        let req = request.into_inner();
        let id = required("volume_id", &req.volume_id)?;
        let path = absolute("volume_path", &req.volume_path)?;
        if !exists(path)? {
            return Err(Status::not_found(format!(
                "{} does not exist",
                path.display()
            )));
        }
        // The limit is raised by the controller, cluster-wide; the node has nothing to do.
        let record = self.claim(id).await?;
        Ok(Response::new(NodeExpandVolumeResponse {
            capacity_bytes: i64::try_from(record.size_bytes).unwrap_or(i64::MAX),
        }))
    }

    async fn node_get_capabilities(
        &self,
        _: Request<NodeGetCapabilitiesRequest>,
    ) -> Result<Response<NodeGetCapabilitiesResponse>, Status> {
        let capabilities = [
            rpc::Type::StageUnstageVolume,
            rpc::Type::GetVolumeStats,
            rpc::Type::VolumeCondition,
            rpc::Type::ExpandVolume,
            rpc::Type::SingleNodeMultiWriter,
        ]
        .into_iter()
        .map(|t| NodeServiceCapability {
            r#type: Some(node_service_capability::Type::Rpc(
                node_service_capability::Rpc { r#type: t as i32 },
            )),
        })
        .collect();
        Ok(Response::new(NodeGetCapabilitiesResponse { capabilities }))
    }

    async fn node_get_info(
        &self,
        _: Request<NodeGetInfoRequest>,
    ) -> Result<Response<NodeGetInfoResponse>, Status> {
        Ok(Response::new(NodeGetInfoResponse {
            node_id: self.node_id.clone(),
            max_volumes_per_node: 0,
            accessible_topology: None,
        }))
    }
}
