//! FUSE mounts of the lab's volumes on the machine (`lab mount`, `lab umount`).

use std::path::Path;

use crate::LabError;
use crate::lab::{Lab, absolute, mkdir};

impl Lab {
    /// Mounts gluster volume `volume` at `path` on the machine (FUSE), through the first
    /// host with the others as backup volfile servers.
    pub async fn mount(&mut self, volume: &str, path: &Path) -> Result<(), LabError> {
        brickyard_model::names::check_volume_name(volume).map_err(|e| LabError::BadOption {
            option: "VOLUME",
            value: volume.to_owned(),
            problem: e.problem.clone(),
            fix: e.fix.to_owned(),
        })?;
        let path = absolute(path)?;
        mkdir(&path)?;
        let Some((first, rest)) = self.state.hosts.split_first() else {
            return Ok(());
        };
        let servers: Vec<String> = std::iter::once(first)
            .chain(rest)
            .map(|h| h.ip.to_string())
            .collect();
        // Recorded first, so that `lab down` unmounts it even if this process dies mid-way.
        if !self.state.mounts.contains(&path) {
            self.state.mounts.push(path.clone());
            self.state.write()?;
        }
        brickyard_gluster::mount::mount(&servers, volume, &path, &[])
            .await
            .map_err(|e| {
                LabError::cmd(
                    format!(
                        "mount volume {volume} of lab {} at {} (does the volume exist and is it started?)",
                        self.state.name,
                        path.display()
                    ),
                    e,
                )
            })?;
        Ok(())
    }

    /// Unmounts a FUSE mount made with [`Lab::mount`].
    pub async fn umount(&mut self, path: &Path) -> Result<(), LabError> {
        let path = absolute(path)?;
        unmount(&path).await?;
        self.state.mounts.retain(|m| *m != path);
        self.state.write()
    }
}

pub(crate) async fn unmount(path: &Path) -> Result<(), LabError> {
    brickyard_gluster::mount::unmount(path)
        .await
        .map_err(|e| LabError::cmd(format!("unmount {}", path.display()), e))
}
