//! The one command runner.
//!
//! Commands are argv vectors, never shell strings; every call has a timeout; stdout and
//! stderr are read concurrently (no pipe deadlock) and both are kept in the error, with the
//! exit status, so a failure can be reported with what the command said.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;
use tokio::io::AsyncWriteExt;

/// The timeout used when a command does not set one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A command to run: program, arguments, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cmd {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Longest time the command may take; it is killed after that.
    #[serde(skip)]
    pub timeout: Duration,
    /// Extra environment variables (on top of a small, fixed allow-list from our own).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Bytes to write to the command's standard input.
    #[serde(skip)]
    pub stdin: Option<Vec<u8>>,
    /// Working directory.
    #[serde(skip)]
    pub cwd: Option<PathBuf>,
}

impl Cmd {
    /// A command from a program and its arguments, with the default timeout.
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            timeout: DEFAULT_TIMEOUT,
            env: BTreeMap::new(),
            stdin: None,
            cwd: None,
        }
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Feeds `bytes` to standard input.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// The program name.
    pub fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }
}

impl fmt::Display for Cmd {
    /// Shows the command as a person would type it, quoting arguments that need it. For
    /// display only: commands are never run through a shell.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.argv.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let plain = !arg.is_empty()
                && arg.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '/' | '-' | '_' | '.' | ':' | '=' | ',' | '@' | '+')
                });
            if plain {
                f.write_str(arg)?;
            } else {
                write!(f, "'{}'", arg.replace('\'', r"'\''"))?;
            }
        }
        Ok(())
    }
}

/// What a finished command produced.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Standard output as text (lossy).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (lossy).
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Why a command failed.
#[derive(Debug, Error)]
pub enum ExecError {
    /// The program could not be started.
    #[error("cannot run `{cmd}`: {source}{hint}")]
    Spawn {
        /// The command.
        cmd: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
        /// A hint, e.g. which package provides a missing program.
        hint: String,
    },
    /// The command ran longer than its timeout and was killed.
    #[error("`{cmd}` did not finish within {}s and was killed", .timeout.as_secs_f32())]
    Timeout {
        /// The command.
        cmd: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The command exited with a non-zero status.
    #[error("`{cmd}` failed ({}): {}", status_text(*.code), summary(.stderr, .stdout))]
    Failed {
        /// The command.
        cmd: String,
        /// Exit code, `None` when killed by a signal.
        code: Option<i32>,
        /// Standard output.
        stdout: String,
        /// Standard error.
        stderr: String,
    },
}

impl ExecError {
    /// The command's standard error, when it ran and failed.
    pub fn stderr(&self) -> Option<&str> {
        match self {
            Self::Failed { stderr, .. } => Some(stderr),
            _ => None,
        }
    }
}

fn status_text(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".into(),
    }
}

fn summary(stderr: &str, stdout: &str) -> String {
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let one_line: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let s = one_line.join(" / ");
    if s.is_empty() {
        "no output".into()
    } else if s.chars().count() > 400 {
        format!("{}...", s.chars().take(400).collect::<String>())
    } else {
        s
    }
}

/// The `PATH` a command gets when brickyard itself has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Environment variables passed through from our own environment; everything else is
/// dropped so that commands behave the same wherever brickyard runs.
const ENV_ALLOW: &[&str] = &["PATH", "HOME", "TERM", "TMPDIR"];

/// The environment every command brickyard starts gets, and nothing else: this process's
/// `PATH`, `HOME`, `TERM` and `TMPDIR` when set, and `LC_ALL=C`. Secrets in our own
/// environment (`BRICKYARD_ETCD_PASSWORD`, `BRICKYARD_API_TOKEN`) never reach a child.
/// For the few long-running children started outside [`output`] (glusterd under the
/// agent, a lab host's processes): clear their environment and give them this.
pub fn base_env() -> Vec<(String, String)> {
    ENV_ALLOW
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .chain(std::iter::once(("LC_ALL".to_owned(), "C".to_owned())))
        .collect()
}

/// Where `program` is on `path` (a `PATH` value): the first executable file of that name,
/// or `None` for a program given as a path, or one not found (then starting it fails and
/// says so).
///
/// A child's environment is always set here, and with its own `PATH` the standard library
/// cannot use `posix_spawn` for a bare program name and forks instead: with the agent's
/// memory mapped, copying its page tables was a fifth of an idle pool lock holder's CPU
/// (it runs the gluster CLI every few seconds). Given a path, it spawns without copying.
fn on_path(program: &str, path: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    if program.contains('/') {
        return None;
    }
    path.split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Runs a command and returns its output whatever its exit status; fails only when it could
/// not be started or timed out.
pub async fn output(cmd: &Cmd) -> Result<Output, ExecError> {
    let shown = cmd.to_string();
    let Some(program) = cmd.argv.first() else {
        return Err(ExecError::Spawn {
            cmd: shown,
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty argv"),
            hint: String::new(),
        });
    };
    let mut env: Vec<(String, String)> = base_env();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    env.extend(cmd.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let path = env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map_or(DEFAULT_PATH, |(_, v)| v.as_str());
    let mut c = match on_path(program, path) {
        Some(found) => tokio::process::Command::new(found),
        None => tokio::process::Command::new(program),
    };
    c.args(&cmd.argv[1..])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = &cmd.cwd {
        c.current_dir(dir);
    }
    tracing::debug!(cmd = %shown, "run");
    let mut child = c.spawn().map_err(|source| ExecError::Spawn {
        hint: if source.kind() == std::io::ErrorKind::NotFound {
            format!(
                "; is {program} installed and on PATH? (`make deps` installs what brickyard needs)"
            )
        } else {
            String::new()
        },
        cmd: shown.clone(),
        source,
    })?;
    if let Some(bytes) = &cmd.stdin
        && let Some(mut pipe) = child.stdin.take()
    {
        let bytes = bytes.clone();
        tokio::spawn(async move {
            let _ = pipe.write_all(&bytes).await;
        });
    }
    match tokio::time::timeout(cmd.timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(Output {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        }),
        Ok(Err(source)) => Err(ExecError::Spawn {
            cmd: shown,
            source,
            hint: String::new(),
        }),
        // Dropping the future drops the child, which kill_on_drop kills.
        Err(_) => Err(ExecError::Timeout {
            cmd: shown,
            timeout: cmd.timeout,
        }),
    }
}

/// Runs a command and fails unless it exits with 0.
pub async fn run(cmd: &Cmd) -> Result<Output, ExecError> {
    let out = output(cmd).await?;
    if out.success() {
        Ok(out)
    } else {
        Err(ExecError::Failed {
            cmd: cmd.to_string(),
            code: out.code,
            stdout: out.stdout_str(),
            stderr: out.stderr_str(),
        })
    }
}

/// Starts `cmd` in the background, detached: it keeps running after this process exits
/// (a lab host's holder and supervisor, the lab's etcd). It gets [`base_env`] and the
/// command's own variables, `/` as its working directory, no standard input, its output
/// appended to `log`, and a process group of its own (so a Ctrl-C meant for the caller does
/// not reach it). Returns its pid. The command's timeout does not apply: it is meant to run
/// until it is stopped.
pub fn spawn_detached(cmd: &Cmd, log: &std::path::Path) -> Result<u32, ExecError> {
    use std::os::unix::process::CommandExt as _;
    let shown = cmd.to_string();
    let spawn_err = |source: std::io::Error| ExecError::Spawn {
        cmd: shown.clone(),
        source,
        hint: format!("its output would go to {}", log.display()),
    };
    let Some(program) = cmd.argv.first() else {
        return Err(spawn_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty argv",
        )));
    };
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
    };
    let mut child = std::process::Command::new(program)
        .args(&cmd.argv[1..])
        .env_clear()
        .envs(base_env())
        .envs(&cmd.env)
        .current_dir(cmd.cwd.as_deref().unwrap_or(std::path::Path::new("/")))
        .stdin(Stdio::null())
        .stdout(open().map_err(spawn_err)?)
        .stderr(open().map_err(spawn_err)?)
        .process_group(0)
        .spawn()
        .map_err(spawn_err)?;
    let pid = child.id();
    // Reap it if it exits while we are still running, so it does not linger as a zombie.
    std::thread::spawn(move || child.wait());
    Ok(pid)
}

/// Runs `cmd` in the foreground with this process's standard input, output, error and
/// environment, for a person at a terminal (`lab exec`); returns its exit code, or 128 +
/// the signal that killed it, as a shell reports it.
pub fn interactive(cmd: &Cmd) -> Result<i32, ExecError> {
    use std::os::unix::process::ExitStatusExt as _;
    let Some(program) = cmd.argv.first() else {
        return Ok(0);
    };
    let status = std::process::Command::new(program)
        .args(&cmd.argv[1..])
        .envs(&cmd.env)
        .status()
        .map_err(|source| ExecError::Spawn {
            cmd: cmd.to_string(),
            source,
            hint: String::new(),
        })?;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_the_childs_path() {
        let sh = on_path("sh", "relative:/no/such/dir:/usr/bin:/bin").expect("sh is installed");
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
        assert_eq!(
            on_path("/bin/sh", "/usr/bin"),
            None,
            "a path is used as given"
        );
        assert_eq!(on_path("no-such-program-here", "/usr/bin:/bin"), None);
        assert_eq!(
            on_path("sh", "bin"),
            None,
            "relative directories are not searched"
        );
    }

    #[tokio::test]
    async fn runs_argv_without_a_shell() {
        let out = run(&Cmd::new(["echo", "$(id)", "a b"]))
            .await
            .expect("echo runs");
        assert_eq!(out.stdout_str(), "$(id) a b\n");
    }

    #[tokio::test]
    async fn keeps_stderr_and_code_in_the_error() {
        let err = run(&Cmd::new(["ls", "/nonexistent-brickyard-test"]))
            .await
            .expect_err("ls of a missing path fails");
        let ExecError::Failed { code, stderr, .. } = &err else {
            panic!("unexpected error {err}");
        };
        assert_eq!(*code, Some(2));
        assert!(stderr.contains("No such file"), "{stderr}");
        assert!(err.to_string().contains("exit code 2"), "{err}");
    }

    #[tokio::test]
    async fn kills_on_timeout() {
        let start = std::time::Instant::now();
        let err = run(&Cmd::new(["sleep", "30"]).timeout(Duration::from_millis(200)))
            .await
            .expect_err("sleep is killed");
        assert!(matches!(err, ExecError::Timeout { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn names_a_missing_program() {
        let err = run(&Cmd::new(["brickyard-no-such-program"]))
            .await
            .expect_err("missing program");
        assert!(err.to_string().contains("installed"), "{err}");
    }

    #[tokio::test]
    async fn feeds_stdin() {
        let out = run(&Cmd::new(["cat"]).stdin("hello"))
            .await
            .expect("cat runs");
        assert_eq!(out.stdout_str(), "hello");
    }

    #[test]
    fn displays_quoted() {
        assert_eq!(
            Cmd::new(["mkfs.xfs", "-i", "size=512", "/dev/loop0"]).to_string(),
            "mkfs.xfs -i size=512 /dev/loop0"
        );
        assert_eq!(
            Cmd::new(["echo", "a b", "it's"]).to_string(),
            "echo 'a b' 'it'\\''s'"
        );
    }
}
