//! Every generated object against Kubernetes' own JSON schemas, with `kubernetes-validate`
//! (PyPI) in strict mode (unknown fields are errors), for each Kubernetes version it ships
//! from 1.25 on. `make test` installs it; without it these tests fail rather than skip.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use brickyard_kube::Bundle;
use serde_json::json;

/// The validator release the Makefile installs; it ships schemas for 1.25 to 1.37.
const VALIDATOR_RELEASE: &str = "1.37.0";
const OLDEST: u32 = 25;
const NEWEST: u32 = 37;

/// The validator: `$KUBERNETES_VALIDATE`, else `kubernetes-validate` on PATH.
fn validator() -> String {
    let program =
        std::env::var("KUBERNETES_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".into());
    let found = Command::new(&program).arg("--version").output();
    match found {
        Ok(out) if out.status.success() => program,
        _ => panic!(
            "{program} is not installed, so the manifests cannot be checked against Kubernetes' schemas: \
             run `make test` (it installs it), or `pip install kubernetes-validate=={VALIDATOR_RELEASE}`"
        ),
    }
}

/// What the validator said about one file.
#[derive(Debug, Default)]
struct Verdict {
    /// `kind/name` of every object that passed.
    passed: BTreeSet<String>,
    /// Every ERROR or WARN line (a WARN is an object it could not check, e.g. an unknown
    /// apiVersion: that is a failure too).
    problems: Vec<String>,
}

/// Validates files against one version in one run (starting the validator costs about a
/// second) and sorts its lines by file; also returns whether it exited 0.
fn validate(files: &[&Path], minor: u32) -> (bool, Vec<Verdict>) {
    let out = Command::new(validator())
        .args(["--strict", "-k", &format!("1.{minor}")])
        .args(files)
        .output()
        .expect("run the validator");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut verdicts: Vec<Verdict> = files.iter().map(|_| Verdict::default()).collect();
    for line in text.lines() {
        // Lines read `LEVEL FILE message`; the temp paths hold no spaces.
        let mut words = line.splitn(3, ' ');
        let (level, file) = (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
        );
        let Some(i) = files.iter().position(|f| Path::new(file) == *f) else {
            verdicts
                .iter_mut()
                .for_each(|v| v.problems.push(line.to_owned()));
            continue;
        };
        if let Some((_, rest)) = line.split_once(" passed for resource ") {
            let id = rest.split(' ').next().unwrap_or_default();
            verdicts[i].passed.insert(id.to_owned());
        } else if level == "ERROR" || level == "WARN" {
            verdicts[i].problems.push(line.to_owned());
        }
    }
    (out.status.success(), verdicts)
}

fn write_bundles(dir: &Path, bundles: &[(String, Bundle)]) -> Vec<(PathBuf, BTreeSet<String>)> {
    bundles
        .iter()
        .map(|(name, bundle)| {
            let path = dir.join(format!("{name}.yaml"));
            std::fs::write(&path, bundle.to_yaml_stream().expect("render")).expect("write");
            let ids = bundle.objects.iter().map(|o| o.id()).collect();
            (path, ids)
        })
        .collect()
}

#[test]
fn every_object_passes_every_schema_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = write_bundles(dir.path(), &common::all_bundles());
    let paths: Vec<&Path> = files.iter().map(|(p, _)| p.as_path()).collect();
    let check = |minor: u32| -> Vec<String> {
        let (success, verdicts) = validate(&paths, minor);
        let mut failures = Vec::new();
        if !success {
            failures.push(format!("1.{minor}: the validator exited non-zero"));
        }
        for ((path, ids), v) in files.iter().zip(verdicts) {
            if !v.problems.is_empty() || &v.passed != ids {
                let missing: Vec<&String> = ids.difference(&v.passed).collect();
                failures.push(format!(
                    "{} against 1.{minor}: not passed: {missing:?}, problems: {:#?}",
                    path.display(),
                    v.problems
                ));
            }
        }
        failures
    };
    // Two runs at a time: the machines have two cores.
    let minors: Vec<u32> = (OLDEST..=NEWEST).collect();
    let mut failures = Vec::new();
    for pair in minors.chunks(2) {
        std::thread::scope(|s| {
            let handles: Vec<_> = pair.iter().map(|m| s.spawn(move || check(*m))).collect();
            for h in handles {
                failures.extend(h.join().expect("validator thread"));
            }
        });
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_validator_catches_broken_objects() {
    let hosts = common::hosts("two-hosts");
    let good = brickyard_kube::static_pv::bundle(&common::static_pv_spec(&hosts)).expect("bundle");
    let break_one = |kind: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let mut b = good.clone();
        let o = b
            .objects
            .iter_mut()
            .find(|o| o.kind() == kind)
            .expect("kind present");
        f(o.doc_mut());
        b
    };
    let cases: Vec<(&str, Bundle, &str)> = vec![
        (
            "a PV size that is not a quantity",
            break_one("PersistentVolume", &|d| {
                d["spec"]["capacity"]["storage"] = json!({"bytes": 5})
            }),
            "persistentvolume/gluster-gv0",
        ),
        (
            "a misspelt field (strict mode)",
            break_one("PersistentVolume", &|d| {
                let gluster = &mut d["spec"]["glusterfs"];
                let endpoints = gluster["endpoints"].take();
                gluster["endpoint"] = endpoints;
            }),
            "persistentvolume/gluster-gv0",
        ),
        (
            "a port that is a string",
            break_one("Service", &|d| {
                d["spec"]["ports"][0]["port"] = json!("glusterd")
            }),
            "service/brickyard-glusterfs",
        ),
        (
            "an apiVersion with no schema",
            break_one("Deployment", &|d| d["apiVersion"] = json!("apps/v1beta9")),
            "deployment/file-upload-claim-writer",
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let paths: Vec<PathBuf> = (0..cases.len())
        .map(|i| dir.path().join(format!("broken-{i}.yaml")))
        .collect();
    for ((_, bundle, _), path) in cases.iter().zip(&paths) {
        std::fs::write(path, bundle.to_yaml_stream().expect("render")).expect("write");
    }
    let paths: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    for minor in [OLDEST, NEWEST] {
        // An object the validator has no schema for only gets a WARN and exit 0, which is
        // why the harness reads every line rather than the exit code alone.
        let (_, verdicts) = validate(&paths, minor);
        for ((what, bundle, broken_id), v) in cases.iter().zip(verdicts) {
            assert!(
                !v.passed.contains(*broken_id),
                "{what}: the validator passed {broken_id} against 1.{minor}"
            );
            assert!(
                !v.problems.is_empty(),
                "{what}: no ERROR or WARN line against 1.{minor}"
            );
            // The other objects still pass: the check is per object.
            assert_eq!(v.passed.len(), bundle.objects.len() - 1, "{what}: {v:?}");
        }
    }
}

#[test]
fn the_validator_is_the_release_with_the_newest_schemas() {
    let out = Command::new(validator())
        .arg("--version")
        .output()
        .expect("run the validator");
    let version =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        version.contains(&format!("1.{NEWEST}")),
        "kubernetes-validate --version says {version:?}; install {VALIDATOR_RELEASE} with `make test`"
    );
}
