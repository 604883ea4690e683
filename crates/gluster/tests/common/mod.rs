//! Container-like gluster hosts in network and mount namespaces, for integration tests.
//!
//! A lab of N hosts is: one "switch" network namespace holding a bridge, and per host a
//! network namespace joined to the bridge by a veth pair, with address 10.251.0.(i+1)/24.
//! Nothing is created in the root network namespace, so the test subnet exists only inside
//! the lab. Each host also has its own mount and UTS namespace, held open by a long-lived
//! `sleep` process (the "holder"): private /etc/glusterfs (seeded from the package's),
//! /var/lib/glusterd and /var/log/glusterfs bind-mounted from a per-host temp dir, a tmpfs
//! on /run, and a tmpfs "brick disk" at `<host dir>/bricks` (not the root partition, so no
//! `force` is needed). Commands enter a host with `nsenter -t HOLDER -m -n -u`.
//!
//! Everything is named `byt-gl-<pid>-<n>-...`. Dropping the lab (also on panic) kills every
//! process in each host's mount namespace (glusterd, bricks, self-heal daemons), which
//! releases the namespace and its mounts, then deletes the network namespaces.

#![allow(dead_code)] // Each test binary uses a different part of the fixture.

use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use brickyard_exec::Cmd;
use brickyard_gluster::{Gluster, Peer, parse_glusterd_info, render_glusterd_vol};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Runs a setup command; setup failing is a broken test machine, so it panics with the
/// command's own words.
pub async fn sh(argv: &[&str]) -> String {
    match brickyard_exec::run(&Cmd::new(argv.iter().copied()).timeout(Duration::from_secs(30)))
        .await
    {
        Ok(out) => out.stdout_str(),
        Err(e) => panic!("{e}"),
    }
}

/// A lab of namespace hosts.
pub struct Lab {
    /// Name prefix of everything this lab creates.
    pub prefix: String,
    switch: String,
    /// The hosts.
    pub hosts: Vec<Host>,
    dir: tempfile::TempDir,
}

/// One host.
pub struct Host {
    /// Short name: h1, h2...
    pub name: String,
    /// Its network namespace.
    pub netns: String,
    /// Its address on the lab bridge.
    pub ip: Ipv4Addr,
    /// Its private directory (etc, lib, log, bricks).
    pub root: PathBuf,
    holder: Child,
    /// `mnt:[inode]` of its mount namespace: every process showing it belongs to the host.
    mnt_ns: String,
    glusterd: Option<Child>,
}

fn mnt_ns_of(pid: u32) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn pids() -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Kills, with SIGKILL, every process whose namespace link `kind` reads `ns`, except
/// `keep`; returns how many were still there.
fn kill_in_ns(kind: &str, ns: &str, keep: Option<u32>) -> usize {
    let mut found = 0;
    for pid in pids() {
        if Some(pid) == keep || pid == std::process::id() {
            continue;
        }
        let link = fs::read_link(format!("/proc/{pid}/ns/{kind}"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if link == ns {
            found += 1;
            if let Ok(p) = i32::try_from(pid) {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
        }
    }
    found
}

/// Removes namespaces left by a test process that died without cleaning up (SIGKILL):
/// `byt-gl-<pid>-...` whose pid is gone.
fn sweep_stale() {
    let Ok(dir) = fs::read_dir("/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("byt-gl-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Ok(meta) = entry.metadata() {
            let ns = format!("net:[{}]", meta.ino());
            for _ in 0..20 {
                if kill_in_ns("net", &ns, None) == 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
    }
}

impl Lab {
    /// Builds a lab of `n` hosts (n ≤ 9), glusterd not yet started.
    pub async fn new(n: usize) -> Lab {
        sweep_stale();
        let prefix = format!(
            "byt-gl-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir()
            .expect("temp dir");
        let switch = format!("{prefix}-sw");
        // The lab exists from here on, so a failure below still cleans up what was made.
        let mut lab = Lab {
            prefix: prefix.clone(),
            switch: switch.clone(),
            hosts: Vec::new(),
            dir,
        };
        sh(&["ip", "netns", "add", &switch]).await;
        sh(&["ip", "-n", &switch, "link", "add", "br0", "type", "bridge"]).await;
        sh(&["ip", "-n", &switch, "link", "set", "br0", "up"]).await;
        for i in 1..=n {
            let host = lab.add_host(i).await;
            lab.hosts.push(host);
        }
        lab
    }

    async fn add_host(&mut self, i: usize) -> Host {
        let name = format!("h{i}");
        let netns = format!("{}-{name}", self.prefix);
        let ip = Ipv4Addr::new(10, 251, 0, u8::try_from(i).expect("small lab"));
        let veth = format!("v{i}");
        sh(&["ip", "netns", "add", &netns]).await;
        sh(&[
            "ip",
            "-n",
            &self.switch,
            "link",
            "add",
            &veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &netns,
        ])
        .await;
        sh(&[
            "ip",
            "-n",
            &self.switch,
            "link",
            "set",
            &veth,
            "master",
            "br0",
            "up",
        ])
        .await;
        sh(&[
            "ip",
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            "eth0",
        ])
        .await;
        sh(&["ip", "-n", &netns, "link", "set", "eth0", "up"]).await;
        sh(&["ip", "-n", &netns, "link", "set", "lo", "up"]).await;

        let root = self.dir.path().join(&name);
        for sub in ["etc", "lib", "log", "bricks"] {
            fs::create_dir_all(root.join(sub)).expect("host dir");
        }
        // Seed /etc/glusterfs from the package, as the agent does on first boot.
        for entry in fs::read_dir("/etc/glusterfs").expect("/etc/glusterfs (glusterfs-server)") {
            let entry = entry.expect("dir entry");
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                fs::copy(entry.path(), root.join("etc").join(entry.file_name()))
                    .expect("seed /etc/glusterfs");
            }
        }
        // The holder keeps the host's mount and UTS namespaces alive; `--propagation
        // private` makes every mount private first, so nothing below leaks to the host.
        // It is a long-lived child, which brickyard_exec (run-to-completion) is not for.
        let holder = Command::new("ip")
            .args(["netns", "exec", &netns, "unshare", "--mount", "--uts"])
            .args(["--propagation", "private", "--", "sleep", "infinity"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the host's holder");
        let mut host = Host {
            name: name.clone(),
            netns,
            ip,
            root: root.clone(),
            mnt_ns: String::new(),
            holder,
            glusterd: None,
        };
        // `ip netns exec` and `unshare` exec in turn; the holder is ready once it is sleep.
        for _ in 0..100 {
            let comm =
                fs::read_to_string(format!("/proc/{}/comm", host.holder.id())).unwrap_or_default();
            if comm.trim() == "sleep" {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        host.mnt_ns = mnt_ns_of(host.holder.id()).expect("holder's mount namespace");
        let own = mnt_ns_of(std::process::id()).unwrap_or_default();
        assert_ne!(
            host.mnt_ns, own,
            "holder did not get its own mount namespace"
        );

        let r = |sub: &str| root.join(sub).to_string_lossy().into_owned();
        let binds = [
            (r("etc"), "/etc/glusterfs"),
            (r("lib"), "/var/lib/glusterd"),
            (r("log"), "/var/log/glusterfs"),
        ];
        for (from, to) in &binds {
            host.exec(&["mount", "--bind", from, to]).await;
        }
        host.exec(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            "size=64m",
            "byt-gl-run",
            "/run",
        ])
        .await;
        let bricks = r("bricks");
        host.exec(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            "size=64m",
            "byt-gl-bricks",
            &bricks,
        ])
        .await;
        host.exec(&["hostname", &name]).await;
        host
    }

    /// Host `i` (0-based).
    pub fn host(&mut self, i: usize) -> &mut Host {
        &mut self.hosts[i]
    }

    /// Binds, starts and waits for glusterd on every host.
    pub async fn start_all(&mut self) {
        for h in &mut self.hosts {
            h.bind_glusterd();
            h.start_glusterd();
        }
        for h in &self.hosts {
            h.wait_glusterd().await;
        }
    }

    /// Waits until every host's `pool list` shows `n` healthy members; returns the time
    /// it took.
    pub async fn wait_pool(&self, n: usize, limit: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < limit {
            let mut all = true;
            for h in &self.hosts {
                let healthy = match h.gluster().pool_list().await {
                    Ok(pool) => pool.iter().filter(|p| p.is_healthy()).count(),
                    Err(_) => 0,
                };
                all &= healthy == n;
            }
            if all {
                return start.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut views = String::new();
        for h in &self.hosts {
            views.push_str(&format!(
                "{}: {:?}\n",
                h.name,
                h.gluster().pool_list().await
            ));
        }
        panic!("the pool did not reach {n} healthy members in {limit:?}:\n{views}");
    }
}

impl Host {
    /// The prefix that runs a command inside this host.
    pub fn enter(&self) -> Vec<String> {
        let pid = self.holder.id().to_string();
        ["nsenter", "-t", &pid, "-m", "-n", "-u"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    /// The prefix that enters only this host's network namespace: a process there sees
    /// the root mount namespace's /run, not the host's glusterd socket (like an operator
    /// on the machine outside a gluster container with host networking).
    pub fn enter_net_only(&self) -> Vec<String> {
        let pid = self.holder.id().to_string();
        ["nsenter", "-t", &pid, "-n"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    /// The holder's pid (for /proc/PID/root paths).
    pub fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// Runs a command inside the host; panics on failure.
    pub async fn exec(&self, argv: &[&str]) -> String {
        let mut full: Vec<&str> = Vec::new();
        let enter = self.enter();
        full.extend(enter.iter().map(String::as_str));
        full.extend(argv);
        sh(&full).await
    }

    /// A gluster handle using this host's local socket.
    pub fn gluster(&self) -> Gluster {
        Gluster::new()
            .prefix(self.enter())
            .timeout(Duration::from_secs(20))
    }

    /// Where bricks go: a tmpfs of its own.
    pub fn brick(&self, volume: &str) -> String {
        format!("{}:{}/bricks/{volume}", self.ip, self.root.display())
    }

    /// Writes glusterd.vol bound to the host's address, from the package's file.
    pub fn bind_glusterd(&self) {
        let default =
            fs::read_to_string("/etc/glusterfs/glusterd.vol").expect("package glusterd.vol");
        let vol = render_glusterd_vol(&default, self.ip.into()).expect("render glusterd.vol");
        fs::write(self.root.join("etc/glusterd.vol"), vol).expect("write glusterd.vol");
    }

    /// Starts glusterd in the foreground inside the host.
    pub fn start_glusterd(&mut self) {
        assert!(self.glusterd.is_none(), "glusterd already started");
        let log = fs::File::create(self.root.join("glusterd.out")).expect("glusterd.out");
        let err = log.try_clone().expect("glusterd.out");
        let enter = self.enter();
        let child = Command::new(&enter[0])
            .args(&enter[1..])
            .args([
                "glusterd",
                "--no-daemon",
                "-l",
                "/var/log/glusterfs/glusterd.log",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("spawn glusterd");
        self.glusterd = Some(child);
    }

    /// Waits until glusterd answers `pool list`; says so when that took long.
    pub async fn wait_glusterd(&self) {
        let g = self.gluster();
        let start = Instant::now();
        for _ in 0..150 {
            if g.pool_list().await.is_ok() {
                if start.elapsed() > Duration::from_secs(3) {
                    println!(
                        "glusterd on {} took {:?} to answer; log tail:\n{}",
                        self.name,
                        start.elapsed(),
                        self.log_tail()
                    );
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "glusterd on {} did not answer within 15 s; log tail:\n{}",
            self.name,
            self.log_tail()
        );
    }

    /// The last lines of glusterd's log.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.root.join("log/glusterd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Sends `signal` to glusterd and reaps it (bricks keep running).
    pub fn stop_glusterd(&mut self, signal: Signal) {
        if let Some(mut child) = self.glusterd.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), signal);
            }
            let _ = child.wait();
        }
    }

    /// Kills every process of the host except its holder: glusterd, bricks, daemons.
    pub fn kill_all(&mut self) {
        self.stop_glusterd(Signal::SIGKILL);
        let keep = Some(self.holder.id());
        for _ in 0..100 {
            if kill_in_ns("mnt", &self.mnt_ns, keep) == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("processes of {} survive SIGKILL", self.name);
    }

    /// glusterd's UUID from /var/lib/glusterd/glusterd.info.
    pub fn uuid(&self) -> String {
        let text = fs::read_to_string(self.root.join("lib/glusterd.info")).expect("glusterd.info");
        parse_glusterd_info(&text).expect("glusterd.info").uuid
    }

    /// This host's entry as seen in `peers`.
    pub fn seen_in<'a>(&self, peers: &'a [Peer]) -> Option<&'a Peer> {
        let ip = self.ip.to_string();
        peers.iter().find(|p| p.hostname == ip)
    }
}

impl Drop for Lab {
    /// Drop cannot await, so cleanup uses std::process directly.
    fn drop(&mut self) {
        for h in &mut self.hosts {
            if let Some(mut child) = h.glusterd.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            for _ in 0..100 {
                if h.mnt_ns.is_empty() || kill_in_ns("mnt", &h.mnt_ns, None) == 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = h.holder.kill();
            let _ = h.holder.wait();
            let _ = Command::new("ip").args(["netns", "del", &h.netns]).status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.switch])
            .status();
    }
}

/// Asserts nothing of `prefix` is left: no namespace, no process, no mount.
pub fn assert_clean(prefix: &str) {
    let netns = fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert!(netns.is_empty(), "namespaces left: {netns:?}");
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    assert!(!mounts.contains(prefix), "mounts left:\n{mounts}");
    for pid in pids() {
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert!(!cmdline.contains(prefix), "process {pid} left: {cmdline}");
    }
}
