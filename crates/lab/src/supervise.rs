//! The per-host supervisor: runs the host's command inside the host and restarts it.
//!
//! The lab starts it inside the host's namespaces (`nsenter -t HOLDER -m -u -n -- brickyard
//! lab supervise ...`). It runs the command's steps one after the other, as a shell would with
//! `&&`; when a step fails or the last one exits, it starts over: at once after a run of 10 s
//! or more, else after 1 s doubling to 30 s (`brickyard_sys::backoff`). SIGTERM or SIGINT is
//! passed to the running
//! step, which gets 20 s to exit before it is killed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use brickyard_sys::backoff::Backoff;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::signal::unix::{Signal as Stream, SignalKind, signal};

use crate::LabError;

/// The file in a host's directory holding the command: a JSON array of argv arrays.
pub const COMMAND_FILE: &str = "command.json";

const STOP_GRACE: Duration = Duration::from_secs(20);

/// What a supervisor needs to know.
#[derive(Debug, Clone)]
pub struct SuperviseArgs {
    /// The host's state directory, holding [`COMMAND_FILE`]; the supervisor writes
    /// `command.pid` there.
    pub host_dir: PathBuf,
}

enum Outcome {
    Stopped,
    Exited(String),
}

/// Runs and restarts the host's command until SIGTERM or SIGINT.
pub async fn run(args: &SuperviseArgs) -> Result<(), LabError> {
    let path = args.host_dir.join(COMMAND_FILE);
    let bytes = std::fs::read(&path).map_err(|e| LabError::io("read", &path, e))?;
    let steps: Vec<Vec<String>> =
        serde_json::from_slice(&bytes).map_err(|e| LabError::BadOption {
            option: "lab supervise",
            value: path.display().to_string(),
            problem: format!("is not a JSON array of argv arrays: {e}"),
            fix: "the lab writes this file; run `brickyard lab start` for the host again".into(),
        })?;
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| LabError::io("handle SIGTERM in", &args.host_dir, e))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| LabError::io("handle SIGINT in", &args.host_dir, e))?;
    let pid_file = args.host_dir.join("command.pid");
    brickyard_sys::procs::write_pid(&pid_file, std::process::id() as i32).map_err(LabError::fs)?;

    let mut backoff = Backoff::default();
    loop {
        let started = Instant::now();
        let why = match run_steps(&steps, &mut term, &mut int).await {
            Outcome::Stopped => break,
            Outcome::Exited(why) => why,
        };
        let wait = backoff.after(started.elapsed());
        eprintln!(
            "lab supervisor: {why}; starting over in {}s",
            wait.as_secs()
        );
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    let _ = std::fs::remove_file(&pid_file);
    Ok(())
}

async fn run_steps(steps: &[Vec<String>], term: &mut Stream, int: &mut Stream) -> Outcome {
    for step in steps {
        let Some((program, rest)) = step.split_first() else {
            continue;
        };
        eprintln!("lab supervisor: starting {}", step.join(" "));
        // Started directly rather than through the command runner: the step runs for as
        // long as the host does, with its output going straight to the host's log.
        let mut child = match tokio::process::Command::new(program)
            .args(rest)
            .stdin(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return Outcome::Exited(format!("cannot start {program}: {e}")),
        };
        let status = tokio::select! {
            status = child.wait() => status,
            _ = term.recv() => return stop(&mut child).await,
            _ = int.recv() => return stop(&mut child).await,
        };
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => return Outcome::Exited(format!("{program} exited with {s}")),
            Err(e) => return Outcome::Exited(format!("waiting for {program} failed: {e}")),
        }
    }
    Outcome::Exited("the command finished".into())
}

async fn stop(child: &mut tokio::process::Child) -> Outcome {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    Outcome::Stopped
}
