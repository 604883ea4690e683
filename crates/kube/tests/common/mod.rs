//! The example clusters and the bundles every test looks at.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use brickyard_kube::csi::{self, CsiSpec};
use brickyard_kube::nodes::{self, Layout, NodesSpec};
use brickyard_kube::static_pv::{self, AccessMode, ReclaimPolicy, StaticPvSpec};
use brickyard_kube::{Bundle, StoreSettings};
use brickyard_model::{HostConfig, parse_host_config};

/// The example clusters of the repository, by directory name under `examples/`.
pub const CLUSTERS: &[&str] = &["two-hosts", "four-hosts"];

/// An image name that does not change with brickyard's version, so goldens stay put.
pub const IMAGE: &str = "registry.example.com/brickyard:test";

/// The repository's `examples/` directory.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The host configs of an example cluster, parsed as the store would.
pub fn hosts(cluster: &str) -> Vec<HostConfig> {
    let dir = examples_dir().join(cluster);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).expect("example config");
            let (cfg, report) = parse_host_config(&f.display().to_string(), &bytes);
            cfg.unwrap_or_else(|| panic!("{} is invalid: {report:?}", f.display()))
        })
        .collect()
}

/// The store settings the examples are generated with: etcd, as a real cluster has.
pub fn etcd_store() -> StoreSettings {
    StoreSettings {
        url: "etcd://10.1.1.10:2379".into(),
        file_dir: None,
        etcd_tls_secret: None,
    }
}

/// `brickyard kube nodes` for a cluster.
pub fn nodes_bundle(hosts: &[HostConfig], layout: Layout, store: StoreSettings) -> Bundle {
    nodes::bundle(
        hosts,
        &NodesSpec {
            image: IMAGE.into(),
            namespace: brickyard_kube::DEFAULT_NAMESPACE.into(),
            layout,
            store,
        },
    )
    .expect("nodes bundle")
}

/// The `static-pv` request the examples use: the seed's volume gv0.
pub fn static_pv_spec(hosts: &[HostConfig]) -> StaticPvSpec {
    StaticPvSpec {
        volume: "gv0".into(),
        size: "500M".parse().expect("size"),
        hosts: hosts.iter().map(HostConfig::ip).collect(),
        access_mode: AccessMode::ReadWriteMany,
        claim: Some("file-upload-claim".into()),
        namespace: "default".into(),
        reclaim: ReclaimPolicy::Retain,
        fs_group: static_pv::DEFAULT_GID,
        kube_version: Some("1.25".parse().expect("version")),
        known: None,
    }
}

/// `brickyard kube csi` with its defaults.
pub fn csi_bundle(store: StoreSettings) -> Bundle {
    csi::bundle(&CsiSpec {
        image: IMAGE.into(),
        namespace: brickyard_kube::DEFAULT_NAMESPACE.into(),
        store,
        shared_volume: "shared".into(),
    })
    .expect("csi bundle")
}

/// Every bundle the generator makes for the examples, named as its golden file.
pub fn golden_bundles() -> Vec<(String, Bundle)> {
    let mut out = Vec::new();
    for cluster in CLUSTERS {
        let hosts = hosts(cluster);
        out.push((
            format!("{cluster}-nodes"),
            nodes_bundle(&hosts, Layout::DaemonSet, etcd_store()),
        ));
        out.push((
            format!("{cluster}-nodes-per-host"),
            nodes_bundle(&hosts, Layout::PodPerHost, etcd_store()),
        ));
        out.push((
            format!("{cluster}-static-pv"),
            static_pv::bundle(&static_pv_spec(&hosts)).expect("static-pv bundle"),
        ));
    }
    out.push(("csi".into(), csi_bundle(etcd_store())));
    out
}

/// The goldens plus variants that switch on every optional part (TLS Secret, file store,
/// read-only access, Delete, a volume name that needs mapping), for the schema checks.
pub fn all_bundles() -> Vec<(String, Bundle)> {
    let mut out = golden_bundles();
    let tls = StoreSettings {
        url: "etcd://10.1.1.10:2379".into(),
        file_dir: None,
        etcd_tls_secret: Some("brickyard-etcd".into()),
    };
    let file = StoreSettings {
        url: "file:///var/lib/brickyard/store".into(),
        file_dir: Some("/var/lib/brickyard/store".into()),
        etcd_tls_secret: None,
    };
    let hosts = hosts("four-hosts");
    out.push((
        "nodes-tls".into(),
        nodes_bundle(&hosts, Layout::DaemonSet, tls.clone()),
    ));
    out.push((
        "nodes-file-store".into(),
        nodes_bundle(&hosts[..1], Layout::PodPerHost, file.clone()),
    ));
    out.push(("csi-tls".into(), csi_bundle(tls)));
    out.push(("csi-file-store".into(), csi_bundle(file)));
    let mut spec = static_pv_spec(&hosts);
    spec.volume = "Media_Archive".into();
    spec.claim = None;
    spec.access_mode = AccessMode::ReadOnlyMany;
    spec.reclaim = ReclaimPolicy::Delete;
    spec.size = "1.5Ti".parse().expect("size");
    spec.kube_version = None;
    out.push((
        "static-pv-variant".into(),
        static_pv::bundle(&spec).expect("variant"),
    ));
    out
}
