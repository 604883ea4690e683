//! A host's holder and command: starting them (the command under a supervisor, as processes
//! or in containers), stopping a host as if it failed, and starting it again.

use std::path::Path;
use std::time::{Duration, Instant};

use brickyard_exec::Cmd;
use brickyard_sys::procs::{self};

use crate::container::{self, Limits, Runtime};
use crate::enter::host_namespaces;
use crate::lab::{Lab, require_root, tail};
use crate::state::{HostState, StoreKind};
use crate::supervise::COMMAND_FILE;
use crate::{LabError, spawn};

const HOLDER_READY_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_GRACE: Duration = Duration::from_secs(5);

fn substitute(steps: &[Vec<String>], store: &str, host: &HostState) -> Vec<Vec<String>> {
    steps
        .iter()
        .map(|step| {
            step.iter()
                .map(|a| {
                    a.replace("{store}", store)
                        .replace("{host}", &host.host_name)
                        .replace("{ip}", &host.ip.to_string())
                })
                .collect()
        })
        .collect()
}

impl Lab {
    /// Starts the lab's host command inside `host` under a supervisor, and returns the
    /// supervisor's pid; `Ok(None)` when the lab has no host command.
    ///
    /// With the process runtime the supervisor runs inside the host (its holder's
    /// namespaces). With the image runtime it runs `podman run` for each step, so it stays in
    /// the machine's mount namespace, where podman keeps its state, and enters only the host's
    /// network namespace, so that stopping the host's processes stops it too.
    pub async fn start_command(&self, host: &HostState) -> Result<Option<i32>, LabError> {
        let Some(template) = &self.state.host_command else {
            return Ok(None);
        };
        let netns_file = Path::new("/run/netns").join(&host.netns);
        if let Some(pid) = procs::read_pid(&host.command_pid_file())
            && procs::alive(pid)
        {
            let inside = match &self.state.runtime {
                Runtime::Process => {
                    procs::pid_ns(pid, "mnt")
                        == self.holder_pid(host).and_then(|h| procs::pid_ns(h, "mnt"))
                }
                Runtime::Image { .. } => procs::pid_ns(pid, "net") == procs::ns_id(&netns_file),
            };
            if inside {
                return Ok(Some(pid));
            }
        }
        let mut steps = substitute(template, &self.state.store_url, host);
        if let Runtime::Image { image } = &self.state.runtime {
            let store_dir = self.state.dir.join("store");
            let binds: Vec<&Path> = match self.state.store {
                StoreKind::File => vec![store_dir.as_path()],
                StoreKind::Etcd => Vec::new(),
            };
            let limits = Limits::current();
            steps = steps
                .iter()
                .map(|step| container::run_argv(host, image, step, &binds, limits))
                .collect();
        }
        let file = host.dir.join(COMMAND_FILE);
        let json = serde_json::to_vec_pretty(&steps)
            .map_err(|e| LabError::io("write", &file, std::io::Error::other(e.to_string())))?;
        brickyard_sys::fs::write_atomic(&file, &json, 0o644).map_err(LabError::fs)?;
        let supervise = [
            self.state.exe.display().to_string(),
            "lab".into(),
            "supervise".into(),
            "--host-dir".into(),
            host.dir.display().to_string(),
        ];
        let argv = match &self.state.runtime {
            Runtime::Process => self.enter_argv(host, &supervise).await?,
            Runtime::Image { .. } => {
                let mut v = vec![
                    "nsenter".to_owned(),
                    format!("--net={}", netns_file.display()),
                    "--".into(),
                ];
                v.extend(supervise);
                v
            }
        };
        let mut cmd = Cmd::new(argv)
            .env("BRICKYARD_STORE", &self.state.store_url)
            .env("BRICKYARD_HOST", &host.host_name);
        // A person chasing a problem sets RUST_LOG for `lab up`; it is no secret, and
        // nothing else of this process's environment is passed on.
        if let Ok(v) = std::env::var("RUST_LOG") {
            cmd = cmd.env("RUST_LOG", &v);
        }
        let pid = spawn(&cmd, &host.command_log())?;
        Ok(Some(pid))
    }

    /// Starts `host`'s holder (its namespaces and mounts) and waits until it is ready.
    pub(crate) async fn start_holder(&self, host: &HostState) -> Result<i32, LabError> {
        if let Some(pid) = self.holder_pid(host) {
            return Ok(pid);
        }
        let _ = std::fs::remove_file(host.holder_pid_file());
        let argv: Vec<String> = [
            "ip",
            "netns",
            "exec",
            &host.netns,
            "unshare",
            "--mount",
            "--uts",
            "--propagation",
            "private",
            "--",
            &self.state.exe.display().to_string(),
            "lab",
            "holder",
            "--host-dir",
            &host.dir.display().to_string(),
            "--hostname",
            &host.host_name,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut argv = argv;
        if matches!(self.state.runtime, Runtime::Image { .. }) {
            // The image seeds the host's empty directories from its own package files.
            argv.push("--no-seed".into());
        } else if !self.state.geo_replication {
            argv.push("--hide-geo-replication".into());
        }
        let spawned = spawn(&Cmd::new(argv), &host.holder_log())?;
        let deadline = Instant::now() + HOLDER_READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(pid) = self.holder_pid(host) {
                return Ok(pid);
            }
            if !procs::alive(spawned) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(LabError::Timeout {
            what: format!("host {}'s holder getting ready", host.host_name),
            secs: HOLDER_READY_TIMEOUT.as_secs(),
            detail: tail(&host.holder_log()),
        })
    }

    /// Stops every process of `host` (TERM, then KILL after 5 s); its disk, loop device,
    /// namespace and state directory stay. Returns how many processes were stopped.
    pub async fn stop_host(&self, host: &HostState) -> Result<usize, LabError> {
        let namespaces = host_namespaces(host, self.holder_pid(host));
        let mut stopped = 0;
        if matches!(self.state.runtime, Runtime::Image { .. }) {
            stopped += self.stop_container(host).await?;
        }
        // Rounds, because a supervisor may start something new while it is being stopped.
        for _ in 0..5 {
            let pids = procs::pids_in(&namespaces)
                .map_err(|e| LabError::observe("the host's processes", e))?;
            if pids.is_empty() {
                let _ = std::fs::remove_file(host.holder_pid_file());
                let _ = std::fs::remove_file(host.command_pid_file());
                return Ok(stopped);
            }
            stopped += pids.len();
            let left = tokio::task::spawn_blocking(move || procs::terminate(&pids, STOP_GRACE))
                .await
                .unwrap_or_default();
            if !left.is_empty() {
                tracing::warn!(host = %host.host_name, ?left, "processes survived SIGKILL");
            }
        }
        Err(LabError::Timeout {
            what: format!("every process of host {} stopping", host.host_name),
            secs: 5 * STOP_GRACE.as_secs(),
            detail: format!(
                "still running: {:?}; see {}",
                procs::pids_in(&namespaces),
                host.command_log().display()
            ),
        })
    }

    /// Kills `host`'s supervisor, so that nothing starts the container again, then the
    /// container through podman, so that podman's record of it goes too (killing its
    /// processes behind podman's back leaves a record podman cannot always remove at once).
    /// Returns how many processes it stopped.
    pub(crate) async fn stop_container(&self, host: &HostState) -> Result<usize, LabError> {
        let netns = procs::ns_id(&Path::new("/run/netns").join(&host.netns));
        let mut stopped = 0;
        if let Some(pid) = procs::read_pid(&host.command_pid_file())
            && procs::alive(pid)
            && netns.is_some()
            && procs::pid_ns(pid, "net") == netns
        {
            let left = tokio::task::spawn_blocking(move || procs::kill_now(&[pid]))
                .await
                .unwrap_or_default();
            if left.is_empty() {
                stopped += 1;
            }
        }
        container::remove(&container::container_name(host)).await?;
        Ok(stopped)
    }

    /// Starts `host` again after [`Lab::stop_host`]: its holder, then its command.
    pub async fn start_host(&self, host: &HostState) -> Result<i32, LabError> {
        require_root()?;
        if !Path::new("/run/netns").join(&host.netns).exists() {
            return Err(LabError::BadState {
                name: self.state.name.to_string(),
                path: Path::new("/run/netns").join(&host.netns),
                reason: "the host's network namespace is gone".into(),
            });
        }
        let pid = self.start_holder(host).await?;
        self.start_command(host).await?;
        Ok(pid)
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn fills_in_host_command_placeholders() {
        let host = HostState::sample(2, "/x");
        let steps = vec![vec![
            "brickyard".to_owned(),
            "--store".into(),
            "{store}".into(),
            "node".into(),
            "run".into(),
            "--host={host}@{ip}".into(),
        ]];
        assert_eq!(
            substitute(&steps, "file:///s", &host),
            vec![vec![
                "brickyard",
                "--store",
                "file:///s",
                "node",
                "run",
                "--host=lab-2@10.250.1.3"
            ]]
        );
    }
}
