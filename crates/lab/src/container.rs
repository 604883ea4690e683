//! The image runtime: a host's command run in containers (podman), as the first seed deployed
//! gluster, instead of as processes in the host's namespaces.
//!
//! Each step of the host's command becomes `podman run` of the image with the step's argv
//! (its first element as the entrypoint), in the host's network namespace, privileged,
//! with the host's directories bind-mounted where the seed's `docker run` put the machine's:
//! `/etc/glusterfs`, `/var/lib/glusterd`, `/var/log/glusterfs`, `/dev`, the brick mount
//! points under `/gluster`, and the host's own `/etc/fstab`. Everything else (the root file
//! system, `/run`, the mount namespace) is the container's own, so a killed container takes
//! its brick mounts and processes with it, and a new one starts from the host's directories
//! exactly as a restarted pod would. The lab's supervisor runs `podman run` in the foreground
//! and starts it again when it exits, like a restart policy.
//!
//! Every container of a host has the host's namespace name (`byl-<lab>-<i>`); `--replace`
//! removes a leftover of that name before a start, and `lab stop`/`lab down` remove it.

use std::path::Path;
use std::time::Duration;

use brickyard_exec::{Cmd, output};
use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::state::HostState;

const PODMAN_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a lab host's command runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Runtime {
    /// As processes inside the host's namespaces (the default, and the fastest to start).
    #[default]
    Process,
    /// In containers of an OCI image run by podman, one host per container.
    Image {
        /// The image, e.g. `localhost/brickyard:0.1.0`.
        image: String,
    },
}

/// The name of `host`'s container: its network namespace's name.
pub fn container_name(host: &HostState) -> String {
    host.netns.clone()
}

/// The resource limits a container gets. podman's defaults (a million open files) exceed what
/// runc may set here, and so does a process limit above the kernel's `pid_max` (measured:
/// `nproc=32768` starts, `32769` fails with "error setting rlimit type 6"), so each container
/// gets the limits we run with, the process limit capped at `pid_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open files, soft and hard.
    pub nofile: (u64, u64),
    /// Processes, soft and hard.
    pub nproc: (u64, u64),
}

impl Limits {
    /// This process's own limits, the process limit capped at the kernel's `pid_max`.
    pub fn current() -> Self {
        use nix::sys::resource::{Resource, getrlimit};
        let get = |r| getrlimit(r).unwrap_or((1024, 1024));
        let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(32768);
        let (soft, hard) = get(Resource::RLIMIT_NPROC);
        Self {
            nofile: get(Resource::RLIMIT_NOFILE),
            nproc: (soft.min(pid_max), hard.min(pid_max)),
        }
    }
}

/// The `podman run` argv that runs `step` for `host` in `image`. `binds` are further
/// directories mounted at the same path inside (the lab's file store).
pub fn run_argv(
    host: &HostState,
    image: &str,
    step: &[String],
    binds: &[&Path],
    limits: Limits,
) -> Vec<String> {
    let mut argv: Vec<String> = [
        "podman",
        "run",
        "--rm",
        "--replace",
        "--name",
        &container_name(host),
        // The host network, as in the seed's `docker run --net=host`: podman runs inside the
        // host's network namespace (the supervisor enters it), so that is the host's. Joining
        // it by path instead (`ns:/run/netns/...`) makes runc refuse podman's default sysctls.
        "--network",
        "host",
        "--hostname",
        &host.host_name,
        "--privileged",
        // The container's output goes straight to the supervisor's, i.e. the host's log.
        "--log-driver",
        "passthrough",
        "--ulimit",
        &limit("nofile", limits.nofile),
        "--ulimit",
        &limit("nproc", limits.nproc),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let volume = |argv: &mut Vec<String>, from: &Path, to: &str| {
        argv.push("--volume".into());
        argv.push(format!("{}:{to}", from.display()));
    };
    for (source, target) in host.mounts() {
        volume(&mut argv, &source, target);
    }
    volume(&mut argv, &host.dir.join("fstab"), "/etc/fstab");
    volume(&mut argv, Path::new("/dev"), "/dev");
    for b in binds {
        volume(&mut argv, b, &b.display().to_string());
    }
    if let Some((program, args)) = step.split_first() {
        argv.push("--entrypoint".into());
        argv.push(program.clone());
        argv.push(image.to_owned());
        argv.extend(args.iter().cloned());
    } else {
        argv.push(image.to_owned());
    }
    argv
}

fn limit(name: &str, (soft, hard): (u64, u64)) -> String {
    format!("{name}={soft}:{hard}")
}

/// Whether a `podman` program is on the PATH.
pub fn podman_installed() -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join("podman"))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Whether podman has `image` locally. An error when podman cannot be asked.
pub async fn image_exists(image: &str) -> Result<bool, LabError> {
    let out = output(&Cmd::new(["podman", "image", "exists", image]).timeout(PODMAN_TIMEOUT))
        .await
        .map_err(|e| LabError::cmd(format!("ask podman whether image {image} exists"), e))?;
    match out.code {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(LabError::BadOption {
            option: "--image",
            value: image.to_owned(),
            problem: format!(
                "could not be looked up: podman said {}",
                out.stderr_str().trim()
            ),
            fix: "check that podman works (`podman images`)".into(),
        }),
    }
}

/// The pid (on the machine) of the main process of container `name`, when it runs.
pub async fn pid(name: &str) -> Option<i32> {
    let out = output(
        &Cmd::new(["podman", "inspect", "--format", "{{.State.Pid}}", name])
            .timeout(PODMAN_TIMEOUT),
    )
    .await
    .ok()?;
    if !out.success() {
        return None;
    }
    out.stdout_str()
        .trim()
        .parse::<i32>()
        .ok()
        .filter(|&p| p > 0)
}

/// Removes container `name` (stopped or not); nothing when there is none. Tried three times:
/// right after its processes were killed from outside, podman may still wait for an exit
/// record that never comes, and the next try finds the container exited.
pub async fn remove(name: &str) -> Result<(), LabError> {
    let cmd = Cmd::new(["podman", "rm", "--force", "--ignore", "--time", "0", name])
        .timeout(PODMAN_TIMEOUT);
    let mut last = String::new();
    for _ in 0..3 {
        let out = output(&cmd)
            .await
            .map_err(|e| LabError::cmd(format!("remove container {name}"), e))?;
        if out.success() {
            return Ok(());
        }
        last = out.stderr_str().trim().to_owned();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(LabError::BadOption {
        option: "container",
        value: name.to_owned(),
        problem: format!("could not be removed: {last}"),
        fix: format!("remove it with `podman rm --force {name}`"),
    })
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn a_step_runs_in_the_hosts_network_with_its_directories() {
        let host = HostState::sample(2, "/l/hosts/2");
        let step = vec![
            "/usr/local/bin/brickyard".to_owned(),
            "node".into(),
            "run".into(),
            "--host".into(),
            "lab-2".into(),
        ];
        let argv = run_argv(
            &host,
            "localhost/brickyard:1",
            &step,
            &[Path::new("/l/store")],
            Limits {
                nofile: (1024, 4096),
                nproc: (100, 200),
            },
        );
        assert_eq!(
            argv.join(" "),
            "podman run --rm --replace --name byl-lab-2 --network host \
             --hostname lab-2 --privileged --log-driver passthrough \
             --ulimit nofile=1024:4096 --ulimit nproc=100:200 \
             --volume /l/hosts/2/etc-glusterfs:/etc/glusterfs \
             --volume /l/hosts/2/var-lib-glusterd:/var/lib/glusterd \
             --volume /l/hosts/2/var-log-glusterfs:/var/log/glusterfs \
             --volume /l/hosts/2/gluster:/gluster \
             --volume /l/hosts/2/fstab:/etc/fstab --volume /dev:/dev \
             --volume /l/store:/l/store \
             --entrypoint /usr/local/bin/brickyard localhost/brickyard:1 node run --host lab-2"
        );
    }
}
