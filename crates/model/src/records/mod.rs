//! The records brickyard keeps in the store besides host configs, defined once: desired
//! volumes and what the agents did about them ([`volume`]), the agents' liveness and
//! observations ([`agent`]), and the cluster's settings ([`settings`]).
//!
//! A record in the store is input like any from the network: anyone who can write the store
//! can write any bytes under any key, and an older or newer brickyard may have written it.
//! So every record is read through a `decode(key, bytes)` that checks it completely before
//! anything may act on it:
//! - the name inside equals the name in its key, and that name passes the rules of
//!   [`crate::names`];
//! - everything that will reach a path or a command (brick paths, addresses) is checked
//!   against what brickyard itself would derive, never trusted;
//! - numbers are bounded;
//! - a record written by a newer brickyard (`schema` above [`SCHEMA`]) is refused rather than
//!   half understood, while unknown fields of the same schema are kept (an additive change by
//!   a newer writer during a rolling upgrade) and written back unchanged.
//!
//! A record that fails is reported ([`RecordError`] names the key, what is wrong and how to
//! fix it) and skipped; it never breaks the reading of the others.

pub mod agent;
pub mod claim;
pub mod settings;
pub mod volume;

use std::collections::BTreeMap;

use thiserror::Error;

/// The record schema this brickyard writes and understands.
pub const SCHEMA: u32 = 1;

/// Fields of a record this brickyard does not know, kept so that writing the record back
/// does not lose what a newer writer added.
pub type Extra = BTreeMap<String, serde_json::Value>;

pub(crate) fn schema_v1() -> u32 {
    SCHEMA
}

/// A stored record that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error, serde::Serialize, serde::Deserialize)]
#[error("record {key} cannot be used: {problem}; {fix}")]
pub struct RecordError {
    /// The record's key.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl RecordError {
    pub(crate) fn new(key: &str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// Parses JSON, turning a syntax or shape error into a [`RecordError`].
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    key: &str,
    bytes: &[u8],
    fix: &str,
) -> Result<T, RecordError> {
    serde_json::from_slice(bytes)
        .map_err(|e| RecordError::new(key, format!("it is not a valid record ({e})"), fix))
}

/// A record stored under a key that names it (`<prefix><name>`).
pub(crate) trait Named: serde::de::DeserializeOwned {
    /// What kind of name the key holds, for messages (`volume`, `host`).
    const WHAT: &'static str;
    /// The name inside the record.
    fn name(&self) -> &str;
    /// The record's schema.
    fn schema(&self) -> u32;
    /// Checks a name of this kind.
    fn check_name(name: &str) -> Result<(), crate::names::NameError>;
}

/// Implements [`Named`] for a record type: `named!(Type, "what", name_field, check)`, where
/// `check` is a function (or closure) taking the name and returning a name check's result.
macro_rules! named {
    ($ty:ty, $what:literal, $field:ident, $check:expr) => {
        impl $crate::records::Named for $ty {
            const WHAT: &'static str = $what;
            fn name(&self) -> &str {
                &self.$field
            }
            fn schema(&self) -> u32 {
                self.schema
            }
            fn check_name(name: &str) -> Result<(), $crate::names::NameError> {
                ($check)(name)
            }
        }
    };
}
pub(crate) use named;

/// Parses a named record: the key must name a valid one, the record must parse, be of a
/// schema this brickyard understands, and carry the key's name.
pub(crate) fn decode_named<T: Named>(
    prefix: &str,
    key: &str,
    bytes: &[u8],
    fix: &str,
) -> Result<T, RecordError> {
    let key_name = crate::keys::name_in(prefix, key).unwrap_or_default();
    T::check_name(key_name).map_err(|e| {
        RecordError::new(key, format!("its key names no valid {}: {e}", T::WHAT), fix)
    })?;
    let record: T = parse(key, bytes, fix)?;
    check_schema(key, record.schema(), fix)?;
    if record.name() != key_name {
        return Err(RecordError::new(
            key,
            format!(
                "its {} {:?} differs from its key's {key_name:?}",
                T::WHAT,
                record.name()
            ),
            fix,
        ));
    }
    Ok(record)
}

/// Checks the schema version of a record.
pub(crate) fn check_schema(key: &str, schema: u32, fix: &str) -> Result<(), RecordError> {
    if schema > SCHEMA {
        return Err(RecordError::new(
            key,
            format!(
                "it was written by a newer brickyard (record schema {schema}, this one understands {SCHEMA})"
            ),
            format!("upgrade this brickyard; {fix}"),
        ));
    }
    if schema == 0 {
        return Err(RecordError::new(key, "its schema is 0", fix));
    }
    Ok(())
}
