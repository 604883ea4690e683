//! The lab's own etcd (Debian's etcd-server), for `--store etcd`: one member, or a cluster
//! of three or five (`--etcd-members`) whose members can be stopped and started one by one
//! (`lab etcd stop|start`).
//!
//! Every member listens on the machine's bridge address, which every host reaches, on its
//! own ports (client 2379, 2381, …; peer 2380, 2382, …); the first also on a free port of
//! 127.0.0.1. Their data lives under the lab directory, and each member's command line is
//! kept there, so that a stopped member starts again exactly as it ran.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brickyard_store::{EtcdMember, EtcdOptions, StoreUrl};

use crate::LabError;

/// The client port of the first member on the bridge address.
pub const CLIENT_PORT: u16 = 2379;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The member counts a lab may run: a majority survives one (three) or two (five) down.
pub const MEMBER_COUNTS: &[usize] = &[1, 3, 5];

/// etcd's directory under the lab directory.
pub fn dir(lab_dir: &Path) -> PathBuf {
    lab_dir.join("etcd")
}

/// The pid file of member `i` (1-based).
pub fn pid_file(lab_dir: &Path, i: usize) -> PathBuf {
    if i == 1 {
        dir(lab_dir).join("etcd.pid")
    } else {
        dir(lab_dir).join(format!("etcd-{i}.pid"))
    }
}

/// The `--data-dir` of member `i`, which also identifies its process when its pid file is
/// gone.
pub fn data_dir(lab_dir: &Path, i: usize) -> PathBuf {
    if i == 1 {
        dir(lab_dir).join("data")
    } else {
        dir(lab_dir).join(format!("data-{i}"))
    }
}

fn argv_file(lab_dir: &Path, i: usize) -> PathBuf {
    dir(lab_dir).join(format!("member-{i}.json"))
}

fn client_port(i: usize) -> u16 {
    CLIENT_PORT + 2 * (i as u16 - 1)
}

/// The store URL of a lab's etcd of `members` members at `addr`.
pub fn store_url(addr: Ipv4Addr, members: usize) -> String {
    let endpoints: Vec<String> = (1..=members)
        .map(|i| format!("{addr}:{}", client_port(i)))
        .collect();
    format!("etcd://{}", endpoints.join(","))
}

fn free_loopback_port() -> Result<u16, LabError> {
    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| LabError::io("find a free port for etcd on", "127.0.0.1", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| LabError::io("find a free port for etcd on", "127.0.0.1", e))
}

/// The command lines of the `members` members of lab `lab`'s etcd.
pub fn member_argvs(
    lab: &str,
    lab_dir: &Path,
    addr: Ipv4Addr,
    members: usize,
    loopback: u16,
) -> Vec<Vec<String>> {
    let name = |i: usize| {
        if members == 1 {
            format!("byl-{lab}")
        } else {
            format!("byl-{lab}-{i}")
        }
    };
    let peer = |i: usize| format!("http://{addr}:{}", client_port(i) + 1);
    let cluster: Vec<(String, String)> = if members == 1 {
        Vec::new()
    } else {
        (1..=members).map(|i| (name(i), peer(i))).collect()
    };
    (1..=members)
        .map(|i| {
            EtcdMember {
                name: name(i),
                data_dir: data_dir(lab_dir, i),
                client_url: format!("http://{addr}:{}", client_port(i)),
                more_client_urls: if i == 1 {
                    vec![format!("http://127.0.0.1:{loopback}")]
                } else {
                    Vec::new()
                },
                peer_url: peer(i),
                initial_cluster: cluster.clone(),
            }
            .argv()
        })
        .collect()
}

/// Starts the lab's etcd of `members` members and waits until it answers; returns the
/// first member's loopback port.
pub async fn start(
    lab: &str,
    lab_dir: &Path,
    addr: Ipv4Addr,
    members: usize,
) -> Result<u16, LabError> {
    let d = dir(lab_dir);
    std::fs::create_dir_all(&d).map_err(|e| LabError::io("create directory", &d, e))?;
    let loopback = free_loopback_port()?;
    for (i, argv) in member_argvs(lab, lab_dir, addr, members, loopback)
        .into_iter()
        .enumerate()
    {
        let file = argv_file(lab_dir, i + 1);
        let json = serde_json::to_vec(&argv).expect("an argv serialises");
        brickyard_sys::fs::write_atomic(&file, &json, 0o600).map_err(LabError::fs)?;
        start_member(lab_dir, i + 1)?;
    }
    wait_ready(lab_dir, &store_url(addr, members)).await?;
    Ok(loopback)
}

/// Starts member `i` again with the command line it was first started with; nothing to do
/// when it runs.
pub fn start_member(lab_dir: &Path, i: usize) -> Result<i32, LabError> {
    let pf = pid_file(lab_dir, i);
    if let Some(pid) = brickyard_sys::procs::read_pid(&pf)
        && brickyard_sys::procs::alive(pid)
        && brickyard_sys::procs::cmdline(pid)
            .is_some_and(|a| a.contains(&data_dir(lab_dir, i).display().to_string()))
    {
        return Ok(pid);
    }
    let file = argv_file(lab_dir, i);
    let bytes = std::fs::read(&file).map_err(|e| LabError::io("read", &file, e))?;
    let argv: Vec<String> = serde_json::from_slice(&bytes)
        .map_err(|e| LabError::io("read", &file, std::io::Error::other(e.to_string())))?;
    if argv.first().map(String::as_str) != Some("etcd") {
        return Err(LabError::io(
            "read",
            &file,
            std::io::Error::other("not an etcd command line"),
        ));
    }
    let log = dir(lab_dir).join(format!("etcd-{i}.log"));
    let pid = crate::spawn(&brickyard_exec::Cmd::new(argv), &log)?;
    brickyard_sys::procs::write_pid(&pf, pid).map_err(LabError::fs)?;
    Ok(pid)
}

/// Stops member `i` (TERM, then KILL); returns whether it was running.
pub fn stop_member(lab_dir: &Path, i: usize) -> bool {
    let Some(pid) = brickyard_sys::procs::read_pid(&pid_file(lab_dir, i)) else {
        return false;
    };
    let ours = brickyard_sys::procs::cmdline(pid)
        .is_some_and(|a| a.contains(&data_dir(lab_dir, i).display().to_string()));
    if !ours || !brickyard_sys::procs::alive(pid) {
        return false;
    }
    brickyard_sys::procs::terminate(&[pid], Duration::from_secs(5));
    let _ = std::fs::remove_file(pid_file(lab_dir, i));
    true
}

async fn wait_ready(lab_dir: &Path, url: &str) -> Result<(), LabError> {
    let parsed: StoreUrl = url
        .parse()
        .map_err(|e| LabError::observe("the etcd URL", e))?;
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match brickyard_store::open(&parsed, &EtcdOptions::default()).await {
            Ok(store) => match store.get("brickyard-lab/ready").await {
                Ok(_) => return Ok(()),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(LabError::Timeout {
        what: format!("etcd answering at {url}"),
        secs: READY_TIMEOUT.as_secs(),
        detail: format!(
            "last: {last}; see the logs in {} (is Debian's etcd-server installed?)",
            dir(lab_dir).display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_have_their_own_ports_and_know_each_other() {
        let addr = Ipv4Addr::new(10, 250, 1, 1);
        assert_eq!(
            store_url(addr, 3),
            "etcd://10.250.1.1:2379,10.250.1.1:2381,10.250.1.1:2383"
        );
        let argvs = member_argvs("x", Path::new("/l"), addr, 3, 40000);
        assert_eq!(argvs.len(), 3);
        let second = argvs[1].join(" ");
        assert!(
            second.contains("--listen-client-urls http://10.250.1.1:2381 "),
            "{second}"
        );
        assert!(
            second.contains("--listen-peer-urls http://10.250.1.1:2382 "),
            "{second}"
        );
        assert!(second.contains("--data-dir /l/etcd/data-2 "), "{second}");
        assert!(second.contains(
            "--initial-cluster byl-x-1=http://10.250.1.1:2380,byl-x-2=http://10.250.1.1:2382,byl-x-3=http://10.250.1.1:2384 "
        ));
        let one = member_argvs("x", Path::new("/l"), addr, 1, 40000)[0].join(" ");
        assert!(
            one.contains("--listen-client-urls http://10.250.1.1:2379,http://127.0.0.1:40000 ")
        );
        assert!(one.contains("--initial-cluster byl-x=http://10.250.1.1:2380 "));
    }
}
