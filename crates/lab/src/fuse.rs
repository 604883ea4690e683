//! FUSE mounts of the lab's volumes on the machine (`lab mount`, `lab umount`).

use std::path::Path;
use std::time::Duration;

use brickyard_exec::{Cmd, output, run};

use crate::LabError;
use crate::lab::{Lab, absolute, mkdir};

const MOUNT_TIMEOUT: Duration = Duration::from_secs(60);

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
        let backups = rest
            .iter()
            .map(|h| h.ip.to_string())
            .collect::<Vec<_>>()
            .join(":");
        let mut argv = vec!["mount".to_owned(), "-t".into(), "glusterfs".into()];
        if !backups.is_empty() {
            argv.extend(["-o".into(), format!("backup-volfile-servers={backups}")]);
        }
        argv.push(format!("{}:/{volume}", first.ip));
        argv.push(path.display().to_string());
        // Recorded first, so that `lab down` unmounts it even if this process dies mid-way.
        if !self.state.mounts.contains(&path) {
            self.state.mounts.push(path.clone());
            self.state.write()?;
        }
        run(&Cmd::new(argv).timeout(MOUNT_TIMEOUT))
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
    let shown = path.display().to_string();
    let out = output(&Cmd::new(["umount", &shown]).timeout(MOUNT_TIMEOUT))
        .await
        .map_err(|e| LabError::cmd(format!("unmount {shown}"), e))?;
    if out.success() || out.stderr_str().contains("not mounted") {
        return Ok(());
    }
    // A busy mount (a shell sitting in it) is detached now and freed when it is let go.
    run(&Cmd::new(["umount", "-l", &shown]).timeout(MOUNT_TIMEOUT))
        .await
        .map(drop)
        .map_err(|e| LabError::cmd(format!("unmount {shown}"), e))
}
