//! Why a volume operation was refused or failed.

use thiserror::Error;

use crate::placement::PlacementError;

/// Why a volume operation was refused or failed. Each names the volume and says what to do.
#[derive(Debug, Error)]
pub enum VolumeError {
    /// The name breaks the naming rules.
    #[error(transparent)]
    BadName(#[from] brickyard_model::names::NameError),
    /// The layout's numbers do not make a volume.
    #[error("volume {name}: layout {reason}")]
    BadLayout {
        /// The volume.
        name: String,
        /// What is wrong and what works.
        reason: String,
    },
    /// The profile is not one brickyard knows.
    #[error("volume {name}: unknown profile {profile:?}; use one of: {known}")]
    UnknownProfile {
        /// The volume.
        name: String,
        /// The profile asked for.
        profile: String,
        /// The profiles there are.
        known: String,
    },
    /// The cluster cannot hold the bricks.
    #[error("volume {name}: {reason}")]
    Placement {
        /// The volume.
        name: String,
        /// Why (boxed: it is large and rare).
        reason: Box<PlacementError>,
    },
    /// A record of that name exists already.
    #[error(
        "volume {name} already exists (state {state}); pick another name, or `brickyard volume info {name}`"
    )]
    Exists {
        /// The volume.
        name: String,
        /// Its desired state.
        state: String,
    },
    /// No record of that name.
    #[error("volume {name} does not exist; `brickyard volume list` shows the volumes")]
    NotFound {
        /// The volume.
        name: String,
    },
    /// A host's bricks cannot all be moved; nothing was changed.
    #[error("host {host} cannot be drained: {}", .reasons.join("; "))]
    Drain {
        /// The host.
        host: String,
        /// One line per brick that cannot move, each with its way out.
        reasons: Vec<String>,
    },
    /// A host cannot be removed from the pool; nothing was changed.
    #[error("host {host} cannot be removed: {reason}")]
    HostRemove {
        /// The host.
        host: String,
        /// Why, and what to do first.
        reason: String,
    },
    /// The operation does not fit the volume's current state.
    #[error("volume {name}: {reason}")]
    Refused {
        /// The volume.
        name: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// Others kept changing the record while this operation tried to change it.
    #[error("volume {name} kept changing while this change was made; run it again")]
    Contended {
        /// The volume.
        name: String,
    },
    /// Others kept changing the cluster's settings while this operation tried to.
    #[error("the cluster's settings kept changing while this change was made; run it again")]
    SettingsContended,
    /// A record in the store cannot be used; it names the key and the way out.
    #[error(transparent)]
    Invalid(brickyard_model::records::RecordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] brickyard_store::StoreError),
}
