//! `lab status`: what runs and what exists.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use brickyard_sys::procs::{self};
use ipnet::Ipv4Net;
use serde::Serialize;

use crate::container::Runtime;
use crate::lab::Lab;
use crate::state::StoreKind;
use crate::{LabError, disk, etcd, net};

/// What `lab status` reports about one host.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    /// 1-based index.
    pub index: usize,
    /// `HostName`.
    pub host_name: String,
    /// `GlusterNodeName`.
    pub gluster_node_name: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its network namespace.
    pub netns: String,
    /// Whether the namespace exists.
    pub netns_present: bool,
    /// The holder's pid, when it runs.
    pub holder_pid: Option<i32>,
    /// Its loop device, when attached.
    pub loop_device: Option<String>,
    /// The disk file.
    pub disk_file: PathBuf,
    /// The disk's size in bytes (0 when the file is missing).
    pub disk_size: u64,
    /// The loop devices of its disks 2, 3, ... as attached now (`None`: detached).
    pub extra_loop_devices: Vec<Option<String>>,
    /// How many processes run in the host.
    pub processes: usize,
    /// The supervisor's pid, when it runs.
    pub command_pid: Option<i32>,
}

/// What `lab status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct LabStatus {
    /// The lab's name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its subnet.
    pub subnet: Ipv4Net,
    /// The bridge.
    pub bridge: String,
    /// Whether the bridge exists.
    pub bridge_present: bool,
    /// The machine's address on the bridge.
    pub machine_ip: Ipv4Addr,
    /// The store kind.
    pub store: StoreKind,
    /// The store URL.
    pub store_url: String,
    /// Whether the lab's etcd runs (`None` with the file store).
    pub etcd_running: Option<bool>,
    /// Whether hosts run a command.
    pub host_command: Option<Vec<Vec<String>>>,
    /// Where the hosts' commands run.
    pub runtime: Runtime,
    /// The hosts.
    pub hosts: Vec<HostStatus>,
    /// FUSE mounts on the machine made with `lab mount`.
    pub mounts: Vec<PathBuf>,
}

impl Lab {
    /// What runs and what exists.
    pub async fn status(&self) -> Result<LabStatus, LabError> {
        let links = net::links().await?;
        let netns = net::netns_list().await?;
        let attached = disk::attached_under(&self.state.dir).await?;
        let hosts = self
            .state
            .hosts
            .iter()
            .map(|h| {
                let holder = self.holder_pid(h);
                let command_pid = procs::read_pid(&h.command_pid_file())
                    .filter(|&p| procs::alive(p) && holder.is_some());
                let disk = h.disk_file();
                Ok(HostStatus {
                    index: h.index,
                    host_name: h.host_name.clone(),
                    gluster_node_name: h.gluster_node_name.clone(),
                    ip: h.ip,
                    netns: h.netns.clone(),
                    netns_present: netns.contains(&h.netns),
                    holder_pid: holder,
                    loop_device: attached
                        .iter()
                        .find(|(_, f)| *f == disk)
                        .map(|(d, _)| d.clone()),
                    disk_size: std::fs::metadata(&disk).map(|m| m.len()).unwrap_or(0),
                    extra_loop_devices: (2..=h.extra_loop_devices.len() + 1)
                        .map(|n| {
                            let file = h.disk_file_n(n);
                            attached
                                .iter()
                                .find(|(_, f)| *f == file)
                                .map(|(d, _)| d.clone())
                        })
                        .collect(),
                    disk_file: disk,
                    processes: self.host_pids(h)?.len(),
                    command_pid,
                })
            })
            .collect::<Result<Vec<_>, LabError>>()?;
        let etcd_running = (self.state.store == StoreKind::Etcd).then(|| {
            procs::read_pid(&etcd::pid_file(&self.state.dir, 1)).is_some_and(procs::alive)
        });
        Ok(LabStatus {
            name: self.state.name.to_string(),
            dir: self.state.dir.clone(),
            subnet: self.state.subnet,
            bridge: self.state.name.bridge(),
            bridge_present: links.contains(&self.state.name.bridge()),
            machine_ip: self.state.machine_ip,
            store: self.state.store,
            store_url: self.state.store_url.clone(),
            etcd_running,
            host_command: self.state.host_command.clone(),
            runtime: self.state.runtime.clone(),
            hosts,
            mounts: self.state.mounts.clone(),
        })
    }
}
