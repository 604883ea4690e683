//! Kubernetes object names, and how a GlusterFS volume name becomes one.

use brickyard_model::names::charset_problem;

use crate::KubeError;

/// Checks an RFC 1123 label as Kubernetes requires for namespaces, Services and the names
/// brickyard derives other names from: 1-`max` lowercase letters, digits and `-`, starting
/// and ending with a letter or digit.
pub fn check_label(flag: &'static str, value: &str, max: usize) -> Result<(), KubeError> {
    let fail = |problem: String| KubeError::BadName {
        flag,
        value: value.to_owned(),
        problem,
        fix: format!(
            "use 1-{max} lowercase letters, digits and '-', starting and ending with a letter or digit"
        ),
    };
    if let Some(problem) = charset_problem(value, max, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    }) {
        return Err(fail(problem));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err(fail("starts or ends with '-'".into()));
    }
    Ok(())
}

/// The longest name derived from a volume name, so that every name built on it (`gluster-…`
/// for the PersistentVolume, `…-writer` for the example) stays a valid 63-character label.
pub const MAX_VOLUME_LABEL: usize = 40;

/// The name a GlusterFS volume goes by in Kubernetes objects and label values.
///
/// A volume name that already is a lowercase label of at most [`MAX_VOLUME_LABEL`]
/// characters is used as is (`gv0` stays `gv0`). Others (upper case, `_`, too long) are
/// lowercased, `_` becomes `-`, and a short hash of the original name is appended, so that
/// `Data_1` and `data-1` never map to one PersistentVolume.
pub fn volume_label(volume: &str) -> String {
    if check_label("volume", volume, MAX_VOLUME_LABEL).is_ok() {
        return volume.to_owned();
    }
    let mut base: String = volume
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' => c,
            _ => '-',
        })
        .take(MAX_VOLUME_LABEL - 9)
        .collect();
    while base.ends_with('-') {
        base.pop();
    }
    format!(
        "{base}-{:08x}",
        brickyard_model::names::fnv1a32(volume.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "gv0", "brickyard-system", &"a".repeat(63)] {
            assert!(check_label("--namespace", ok, 63).is_ok(), "{ok}");
        }
        for (bad, problem) in [
            ("", "is empty"),
            ("Gv0", "contains 'G'"),
            ("a_b", "contains '_'"),
            ("-a", "starts or ends"),
            ("a-", "starts or ends"),
            ("a.b", "contains '.'"),
            (&"a".repeat(64), "longer than 63"),
        ] {
            let e = check_label("--namespace", bad, 63)
                .expect_err(bad)
                .to_string();
            assert!(e.contains(problem) && e.starts_with("--namespace "), "{e}");
        }
    }

    #[test]
    fn volume_labels_are_valid_and_distinct() {
        assert_eq!(volume_label("gv0"), "gv0");
        let names = [
            "Data_1",
            "data-1",
            "data_1",
            "DATA_1",
            "x_",
            "vol-",
            &"v".repeat(64),
        ];
        let labels: Vec<String> = names.iter().map(|n| volume_label(n)).collect();
        for (n, l) in names.iter().zip(&labels) {
            assert!(
                check_label("volume", l, MAX_VOLUME_LABEL).is_ok(),
                "{n} -> {l}"
            );
        }
        let mut unique = labels.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), labels.len(), "{labels:?}");
        // Stable across builds: goldens and applied objects depend on it.
        assert_eq!(volume_label("Data_1"), "data-1-06fb2c8d");
    }
}
