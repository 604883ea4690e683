//! Host preparation: the directories gluster needs, the storage address on its interface,
//! and brick disks with an XFS filesystem (on the seed's LVM thin layout where LVM works),
//! in fstab and mounted.
//!
//! The shape is observe → plan → apply:
//! - [`gather`] looks at the host and returns [`Facts`] (runs read-only commands only);
//! - [`plan()`] is pure: desired config + facts → an ordered [`Plan`] of [`Step`]s, or a
//!   [`Refusal`] naming every problem. An already prepared host gives an empty plan;
//! - [`apply()`] runs the steps through `brickyard_exec`, reporting each, and stops at the
//!   first failure. Each step is idempotent or atomic, and every run plans from fresh
//!   facts, so a run after a failure continues where the last one stopped.
//!
//! Architecture invariant: the planner never runs a command or touches a file; only
//! [`gather`] and [`apply`] do, and only through `brickyard_exec` for commands. This crate
//! does not know the store: callers pass the config in.
//!
//! Safety invariant: a device carrying any signature that is not brickyard's own brick
//! layout is never written to unless the config's `ZapDevice` is true, and never when it
//! is mounted.

pub mod apply;
pub mod facts;
pub mod fstab;
pub mod gather;
pub mod layout;
pub mod parse;
pub mod plan;

use brickyard_model::HostConfig;
use thiserror::Error;

pub use apply::{ApplyError, Progress, StepError, apply};
pub use facts::Facts;
pub use gather::{GatherError, gather, hostname};
pub use plan::{Action, Plan, PlanOptions, Problem, Refusal, Step, plan};

/// Why preparing a host did not complete.
#[derive(Debug, Error)]
pub enum PrepareError {
    /// The host could not be inspected.
    #[error(transparent)]
    Gather(#[from] GatherError),
    /// The planner refused; nothing was changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A step failed; the steps before it are done, a new run continues.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// Looks at the host and plans its preparation, changing nothing.
pub async fn plan_host(desired: &HostConfig, opts: &PlanOptions) -> Result<Plan, PrepareError> {
    let facts = gather(desired, opts).await?;
    Ok(plan(desired, &facts, opts)?)
}

/// Prepares the host: looks, plans and applies, reporting each step. Returns the plan that
/// was carried out (empty when the host was already prepared).
pub async fn prepare(
    desired: &HostConfig,
    opts: &PlanOptions,
    report: impl FnMut(Progress<'_>),
) -> Result<Plan, PrepareError> {
    let plan = plan_host(desired, opts).await?;
    apply(&plan, report).await?;
    Ok(plan)
}
