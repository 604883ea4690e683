//! `brickyard kube ...` end to end on the embedded store: the host configs come from the
//! store, the manifests from `brickyard-kube` (whose own tests check them against
//! Kubernetes' schemas), and the command line adds the flags, the notes and the files.

use brickyard_store::Store as _;
use std::path::{Path, PathBuf};

use brickyard_testkit::{Run, TempStore, run};

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");

/// The repository root, from this crate's own manifest directory: the testkit's answer is
/// fixed when the testkit is compiled, which in a shared target dir may be another checkout.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn by(store: &TempStore, args: &[&str]) -> Run {
    let url = store.url();
    let mut all = vec!["--store", url.as_str()];
    all.extend_from_slice(args);
    run(BIN, &all, &[])
}

fn loaded(cluster: &str) -> TempStore {
    let store = TempStore::new();
    let dir = repo_root().join("examples").join(cluster);
    by(&store, &["config", "load", &dir.display().to_string()]).ok();
    store
}

const SEED_CHAIN: &[&str] = &[
    "kube",
    "static-pv",
    "--volume",
    "gv0",
    "--size",
    "500M",
    "--claim",
    "file-upload-claim",
    "--kube-version",
    "1.25",
];

#[test]
fn static_pv_from_the_store_is_the_golden_chain() {
    let store = loaded("two-hosts");
    let out = by(&store, SEED_CHAIN).ok();
    let golden = std::fs::read_to_string(
        repo_root().join("crates/kube/tests/golden/two-hosts-static-pv.yaml"),
    )
    .expect("golden");
    assert_eq!(out.stdout, golden, "{out}");
    assert!(out.stderr.contains("not one brickyard manages"), "{out}");
}

#[test]
fn a_managed_volume_is_recognised_and_its_size_checked() {
    let store = loaded("two-hosts");
    let record = serde_json::json!({
        "name": "gv0",
        "layout": { "kind": { "type": "replicate", "replica": 2, "arbiter": false }, "sets": 1 },
        "profile": "default",
        "state": "started",
        "bricks": [
            { "host": "atomic-1", "ip": "10.1.1.1", "path": "/gluster/brick1/gv0" },
            { "host": "atomic-2", "ip": "10.1.1.2", "path": "/gluster/brick1/gv0" }
        ],
        "created_at": 1,
        "updated_at": 1
    });
    let s = brickyard_store::FileStore::open(store.path()).expect("open store");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let put = |key: &str, value: serde_json::Value| {
        rt.block_on(s.put(key, value.to_string().as_bytes(), None))
            .expect("put");
    };
    put("gluster/volumes/gv0", record);
    // No agent has reported its bricks: managed, size unchecked, and said so.
    let out = by(&store, SEED_CHAIN).ok();
    assert!(out.stderr.contains("managed by brickyard"), "{out}");
    assert!(out.stderr.contains("the size was not checked"), "{out}");
    assert!(!out.stderr.contains("not one brickyard manages"), "{out}");
    // With the agents' brick sizes, the claim must fit the smaller replica.
    for (host, size) in [("atomic-1", 400_000_000u64), ("atomic-2", 900_000_000)] {
        put(
            &format!("gluster/status/{host}"),
            serde_json::json!({
                "host": host,
                "node_name": host.replace("atomic", "gluster"),
                "ip": if host == "atomic-1" { "10.1.1.1" } else { "10.1.1.2" },
                "uuid": null, "state": "running", "glusterd_pid": 1, "glusterd_restarts": 0,
                "peers": [], "problems": [], "version": "test", "started_at": 1, "updated_at": 1,
                "bricks": [{ "mount_point": "/gluster/brick1", "size_bytes": size, "free_bytes": size }]
            }),
        );
    }
    let out = by(&store, SEED_CHAIN).fails();
    assert!(
        out.stderr
            .contains("--size 500M is larger than volume gv0 (400000000 bytes)"),
        "{out}"
    );
    let mut smaller: Vec<&str> = SEED_CHAIN.to_vec();
    let at = smaller
        .iter()
        .position(|a| *a == "500M")
        .expect("size in the chain");
    smaller[at] = "300M";
    let out = by(&store, &smaller).ok();
    assert!(!out.stderr.contains("not checked"), "{out}");
}

#[test]
fn refusals_name_the_flag_and_the_way_out() {
    let store = loaded("two-hosts");
    // Each case overrides the volume, the size, or adds one flag.
    let with = |volume: &str, size: &str, extra: &[&str]| {
        let mut args = vec!["kube", "static-pv", "--volume", volume, "--size", size];
        args.extend_from_slice(extra);
        by(&store, &args).fails()
    };
    let out = with("gv0", "1Gi", &["--kube-version", "1.26"]);
    assert!(out.stderr.contains("brickyard kube csi"), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    let out = with("gv0", "1Gi", &["--reclaim", "Recycle"]);
    assert!(
        out.stderr.contains("Retain") && out.stderr.contains("Delete"),
        "{out}"
    );
    let out = with("gv0", "10GB", &[]);
    assert!(out.stderr.contains("--size \"10GB\""), "{out}");
    let out = with("../etc", "1Gi", &[]);
    assert!(out.stderr.contains("--volume"), "{out}");
    let out = with("gv0", "1Gi", &["--hosts", "10.9.9.9,10.9.9.9"]);
    assert!(out.stderr.contains("listed twice"), "{out}");

    let empty = TempStore::new();
    let out = by(&empty, &["kube", "nodes"]).fails();
    assert!(out.stderr.contains("brickyard config load"), "{out}");
}

#[test]
fn hosts_flag_needs_no_store_configs() {
    let empty = TempStore::new();
    let out = by(
        &empty,
        &[
            "kube",
            "static-pv",
            "--volume",
            "gv0",
            "--size",
            "1Gi",
            "--hosts",
            "10.0.1.102,10.0.1.103",
        ],
    )
    .ok();
    assert!(out.stdout.contains("ip: \"10.0.1.102\""), "{out}");
    assert!(out.stdout.contains("ip: \"10.0.1.103\""), "{out}");
}

#[test]
fn out_dir_writes_one_file_per_object_and_guards_strangers() {
    let store = loaded("four-hosts");
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("nodes");
    let out_dir = out_dir.display().to_string();
    let stream = by(&store, &["kube", "nodes", "--per-host"]).ok().stdout;
    by(
        &store,
        &["kube", "nodes", "--per-host", "--out-dir", &out_dir],
    )
    .ok();
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .expect("out dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "00-namespace-brickyard-system.yaml",
            "01-serviceaccount-brickyard-node.yaml",
            "02-pod-gluster-1.yaml",
            "03-pod-gluster-2.yaml",
            "04-pod-gluster-3.yaml",
            "05-pod-gluster-4.yaml",
        ]
    );
    let joined: String = names
        .iter()
        .map(|n| std::fs::read_to_string(format!("{out_dir}/{n}")).expect("read"))
        .collect();
    assert_eq!(joined, stream);
    // Regenerating into the same directory is fine; other manifests there are not.
    by(
        &store,
        &["kube", "nodes", "--per-host", "--out-dir", &out_dir],
    )
    .ok();
    let out = by(&store, &["kube", "nodes", "--out-dir", &out_dir]).fails();
    assert!(
        out.stderr.contains("already holds other manifests"),
        "{out}"
    );
}

#[test]
fn output_is_byte_identical_across_runs() {
    let store = loaded("four-hosts");
    for args in [
        &["kube", "nodes"][..],
        &["kube", "csi"][..],
        &["kube", "static-pv", "--volume", "gv0", "--size", "1Gi"][..],
    ] {
        let a = by(&store, args).ok().stdout;
        let b = by(&store, args).ok().stdout;
        assert!(!a.is_empty());
        assert_eq!(a, b, "{args:?}");
    }
}

/// The StorageClasses the bundle installs are ones the driver accepts, word for word.
#[test]
fn the_csi_bundle_s_classes_are_what_the_driver_accepts() {
    use brickyard_kube::csi::{CsiSpec, bundle};
    let b = bundle(&CsiSpec {
        image: "registry.example.com/brickyard:test".into(),
        namespace: brickyard_kube::DEFAULT_NAMESPACE.into(),
        store: brickyard_kube::StoreSettings {
            url: "etcd://10.1.1.10:2379".into(),
            file_dir: None,
            etcd_tls_secret: None,
        },
        shared_volume: "brickyard-claims".into(),
    })
    .expect("bundle");
    let mut modes = Vec::new();
    for class in b.of_kind("StorageClass") {
        let params: std::collections::BTreeMap<String, String> = class.doc()["parameters"]
            .as_object()
            .expect("parameters")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
            .collect();
        let parsed = brickyard_volumes::claims::class_params(&params)
            .unwrap_or_else(|e| panic!("{}: {e}", class.name()));
        modes.push(parsed.mode.to_string());
    }
    modes.sort();
    assert_eq!(modes, ["subdir", "volume"]);
}
