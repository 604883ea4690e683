//! The executor: runs a plan's steps in order and stops at the first failure. Every step
//! is idempotent or atomic, and the plan is made from fresh facts each time, so running
//! again after a failure continues where it stopped.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use brickyard_exec::ExecError;
use thiserror::Error;

use crate::plan::{Action, Plan, Step};

/// Why a step failed.
#[derive(Debug, Error)]
pub enum StepError {
    /// Its command failed.
    #[error(transparent)]
    Command(#[from] ExecError),
    /// A directory could not be created.
    #[error("create directory {path}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be copied.
    #[error("copy {from} to {to}")]
    Copy {
        /// The source.
        from: String,
        /// The destination.
        to: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A directory could not be renamed into place.
    #[error("move {from} into place as {to}")]
    Rename {
        /// The source.
        from: String,
        /// The destination.
        to: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("write {path}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The destination of a seed holds files by now.
    #[error("{path} is no longer empty; run again to re-plan")]
    NoLongerEmpty {
        /// The directory.
        path: String,
    },
}

/// A step that failed, and where in the plan.
#[derive(Debug, Error)]
#[error("step {number} of {total} failed: {description}")]
pub struct ApplyError {
    /// 1-based step number.
    pub number: usize,
    /// Number of steps in the plan.
    pub total: usize,
    /// The step's description.
    pub description: String,
    /// What went wrong.
    #[source]
    pub source: StepError,
}

/// What happened to one step, reported as it happens.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The step is about to run.
    Started {
        /// 1-based step number.
        number: usize,
        /// The step.
        step: &'a Step,
    },
    /// The step succeeded.
    Done {
        /// 1-based step number.
        number: usize,
        /// The step.
        step: &'a Step,
    },
    /// The step failed; nothing after it runs.
    Failed {
        /// 1-based step number.
        number: usize,
        /// The step.
        step: &'a Step,
        /// Why.
        error: &'a StepError,
    },
}

/// Runs the steps in order, reporting each; stops at the first failure.
pub async fn apply(plan: &Plan, mut report: impl FnMut(Progress<'_>)) -> Result<(), ApplyError> {
    let total = plan.steps.len();
    for (i, step) in plan.steps.iter().enumerate() {
        let number = i + 1;
        report(Progress::Started { number, step });
        match run_step(step).await {
            Ok(()) => report(Progress::Done { number, step }),
            Err(error) => {
                report(Progress::Failed {
                    number,
                    step,
                    error: &error,
                });
                tracing::error!(step = number, description = %step.description, "{error}");
                return Err(ApplyError {
                    number,
                    total,
                    description: step.description.clone(),
                    source: error,
                });
            }
        }
    }
    Ok(())
}

async fn run_step(step: &Step) -> Result<(), StepError> {
    match &step.action {
        Action::Run { .. } => {
            if let Some(cmd) = step.cmd() {
                brickyard_exec::run(&cmd).await?;
            }
            Ok(())
        }
        Action::CreateDir { path, mode } => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(*mode)
            .create(path)
            .map_err(|source| StepError::CreateDir {
                path: path.clone(),
                source,
            }),
        Action::SeedDir { from, to, files } => seed_dir(from, to, files),
        Action::WriteFile {
            path,
            content,
            mode,
        } => write_atomically(Path::new(path), content.as_bytes(), *mode).map_err(|source| {
            StepError::Write {
                path: path.clone(),
                source,
            }
        }),
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Copies the files into a temporary sibling of `to`, then renames it into place, so that
/// `to` is either absent/empty or complete, never half seeded.
fn seed_dir(from: &str, to: &str, files: &[String]) -> Result<(), StepError> {
    let to_path = Path::new(to);
    let staging = sibling(to_path, ".brickyard-seed");
    let staging_s = staging.display().to_string();
    let create = |path: &Path| {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(path)
            .map_err(|source| StepError::CreateDir {
                path: path.display().to_string(),
                source,
            })
    };
    if std::fs::read_dir(to_path).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(StepError::NoLongerEmpty {
            path: to.to_owned(),
        });
    }
    // A leftover from an interrupted run is ours: start it again.
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|source| StepError::Write {
            path: staging_s.clone(),
            source,
        })?;
    }
    if let Some(parent) = to_path.parent() {
        create(parent)?;
    }
    create(&staging)?;
    for name in files {
        let src = Path::new(from).join(name);
        let dst = staging.join(name);
        std::fs::copy(&src, &dst).map_err(|source| StepError::Copy {
            from: src.display().to_string(),
            to: dst.display().to_string(),
            source,
        })?;
    }
    if to_path.exists() {
        // An empty directory is replaced; remove_dir refuses one that is not empty.
        std::fs::remove_dir(to_path).map_err(|_| StepError::NoLongerEmpty {
            path: to.to_owned(),
        })?;
    }
    std::fs::rename(&staging, to_path).map_err(|source| StepError::Rename {
        from: staging_s,
        to: to.to_owned(),
        source,
    })
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`,
/// so that readers see the old or the new content, never a mix.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = sibling(path, ".brickyard-tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.sync_all()?;
    drop(f);
    match std::fs::rename(&tmp, path) {
        Ok(()) => {}
        // The file is a mount point of its own (a container or lab host bind-mounts its own
        // /etc/fstab over the machine's): it cannot be replaced, only rewritten in place.
        Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => {
            let _ = std::fs::remove_file(&tmp);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(path)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            return Ok(());
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_in_order_and_stops_at_the_first_failure() {
        let dir = tempfile::tempdir().expect("temp dir");
        let a = dir.path().join("a").display().to_string();
        let file = dir.path().join("f").display().to_string();
        let plan = Plan {
            steps: vec![
                Step {
                    description: "make a".into(),
                    action: Action::CreateDir {
                        path: a.clone(),
                        mode: 0o755,
                    },
                },
                Step {
                    description: "fail".into(),
                    action: Action::Run {
                        argv: vec!["false".into()],
                        timeout_secs: 5,
                    },
                },
                Step {
                    description: "never".into(),
                    action: Action::WriteFile {
                        path: file.clone(),
                        content: "x".into(),
                        mode: 0o644,
                    },
                },
            ],
            notes: Vec::new(),
        };
        let mut seen = Vec::new();
        let err = apply(&plan, |p| {
            seen.push(match p {
                Progress::Started { number, .. } => format!("start {number}"),
                Progress::Done { number, .. } => format!("done {number}"),
                Progress::Failed { number, .. } => format!("failed {number}"),
            })
        })
        .await
        .expect_err("the second step fails");
        assert_eq!(err.number, 2);
        assert_eq!(seen, ["start 1", "done 1", "start 2", "failed 2"]);
        assert!(Path::new(&a).is_dir());
        assert!(!Path::new(&file).exists());
    }

    #[test]
    fn seeds_a_directory_whole_and_keeps_other_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let from = dir.path().join("defaults");
        std::fs::create_dir(&from).expect("mkdir");
        std::fs::write(from.join("glusterd.vol"), "volume management\n").expect("write");
        let to = dir.path().join("etc/glusterfs");
        // A half-made staging directory from an interrupted run is replaced.
        std::fs::create_dir_all(sibling(&to, ".brickyard-seed")).expect("mkdir");
        std::fs::create_dir_all(&to).expect("mkdir");
        seed_dir(
            &from.display().to_string(),
            &to.display().to_string(),
            &["glusterd.vol".into()],
        )
        .expect("seeds");
        assert_eq!(
            std::fs::read_to_string(to.join("glusterd.vol")).expect("read"),
            "volume management\n"
        );
        assert!(!sibling(&to, ".brickyard-seed").exists());
        let err = seed_dir(
            &from.display().to_string(),
            &to.display().to_string(),
            &["glusterd.vol".into()],
        )
        .expect_err("no longer empty");
        assert!(matches!(err, StepError::NoLongerEmpty { .. }), "{err}");
    }

    #[test]
    fn writes_atomically() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("etc/fstab");
        write_atomically(&path, b"one\n", 0o644).expect("write");
        write_atomically(&path, b"two\n", 0o644).expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two\n");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert!(!sibling(&path, ".brickyard-tmp").exists());
    }
}
