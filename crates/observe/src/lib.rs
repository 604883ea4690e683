//! What brickyard observes of a running cluster, and its judgement.
//!
//! - [`agents`]: the live agents' liveness records (and those that cannot be read), and
//!   asking one live host's glusterd for its view.
//! - [`health`]: [`gather`] collects what the store and one live glusterd report,
//!   [`assess`] judges it without I/O. `brickyard status`, the node agents' pool view and the
//!   REST API share both, so they cannot disagree about what "healthy" means.
//! - [`detail`]: one volume as the CLI's `volume info` and the API's `GET /v1/volumes/NAME`
//!   both show it.
//!
//! Every observation is a typed result: what could not be asked is shown as such ("could not
//! ask: why"), never as zero or as an empty list, and a record that cannot be read is
//! reported with its key, never taken for "absent".
//!
//! Architecture invariant: reads only. Nothing here writes the store or runs a gluster
//! command that changes anything.

use std::time::Duration;

pub mod agents;
pub mod detail;
pub mod health;

pub use agents::{Agents, agents, ask_live_glusterd, live_agents};

/// How long one host's glusterd may take to answer a read from the command line (the API
/// uses a shorter one of its own, for scrapes).
pub const GLUSTER_TIMEOUT: Duration = Duration::from_secs(10);
pub use detail::{VolumeDetail, volume_detail};
pub use health::{ClusterHealth, HostHealth, Observed, VolumeHealth, assess, gather, pool_waiting};
