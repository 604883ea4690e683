//! `brickyard lab`: a multi-host GlusterFS cluster on one machine.
//!
//! A lab host is what a container would be, made of plain kernel pieces:
//! - a network namespace `byl-<name>-<i>` with a veth (`eth0` inside) on the bridge
//!   `byl-<name>`, an address from the lab's private subnet, and no route anywhere else;
//! - a long-lived *holder* process ([`holder`]) in that network namespace and in private
//!   mount and UTS namespaces of its own, where the host's /etc/glusterfs, /var/lib/glusterd,
//!   /var/log/glusterfs, /gluster and a tmpfs /run are mounted over the machine's; everything
//!   that runs "on" the host enters the holder's namespaces (`nsenter -t PID -m -u -n`), so
//!   its mounts survive from one command to the next and never reach the machine;
//! - a sparse disk file attached to a loop device, the host's `BrickDevice`;
//! - optionally a supervised command ([`supervise`]), e.g. host preparation and the node
//!   agent, restarted with backoff when it exits.
//!
//! The machine itself has the first address of the subnet on the bridge, so FUSE mounts and
//! tests on the machine reach every host. Everything the lab makes is named from the lab's
//! name and written to a state file before it is made, so [`Lab::down`] finds it again after a
//! crash, and also by name when the state file itself is missing.
//!
//! Architecture invariant: the lab does not know what the node agent does. It starts and stops
//! an argv inside a host; the agent is plugged in through [`LabOptions::host_command`].

use std::path::PathBuf;

use thiserror::Error;

pub mod container;
mod disk;
mod down;
mod enter;
pub mod etcd;
pub mod fault;
mod fuse;
pub mod holder;
mod hosts;
mod lab;
pub mod names;
mod net;
mod options;

mod state;
mod status;
pub mod supervise;
mod up;

pub use container::Runtime;
pub use down::DownReport;
pub use lab::Lab;
pub use names::LabName;
pub use options::{DEFAULT_DISK_SIZE, DEFAULT_HOSTS, LabOptions, parse_size, parse_subnet};
pub use state::StoreKind;
pub use state::{HostState, LabState, default_dir};
pub use status::{HostStatus, LabStatus};
pub use up::Progress;

/// Why a lab operation failed.
#[derive(Debug, Error)]
pub enum LabError {
    /// The lab name is not acceptable.
    #[error(
        "lab name {value:?} {problem}; use --name with 1-8 lowercase letters and digits, starting with a letter, e.g. \"lab\" or \"lab2\""
    )]
    BadName {
        /// The refused name.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An option has a value the lab cannot use.
    #[error("{option} {value:?} {problem}; {fix}")]
    BadOption {
        /// The option, e.g. `--subnet`.
        option: &'static str,
        /// The refused value.
        value: String,
        /// What is wrong with it.
        problem: String,
        /// What to do instead.
        fix: String,
    },
    /// The lab commands need root.
    #[error("the lab needs root (it makes namespaces, loop devices and mounts); run it with sudo")]
    NotRoot,
    /// A lab with this name already has pieces on this machine.
    #[error(
        "lab {name:?} already exists ({what}); remove it with `brickyard lab down --name {name}` or choose another --name"
    )]
    Exists {
        /// The lab's name.
        name: String,
        /// What was found.
        what: String,
    },
    /// No lab with this name was found.
    #[error(
        "no lab {name:?}: {} does not exist; start one with `brickyard lab up --name {name}` (or pass the --dir it was started with)",
        .state.display()
    )]
    NotFound {
        /// The lab's name.
        name: String,
        /// The state file looked for.
        state: PathBuf,
    },
    /// A host argument matches no host.
    #[error("lab {lab:?} has no host {value:?}; name one of {hosts} or its 1-based index")]
    NoSuchHost {
        /// The lab's name.
        lab: String,
        /// The given host.
        value: String,
        /// The lab's host names, comma-separated.
        hosts: String,
    },
    /// The host is stopped.
    #[error(
        "host {host} of lab {lab:?} is stopped (its holder process is not running); start it with `brickyard lab start --name {lab} {host}`"
    )]
    HostDown {
        /// The lab's name.
        lab: String,
        /// The host name.
        host: String,
    },
    /// The host's container (image runtime) is not running.
    #[error(
        "host {host} of lab {lab:?} has no running container {container:?} (it is starting, restarting or stopped); see `brickyard lab status --name {lab}` and the host's command.log"
    )]
    ContainerDown {
        /// The lab's name.
        lab: String,
        /// The host name.
        host: String,
        /// The container's name.
        container: String,
    },
    /// Something the lab must look at could not be read: it does not go on blind.
    #[error("cannot read {what}: {reason}")]
    Observe {
        /// What was being read.
        what: String,
        /// Why it could not be.
        reason: String,
    },
    /// A command the lab needs failed.
    #[error("{what}: {source}")]
    Command {
        /// What the lab was doing.
        what: String,
        /// The command's failure.
        #[source]
        source: brickyard_exec::ExecError,
    },
    /// A file or directory operation failed.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// What the lab was doing.
        what: String,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Something did not happen in time.
    #[error("{what} did not happen within {secs}s; {detail}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long.
        secs: u64,
        /// What was seen, and where to look.
        detail: String,
    },
    /// The store failed.
    #[error("store of lab {lab:?}: {source}")]
    Store {
        /// The lab's name.
        lab: String,
        /// The store's error.
        #[source]
        source: brickyard_store::StoreError,
    },
    /// The generated host configs were refused by the store's validation.
    #[error("load the lab's host configs into the store: {detail}")]
    Load {
        /// The failure, with every finding.
        detail: String,
    },
    /// The state file cannot be read.
    #[error("state file {} is damaged: {reason}; remove the lab with `brickyard lab down --name {name}`", .path.display())]
    BadState {
        /// The lab's name.
        name: String,
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `lab down` could not remove everything.
    #[error("lab {name:?} was not removed completely: {}; fix the cause and run `brickyard lab down --name {name}` again", .problems.join("; "))]
    Leftovers {
        /// The lab's name.
        name: String,
        /// What is left and why.
        problems: Vec<String>,
    },
}

/// Starts a process the lab leaves running (a holder, a supervisor, etcd) through the one
/// command runner, and returns its pid.
fn spawn(cmd: &brickyard_exec::Cmd, log: &std::path::Path) -> Result<i32, LabError> {
    brickyard_exec::spawn_detached(cmd, log)
        .map(|pid| i32::try_from(pid).unwrap_or(i32::MAX))
        .map_err(|e| LabError::cmd(format!("start {}", cmd.program()), e))
}

impl LabError {
    fn observe(what: &str, e: impl std::fmt::Display) -> Self {
        Self::Observe {
            what: what.to_owned(),
            reason: e.to_string(),
        }
    }

    fn io(what: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            path: path.into(),
            source,
        }
    }

    fn fs(e: brickyard_sys::fs::FsError) -> Self {
        Self::Io {
            what: e.op.to_owned(),
            path: e.path,
            source: e.source,
        }
    }

    fn cmd(what: impl Into<String>, source: brickyard_exec::ExecError) -> Self {
        Self::Command {
            what: what.into(),
            source,
        }
    }
}
