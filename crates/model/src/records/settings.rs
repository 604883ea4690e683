//! Settings of the whole cluster, at `gluster/cluster/settings` ([`ClusterSettings`]): what
//! the pool lock's holder keeps gluster's cluster-wide options at.

use serde::{Deserialize, Serialize};

use super::{Extra, RecordError, check_schema, parse, schema_v1};

/// The cluster's settings. Absent from the store means [`ClusterSettings::default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// The record schema ([`super::SCHEMA`]).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    /// gluster's brick multiplexing (`cluster.brick-multiplex`): one brick process per host
    /// serves every brick whose volume has the same options, instead of one process per
    /// brick. It applies to bricks started after the change.
    #[serde(default)]
    pub brick_multiplex: bool,
    /// Fields of a newer writer, kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            schema: schema_v1(),
            brick_multiplex: false,
            extra: Extra::new(),
        }
    }
}

impl ClusterSettings {
    /// Reads and checks the record stored at `key`.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self, RecordError> {
        let fix = "written by `brickyard config cluster`; write it again with that command";
        let s: Self = parse(key, bytes, fix)?;
        check_schema(key, s.schema, fix)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = crate::keys::CLUSTER_SETTINGS;

    #[test]
    fn settings_round_trip_and_keep_a_newer_writers_fields() {
        let s = ClusterSettings::decode(KEY, br#"{"schema":1,"brick_multiplex":true,"later":7}"#)
            .expect("decodes");
        assert!(s.brick_multiplex);
        let back = serde_json::to_string(&s).expect("serialises");
        assert!(back.contains(r#""later":7"#), "{back}");
        assert_eq!(
            ClusterSettings::decode(KEY, b"{}").expect("defaults"),
            ClusterSettings::default()
        );
    }

    #[test]
    fn bad_settings_are_refused_naming_the_key() {
        for bad in [
            &br#"{"brick_multiplex":"yes"}"#[..],
            br#"{"schema":2}"#,
            b"[]",
        ] {
            let e = ClusterSettings::decode(KEY, bad).expect_err("refused");
            assert_eq!(e.key, KEY);
            assert!(e.fix.contains("brickyard config cluster"), "{e}");
        }
    }
}
