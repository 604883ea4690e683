//! brickyard's CSI driver, `glusterfs.brickyard.io`: the Container Storage Interface v1
//! Identity, Controller and Node services of CSI spec v1.10.0, compiled from brickyard's own
//! `proto/csi.proto` (names, field numbers and enum values are the spec's, since kubelet
//! and the Kubernetes sidecars put them on the wire), served on a unix socket.
//!
//! - The controller ([`controller`]) turns CreateVolume, DeleteVolume and
//!   ControllerExpandVolume into claim records in the store and waits for the pool lock's
//!   holder to carry them out (`brickyard_volumes::claims`, `brickyard_volumes::claim_pass`).
//!   It runs no gluster command and mounts nothing, so it runs unprivileged.
//! - The node plugin ([`node`]) mounts each gluster volume once per node (FUSE), and
//!   bind-mounts a claim's directory to the staging path and from there into each pod.
//!
//! Architecture invariant: every id, path and parameter of a request is checked before it
//! reaches the store, a path or a command; the services keep no state of their own that is
//! not in the store or the mount table, so a restarted plugin carries on.

use std::path::{Path, PathBuf};

use thiserror::Error;

pub mod controller;
pub mod identity;
pub mod node;
mod serve;
mod status;

pub use serve::{Endpoint, serve};

pub use brickyard_model::records::claim::DRIVER_NAME;

/// The CSI v1 messages and services, generated from `proto/csi.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("csi.v1");
}

/// Why the driver could not run.
#[derive(Debug, Error)]
pub enum CsiError {
    /// The endpoint is not a unix socket address.
    #[error("endpoint {value:?}: {problem}; give unix:///path/to/csi.sock (an absolute path)")]
    BadEndpoint {
        /// The endpoint as given.
        value: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A file operation on the socket or a state directory failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("serving CSI on {path}: {reason}")]
    Serve {
        /// The socket.
        path: PathBuf,
        /// What happened.
        reason: String,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CsiError {
    let path = path.to_owned();
    move |source| CsiError::Io { op, path, source }
}

/// Which access modes and access types the driver serves: mounted file systems in every
/// access mode (a GlusterFS volume is shared by nature), never raw blocks.
pub(crate) mod caps {
    use tonic::Status;

    use crate::proto::VolumeCapability;
    use crate::proto::volume_capability::AccessType;
    use crate::proto::volume_capability::access_mode::Mode;

    /// The file system types a request may name.
    const FS_TYPES: &[&str] = &["", "glusterfs", "fuse.glusterfs"];

    /// Checks one capability; the error says what is not served.
    pub(crate) fn check(cap: &VolumeCapability) -> Result<(), String> {
        match &cap.access_type {
            None => return Err("a volume capability names no access type".into()),
            Some(AccessType::Block(_)) => {
                return Err(
                    "block access is not served: GlusterFS volumes are file systems; ask for a mount"
                        .into(),
                );
            }
            Some(AccessType::Mount(m)) => {
                if !FS_TYPES.contains(&m.fs_type.as_str()) {
                    return Err(format!(
                        "file system type {:?} is not served; leave it empty or say glusterfs",
                        m.fs_type
                    ));
                }
                if !m.mount_flags.is_empty() {
                    return Err(
                        "mount options are not taken: one GlusterFS mount per node is shared by every claim on its volume"
                            .into(),
                    );
                }
            }
        }
        match cap.access_mode.as_ref().map(|m| m.mode()) {
            None | Some(Mode::Unknown) => Err("a volume capability names no access mode".into()),
            Some(_) => Ok(()),
        }
    }

    /// Checks every capability of a request; an empty list is an error.
    pub(crate) fn check_all(caps: &[VolumeCapability]) -> Result<(), Status> {
        if caps.is_empty() {
            return Err(Status::invalid_argument("volume_capabilities is required"));
        }
        caps.iter()
            .try_for_each(check)
            .map_err(Status::invalid_argument)
    }

    /// Whether a capability's access mode only reads.
    pub(crate) fn reads_only(cap: &VolumeCapability) -> bool {
        matches!(
            cap.access_mode.as_ref().map(|m| m.mode()),
            Some(Mode::SingleNodeReaderOnly | Mode::MultiNodeReaderOnly)
        )
    }
}

/// Reads a required string field: an empty one is INVALID_ARGUMENT naming it.
pub(crate) fn required<'a>(field: &'static str, value: &'a str) -> Result<&'a str, tonic::Status> {
    if value.is_empty() {
        Err(tonic::Status::invalid_argument(format!(
            "{field} is required"
        )))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::proto;
    use prost::Message as _;

    #[test]
    fn services_have_the_spec_s_grpc_paths() {
        use tonic::server::NamedService;
        type Identity = proto::identity_server::IdentityServer<crate::identity::Identity>;
        type Controller = proto::controller_server::ControllerServer<crate::controller::Controller>;
        type Node = proto::node_server::NodeServer<crate::node::Node>;
        assert_eq!(<Identity as NamedService>::NAME, "csi.v1.Identity");
        assert_eq!(<Controller as NamedService>::NAME, "csi.v1.Controller");
        assert_eq!(<Node as NamedService>::NAME, "csi.v1.Node");
    }

    #[test]
    fn messages_carry_the_spec_s_field_numbers() {
        // CreateVolumeRequest.name = 1 (string), capacity_range = 2 with required_bytes = 1.
        let req = proto::CreateVolumeRequest {
            name: "pvc-1".into(),
            capacity_range: Some(proto::CapacityRange {
                required_bytes: 5,
                limit_bytes: 0,
            }),
            ..Default::default()
        };
        assert_eq!(
            req.encode_to_vec(),
            [0x0a, 5, b'p', b'v', b'c', b'-', b'1', 0x12, 2, 0x08, 5]
        );
        // NodeGetVolumeStatsResponse.volume_condition = 2, VolumeCondition.abnormal = 1.
        let stats = proto::NodeGetVolumeStatsResponse {
            usage: Vec::new(),
            volume_condition: Some(proto::VolumeCondition {
                abnormal: true,
                message: String::new(),
            }),
        };
        assert_eq!(stats.encode_to_vec(), [0x12, 2, 0x08, 1]);
        // AccessMode.Mode: SINGLE_NODE_SINGLE_WRITER = 6 (ReadWriteOncePod).
        assert_eq!(
            proto::volume_capability::access_mode::Mode::SingleNodeSingleWriter as i32,
            6
        );
    }

    #[test]
    fn capabilities_serve_mounts_in_every_mode_and_never_blocks() {
        use proto::volume_capability::access_mode::Mode;
        use proto::volume_capability::{AccessMode, AccessType, BlockVolume, MountVolume};
        let cap = |t: AccessType, mode: Mode| proto::VolumeCapability {
            access_type: Some(t),
            access_mode: Some(AccessMode { mode: mode as i32 }),
        };
        let mount = |fs: &str, flags: &[&str]| {
            AccessType::Mount(MountVolume {
                fs_type: fs.into(),
                mount_flags: flags.iter().map(|f| (*f).to_owned()).collect(),
                volume_mount_group: String::new(),
            })
        };
        for mode in [
            Mode::SingleNodeWriter,
            Mode::MultiNodeMultiWriter,
            Mode::MultiNodeReaderOnly,
            Mode::SingleNodeSingleWriter,
        ] {
            assert!(super::caps::check(&cap(mount("", &[]), mode)).is_ok());
        }
        assert!(super::caps::check(&cap(mount("xfs", &[]), Mode::SingleNodeWriter)).is_err());
        assert!(super::caps::check(&cap(mount("", &["noatime"]), Mode::SingleNodeWriter)).is_err());
        assert!(super::caps::check(&cap(mount("", &[]), Mode::Unknown)).is_err());
        let block = super::caps::check(&cap(
            AccessType::Block(BlockVolume {}),
            Mode::SingleNodeWriter,
        ));
        assert!(block.expect_err("block").contains("block access"));
        assert!(super::caps::reads_only(&cap(
            mount("", &[]),
            Mode::MultiNodeReaderOnly
        )));
        assert!(super::caps::check_all(&[]).is_err());
    }
}
