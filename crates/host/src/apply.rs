//! The executor: runs a plan's steps in order and stops at the first failure. Every step
//! is idempotent or atomic, and the plan is made from fresh facts each time, so running
//! again after a failure continues where it stopped.

use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;

use brickyard_exec::ExecError;
use brickyard_sys::fs::Select;
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
    /// A file could not be written, or a directory seeded.
    #[error(transparent)]
    File(#[from] brickyard_sys::fs::FsError),
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
        Action::SeedDir { from, to, files } => {
            let to = Path::new(to);
            if let Some(parent) = to.parent() {
                brickyard_sys::fs::create_dir(parent, 0o755)?;
            }
            if brickyard_sys::fs::seed_dir(Path::new(from), to, Select::Files(files))? {
                Ok(())
            } else {
                Err(StepError::NoLongerEmpty {
                    path: to.display().to_string(),
                })
            }
        }
        Action::WriteFile {
            path,
            content,
            mode,
        } => {
            let path = Path::new(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| StepError::CreateDir {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            Ok(brickyard_sys::fs::write_atomic(
                path,
                content.as_bytes(),
                *mode,
            )?)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

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

    #[tokio::test]
    async fn seeds_a_directory_whole_and_writes_files_atomically() {
        let dir = tempfile::tempdir().expect("temp dir");
        let from = dir.path().join("defaults");
        std::fs::create_dir(&from).expect("mkdir");
        std::fs::write(from.join("glusterd.vol"), "volume management\n").expect("write");
        let to = dir.path().join("etc/glusterfs");
        let seed = Step {
            description: "seed".into(),
            action: Action::SeedDir {
                from: from.display().to_string(),
                to: to.display().to_string(),
                files: vec!["glusterd.vol".into()],
            },
        };
        run_step(&seed).await.expect("seeds");
        assert_eq!(
            std::fs::read_to_string(to.join("glusterd.vol")).expect("read"),
            "volume management\n"
        );
        let err = run_step(&seed).await.expect_err("no longer empty");
        assert!(matches!(err, StepError::NoLongerEmpty { .. }), "{err}");

        let path = dir.path().join("etc/fstab");
        for content in ["one\n", "two\n"] {
            let write = Step {
                description: "write".into(),
                action: Action::WriteFile {
                    path: path.display().to_string(),
                    content: content.into(),
                    mode: 0o644,
                },
            };
            run_step(&write).await.expect("write");
        }
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two\n");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("etc"))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["fstab", "glusterfs"], "no temporary file is left");
    }
}
