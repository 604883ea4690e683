//! Runs glusterd in the foreground and keeps it running: restarts it with backoff when it
//! dies, stops it (and the brick processes it started) cleanly on shutdown.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brickyard_sys::backoff::Backoff;
use brickyard_sys::procs;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

/// What the supervisor reports to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlusterdEvent {
    /// glusterd was started with this pid.
    Started {
        /// Its process id.
        pid: u32,
        /// How many restarts came before this start.
        restarts: u32,
    },
    /// glusterd exited; it will be started again after `retry_in`.
    Died {
        /// How it ended.
        status: String,
        /// The wait before the next start.
        retry_in: Duration,
    },
    /// glusterd could not be started at all.
    SpawnFailed(String),
    /// glusterd and the brick processes were stopped for shutdown.
    Stopped {
        /// How many brick and daemon processes were stopped besides glusterd.
        daemons: usize,
    },
}

/// How to run glusterd.
#[derive(Debug, Clone)]
pub struct GlusterdCommand {
    /// The program, normally `glusterd`.
    pub program: PathBuf,
    /// Its arguments; `-N` keeps it in the foreground so that we are its parent.
    pub args: Vec<String>,
    /// The pid file glusterd writes.
    pub pid_file: PathBuf,
    /// Where glusterd records the pid files of the brick processes and daemons it starts
    /// (`/run/gluster`): on shutdown, those and only those are stopped.
    pub run_dir: PathBuf,
}

impl Default for GlusterdCommand {
    fn default() -> Self {
        Self {
            program: "glusterd".into(),
            args: vec![
                "-N".into(),
                "-p".into(),
                "/run/glusterd.pid".into(),
                "--log-level".into(),
                "INFO".into(),
            ],
            pid_file: "/run/glusterd.pid".into(),
            run_dir: "/run/gluster".into(),
        }
    }
}

fn spawn(cmd: &GlusterdCommand) -> std::io::Result<Child> {
    let mut c = Command::new(&cmd.program);
    // glusterd, its bricks and gluster's hook scripts inherit its environment: give it the
    // plain one every command gets, never ours (which may hold the store's password).
    c.args(&cmd.args)
        .env_clear()
        .envs(brickyard_exec::base_env())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(false);
    die_with_agent(&mut c);
    c.spawn()
}

/// glusterd gets SIGTERM when the agent dies, even by SIGKILL, as it would in a container
/// whose PID 1 exits; the next agent then starts a fresh glusterd, which finds its UUID,
/// peers and running bricks where they were.
#[allow(unsafe_code)]
fn die_with_agent(c: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
    // async-signal-safe; it allocates nothing and takes no locks.
    unsafe {
        c.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)
        });
    }
}

/// Stops a glusterd left running by an earlier agent (one whose pid file names a live
/// glusterd), so that ours can bind its port.
pub async fn stop_leftover(pid_file: &Path) {
    let Some(pid) = procs::read_pid(pid_file) else {
        return;
    };
    if procs::comm(pid).as_deref() != Some("glusterd") {
        return;
    }
    tracing::info!(pid, "stopping a glusterd left running by an earlier agent");
    terminate(pid, Duration::from_secs(10)).await;
}

/// SIGTERM, then SIGKILL after `grace`.
async fn terminate(pid: i32, grace: Duration) {
    let _ = tokio::task::spawn_blocking(move || procs::terminate(&[pid], grace)).await;
}

/// Reaps exited orphans when the agent is PID 1 (a container's init): brick processes and
/// gluster's daemons detach from glusterd and are re-parented to PID 1, which must collect
/// them. Only zombies are waited for, by pid, so tokio keeps the exit status of the
/// children it waits for itself (`keep`).
pub fn reap_orphans(keep: Option<u32>) {
    if std::process::id() != 1 {
        return;
    }
    for pid in procs::all_pids().unwrap_or_default() {
        if Some(pid as u32) == keep || !procs::is_zombie(pid) {
            continue;
        }
        let _ = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
    }
}

/// Processes glusterd started that run on after it: brick processes (glusterfsd) and
/// gluster's own daemons (self-heal, quota, ...), found by the pid files glusterd writes for
/// them under `run_dir` — never by name, so that a host never stops another host's
/// processes on a shared machine (the lab), nor a test the machine's own bricks. A pid file
/// counts only when its process is a gluster process in this mount namespace (a stale file
/// may name a pid reused by someone else).
pub fn gluster_daemons(run_dir: &Path) -> Vec<i32> {
    let mine = procs::pid_ns(std::process::id() as i32, "mnt");
    let mut files = Vec::new();
    collect_pid_files(run_dir, 4, &mut files);
    let mut out: Vec<i32> = files
        .iter()
        .filter_map(|f| procs::read_pid(f))
        .filter(|&pid| {
            matches!(
                procs::comm(pid).as_deref(),
                Some("glusterfsd" | "glusterfs")
            ) && mine.is_some()
                && procs::pid_ns(pid, "mnt") == mine
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn collect_pid_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() && depth > 0 => collect_pid_files(&path, depth - 1, out),
            Ok(t) if t.is_file() && path.extension().is_some_and(|x| x == "pid") => out.push(path),
            _ => {}
        }
    }
}

/// Runs glusterd until `shutdown` turns true, restarting it when it dies. Events go to
/// `events`. On shutdown, stops glusterd, then the brick processes and daemons it started.
pub async fn supervise(
    cmd: GlusterdCommand,
    mut shutdown: watch::Receiver<bool>,
    events: mpsc::Sender<GlusterdEvent>,
) {
    let mut backoff = Backoff::default();
    let mut restarts = 0u32;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let started = Instant::now();
        let mut child = match spawn(&cmd) {
            Ok(c) => c,
            Err(e) => {
                let _ = events
                    .send(GlusterdEvent::SpawnFailed(format!(
                        "cannot start {}: {e}",
                        cmd.program.display()
                    )))
                    .await;
                let wait = backoff.after(Duration::ZERO);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = shutdown.changed() => break,
                }
            }
        };
        let pid = child.id().unwrap_or(0);
        let _ = events.send(GlusterdEvent::Started { pid, restarts }).await;
        tokio::select! {
            status = child.wait() => {
                let status = match status {
                    Ok(s) => s.to_string(),
                    Err(e) => e.to_string(),
                };
                let retry_in = backoff.after(started.elapsed());
                let _ = events.send(GlusterdEvent::Died { status, retry_in }).await;
                restarts += 1;
                tokio::select! {
                    _ = tokio::time::sleep(retry_in) => {}
                    _ = shutdown.changed() => break,
                }
            }
            _ = shutdown.changed() => {
                // glusterd is our child: wait for it directly (polling its pid would see the
                // zombie as alive until it is reaped).
                if let Ok(p) = i32::try_from(pid) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }
                if tokio::time::timeout(Duration::from_secs(10), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
                break;
            }
        }
    }
    let daemons = gluster_daemons(&cmd.run_dir);
    for pid in &daemons {
        terminate(*pid, Duration::from_secs(10)).await;
    }
    let _ = events
        .send(GlusterdEvent::Stopped {
            daemons: daemons.len(),
        })
        .await;
}

/// Raises this process's open-files limit (`RLIMIT_NOFILE`) to its hard limit, which
/// glusterd and the brick processes it starts inherit, and returns the limit they get;
/// `None` when it cannot be read. gluster raises it further only with `CAP_SYS_RESOURCE`
/// (a container may lack it); a multiplexed brick process keeps about 260 files open per
/// brick, so this limit bounds how many bricks one process can take
/// (`brickyard_volumes::settings::bricks_per_process`).
pub(crate) fn raise_open_files() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => return Some(hard),
            Err(e) => {
                tracing::warn!("cannot raise the open-files limit from {soft} to {hard}: {e}")
            }
        }
    }
    Some(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn restarts_a_dying_process_and_stops_on_shutdown() {
        let run_dir = tempfile::tempdir().expect("temp dir");
        let cmd = GlusterdCommand {
            program: "sh".into(),
            args: vec!["-c".into(), "exit 3".into()],
            pid_file: "/nonexistent".into(),
            run_dir: run_dir.path().to_owned(),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let (tx, mut rx) = mpsc::channel(16);
        let task = tokio::spawn(supervise(cmd, stop_rx, tx));
        let mut starts = 0;
        let mut deaths = 0;
        while starts < 2 {
            match rx.recv().await.expect("events") {
                GlusterdEvent::Started { restarts, .. } => {
                    assert_eq!(restarts, starts);
                    starts += 1;
                }
                GlusterdEvent::Died { status, .. } => {
                    assert!(status.contains('3'), "{status}");
                    deaths += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(deaths, 1);
        stop_tx.send(true).expect("send shutdown");
        loop {
            if let GlusterdEvent::Stopped { .. } = rx.recv().await.expect("events") {
                break;
            }
        }
        task.await.expect("supervisor ends");
    }

    #[test]
    fn only_processes_gluster_recorded_are_its_daemons() {
        // A process named like a brick but not recorded in the run directory is left
        // alone, and so is a recorded pid that is not a gluster process.
        let run_dir = tempfile::tempdir().expect("temp dir");
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("start sleep");
        let vols = run_dir.path().join("vols/gv0");
        std::fs::create_dir_all(&vols).expect("mkdir");
        std::fs::write(vols.join("h-brick.pid"), format!("{}\n", sleeper.id())).expect("write");
        assert!(gluster_daemons(run_dir.path()).is_empty());
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }
}
