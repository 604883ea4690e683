//! Facts of the machine brickyard runs on, each read or written in exactly one place.
//!
//! - [`fs`]: atomic, durable file writes with unique temporary names; private files and
//!   directories; seeding an empty directory from a package's files.
//! - [`mounts`]: the mount table, from `/proc/self/mountinfo`, with its escapes decoded.
//! - [`procs`]: processes and their namespaces, from `/proc`; stopping processes by pid.
//! - [`ip`]: typed readers of `ip -j` output.
//! - [`backoff`]: the restart pace of everything brickyard supervises.
//! - [`clock`]: time since boot, for leases that must not jump with the wall clock.
//! - [`mem`]: the C allocator's hold on memory the process freed.
//!
//! Architecture invariant: parsers take bytes or text and never fail by panicking; a reader
//! that cannot read says so (an error), never "nothing". The only commands run are `ip`'s,
//! through the one command runner. Nothing here knows gluster, the store or the cluster.

pub mod backoff;
pub mod clock;
pub mod fs;
pub mod ip;
pub mod mem;
pub mod mounts;
pub mod procs;

/// Output or a file that could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {what}: {problem}")]
pub struct ParseError {
    /// What was being read, e.g. `the output of ip -j addr`.
    pub what: String,
    /// What was wrong.
    pub problem: String,
}

impl ParseError {
    pub(crate) fn new(what: impl Into<String>, problem: impl ToString) -> Self {
        Self {
            what: what.into(),
            problem: problem.to_string(),
        }
    }
}
