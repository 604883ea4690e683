//! Errors of the gluster driver.

use brickyard_exec::ExecError;
use thiserror::Error;

/// What gluster itself reported for a failed operation: the `opRet`, `opErrno` and
/// `opErrstr` of its XML answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{op_errstr} (opRet {op_ret}, opErrno {op_errno})")]
pub struct OpFailure {
    /// `opRet`: non-zero means the operation failed.
    pub op_ret: i32,
    /// `opErrno`: gluster's error number (e.g. 30800 for most volume op errors).
    pub op_errno: i32,
    /// `opErrstr`: gluster's message, empty when it gave none.
    pub op_errstr: String,
}

/// Why an XML answer of gluster could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The bytes are not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Xml(String),
    /// The root element is not `<cliOutput>`.
    #[error("the root element is <{0}>, expected <cliOutput>")]
    NotCliOutput(String),
    /// A required element is absent.
    #[error("no <{0}> element")]
    Missing(String),
    /// An element holds a value of the wrong form.
    #[error("<{element}> holds {value:?}, expected {expected}")]
    Invalid {
        /// The element's name.
        element: String,
        /// Its text.
        value: String,
        /// What it should have been.
        expected: &'static str,
    },
}

/// Why a parser did not return a value: gluster reported a failure, or its answer was not
/// understood. Parsers return this so that a caller can tell the two apart without running
/// anything.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplyError {
    /// gluster answered and said the operation failed.
    #[error("gluster reported a failure: {0}")]
    Op(#[from] OpFailure),
    /// The answer was not understood.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Why a gluster command failed.
#[derive(Debug, Error)]
pub enum GlusterError {
    /// The CLI could not be started or did not finish in time.
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// gluster answered and said the operation failed.
    #[error("`{cmd}` failed: {failure}")]
    Op {
        /// The command as run.
        cmd: String,
        /// What gluster said.
        failure: OpFailure,
    },
    /// The CLI printed no XML answer: usually glusterd is down or its socket is not
    /// reachable from here ("Connection failed"), or the arguments were refused before
    /// reaching glusterd (a usage message).
    #[error(
        "`{cmd}` gave no XML answer ({}): {}; is glusterd running and its socket (or --remote-host address) reachable from here?",
        code.map_or("killed by a signal".to_owned(), |c| format!("exit code {c}")),
        first_line(stderr, stdout)
    )]
    NoAnswer {
        /// The command as run.
        cmd: String,
        /// Exit code, `None` when killed by a signal.
        code: Option<i32>,
        /// Standard output.
        stdout: String,
        /// Standard error.
        stderr: String,
    },
    /// The answer was XML but not understood.
    #[error("cannot read the answer of `{cmd}`: {source}")]
    Parse {
        /// The command as run.
        cmd: String,
        /// What was wrong with it.
        #[source]
        source: ParseError,
    },
    /// A write command was asked of a handle that reaches glusterd with `--remote-host`;
    /// glusterd 10.3 ignores writes arriving that way (exit code 1, no message), so the
    /// driver refuses them instead of pretending.
    #[error(
        "`{cmd}` is a write and would be ignored over --remote-host; run it through the local glusterd socket"
    )]
    ReadOnlyTarget {
        /// The command that was not run.
        cmd: String,
    },
}

/// gluster's `opErrno` for "Another transaction is in progress": a management lock on the
/// volume (or the cluster) is held by another transaction.
pub const EG_ANOTRANS: i32 = 30802;

impl OpFailure {
    /// Whether glusterd refused only because another transaction holds a lock it needs:
    /// nothing was done, and the same command may succeed once that lock is released. Its
    /// own lock answers `opErrno` 30802; a peer's refusal comes back as "Locking failed on
    /// PEER" with the generic 30800 (seen while one peer still held a lock the others had
    /// released).
    pub fn is_busy(&self) -> bool {
        self.op_errno == EG_ANOTRANS
            || self.op_errstr.contains("Another transaction")
            || self.op_errstr.starts_with("Locking failed on ")
    }
}

impl GlusterError {
    /// Whether gluster refused because another transaction holds its lock (see
    /// [`OpFailure::is_busy`]).
    pub fn is_busy(&self) -> bool {
        self.op_failure().is_some_and(OpFailure::is_busy)
    }

    /// gluster's own failure, when it answered with one.
    pub fn op_failure(&self) -> Option<&OpFailure> {
        match self {
            Self::Op { failure, .. } => Some(failure),
            _ => None,
        }
    }

    /// Builds the error for a failed parse of a command's answer.
    pub(crate) fn from_reply(cmd: String, err: ReplyError) -> Self {
        match err {
            ReplyError::Op(failure) => Self::Op { cmd, failure },
            ReplyError::Parse(source) => Self::Parse { cmd, source },
        }
    }
}

fn first_line(stderr: &str, stdout: &str) -> String {
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(op_errno: i32, op_errstr: &str) -> OpFailure {
        OpFailure {
            op_ret: -1,
            op_errno,
            op_errstr: op_errstr.to_owned(),
        }
    }

    #[test]
    fn a_peer_holding_a_lock_is_busy_too() {
        assert!(
            failure(
                30800,
                "Locking failed on 10.250.32.3. Please check log file for details."
            )
            .is_busy()
        );
        assert!(!failure(30800, "Volume v already exists").is_busy());
        assert!(!failure(30800, "Staging failed on 10.0.0.2. Error: brick is down").is_busy());
    }
}
