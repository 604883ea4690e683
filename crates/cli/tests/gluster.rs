//! Facts the node agent relies on, established on real glusterd 10.3 in the hosts of a
//! `brickyard lab` started without agents: each test starts, kills and repairs glusterd
//! itself. Each test prints its measurements (`cargo test -- --nocapture`).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use brickyard_exec::Cmd;
use brickyard_gluster::parse::parse_ok;
use brickyard_gluster::{
    Gluster, GlusterError, Peer, PeerState, ProbeOutcome, Target, VolumeCreate,
    parse_glusterd_info, render_glusterd_vol, with_uuid,
};
use brickyard_lab::{Lab as LabState, LabName};
use brickyard_testkit::{LabGuard, assert_no_lab_leftovers, run};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");

/// Runs a setup command; setup failing is a broken test machine, so it panics with the
/// command's own words.
async fn sh(argv: &[String]) -> String {
    match brickyard_exec::run(&Cmd::new(argv.iter().cloned()).timeout(Duration::from_secs(30)))
        .await
    {
        Ok(out) => out.stdout_str(),
        Err(e) => panic!("{e}"),
    }
}

/// A lab of `n` hosts that run nothing by themselves; glusterd is this test's to start.
struct Lab {
    hosts: Vec<Host>,
    dir: PathBuf,
    guard: LabGuard,
}

/// One host of the lab, and the glusterd this test started in it.
struct Host {
    name: String,
    ip: Ipv4Addr,
    /// The host's state directory (the sources of its /etc/glusterfs, /var/lib/glusterd...).
    dir: PathBuf,
    holder: i32,
    /// `nsenter` into the host's mount, UTS and network namespaces, ending in `--`.
    enter: Vec<String>,
    glusterd: Option<Child>,
}

impl Lab {
    async fn new(name: &str, n: usize) -> Lab {
        let guard = LabGuard::new(BIN, name, None);
        let hosts = n.to_string();
        run(
            BIN,
            &guard.args(&["up", "--hosts", &hosts, "--no-agents"]),
            &[],
        )
        .ok();
        let lab = LabState::open(&name.parse::<LabName>().expect("lab name"), None)
            .expect("open the lab");
        let mut out = Lab {
            hosts: Vec::new(),
            dir: lab.state().dir.clone(),
            guard,
        };
        for state in &lab.state().hosts {
            let host = Host {
                name: format!("h{}", state.index),
                ip: state.ip,
                dir: state.dir.clone(),
                holder: lab.holder_pid(state).expect("the host's holder"),
                enter: lab.enter_argv(state, &[]).await.expect("enter the host"),
                glusterd: None,
            };
            // Bricks go on a tmpfs of the host's own, not on the root file system (which
            // gluster refuses without `force`).
            host.exec(&["mkdir", "-p", "/gluster/bricks"]).await;
            host.exec(&[
                "mount",
                "-t",
                "tmpfs",
                "-o",
                "size=64m",
                "bricks",
                "/gluster/bricks",
            ])
            .await;
            out.hosts.push(host);
        }
        out
    }

    /// Binds, starts and waits for glusterd on every host.
    async fn start_all(&mut self) {
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
    async fn wait_pool(&self, n: usize, limit: Duration) -> Duration {
        match self.try_wait_pool(n, limit).await {
            Some(took) => took,
            None => self.pool_failed(n, limit).await,
        }
    }

    /// How long until every host sees `n` healthy members; `None` when not within `limit`.
    async fn try_wait_pool(&self, n: usize, limit: Duration) -> Option<Duration> {
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
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    async fn pool_failed(&self, n: usize, limit: Duration) -> ! {
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

    /// Removes the lab and checks that nothing of it is left.
    fn remove(mut self) {
        for h in &mut self.hosts {
            h.stop_glusterd(Signal::SIGKILL);
        }
        let name = self.guard.name().to_owned();
        let dir = self.dir.clone();
        drop(self);
        assert_no_lab_leftovers(&name, &dir);
    }
}

impl Drop for Lab {
    /// The glusterd this test started is reaped here; `lab down` (the guard) then removes
    /// everything else the hosts ran.
    fn drop(&mut self) {
        for h in &mut self.hosts {
            if let Some(mut child) = h.glusterd.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Host {
    /// The prefix that runs a command inside this host.
    fn enter(&self) -> Vec<String> {
        self.enter.clone()
    }

    /// The prefix that enters only this host's network namespace: a process there sees
    /// the machine's /run, not the host's glusterd socket (like an operator on the machine
    /// outside a gluster container with host networking).
    fn enter_net_only(&self) -> Vec<String> {
        let pid = self.holder.to_string();
        ["nsenter", "-t", &pid, "-n", "--"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    /// The holder's pid (for /proc/PID/root paths).
    fn pid(&self) -> i32 {
        self.holder
    }

    /// Runs a command inside the host; panics on failure.
    async fn exec(&self, argv: &[&str]) -> String {
        let mut full = self.enter();
        full.extend(argv.iter().map(|a| (*a).to_owned()));
        sh(&full).await
    }

    /// A gluster handle using this host's local socket.
    fn gluster(&self) -> Gluster {
        Gluster::new()
            .prefix(self.enter())
            .timeout(Duration::from_secs(20))
    }

    /// Where the host's brick of `volume` goes.
    fn brick(&self, volume: &str) -> String {
        format!("{}:/gluster/bricks/{volume}", self.ip)
    }

    /// The host's /var/lib/glusterd, seen from the machine.
    fn var_lib_glusterd(&self) -> PathBuf {
        self.dir.join("var-lib-glusterd")
    }

    /// Writes glusterd.vol bound to the host's address, from the package's file.
    fn bind_glusterd(&self) {
        let default =
            std::fs::read_to_string("/etc/glusterfs/glusterd.vol").expect("package glusterd.vol");
        let vol = render_glusterd_vol(&default, self.ip.into()).expect("render glusterd.vol");
        std::fs::write(self.dir.join("etc-glusterfs/glusterd.vol"), vol)
            .expect("write glusterd.vol");
    }

    /// Starts glusterd in the foreground inside the host, as this test's child.
    fn start_glusterd(&mut self) {
        assert!(self.glusterd.is_none(), "glusterd already started");
        let log = std::fs::File::create(self.dir.join("glusterd.out")).expect("glusterd.out");
        let err = log.try_clone().expect("glusterd.out");
        let child = Command::new(&self.enter[0])
            .args(&self.enter[1..])
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
    async fn wait_glusterd(&self) {
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
    fn log_tail(&self) -> String {
        let log = self.dir.join("var-log-glusterfs/glusterd.log");
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Sends `signal` to the glusterd this test started and reaps it (bricks keep running).
    fn stop_glusterd(&mut self, signal: Signal) {
        if let Some(mut child) = self.glusterd.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), signal);
            }
            let _ = child.wait();
        }
    }

    /// Kills every process of the host except its holder: glusterd, bricks, daemons (all
    /// started by this test, found by the host's namespaces).
    fn kill_all(&mut self, lab: &LabState) {
        self.stop_glusterd(Signal::SIGKILL);
        let state = lab
            .state()
            .hosts
            .iter()
            .find(|h| h.dir == self.dir)
            .expect("the host's state");
        for _ in 0..100 {
            let pids: Vec<i32> = lab
                .host_pids(state)
                .expect("the host's processes")
                .into_iter()
                .filter(|&p| p != self.holder)
                .collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("processes of {} survive SIGKILL", self.name);
    }

    /// glusterd's UUID from /var/lib/glusterd/glusterd.info.
    fn uuid(&self) -> String {
        let text = std::fs::read_to_string(self.var_lib_glusterd().join("glusterd.info"))
            .expect("glusterd.info");
        parse_glusterd_info(&text).expect("glusterd.info").uuid
    }

    /// This host's entry as seen in `peers`.
    fn seen_in<'a>(&self, peers: &'a [Peer]) -> Option<&'a Peer> {
        let ip = self.ip.to_string();
        peers.iter().find(|p| p.hostname == ip)
    }
}

async fn form_pool(lab: &mut Lab) -> Duration {
    lab.start_all().await;
    let start = Instant::now();
    let g = lab.hosts[0].gluster();
    for h in &lab.hosts[1..] {
        let outcome = g.peer_probe(&h.ip.to_string()).await.expect("probe");
        assert_eq!(outcome, ProbeOutcome::Added);
    }
    lab.wait_pool(lab.hosts.len(), Duration::from_secs(30))
        .await;
    start.elapsed()
}

async fn create_replica3(lab: &Lab, name: &str) {
    let g = lab.hosts[0].gluster();
    let spec = VolumeCreate {
        name: name.into(),
        replica: Some(3),
        bricks: lab.hosts.iter().map(|h| h.brick(name)).collect(),
        ..VolumeCreate::default()
    };
    let t = Instant::now();
    let created = g.volume_create(&spec).await.expect("volume create");
    let create = t.elapsed();
    assert_eq!(created.name, name);
    let t = Instant::now();
    g.volume_start(name, false).await.expect("volume start");
    println!(
        "volume create {:?}, start {:?} (replica 3)",
        create,
        t.elapsed()
    );
}

async fn wait_bricks_online(g: &Gluster, volume: &str, n: usize) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(st) = g.volume_status(Some(volume)).await
            && st.first().is_some_and(|v| v.bricks_online() == n)
        {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "{n} bricks of {volume} not online in 20 s: {:?}",
        g.volume_status(Some(volume)).await
    );
}

/// Runs `gluster --mode=script ARGS` (plain text, as an operator types it) in `prefix`.
async fn operator(prefix: &[String], args: &[&str]) -> Result<String, String> {
    let mut argv = prefix.to_vec();
    argv.push("gluster".into());
    argv.push("--mode=script".into());
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    brickyard_exec::run(&Cmd::new(argv).timeout(Duration::from_secs(30)))
        .await
        .map(|o| o.stdout_str())
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_node_answers_every_cli_command_and_survives_a_glusterd_kill() {
    let mut lab = Lab::new("bytgl1", 3).await;
    let probe = form_pool(&mut lab).await;
    println!("3-host pool formed {probe:?} after the first probe");

    // glusterd listens only on the host's address.
    let h1 = &lab.hosts[0];
    let listening = h1.exec(&["ss", "-Hltn"]).await;
    assert!(
        listening.contains(&format!("{}:24007", h1.ip)),
        "{listening}"
    );
    assert!(!listening.contains("0.0.0.0:24007") && !listening.contains("*:24007"));

    // The UUID glusterd reports is the one in glusterd.info.
    for h in &lab.hosts {
        assert_eq!(h.gluster().own_uuid().await.expect("uuid get"), h.uuid());
    }

    create_replica3(&lab, "v1").await;
    let g1 = lab.hosts[0].gluster();
    wait_bricks_online(&g1, "v1", 3).await;
    let status = g1.volume_status(Some("v1")).await.expect("volume status");
    assert!(
        status[0]
            .bricks
            .iter()
            .all(|b| b.port.is_some() && b.pid.is_some())
    );
    let heal = g1.heal_info("v1").await.expect("heal info");
    assert_eq!(heal.len(), 3);
    assert!(heal.iter().all(|b| b.connected() && b.pending == Some(0)));

    // Directory quotas, as the CSI driver will size its claims: a directory made through a
    // FUSE mount inside host 1, limited, listed, and let go again.
    let h1 = &lab.hosts[0];
    let mnt = "/run/byt-quota";
    h1.exec(&["mkdir", "-p", mnt]).await;
    h1.exec(&["mount", "-t", "glusterfs", &format!("{}:/v1", h1.ip), mnt])
        .await;
    h1.exec(&["mkdir", &format!("{mnt}/claim")]).await;
    assert!(
        g1.quota_enable("v1").await.expect("quota enable"),
        "newly on"
    );
    assert!(
        !g1.quota_enable("v1").await.expect("quota enable again"),
        "already on"
    );
    let t = Instant::now();
    g1.quota_limit("v1", "/claim", 1 << 20)
        .await
        .expect("limit");
    println!("quota limit-usage took {:?}", t.elapsed());
    let limits = g1.quota_list("v1", Some("/claim")).await.expect("list");
    assert_eq!(limits.len(), 1, "{limits:?}");
    assert_eq!(limits[0].hard_limit, Some(1 << 20));
    let df = h1
        .exec(&["df", "-B1", "--output=size", &format!("{mnt}/claim")])
        .await;
    assert!(
        df.contains("1048576"),
        "the claim's size is its limit: {df}"
    );
    let missing = g1.quota_limit("v1", "/nonexistent", 1 << 20).await;
    assert!(missing.is_err(), "{missing:?}");
    assert!(g1.quota_remove("v1", "/claim").await.expect("remove"));
    assert!(!g1.quota_remove("v1", "/claim").await.expect("remove again"));
    let limits = g1.quota_list("v1", Some("/claim")).await.expect("list");
    assert!(limits.iter().all(|l| l.hard_limit.is_none()), "{limits:?}");
    h1.exec(&["umount", mnt]).await;

    // The seed's known issue 2: on an IP-bound node, the operator's commands all work
    // through the local unix socket (plain text mode, exit code 0).
    let inside = lab.hosts[0].enter();
    for args in [
        &["pool", "list"][..],
        &["peer", "status"],
        &["volume", "status"],
        &["volume", "heal", "v1", "info"],
        &["volume", "info"],
    ] {
        let out = operator(&inside, args).await.expect("operator command");
        assert!(!out.contains("Connection failed"), "{args:?}: {out}");
    }
    // What breaks is "localhost": TCP to 127.0.0.1 finds nobody listening.
    let local_tcp = Gluster::new()
        .prefix(inside.clone())
        .target(Target::RemoteHost("127.0.0.1".parse().expect("ip")));
    assert!(matches!(
        local_tcp.pool_list().await,
        Err(GlusterError::NoAnswer { .. })
    ));

    // Outside glusterd's mount namespace (same network) the default socket is absent...
    let outside = lab.hosts[0].enter_net_only();
    let no_socket = Gluster::new().prefix(outside.clone());
    assert!(matches!(
        no_socket.pool_list().await,
        Err(GlusterError::NoAnswer { .. })
    ));
    // ...--glusterd-sock pointing at the host's socket answers glusterd's own commands...
    let sock = Gluster::new()
        .prefix(outside.clone())
        .target(Target::Socket(
            format!("/proc/{}/root/run/glusterd.socket", lab.hosts[0].pid()).into(),
        ));
    assert_eq!(sock.pool_list().await.expect("pool list").len(), 3);
    assert_eq!(
        sock.volume_status(Some("v1")).await.expect("status")[0].bricks_online(),
        3
    );
    // ...and --remote-host=IP answers reads...
    let remote = Gluster::new()
        .prefix(outside)
        .target(Target::RemoteHost(lab.hosts[0].ip.into()));
    assert_eq!(remote.peer_status().await.expect("peer status").len(), 2);
    assert_eq!(
        remote.volume_status(Some("v1")).await.expect("status")[0].bricks_online(),
        3
    );
    // ...but heal info fails both ways: glfsheal, which the CLI runs for it, ignores both
    // options and fetches the volfile through the default socket path, which only exists
    // in glusterd's own mount namespace.
    for (how, g) in [("--glusterd-sock", &sock), ("--remote-host", &remote)] {
        let heal = g.heal_info("v1").await;
        let failure = heal.as_ref().err().and_then(GlusterError::op_failure);
        assert!(
            failure.is_some_and(|f| f.op_errstr.contains("Not able to fetch volfile")),
            "{how}: {heal:?}"
        );
    }
    // ...but not writes: glusterd ignores them (exit 1, no answer), which is why the
    // handle refuses them.
    let raw_write = remote
        .run(
            &["volume", "set", "v1", "performance.readdir-ahead", "off"],
            false,
            parse_ok,
        )
        .await;
    assert!(
        matches!(raw_write, Err(GlusterError::NoAnswer { .. })),
        "{raw_write:?}"
    );
    let info = g1.volume_info(Some("v1")).await.expect("info");
    assert!(!info[0].options.contains_key("performance.readdir-ahead"));
    assert!(matches!(
        remote.volume_stop("v1", false).await,
        Err(GlusterError::ReadOnlyTarget { .. })
    ));

    // kill -9 glusterd on h3: the pool keeps it "Peer in Cluster" but disconnected, and
    // volume status stops listing its brick (the brick process itself keeps running).
    let h3_uuid = lab.hosts[2].uuid();
    let h3_brick_pid = status[0]
        .bricks
        .iter()
        .find(|b| b.host == lab.hosts[2].ip.to_string())
        .and_then(|b| b.pid)
        .expect("h3 brick pid");
    lab.hosts[2].stop_glusterd(Signal::SIGKILL);
    let start = Instant::now();
    let down = loop {
        let peers = g1.peer_status().await.expect("peer status");
        let h3 = lab.hosts[2].seen_in(&peers).expect("h3 listed").clone();
        if !h3.connected || start.elapsed() > Duration::from_secs(10) {
            break h3;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("h3 seen down after {:?}", start.elapsed());
    assert!(!down.connected);
    assert_eq!(down.state, Some(PeerState::InCluster));
    let status = g1.volume_status(Some("v1")).await.expect("volume status");
    assert_eq!(status[0].bricks.len(), 2, "{status:?}");

    // Restart: same UUID, peers reconnect, the running brick is adopted.
    lab.hosts[2].start_glusterd();
    let start = Instant::now();
    lab.hosts[2].wait_glusterd().await;
    let reconnect = lab.wait_pool(3, Duration::from_secs(30)).await;
    println!(
        "h3 glusterd answering {:?}, pool healthy {:?} after restart",
        start.elapsed(),
        reconnect
    );
    assert_eq!(lab.hosts[2].uuid(), h3_uuid);
    let online = wait_bricks_online(&g1, "v1", 3).await;
    println!("all bricks listed online {online:?} after the pool healed");
    let status = g1.volume_status(Some("v1")).await.expect("volume status");
    let pid_now = status[0]
        .bricks
        .iter()
        .find(|b| b.host == lab.hosts[2].ip.to_string())
        .and_then(|b| b.pid);
    assert_eq!(
        pid_now,
        Some(h3_brick_pid),
        "the brick was adopted, not restarted"
    );

    lab.remove();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinstalled_peer_is_rejected_and_repaired_by_restoring_its_uuid() {
    let mut lab = Lab::new("bytgl2", 3).await;
    form_pool(&mut lab).await;
    create_replica3(&lab, "v2").await;
    let g1 = lab.hosts[0].gluster();
    wait_bricks_online(&g1, "v2", 3).await;

    // Reinstall h3: same address, everything gluster on it gone, /var/lib/glusterd wiped
    // (its brick disk survives).
    let old_uuid = lab.hosts[2].uuid();
    let name = lab.guard.name().parse::<LabName>().expect("lab name");
    lab.hosts[2].kill_all(&LabState::open(&name, None).expect("open the lab"));
    let lib = lab.hosts[2].var_lib_glusterd();
    // Empty it in place: the host's bind mount points at this very directory.
    for entry in std::fs::read_dir(&lib)
        .expect("/var/lib/glusterd")
        .flatten()
    {
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.expect("wipe /var/lib/glusterd");
    }
    lab.hosts[2].start_glusterd();
    lab.hosts[2].wait_glusterd().await;
    let new_uuid = lab.hosts[2].uuid();
    assert_ne!(new_uuid, old_uuid);

    // The pool sees it connected but "Peer Rejected", under its old UUID; the node itself
    // knows no peers and no volumes.
    let start = Instant::now();
    let seen = loop {
        let peers = g1.peer_status().await.expect("peer status");
        let h3 = lab.hosts[2].seen_in(&peers).expect("h3 listed").clone();
        if h3.state == Some(PeerState::Rejected) || start.elapsed() > Duration::from_secs(15) {
            break h3;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("reinstalled h3 rejected after {:?}", start.elapsed());
    assert_eq!(seen.state, Some(PeerState::Rejected));
    assert!(seen.connected);
    assert_eq!(seen.uuid, old_uuid);
    let g3 = lab.hosts[2].gluster();
    let own = g3.pool_list().await.expect("pool list on h3");
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].uuid, new_uuid);
    assert!(g3.volume_list().await.expect("volume list").is_empty());

    // Repair on h3: (1) stop glusterd, put the old UUID back into glusterd.info, start;
    // (2) probe one pool member from h3; (3) restart glusterd on h3; (4) start its bricks.
    let t = Instant::now();
    lab.hosts[2].stop_glusterd(Signal::SIGTERM);
    let info_path = lab.hosts[2].var_lib_glusterd().join("glusterd.info");
    let info = std::fs::read_to_string(&info_path).expect("glusterd.info");
    std::fs::write(&info_path, with_uuid(&info, &old_uuid).expect("uuid")).expect("write");
    lab.hosts[2].start_glusterd();
    lab.hosts[2].wait_glusterd().await;
    let h1_ip = lab.hosts[0].ip.to_string();
    assert_eq!(
        g3.peer_probe(&h1_ip).await.expect("probe from h3"),
        ProbeOutcome::Added
    );
    // Restarting before both sides reach "Accepted peer request" can leave h3 stuck in
    // "Sent and Received peer request", so wait for it.
    let settled = |p: Option<&brickyard_gluster::Peer>| {
        p.is_some_and(|p| matches!(p.state, Some(PeerState::Accepted | PeerState::InCluster)))
    };
    let start = Instant::now();
    loop {
        let from_h3 = g3.peer_status().await.expect("peer status on h3");
        let from_h1 = g1.peer_status().await.expect("peer status on h1");
        if settled(lab.hosts[0].seen_in(&from_h3)) && settled(lab.hosts[2].seen_in(&from_h1)) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "probe from h3 did not settle: h3 sees {from_h3:?}, h1 sees {from_h1:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "probe from the repaired h3 settled after {:?}",
        start.elapsed()
    );
    lab.hosts[2].stop_glusterd(Signal::SIGTERM);
    lab.hosts[2].start_glusterd();
    lab.hosts[2].wait_glusterd().await;
    // On loaded CI runs h3 has stayed "Sent and Received peer request" with h1 and
    // "Peer Rejected" with h2 after this restart, once even after a second restart. Gluster's
    // own runbook for a rejected peer says the same: restart "another time or two".
    let mut restarts = 1;
    while lab
        .try_wait_pool(3, Duration::from_secs(30))
        .await
        .is_none()
    {
        if restarts == 4 {
            lab.pool_failed(3, Duration::from_secs(30)).await;
        }
        println!("the pool did not form after restart {restarts}; restarting h3's glusterd again");
        lab.hosts[2].stop_glusterd(Signal::SIGTERM);
        lab.hosts[2].start_glusterd();
        lab.hosts[2].wait_glusterd().await;
        restarts += 1;
    }
    assert_eq!(lab.hosts[2].uuid(), old_uuid);
    assert_eq!(g3.volume_list().await.expect("volume list"), ["v2"]);
    g3.volume_start("v2", true)
        .await
        .expect("volume start force");
    wait_bricks_online(&g1, "v2", 3).await;
    println!("reinstalled h3 repaired in {:?}", t.elapsed());
    // `volume status` calls a brick online once it registered with glusterd; heal info's
    // own client may still find it not answering for a moment (seen once in CI).
    let start = Instant::now();
    loop {
        let heal = g1.heal_info("v2").await.expect("heal info");
        if heal.iter().all(|b| b.connected()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "a brick of v2 is not connected for heal info 30 s after it came online: {heal:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    lab.remove();
}
