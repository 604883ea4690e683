//! Running things inside a host: its holder's namespaces (or, with the image runtime, its
//! container's), and finding the host's processes.

use std::path::Path;

use brickyard_exec::Cmd;
use brickyard_sys::procs::{self, NsId};

use crate::LabError;
use crate::container::{self, Runtime};
use crate::lab::Lab;
use crate::state::HostState;

impl Lab {
    /// The running holder of `host`: its pid file names a live process that is in the host's
    /// network namespace and in a mount namespace other than the machine's. Everything that
    /// runs on the host enters this process's namespaces.
    pub fn holder_pid(&self, host: &HostState) -> Option<i32> {
        let pid = procs::read_pid(&host.holder_pid_file())?;
        let netns = procs::ns_id(&Path::new("/run/netns").join(&host.netns))?;
        let me = std::process::id() as i32;
        (procs::alive(pid)
            && procs::pid_ns(pid, "net") == Some(netns)
            && procs::pid_ns(pid, "mnt").is_some()
            && procs::pid_ns(pid, "mnt") != procs::pid_ns(me, "mnt"))
        .then_some(pid)
    }

    /// The argv that runs `argv` inside `host`: in its holder's mount, UTS and network
    /// namespaces, or with the image runtime in those of the host's container. Fails when the
    /// host is stopped or its container is not running.
    pub async fn enter_argv(
        &self,
        host: &HostState,
        argv: &[String],
    ) -> Result<Vec<String>, LabError> {
        let down = || LabError::HostDown {
            lab: self.state.name.to_string(),
            host: host.host_name.clone(),
        };
        let holder = self.holder_pid(host).ok_or_else(down)?;
        let pid = match &self.state.runtime {
            Runtime::Process => holder,
            Runtime::Image { .. } => container::pid(&container::container_name(host))
                .await
                .ok_or_else(|| LabError::ContainerDown {
                    lab: self.state.name.to_string(),
                    host: host.host_name.clone(),
                    container: container::container_name(host),
                })?,
        };
        let mut out: Vec<String> = ["nsenter", "-t", &pid.to_string(), "-m", "-u", "-n"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if matches!(self.state.runtime, Runtime::Image { .. }) {
            // A container has its own PID and IPC namespaces, and its /proc shows only its
            // own PID namespace: a process outside it would find no /proc/self there.
            out.extend(["-p".to_owned(), "-i".to_owned()]);
        }
        out.push("--".into());
        out.extend(argv.iter().cloned());
        Ok(out)
    }

    /// A command that runs `argv` inside `host`, for the command runner.
    pub async fn cmd_in(&self, host: &HostState, argv: &[String]) -> Result<Cmd, LabError> {
        Ok(Cmd::new(self.enter_argv(host, argv).await?))
    }

    /// Runs `argv` inside `host` with this process's standard input, output and error and
    /// environment, and returns its exit code (128 + signal when killed), for `lab exec`.
    pub async fn exec_interactive(
        &self,
        host: &HostState,
        argv: &[String],
    ) -> Result<i32, LabError> {
        let cmd = Cmd::new(self.enter_argv(host, argv).await?);
        brickyard_exec::interactive(&cmd).map_err(|e| LabError::cmd("run a command in the host", e))
    }

    /// Live processes of `host`: those in its network namespace or its holder's mount
    /// namespace.
    pub fn host_pids(&self, host: &HostState) -> Result<Vec<i32>, LabError> {
        procs::pids_in(&host_namespaces(host, self.holder_pid(host)))
            .map_err(|e| LabError::observe("the host's processes", e))
    }
}

/// The namespaces that make up `host`: its network namespace and its holder's mount
/// namespace, each only when it is not the machine's own (a stale pid file must never make
/// the machine's processes look like the host's).
pub(crate) fn host_namespaces(host: &HostState, holder: Option<i32>) -> Vec<(&'static str, NsId)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    if let Some(id) = procs::ns_id(&Path::new("/run/netns").join(&host.netns))
        && Some(id) != procs::pid_ns(me, "net")
    {
        out.push(("net", id));
    }
    if let Some(pid) = holder
        && let Some(id) = procs::pid_ns(pid, "mnt")
        && Some(id) != procs::pid_ns(me, "mnt")
    {
        out.push(("mnt", id));
    }
    out
}
