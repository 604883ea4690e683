//! Hosts' disks: sparse files attached to loop devices.

use std::path::{Path, PathBuf};
use std::time::Duration;

use brickyard_exec::{Cmd, output, run};

use crate::LabError;

const LOSETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Makes a sparse file of `size` bytes (kept when it exists, so a host keeps its data).
pub fn create_file(path: &Path, size: u64) -> Result<(), LabError> {
    if path.exists() {
        return Ok(());
    }
    let file =
        std::fs::File::create(path).map_err(|e| LabError::io("create disk file", path, e))?;
    file.set_len(size)
        .map_err(|e| LabError::io("size disk file", path, e))
}

/// Attaches `file` to a free loop device and returns the device.
pub async fn attach(file: &Path) -> Result<String, LabError> {
    let shown = file.display().to_string();
    let out = run(&Cmd::new(["losetup", "--find", "--show", &shown]).timeout(LOSETUP_TIMEOUT))
        .await
        .map_err(|e| LabError::cmd(format!("attach {shown} to a loop device"), e))?;
    Ok(out.stdout_str().trim().to_owned())
}

/// The `losetup -a` lines: (device, backing file).
pub fn parse_losetup_list(text: &str) -> Vec<(String, PathBuf)> {
    // Lines look like `/dev/loop3: [2049]:1234 (/var/lib/x/disk.img)`, with ` (deleted)`
    // inside the parentheses when the file was removed.
    text.lines()
        .filter_map(|line| {
            let (dev, rest) = line.split_once(':')?;
            let start = rest.find('(')?;
            let end = rest.rfind(')')?;
            let file = rest.get(start + 1..end)?;
            let file = file.strip_suffix(" (deleted)").unwrap_or(file);
            Some((dev.trim().to_owned(), PathBuf::from(file)))
        })
        .collect()
}

/// Loop devices whose backing file is under `dir`.
pub async fn attached_under(dir: &Path) -> Result<Vec<(String, PathBuf)>, LabError> {
    let out = run(&Cmd::new(["losetup", "-a"]).timeout(LOSETUP_TIMEOUT))
        .await
        .map_err(|e| LabError::cmd("list loop devices", e))?;
    Ok(parse_losetup_list(&out.stdout_str())
        .into_iter()
        .filter(|(_, file)| file.starts_with(dir))
        .collect())
}

/// Detaches a loop device; fine when it is detached already.
pub async fn detach(device: &str) -> Result<(), LabError> {
    let out = output(&Cmd::new(["losetup", "-d", device]).timeout(LOSETUP_TIMEOUT))
        .await
        .map_err(|e| LabError::cmd(format!("detach {device}"), e))?;
    if out.success() || out.stderr_str().contains("No such device") {
        return Ok(());
    }
    Err(LabError::cmd(
        format!("detach {device}"),
        brickyard_exec::ExecError::Failed {
            cmd: format!("losetup -d {device}"),
            code: out.code,
            stdout: out.stdout_str(),
            stderr: out.stderr_str(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_losetup_lines() {
        let text = "/dev/loop0: [2049]:1311 (/var/lib/brickyard/lab/lab/hosts/1/disk.img)\n\
                    /dev/loop1: [2049]:99 (/tmp/x y/disk.img (deleted))\n\
                    garbage\n";
        assert_eq!(
            parse_losetup_list(text),
            vec![
                (
                    "/dev/loop0".to_owned(),
                    PathBuf::from("/var/lib/brickyard/lab/lab/hosts/1/disk.img")
                ),
                ("/dev/loop1".to_owned(), PathBuf::from("/tmp/x y/disk.img")),
            ]
        );
    }
}
