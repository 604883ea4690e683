//! Processes and their namespaces, from `/proc` (through the `procfs` crate, which parses
//! `stat` with its parenthesised command names and the namespace links correctly).
//!
//! brickyard finds its own processes by what they are in (a lab host's network namespace,
//! a container's mount namespace) or by the pid it recorded, never by name: a process by
//! the same name may belong to someone else.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::ParseError;
use crate::fs::{FsError, write_atomic};

/// A namespace's identity: the device and inode of its nsfs file.
pub type NsId = (u64, u64);

/// The identity of the namespace a namespace file (`/proc/PID/ns/mnt`, `/run/netns/NAME`)
/// refers to.
pub fn ns_id(path: &Path) -> Option<NsId> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The identity of process `pid`'s namespace of `kind` (`mnt`, `net`, `uts`, `pid`, ...).
pub fn pid_ns(pid: i32, kind: &str) -> Option<NsId> {
    ns_id(
        &Path::new("/proc")
            .join(pid.to_string())
            .join("ns")
            .join(kind),
    )
}

/// Whether this process's namespace of `kind` is one of its own rather than the one the
/// machine started with (that of pid 1 in the initial PID namespace, whose identity is
/// fixed by the kernel for the initial UTS namespace). Compared with pid 1, which in a
/// container is the container's own init: there it answers "own" only for namespaces this
/// process made itself.
pub fn in_own_namespace(kind: &str) -> Option<bool> {
    let me = pid_ns(std::process::id() as i32, kind)?;
    let init = pid_ns(1, kind)?;
    Some(me != init)
}

fn process(pid: i32) -> Option<procfs::process::Process> {
    procfs::process::Process::new(pid).ok()
}

/// Whether `pid` is running (present, and neither a zombie nor dead).
pub fn alive(pid: i32) -> bool {
    process(pid)
        .and_then(|p| p.stat().ok())
        .is_some_and(|s| !matches!(s.state, 'Z' | 'X' | 'x'))
}

/// Whether `pid` is a zombie waiting to be reaped.
pub fn is_zombie(pid: i32) -> bool {
    process(pid)
        .and_then(|p| p.stat().ok())
        .is_some_and(|s| s.state == 'Z')
}

/// The command name of `pid` (`/proc/PID/comm`).
pub fn comm(pid: i32) -> Option<String> {
    process(pid).and_then(|p| p.stat().ok()).map(|s| s.comm)
}

/// The command line of `pid`, one string per argument.
pub fn cmdline(pid: i32) -> Option<Vec<String>> {
    process(pid).and_then(|p| p.cmdline().ok())
}

/// The direct children of `pid`.
pub fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Every pid on the machine except our own. An error when /proc cannot be listed.
pub fn all_pids() -> Result<Vec<i32>, ParseError> {
    let me = std::process::id() as i32;
    let all = procfs::process::all_processes().map_err(|e| ParseError::new("/proc", e))?;
    Ok(all
        .filter_map(Result::ok)
        .map(|p| p.pid)
        .filter(|&p| p != me)
        .collect())
}

/// Live processes in any of these namespaces (`(kind, id)` pairs).
pub fn pids_in(namespaces: &[(&str, NsId)]) -> Result<Vec<i32>, ParseError> {
    if namespaces.is_empty() {
        return Ok(Vec::new());
    }
    Ok(all_pids()?
        .into_iter()
        .filter(|&pid| {
            namespaces
                .iter()
                .any(|(kind, id)| pid_ns(pid, kind) == Some(*id))
                && alive(pid)
        })
        .collect())
}

/// Live processes whose command line contains `needle` as one whole argument.
pub fn pids_with_arg(needle: &str) -> Result<Vec<i32>, ParseError> {
    Ok(all_pids()?
        .into_iter()
        .filter(|&pid| {
            cmdline(pid).is_some_and(|args| args.iter().any(|a| a == needle)) && alive(pid)
        })
        .collect())
}

/// Reads a pid file; `None` when absent or not a pid (0 and 1 are never ours to signal).
pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&p: &i32| p > 1)
}

/// Writes a pid file atomically, so a reader never sees half a number.
pub fn write_pid(path: &Path, pid: i32) -> Result<(), FsError> {
    write_atomic(path, format!("{pid}\n").as_bytes(), 0o644)
}

/// Sends SIGTERM, waits up to `grace`, then SIGKILL and waits until all are gone (bounded).
/// Returns the pids still alive at the end. Blocking.
pub fn terminate(pids: &[i32], grace: Duration) -> Vec<i32> {
    signal_all(pids, Signal::SIGTERM);
    if wait_gone(pids, grace) {
        return Vec::new();
    }
    kill_now(pids)
}

/// Sends SIGKILL and waits until all are gone (bounded). Returns the pids still alive.
/// Blocking.
pub fn kill_now(pids: &[i32]) -> Vec<i32> {
    signal_all(pids, Signal::SIGKILL);
    wait_gone(pids, Duration::from_secs(10));
    pids.iter().copied().filter(|&p| alive(p)).collect()
}

fn signal_all(pids: &[i32], sig: Signal) {
    for &pid in pids {
        // A process that exited in between is what we want anyway.
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

/// Waits up to `limit` until none of `pids` is alive; whether they all went.
pub fn wait_gone(pids: &[i32], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !pids.iter().any(|&p| alive(p)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_itself_and_its_namespaces() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        assert!(pid_ns(me, "mnt").is_some());
        assert_eq!(pid_ns(me, "net"), ns_id(Path::new("/proc/self/ns/net")));
        assert!(!all_pids().expect("lists /proc").contains(&me));
        assert!(cmdline(me).is_some_and(|a| !a.is_empty()));
    }

    #[test]
    fn stops_only_the_process_it_started() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("start sleep");
        let pid = child.id() as i32;
        assert!(alive(pid));
        assert_eq!(comm(pid).as_deref(), Some("sleep"));
        let left = terminate(&[pid], Duration::from_secs(5));
        let _ = child.wait();
        assert!(left.is_empty());
        assert!(!alive(pid));
    }

    #[test]
    fn pid_files_round_trip_and_refuse_init() {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = dir.path().join("x.pid");
        write_pid(&f, 4242).expect("write");
        assert_eq!(read_pid(&f), Some(4242));
        std::fs::write(&f, "1\n").expect("write");
        assert_eq!(read_pid(&f), None);
        std::fs::write(&f, "junk").expect("write");
        assert_eq!(read_pid(&f), None);
    }
}
