//! The stored formats are defined in `brickyard_model::records::volume` (one home for every
//! stored record); this module re-exports them and adds what a client asks for.

use serde::{Deserialize, Serialize};

pub use brickyard_model::records::agent::BrickSpace;
pub use brickyard_model::records::volume::{
    BrickMove, BrickRef, DesiredState, Layout, LayoutKind, MARKER_OPTION, Phase, VolumeRecord,
    VolumeStatus, brick_path,
};

/// What a client asks for when creating a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// The volume's name.
    pub name: String,
    /// Its shape.
    pub layout: Layout,
    /// The option profile ([`crate::profile`]); `default` when absent.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// Started (the default) or stopped after creation.
    #[serde(default = "default_state")]
    pub state: DesiredState,
}

fn default_profile() -> String {
    crate::profile::DEFAULT.to_owned()
}

fn default_state() -> DesiredState {
    DesiredState::Started
}

impl VolumeSpec {
    /// A spec with the default profile, to be started.
    pub fn new(name: &str, layout: Layout) -> Self {
        Self {
            name: name.to_owned(),
            layout,
            profile: default_profile(),
            state: DesiredState::Started,
        }
    }
}
