//! Starting long-lived processes (holders, supervisors, etcd) that outlive the command that
//! starts them.
//!
//! The command runner (`brickyard_exec`) waits for a command and kills it on timeout, which is
//! right for everything else the lab runs; these processes are meant to keep running after
//! `lab up` exits, so they are started here instead, with the same clean environment, their
//! output in a log file and in a process group of their own (so a Ctrl-C meant for `lab up`
//! does not reach them).

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::LabError;

/// Starts `argv` in the background with `env` on top of a minimal environment, appending its
/// output to `log`; returns its pid.
pub fn detached(argv: &[String], log: &Path, env: &[(&str, &str)]) -> Result<i32, LabError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(LabError::io(
            "start",
            log,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        ));
    };
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| LabError::io("open log", log, e))
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(brickyard_exec::base_env())
        .envs(env.iter().copied())
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(open()?)
        .stderr(open()?)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| LabError::io(format!("start `{}`, logging to", argv.join(" ")), log, e))?;
    let pid = child.id() as i32;
    // Reap it if it exits while we are still running, so it does not linger as a zombie.
    std::thread::spawn(move || child.wait());
    Ok(pid)
}

/// Runs `argv` in the foreground with this process's standard input, output, error and
/// environment, for a person at a terminal; returns its exit code, or 128 + the signal that
/// killed it, as a shell reports it. The command runner cannot do this: it captures output.
pub fn interactive(argv: &[String]) -> Result<i32, LabError> {
    use std::os::unix::process::ExitStatusExt as _;
    let Some((program, args)) = argv.split_first() else {
        return Ok(0);
    };
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| LabError::io(format!("run `{}` in", argv.join(" ")), program, e))?;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1))
}
