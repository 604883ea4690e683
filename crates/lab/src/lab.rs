//! The lab handle: a lab on this machine, opened from its state file, and the small helpers
//! every operation shares. The operations live beside it, one concern each: `up`, `enter`
//! (running things inside a host), `hosts` (their commands, stop and start), `status`,
//! `fuse` (mounts on the machine) and `down`.

use std::path::{Path, PathBuf};

use crate::LabError;
use crate::names::LabName;
use crate::state::{self, HostState, LabState};

/// A lab on this machine, from its state file.
#[derive(Debug, Clone)]
pub struct Lab {
    pub(crate) state: LabState,
}

pub(crate) fn require_root() -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot)
    }
}

pub(crate) fn mkdir(path: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(path).map_err(|e| LabError::io("create directory", path, e))
}

pub(crate) fn absolute(dir: &Path) -> Result<PathBuf, LabError> {
    let abs = if dir.is_absolute() {
        dir.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| LabError::io("find the current directory for", dir, e))?
            .join(dir)
    };
    if abs
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
        || abs.to_str().is_none()
    {
        return Err(LabError::BadOption {
            option: "--dir",
            value: dir.display().to_string(),
            problem: "contains '..' or is not UTF-8".into(),
            fix: "give a plain absolute directory, e.g. /var/lib/brickyard/lab/lab".into(),
        });
    }
    Ok(abs)
}

pub(crate) fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        format!("{} is empty", path.display())
    } else {
        format!(
            "{} ends with: {}",
            path.display(),
            lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
        )
    }
}

impl Lab {
    /// Opens lab `name` from its state file (`dir`, else its pointer, else the default).
    pub fn open(name: &LabName, dir: Option<&Path>) -> Result<Self, LabError> {
        let dir = match dir {
            Some(d) => absolute(d)?,
            None => state::resolve_dir(name, None),
        };
        match LabState::read(name, &dir)? {
            Some(state) => Ok(Self { state }),
            None => Err(LabError::NotFound {
                name: name.to_string(),
                state: LabState::path(&dir),
            }),
        }
    }

    /// The recorded state.
    pub fn state(&self) -> &LabState {
        &self.state
    }

    /// The store URL for the machine and the hosts.
    pub fn store_url(&self) -> &str {
        &self.state.store_url
    }

    /// The shell lines that point brickyard at the lab's store.
    pub fn env_lines(&self) -> Vec<String> {
        vec![format!("export BRICKYARD_STORE={}", self.state.store_url)]
    }

    /// The host named by `HostName`, `GlusterNodeName`, namespace or 1-based index.
    pub fn host(&self, selector: &str) -> Result<&HostState, LabError> {
        let by_index = selector.parse::<usize>().ok();
        self.state
            .hosts
            .iter()
            .find(|h| {
                Some(h.index) == by_index
                    || h.host_name == selector
                    || h.gluster_node_name == selector
                    || h.netns == selector
            })
            .ok_or_else(|| LabError::NoSuchHost {
                lab: self.state.name.to_string(),
                value: selector.to_owned(),
                hosts: self
                    .state
                    .hosts
                    .iter()
                    .map(|h| h.host_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    pub(crate) fn store_err(&self, source: brickyard_store::StoreError) -> LabError {
        LabError::Store {
            lab: self.state.name.to_string(),
            source,
        }
    }
}
