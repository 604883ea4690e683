//! `lab up`: network, hosts, disks, store, configs, and the hosts' commands; on failure,
//! everything made is removed again.

use brickyard_model::{HostConfig, HostSpec, Sourced, ZapDevice};
use brickyard_store::configs::{self, LoadError};
use brickyard_store::{EtcdOptions, StoreUrl};
use ipnet::{IpNet, Ipv4Net};

use crate::container::{self, Runtime};
use crate::lab::{Lab, absolute, mkdir, require_root};
use crate::names::MAX_HOSTS;
use crate::options::{LabOptions, MAX_DISKS};
use crate::state::{self, HostState, LabState, StoreKind};
use crate::{LabError, disk, etcd, net};

/// One step of `lab up`, for a progress display.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Steps done so far, this one included.
    pub step: usize,
    /// All steps.
    pub total: usize,
    /// What was just done.
    pub message: String,
}

impl Lab {
    /// Makes a lab: network, hosts, disks, store, configs, and starts the host command if
    /// there is one. On failure, removes whatever it made.
    pub async fn up(
        opts: &LabOptions,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Self, LabError> {
        require_root()?;
        let name = &opts.name;
        if opts.hosts == 0 || opts.hosts > MAX_HOSTS {
            return Err(LabError::BadOption {
                option: "--hosts",
                value: opts.hosts.to_string(),
                problem: format!("is not between 1 and {MAX_HOSTS}"),
                fix: "give a host count from 1 to 99".into(),
            });
        }
        if opts.disks == 0 || opts.disks > MAX_DISKS {
            return Err(LabError::BadOption {
                option: "--disks",
                value: opts.disks.to_string(),
                problem: format!("is not between 1 and {MAX_DISKS}"),
                fix: format!("give a disk count per host from 1 to {MAX_DISKS}"),
            });
        }
        let dir = match &opts.dir {
            Some(d) => absolute(d)?,
            None => state::default_dir(name),
        };
        if let Runtime::Image { image } = &opts.runtime
            && !container::image_exists(image).await?
        {
            return Err(LabError::BadOption {
                option: "--image",
                value: image.clone(),
                problem: "is not in podman's local images".into(),
                fix: "build it with `make image` (or name an image `podman images` lists)".into(),
            });
        }
        let lock = state::lock_labs()?;
        // A lab of this name must not exist in any form, or two would share names.
        if LabState::path(&dir).exists() {
            return Err(LabError::Exists {
                name: name.to_string(),
                what: format!("state file {}", LabState::path(&dir).display()),
            });
        }
        let existing = Self::leftover_net(name).await?;
        if let Some(first) = existing.first() {
            return Err(LabError::Exists {
                name: name.to_string(),
                what: format!("{first} is present"),
            });
        }
        let taken = net::taken_networks().await?;
        let subnet = match opts.subnet {
            Some(s) => {
                net::check_subnet(s, opts.hosts, &taken)?;
                s
            }
            None => net::choose_subnet(name, &taken).ok_or_else(|| LabError::BadOption {
                option: "--subnet",
                value: "10.250.0.0/16".into(),
                problem: "has no free /24 left on this machine".into(),
                fix: "give a free private subnet with --subnet".into(),
            })?,
        };
        let machine_ip = net::machine_ip(subnet);
        let (store_url, _) = match opts.store {
            StoreKind::File => (format!("file://{}", dir.join("store").display()), ()),
            StoreKind::Etcd => (etcd::store_url(machine_ip, opts.etcd_members), ()),
        };
        let hosts = (1..=opts.hosts)
            .map(|i| HostState {
                index: i,
                host_name: name.host_name(i),
                gluster_node_name: name.gluster_node_name(i),
                netns: name.netns(i),
                ip: net::host_ip(subnet, i),
                dir: dir.join("hosts").join(i.to_string()),
                loop_device: None,
                extra_loop_devices: Vec::new(),
            })
            .collect();
        let mut lab = Self {
            state: LabState {
                name: name.clone(),
                dir: dir.clone(),
                subnet,
                machine_ip,
                store: opts.store,
                store_url,
                etcd_loopback_port: None,
                etcd_members: opts.etcd_members,
                exe: opts.exe.clone(),
                host_command: opts.host_command.clone(),
                runtime: opts.runtime.clone(),
                geo_replication: opts.geo_replication,
                hosts,
                mounts: Vec::new(),
            },
        };
        mkdir(&dir)?;
        lab.state.write()?;
        state::write_pointer(name, &dir)?;
        match lab.build(opts, progress, lock).await {
            Ok(()) => Ok(lab),
            Err(e) => {
                // Leave nothing half-made behind; the error that stopped `up` is the one
                // to report.
                if let Err(down) = Self::down(name, Some(&dir)).await {
                    tracing::warn!(lab = %name, error = %down, "cleaning up after a failed lab up");
                }
                Err(e)
            }
        }
    }

    async fn build(
        &mut self,
        opts: &LabOptions,
        progress: &(dyn Fn(Progress) + Sync),
        lock: nix::fcntl::Flock<std::fs::File>,
    ) -> Result<(), LabError> {
        let n = self.state.hosts.len();
        let total = n + 3 + usize::from(self.state.host_command.is_some());
        let mut step = 0;
        let mut report = |message: String| {
            step += 1;
            progress(Progress {
                step,
                total,
                message,
            });
        };
        let bridge = self.state.name.bridge();
        net::create_bridge(&bridge, self.state.machine_ip, self.state.subnet).await?;
        // The subnet is now routed, so the next `lab up` sees it as taken.
        drop(lock);
        report(format!(
            "bridge {bridge} with the machine at {}",
            self.state.machine_ip
        ));

        for i in 0..n {
            let host = self.state.hosts[i].clone();
            mkdir(&host.dir)?;
            disk::create_file(&host.disk_file(), opts.disk_size)?;
            let dev = disk::attach(&host.disk_file()).await?;
            self.state.hosts[i].loop_device = Some(dev.clone());
            self.state.write()?;
            for n in 2..=opts.disks {
                let file = host.disk_file_n(n);
                disk::create_file(&file, opts.disk_size)?;
                let extra = disk::attach(&file).await?;
                self.state.hosts[i].extra_loop_devices.push(extra);
                self.state.write()?;
            }
            net::create_host_net(&bridge, &host.netns, host.ip, self.state.subnet).await?;
            let pid = self.start_holder(&host).await?;
            report(format!(
                "host {} at {} (namespace {}, disk {dev}, holder {pid})",
                host.host_name, host.ip, host.netns
            ));
        }

        if self.state.store == StoreKind::Etcd {
            let port = etcd::start(
                self.state.name.as_str(),
                &self.state.dir,
                self.state.machine_ip,
                self.state.etcd_members,
            )
            .await?;
            self.state.etcd_loopback_port = Some(port);
            self.state.write()?;
        }
        report(format!("store {}", self.state.store_url));

        let configs = self.write_configs()?;
        self.load_configs(&configs).await?;
        report(format!(
            "{} host configs in {} loaded into the store",
            configs.len(),
            self.state.dir.join("configs").display()
        ));

        if self.state.host_command.is_some() {
            for host in &self.state.hosts {
                self.start_command(host).await?;
            }
            report("host commands started".into());
        }
        Ok(())
    }

    /// Adds one host to a running lab: its disks (as many as host 1 has, of the same size),
    /// namespaces and holder, its config (peers: every other host) and every other host's
    /// config gaining it as a peer, loaded together; then its command, whose agent joins
    /// the pool. Returns the new host. On failure the new host's pieces stay recorded, and
    /// `lab down` removes them.
    pub async fn add_host(&mut self) -> Result<HostState, LabError> {
        require_root()?;
        // After a host was removed, indexes have a gap: a new host takes the next after all.
        let index = self.state.hosts.iter().map(|h| h.index).max().unwrap_or(0) + 1;
        if index > MAX_HOSTS || net::check_subnet(self.state.subnet, index, &[]).is_err() {
            return Err(LabError::BadOption {
                option: "add-host",
                value: index.to_string(),
                problem: format!(
                    "would be host {index}, more than the lab's subnet or {MAX_HOSTS} hosts hold"
                ),
                fix: "make a new lab with more --hosts".into(),
            });
        }
        let first = self
            .state
            .hosts
            .first()
            .cloned()
            .ok_or_else(|| LabError::BadOption {
                option: "add-host",
                value: self.state.name.to_string(),
                problem: "has no host to take the disk layout from".into(),
                fix: "make the lab again with `lab up`".into(),
            })?;
        let size = std::fs::metadata(first.disk_file())
            .map_err(|e| LabError::io("read the size of", first.disk_file(), e))?
            .len();
        let name = self.state.name.clone();
        let host = HostState {
            index,
            host_name: name.host_name(index),
            gluster_node_name: name.gluster_node_name(index),
            netns: name.netns(index),
            ip: net::host_ip(self.state.subnet, index),
            dir: self.state.dir.join("hosts").join(index.to_string()),
            loop_device: None,
            extra_loop_devices: Vec::new(),
        };
        self.state.hosts.push(host.clone());
        self.state.write()?;
        mkdir(&host.dir)?;
        let i = self.state.hosts.len() - 1;
        for n in 1..=first.extra_loop_devices.len() + 1 {
            let file = host.disk_file_n(n);
            disk::create_file(&file, size)?;
            let dev = disk::attach(&file).await?;
            if n == 1 {
                self.state.hosts[i].loop_device = Some(dev);
            } else {
                self.state.hosts[i].extra_loop_devices.push(dev);
            }
            self.state.write()?;
        }
        net::create_host_net(&name.bridge(), &host.netns, host.ip, self.state.subnet).await?;
        self.start_holder(&host).await?;
        let configs = self.write_configs()?;
        self.load_configs(&configs).await?;
        let host = self.state.hosts[i].clone();
        self.start_command(&host).await?;
        Ok(host)
    }

    /// Where host `index` is in the lab's state; [`Lab::host`]'s error when there is none.
    fn position_of(&self, index: usize) -> Result<usize, LabError> {
        let host = self.host(&index.to_string())?.index;
        Ok(self
            .state
            .hosts
            .iter()
            .position(|h| h.index == host)
            .expect("found by Lab::host"))
    }

    /// Takes host `index` out of the lab for good: its processes, namespaces, interface,
    /// loop devices and files. The store is not touched: `brickyard host remove` takes the
    /// host out of the cluster (first, with the host stopped).
    pub async fn remove_host(&mut self, index: usize) -> Result<HostState, LabError> {
        require_root()?;
        let i = self.position_of(index)?;
        let host = self.state.hosts[i].clone();
        if matches!(self.state.runtime, crate::Runtime::Image { .. }) {
            self.stop_container(&host).await?;
        }
        self.stop_host(&host).await?;
        for (dev, _) in disk::attached_under(&host.dir).await? {
            disk::detach(&dev).await?;
        }
        net::delete_netns(&host.netns).await?;
        net::delete_link(&host.netns).await?;
        self.state.hosts.remove(i);
        self.state.write()?;
        std::fs::remove_dir_all(&host.dir).map_err(|e| LabError::io("remove", &host.dir, e))?;
        Ok(host)
    }

    /// Gives host `index` one more disk (a sparse file of the size of its first disk on a
    /// loop device), adds it at the end of its `ExtraBrickDevices` and loads its changed
    /// config into the store, where a running agent prepares it and offers it to new
    /// bricks. Returns the device.
    pub async fn add_disk(&mut self, index: usize) -> Result<String, LabError> {
        let i = self.position_of(index)?;
        let host = self.state.hosts[i].clone();
        let n = host.extra_loop_devices.len() + 2;
        if n > MAX_DISKS {
            return Err(LabError::BadOption {
                option: "add-disk",
                value: host.host_name.clone(),
                problem: format!("has {MAX_DISKS} disks already"),
                fix: format!("a lab host has at most {MAX_DISKS} disks"),
            });
        }
        let size = std::fs::metadata(host.disk_file())
            .map_err(|e| LabError::io("read the size of", host.disk_file(), e))?
            .len();
        let file = host.disk_file_n(n);
        disk::create_file(&file, size)?;
        let dev = disk::attach(&file).await?;
        self.state.hosts[i].extra_loop_devices.push(dev.clone());
        self.state.write()?;
        let configs = self.write_configs()?;
        let mine: Vec<Sourced> = configs
            .into_iter()
            .filter(|c| c.config.host_name == host.host_name)
            .collect();
        self.load_configs(&mine).await?;
        Ok(dev)
    }

    fn write_configs(&self) -> Result<Vec<Sourced>, LabError> {
        let dir = self.state.dir.join("configs");
        mkdir(&dir)?;
        let prefix = self.state.subnet.prefix_len();
        let mut out = Vec::new();
        for host in &self.state.hosts {
            let config = HostConfig::build(HostSpec {
                host_name: host.host_name.clone(),
                gluster_node_name: host.gluster_node_name.clone(),
                ip_address: IpNet::V4(
                    Ipv4Net::new(host.ip, prefix).expect("the subnet's prefix length is valid"),
                ),
                brick_device: host.loop_device.clone().unwrap_or_default(),
                extra_brick_devices: host.extra_loop_devices.clone(),
                zap_device: ZapDevice::Text(true),
                peers: self
                    .state
                    .hosts
                    .iter()
                    .filter(|h| h.index != host.index)
                    .map(|h| h.ip.into())
                    .collect(),
                zone: None,
            });
            let path = dir.join(format!("{}.json", host.host_name));
            std::fs::write(&path, &config.raw).map_err(|e| LabError::io("write", &path, e))?;
            out.push(Sourced {
                source: path.display().to_string(),
                config,
            });
        }
        Ok(out)
    }

    async fn load_configs(&self, configs: &[Sourced]) -> Result<(), LabError> {
        let url: StoreUrl = self
            .state
            .store_url
            .parse()
            .map_err(|source| self.store_err(source))?;
        let store = brickyard_store::open(&url, &EtcdOptions::default())
            .await
            .map_err(|source| self.store_err(source))?;
        match configs::load(store.as_ref(), configs, false).await {
            Ok(_) => Ok(()),
            Err(LoadError::Store(source)) => Err(self.store_err(source)),
            Err(LoadError::Invalid(report)) => Err(LabError::Load {
                detail: report
                    .issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
            Err(e) => Err(LabError::Load {
                detail: e.to_string(),
            }),
        }
    }
}
