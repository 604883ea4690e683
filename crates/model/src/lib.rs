//! brickyard's model of the cluster's desired state.
//!
//! Architecture invariant: this crate is pure. It parses and checks bytes it is given and
//! renders values; it never reads files, talks to a store or runs a command.

pub mod cluster;
pub mod host;
pub mod issue;
pub mod keys;
pub mod names;
pub mod quantity;
pub mod records;

pub use cluster::{Sourced, validate_cluster};
pub use host::{FieldChange, HostConfig, HostSpec, ZapDevice, parse_host_config};
pub use issue::{Issue, Report, Severity};
pub use quantity::{QUANTITY_HINT, Quantity, QuantityError};
