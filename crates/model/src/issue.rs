//! Findings of validation: one line each, naming the file, the field, the value and the fix.

use std::fmt;

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; does not stop a load.
    Warning,
    /// Stops `config load` and makes `config validate` exit non-zero.
    Error,
}

/// One finding about one field of one config.
///
/// Displayed as a single line:
/// `atomic-1.json: IPAddress = "10.1.1.1": no prefix length; write ADDRESS/PREFIX, e.g. "10.1.1.1/24"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// How bad it is.
    pub severity: Severity,
    /// Where the config came from: a file path, or a store key.
    pub source: String,
    /// The JSON field, e.g. `IPAddress` or `PeerList[1].IP`; empty for the document as a whole.
    pub field: String,
    /// The offending value as it appears in the JSON, or empty when the field is missing.
    pub value: String,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl Issue {
    /// An error about `field` of the config from `source`.
    pub fn error(
        source: &str,
        field: &str,
        value: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            source: source.to_owned(),
            field: field.to_owned(),
            value: value.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// A warning about `field` of the config from `source`.
    pub fn warning(
        source: &str,
        field: &str,
        value: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(source, field, value, problem, fix)
        }
    }

    /// Whether this finding stops a load.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}", self.source)?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
            if !self.value.is_empty() {
                write!(f, " = {}", self.value)?;
            }
        }
        write!(f, ": {}", self.problem)?;
        if !self.fix.is_empty() {
            write!(f, "; {}", self.fix)?;
        }
        Ok(())
    }
}

/// Everything validation found, errors and warnings together, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// All findings.
    pub issues: Vec<Issue>,
}

impl Report {
    /// Adds one finding.
    pub fn push(&mut self, issue: Issue) {
        self.issues.push(issue);
    }

    /// Adds all findings of another report.
    pub fn extend(&mut self, other: Report) {
        self.issues.extend(other.issues);
    }

    /// The findings that stop a load.
    pub fn errors(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| i.is_error())
    }

    /// The findings that do not stop a load.
    pub fn warnings(&self) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(|i| !i.is_error())
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(Issue::is_error)
    }
}
