//! The GlusterFS FUSE client: mounting a volume (`mount -t glusterfs`, whose helper starts a
//! `glusterfs` client process that daemonizes and so outlives whoever mounted it) and
//! unmounting it.

use std::path::Path;
use std::time::Duration;

use brickyard_exec::{Cmd, ExecError, output, run};

/// How long a mount or unmount may take (a volfile server that does not answer costs the
/// client its connect timeout per server).
pub const MOUNT_TIMEOUT: Duration = Duration::from_secs(60);

/// The command that mounts `volume` at `target` through the first of `servers`, the others
/// being backup volfile servers. `servers` must not be empty; names are checked by the
/// caller (volume names by `check_volume_name`, servers are addresses).
pub fn mount_command(servers: &[String], volume: &str, target: &Path, options: &[&str]) -> Cmd {
    let mut argv = vec!["mount".to_owned(), "-t".into(), "glusterfs".into()];
    let mut opts: Vec<String> = options.iter().map(|o| (*o).to_owned()).collect();
    if servers.len() > 1 {
        opts.push(format!("backup-volfile-servers={}", servers[1..].join(":")));
    }
    if !opts.is_empty() {
        argv.extend(["-o".into(), opts.join(",")]);
    }
    argv.push(format!(
        "{}:/{volume}",
        servers.first().map_or("", String::as_str)
    ));
    argv.push(target.display().to_string());
    Cmd::new(argv).timeout(MOUNT_TIMEOUT)
}

/// Mounts `volume` at `target` (which must exist); see [`mount_command`].
pub async fn mount(
    servers: &[String],
    volume: &str,
    target: &Path,
    options: &[&str],
) -> Result<(), ExecError> {
    run(&mount_command(servers, volume, target, options))
        .await
        .map(drop)
}

/// Unmounts `target`; nothing to do when it is not mounted. A busy mount (a process sitting
/// in it) is detached now and freed when it is let go.
pub async fn unmount(target: &Path) -> Result<(), ExecError> {
    let shown = target.display().to_string();
    let out = output(&Cmd::new(["umount", &shown]).timeout(MOUNT_TIMEOUT)).await?;
    if out.success() || out.stderr_str().contains("not mounted") {
        return Ok(());
    }
    run(&Cmd::new(["umount", "-l", &shown]).timeout(MOUNT_TIMEOUT))
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_server_mounts_and_the_others_back_it_up() {
        let servers = vec!["10.0.0.1".to_owned(), "10.0.0.2".into(), "10.0.0.3".into()];
        let cmd = mount_command(&servers, "gv0", Path::new("/mnt/x"), &["ro"]);
        assert_eq!(
            cmd.argv,
            [
                "mount",
                "-t",
                "glusterfs",
                "-o",
                "ro,backup-volfile-servers=10.0.0.2:10.0.0.3",
                "10.0.0.1:/gv0",
                "/mnt/x"
            ]
        );
        let one = mount_command(&servers[..1], "gv0", Path::new("/m"), &[]);
        assert_eq!(
            one.argv,
            ["mount", "-t", "glusterfs", "10.0.0.1:/gv0", "/m"]
        );
    }
}
