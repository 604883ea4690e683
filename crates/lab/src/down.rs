//! `lab down`: removes everything a lab made, from its state file and by name, also after a
//! crash half-way through `up`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brickyard_sys::procs::{self, NsId};
use serde::Serialize;

use crate::container::{self, Runtime};
use crate::fuse::unmount;
use crate::lab::{Lab, absolute, require_root};
use crate::names::LabName;
use crate::state::{self, LabState};
use crate::{LabError, disk, etcd, net};

/// What `lab down` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DownReport {
    /// One line per thing removed.
    pub removed: Vec<String>,
}

impl Lab {
    /// The lab's network objects present on the machine: its bridge, veths and namespaces.
    pub(crate) async fn leftover_net(name: &LabName) -> Result<Vec<String>, LabError> {
        let mut found = Vec::new();
        for link in net::links().await? {
            if link == name.bridge() || name.index_of_netns(&link).is_some() {
                found.push(format!("interface {link}"));
            }
        }
        for ns in net::netns_list().await? {
            if name.index_of_netns(&ns).is_some() {
                found.push(format!("network namespace {ns}"));
            }
        }
        Ok(found)
    }

    /// Removes everything lab `name` made: processes, mounts, loop devices, namespaces,
    /// interfaces, etcd and files. Works from the state file and by name, so also after a
    /// crash half-way through `up`; removing a lab that is gone does nothing.
    pub async fn down(name: &LabName, dir: Option<&Path>) -> Result<DownReport, LabError> {
        require_root()?;
        let dir = match dir {
            Some(d) => absolute(d)?,
            None => state::resolve_dir(name, None),
        };
        let mut problems = Vec::new();
        let mut report = DownReport::default();
        let state = match LabState::read(name, &dir) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        let lab = state.map(|state| Self { state });

        // 1. FUSE mounts on the machine: recorded ones, and any gluster mount served from the
        // lab's subnet.
        let mut mounts: Vec<PathBuf> = lab
            .as_ref()
            .map(|l| l.state.mounts.clone())
            .unwrap_or_default();
        let table =
            brickyard_sys::mounts::read().map_err(|e| LabError::observe("the mount table", e))?;
        if let Some(l) = &lab {
            for m in &table {
                let from_lab = m
                    .source
                    .split_once(':')
                    .and_then(|(h, _)| h.parse::<Ipv4Addr>().ok())
                    .is_some_and(|ip| l.state.subnet.contains(&ip));
                if m.fstype.starts_with("fuse.glusterfs") && from_lab && !mounts.contains(&m.target)
                {
                    mounts.push(m.target.clone());
                }
            }
        }
        let mounted: Vec<PathBuf> = table.into_iter().map(|m| m.target).collect();
        for m in mounts.iter().filter(|m| mounted.contains(m)) {
            match unmount(m).await {
                Ok(()) => report.removed.push(format!("mount {}", m.display())),
                Err(e) => problems.push(e.to_string()),
            }
        }

        // 2. Processes: everything in the lab's network namespaces and holders' mount
        // namespaces, anything started with a host directory as an argument, and etcd.
        let mut netns_names: Vec<String> = net::netns_list()
            .await?
            .into_iter()
            .filter(|n| name.index_of_netns(n).is_some())
            .collect();
        if let Some(l) = &lab {
            for h in &l.state.hosts {
                if !netns_names.contains(&h.netns) {
                    netns_names.push(h.netns.clone());
                }
            }
        }
        if let Some(l) = &lab
            && matches!(l.state.runtime, Runtime::Image { .. })
        {
            for h in &l.state.hosts {
                if let Err(e) = l.stop_container(h).await {
                    problems.push(e.to_string());
                }
            }
        }
        let hosts_dir = dir.join("hosts");
        let mut host_dirs: Vec<PathBuf> = std::fs::read_dir(&hosts_dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        host_dirs.sort();
        for _round in 0..3 {
            let mut namespaces: Vec<(&str, NsId)> = Vec::new();
            let me = std::process::id() as i32;
            for ns in &netns_names {
                if let Some(id) = procs::ns_id(&Path::new("/run/netns").join(ns))
                    && Some(id) != procs::pid_ns(me, "net")
                {
                    namespaces.push(("net", id));
                }
            }
            if let Some(l) = &lab {
                for h in &l.state.hosts {
                    if let Some(pid) = l.holder_pid(h)
                        && let Some(id) = procs::pid_ns(pid, "mnt")
                    {
                        namespaces.push(("mnt", id));
                    }
                }
            }
            let mut pids = Vec::new();
            let mut look = |found: Result<Vec<i32>, brickyard_sys::ParseError>| match found {
                Ok(p) => pids.extend(p),
                Err(e) => problems.push(format!("cannot list processes: {e}")),
            };
            look(procs::pids_in(&namespaces));
            for d in &host_dirs {
                look(procs::pids_with_arg(&d.display().to_string()));
            }
            for i in 1..=*etcd::MEMBER_COUNTS.last().unwrap_or(&1) {
                look(procs::pids_with_arg(
                    &etcd::data_dir(&dir, i).display().to_string(),
                ));
            }
            pids.sort_unstable();
            pids.dedup();
            if pids.is_empty() {
                break;
            }
            report.removed.push(format!("{} processes", pids.len()));
            let left = tokio::task::spawn_blocking(move || procs::kill_now(&pids))
                .await
                .unwrap_or_default();
            if !left.is_empty() {
                problems.push(format!("processes {left:?} survived SIGKILL"));
            }
        }

        // 2b. Containers of the image runtime, named after the hosts' namespaces: their
        // processes are gone, podman's record of them is not. Without a state file the runtime
        // is unknown, so they are looked for whenever podman is installed.
        let containers = match &lab {
            Some(l) => matches!(l.state.runtime, Runtime::Image { .. }),
            None => container::podman_installed(),
        };
        if containers {
            for ns in &netns_names {
                if let Err(e) = container::remove(ns).await {
                    problems.push(e.to_string());
                }
            }
        }

        // 3. Loop devices backed by files in the lab directory. A device whose mount is still
        // being torn down is detached by the kernel once it is free, so wait for that.
        let mut devices: Vec<String> = disk::attached_under(&dir)
            .await?
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        devices.sort();
        for d in &devices {
            match disk::detach(d).await {
                Ok(()) => report.removed.push(format!("loop device {d}")),
                Err(e) => problems.push(e.to_string()),
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !disk::attached_under(&dir).await?.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for (d, f) in disk::attached_under(&dir).await? {
            problems.push(format!(
                "loop device {d} ({}) is still attached",
                f.display()
            ));
        }

        // 4. Namespaces, then interfaces (a veth goes with its namespace; the bridge and any
        // veth whose namespace was never made remain).
        for ns in &netns_names {
            if net::netns_list().await?.contains(ns) {
                match net::delete_netns(ns).await {
                    Ok(()) => report.removed.push(format!("network namespace {ns}")),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
        for link in net::links().await? {
            if link == name.bridge() || name.index_of_netns(&link).is_some() {
                match net::delete_link(&link).await {
                    Ok(()) => report.removed.push(format!("interface {link}")),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }

        // 5. Files: only what the lab writes, so that a --dir given by mistake loses nothing
        // else; then the directory itself when that leaves it empty.
        if problems.is_empty() {
            for entry in [
                "hosts",
                "configs",
                "store",
                "etcd",
                "lab.json",
                ".lab.json.tmp",
            ] {
                let p = dir.join(entry);
                let result = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                match result {
                    Ok(()) => report.removed.push(p.display().to_string()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => problems.push(format!("remove {}: {e}", p.display())),
                }
            }
            let _ = std::fs::remove_dir(&dir);
            state::remove_pointer(name)?;
            // The labs' parent directory goes too once no lab is left in it.
            let _ = std::fs::remove_dir(state::LAB_ROOT);
        }
        if problems.is_empty() {
            Ok(report)
        } else {
            Err(LabError::Leftovers {
                name: name.to_string(),
                problems,
            })
        }
    }
}
