//! Why a bundle could not be built. Every message names the input, the value and the fix.

use thiserror::Error;

/// A refused input or an inconsistent request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KubeError {
    /// A name that Kubernetes or brickyard would not accept.
    #[error("{flag} {value:?} {problem}; {fix}")]
    BadName {
        /// The flag or field the name came from.
        flag: &'static str,
        /// The refused value.
        value: String,
        /// What is wrong with it.
        problem: String,
        /// What to write instead.
        fix: String,
    },
    /// A storage size that is not a Kubernetes quantity brickyard accepts.
    #[error("{flag} {value:?} {problem}; {hint}", hint = brickyard_model::QUANTITY_HINT)]
    BadQuantity {
        /// The flag the size came from.
        flag: &'static str,
        /// The refused value.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A Kubernetes version that cannot be read.
    #[error(
        "--kube-version {value:?} {problem}; write MAJOR.MINOR as `kubectl version` prints it, e.g. 1.25"
    )]
    BadVersion {
        /// The refused value.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The in-tree `glusterfs` volume plugin is gone from the targeted Kubernetes.
    #[error(
        "--kube-version {version}: Kubernetes removed the in-tree glusterfs volume plugin in 1.26, so a glusterfs PersistentVolume would never mount there; deploy brickyard's CSI driver with `brickyard kube csi` and let a StorageClass provision the volumes instead"
    )]
    InTreeRemoved {
        /// The targeted version, as given.
        version: String,
    },
    /// `--reclaim Recycle`, which is not offered.
    #[error(
        "--reclaim {value:?} is not offered: Kubernetes deprecated Recycle (a bare `rm -rf` by a scrub pod) and the glusterfs plugin never supported it; use Retain (keep the data, clean up by hand) or Delete, or provision volumes dynamically with `brickyard kube csi`"
    )]
    RecycleRefused {
        /// The value as given.
        value: String,
    },
    /// A reclaim policy that is not one of Retain and Delete.
    #[error("--reclaim {value:?} is not a reclaim policy; use Retain or Delete")]
    BadReclaim {
        /// The value as given.
        value: String,
    },
    /// No storage host address to put into the Endpoints or to run an agent on.
    #[error("no storage hosts: {fix}")]
    NoHosts {
        /// Where the hosts were expected to come from, and how to provide them.
        fix: String,
    },
    /// A storage host address that cannot be one.
    #[error("{flag} {value} {problem}; give each storage host's own unicast IPAddress once")]
    BadHost {
        /// The flag or source of the address.
        flag: &'static str,
        /// The address.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The requested size is larger than the managed volume.
    #[error(
        "--size {size} is larger than volume {volume} ({volume_size} bytes); ask for at most its size, or grow the volume first"
    )]
    SizeExceedsVolume {
        /// The requested size, as given.
        size: String,
        /// The volume's name.
        volume: String,
        /// The volume's size in bytes.
        volume_size: u128,
    },
    /// The known-volume record passed in is for another volume (a caller bug).
    #[error(
        "--volume {requested:?} was checked against the record of volume {known:?}; run the command again"
    )]
    VolumeMismatch {
        /// The volume asked for.
        requested: String,
        /// The volume the record describes.
        known: String,
    },
    /// A group id that cannot give a non-root container write access.
    #[error("--fs-group {value} {problem}; use a group id from 1 to 2147483647, e.g. 2000")]
    BadGroup {
        /// The value.
        value: i64,
        /// What is wrong with it.
        problem: String,
    },
    /// Rendering to YAML failed (not expected for the objects built here).
    #[error("cannot render {object} as YAML: {reason}")]
    Render {
        /// `kind/name` of the object.
        object: String,
        /// What the serializer said.
        reason: String,
    },
}
