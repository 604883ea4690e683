//! The lab's own etcd (Debian's etcd-server), for `--store etcd`.
//!
//! It listens on the machine's bridge address, which every host reaches, and on a free port
//! of 127.0.0.1; its data lives under the lab directory.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brickyard_store::{EtcdMember, EtcdOptions, StoreUrl};

use crate::LabError;

/// The client port on the bridge address.
pub const CLIENT_PORT: u16 = 2379;
const PEER_PORT: u16 = 2380;
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// etcd's directory under the lab directory.
pub fn dir(lab_dir: &Path) -> PathBuf {
    lab_dir.join("etcd")
}

/// The pid file of the lab's etcd.
pub fn pid_file(lab_dir: &Path) -> PathBuf {
    dir(lab_dir).join("etcd.pid")
}

/// The `--data-dir` argument, which also identifies the process when its pid file is gone.
pub fn data_dir(lab_dir: &Path) -> PathBuf {
    dir(lab_dir).join("data")
}

fn free_loopback_port() -> Result<u16, LabError> {
    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| LabError::io("find a free port for etcd on", "127.0.0.1", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| LabError::io("find a free port for etcd on", "127.0.0.1", e))
}

/// Starts etcd and waits until it answers; returns the loopback port.
pub async fn start(lab: &str, lab_dir: &Path, addr: Ipv4Addr) -> Result<u16, LabError> {
    let d = dir(lab_dir);
    std::fs::create_dir_all(&d).map_err(|e| LabError::io("create directory", &d, e))?;
    let loopback = free_loopback_port()?;
    let client = format!("http://{addr}:{CLIENT_PORT}");
    let peer = format!("http://{addr}:{PEER_PORT}");
    let argv = EtcdMember {
        name: format!("byl-{lab}"),
        data_dir: data_dir(lab_dir),
        client_url: client,
        more_client_urls: vec![format!("http://127.0.0.1:{loopback}")],
        peer_url: peer,
    }
    .argv();
    let log = d.join("etcd.log");
    let pid = crate::spawn(&brickyard_exec::Cmd::new(argv), &log)?;
    let pf = pid_file(lab_dir);
    brickyard_sys::procs::write_pid(&pf, pid).map_err(LabError::fs)?;

    let url = StoreUrl::Etcd(vec![format!("{addr}:{CLIENT_PORT}")]);
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        if !brickyard_sys::procs::alive(pid) {
            last = "etcd exited".into();
            break;
        }
        match brickyard_store::open(&url, &EtcdOptions::default()).await {
            Ok(store) => match store.get("brickyard-lab/ready").await {
                Ok(_) => return Ok(loopback),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(LabError::Timeout {
        what: format!("etcd answering on {addr}:{CLIENT_PORT}"),
        secs: READY_TIMEOUT.as_secs(),
        detail: format!(
            "last: {last}; see {} (is Debian's etcd-server installed?)",
            log.display()
        ),
    })
}
