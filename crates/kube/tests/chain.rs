//! The links between objects: a chain that validates object by object can still be broken
//! (the seed's "if you miss a piece, your chain will be broken"). These tests follow every
//! reference by name, selector and port.

mod common;

use std::collections::BTreeSet;

use brickyard_kube::csi;
use brickyard_kube::nodes::{self, Layout};
use brickyard_kube::static_pv::{self, KnownVolume, ReclaimPolicy};
use brickyard_kube::{Bundle, KubeError, Object};
use serde_json::Value;

fn one<'a>(b: &'a Bundle, kind: &str) -> &'a Object {
    let mut it = b.of_kind(kind);
    let o = it.next().unwrap_or_else(|| panic!("no {kind}"));
    assert!(it.next().is_none(), "more than one {kind}");
    o
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// `matchLabels` is a subset of `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let (Some(sel), Some(labels)) = (selector.as_object(), labels.as_object()) else {
        return false;
    };
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn claim_volume_endpoints_and_service_are_linked() {
    for cluster in common::CLUSTERS {
        let hosts = common::hosts(cluster);
        let spec = common::static_pv_spec(&hosts);
        let b = static_pv::bundle(&spec).expect("bundle");
        let ep = one(&b, "Endpoints").doc();
        let svc = one(&b, "Service").doc();
        let pv = one(&b, "PersistentVolume").doc();
        let pvc = one(&b, "PersistentVolumeClaim").doc();
        let deploy = one(&b, "Deployment").doc();
        let ns = s(&pvc["metadata"]["namespace"]);

        // PVC → PV: by name, by selector, and the PV is reserved for exactly this claim.
        assert_eq!(
            pvc["spec"]["volumeName"], pv["metadata"]["name"],
            "{cluster}"
        );
        assert!(
            selects(
                &pvc["spec"]["selector"]["matchLabels"],
                &pv["metadata"]["labels"]
            ),
            "{cluster}: the claim's selector does not match the PV's labels"
        );
        assert_eq!(pv["spec"]["claimRef"]["name"], pvc["metadata"]["name"]);
        assert_eq!(s(&pv["spec"]["claimRef"]["namespace"]), ns);
        // Both ask for no class, so that no provisioner steps in, and agree on the rest.
        assert_eq!(pv["spec"]["storageClassName"], "");
        assert_eq!(pvc["spec"]["storageClassName"], "");
        assert_eq!(pv["spec"]["accessModes"], pvc["spec"]["accessModes"]);
        assert_eq!(pv["spec"]["volumeMode"], pvc["spec"]["volumeMode"]);
        assert_eq!(
            pv["spec"]["capacity"]["storage"],
            pvc["spec"]["resources"]["requests"]["storage"]
        );
        assert_ne!(pv["spec"]["persistentVolumeReclaimPolicy"], "Recycle");

        // PV → Endpoints and Service: same name, the namespace given explicitly.
        let gluster = &pv["spec"]["glusterfs"];
        assert_eq!(gluster["endpoints"], ep["metadata"]["name"]);
        assert_eq!(gluster["endpoints"], svc["metadata"]["name"]);
        assert_eq!(gluster["endpointsNamespace"], ep["metadata"]["namespace"]);
        assert_eq!(svc["metadata"]["namespace"], ep["metadata"]["namespace"]);
        assert_eq!(s(&gluster["path"]), spec.volume);
        // A Service with a selector would have its Endpoints overwritten by Kubernetes.
        assert!(svc["spec"].get("selector").is_none());

        // Ports: Endpoints and Service agree by name and number.
        let ep_ports: BTreeSet<(String, u64)> = ep["subsets"]
            .as_array()
            .expect("subsets")
            .iter()
            .flat_map(|sub| sub["ports"].as_array().expect("ports").iter())
            .map(|p| (s(&p["name"]).to_owned(), p["port"].as_u64().expect("port")))
            .collect();
        let svc_ports: BTreeSet<(String, u64)> = svc["spec"]["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .map(|p| {
                (
                    s(&p["name"]).to_owned(),
                    p["targetPort"].as_u64().expect("port"),
                )
            })
            .collect();
        assert_eq!(ep_ports, svc_ports, "{cluster}");
        assert_eq!(ep_ports.len(), 1);

        // Every storage host is in the Endpoints, and nothing else is.
        let ips: BTreeSet<String> = ep["subsets"]
            .as_array()
            .expect("subsets")
            .iter()
            .flat_map(|sub| sub["addresses"].as_array().expect("addresses").iter())
            .map(|a| s(&a["ip"]).to_owned())
            .collect();
        let expected: BTreeSet<String> = hosts.iter().map(|h| h.ip().to_string()).collect();
        assert_eq!(ips, expected, "{cluster}");
        assert_eq!(ips.len(), hosts.len());

        // Deployment → PVC, and a non-root pod that gets the volume's group.
        let pod = &deploy["spec"]["template"];
        assert!(selects(
            &deploy["spec"]["selector"]["matchLabels"],
            &pod["metadata"]["labels"]
        ));
        assert_eq!(
            deploy["metadata"]["namespace"],
            pvc["metadata"]["namespace"]
        );
        assert_eq!(
            pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            pvc["metadata"]["name"]
        );
        let sc = &pod["spec"]["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true);
        assert_ne!(sc["runAsUser"], 0);
        assert_eq!(sc["fsGroup"], spec.fs_group);
        assert_eq!(
            s(&pv["metadata"]["annotations"][static_pv::GID_ANNOTATION]),
            spec.fs_group.to_string()
        );
        assert_mounts_resolve(&format!("{cluster} example"), &pod["spec"]);
    }
}

/// Every volumeMount names a volume of the pod, and every volume is mounted.
fn assert_mounts_resolve(what: &str, pod: &Value) {
    let volumes: BTreeSet<&str> = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .map(|v| s(&v["name"]))
        .collect();
    let mut mounted = BTreeSet::new();
    for c in pod["containers"].as_array().expect("containers") {
        for m in c["volumeMounts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let name = s(&m["name"]);
            assert!(volumes.contains(name), "{what}: mount {name} has no volume");
            mounted.insert(name);
        }
    }
    assert_eq!(volumes, mounted, "{what}: volumes nobody mounts");
}

/// The pod templates of a bundle, with what owns them.
fn pod_specs(b: &Bundle) -> Vec<(String, &Value)> {
    b.objects
        .iter()
        .filter_map(|o| match o.kind() {
            "Pod" => Some((o.id(), &o.doc()["spec"])),
            "Deployment" | "DaemonSet" => Some((o.id(), &o.doc()["spec"]["template"]["spec"])),
            _ => None,
        })
        .collect()
}

#[test]
fn pods_find_their_accounts_volumes_and_selectors() {
    for (name, b) in common::all_bundles() {
        let accounts: BTreeSet<&str> = b.of_kind("ServiceAccount").map(|o| o.name()).collect();
        for (id, pod) in pod_specs(&b) {
            assert_mounts_resolve(&format!("{name} {id}"), pod);
            if let Some(sa) = pod.get("serviceAccountName") {
                assert!(
                    accounts.contains(s(sa)),
                    "{name} {id}: no ServiceAccount {sa}"
                );
            }
        }
        for o in b
            .objects
            .iter()
            .filter(|o| matches!(o.kind(), "Deployment" | "DaemonSet"))
        {
            let d = o.doc();
            assert!(
                selects(
                    &d["spec"]["selector"]["matchLabels"],
                    &d["spec"]["template"]["metadata"]["labels"]
                ),
                "{name} {}: selector does not match the template",
                o.id()
            );
        }
    }
}

#[test]
fn node_agents_cover_every_host_and_brick() {
    for cluster in common::CLUSTERS {
        let hosts = common::hosts(cluster);
        let ds = common::nodes_bundle(&hosts, Layout::DaemonSet, common::etcd_store());
        let d = one(&ds, "DaemonSet").doc();
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["nodeSelector"][nodes::STORAGE_HOST_LABEL], "true");
        let pinned: BTreeSet<&str> = pod["affinity"]["nodeAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
            ["matchExpressions"][0]["values"]
            .as_array()
            .expect("values")
            .iter()
            .map(s)
            .collect();
        let names: BTreeSet<&str> = hosts.iter().map(|h| h.host_name.as_str()).collect();
        assert_eq!(pinned, names, "{cluster}");
        let max_bricks = hosts.iter().map(|h| h.bricks().len()).max().unwrap_or(0);
        assert_eq!(brick_mounts(pod).len(), max_bricks, "{cluster}");

        let per_host = common::nodes_bundle(&hosts, Layout::PodPerHost, common::etcd_store());
        let pods: Vec<&Object> = per_host.of_kind("Pod").collect();
        assert_eq!(pods.len(), hosts.len());
        for h in &hosts {
            let p = pods
                .iter()
                .find(|p| p.name() == h.gluster_node_name)
                .unwrap_or_else(|| panic!("no pod for {}", h.host_name))
                .doc();
            let spec = &p["spec"];
            assert_eq!(
                s(&spec["nodeSelector"]["kubernetes.io/hostname"]),
                h.host_name
            );
            assert_eq!(spec["hostNetwork"], true);
            let c = &spec["containers"][0];
            assert_eq!(c["securityContext"]["privileged"], true);
            assert_eq!(
                s(&c["livenessProbe"]["tcpSocket"]["host"]),
                h.ip().to_string()
            );
            assert_eq!(
                c["livenessProbe"]["tcpSocket"]["port"],
                nodes::GLUSTERD_PORT
            );
            let expected: Vec<String> = h.bricks().into_iter().map(|(_, m)| m).collect();
            assert_eq!(brick_mounts(spec), expected, "{}", h.host_name);
            for dir in [
                "/etc/glusterfs",
                "/var/lib/glusterd",
                "/var/log/glusterfs",
                "/dev",
            ] {
                assert!(host_paths(spec).contains(&dir.to_owned()), "{dir}");
            }
            let env: Vec<&str> = c["env"]
                .as_array()
                .expect("env")
                .iter()
                .map(|e| s(&e["name"]))
                .collect();
            assert!(env.contains(&"BRICKYARD_STORE"));
        }
    }
}

fn host_paths(pod: &Value) -> Vec<String> {
    pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| v["hostPath"]["path"].as_str().map(str::to_owned))
        .collect()
}

fn brick_mounts(pod: &Value) -> Vec<String> {
    host_paths(pod)
        .into_iter()
        .filter(|p| p.starts_with("/gluster/brick"))
        .collect()
}

#[test]
fn csi_bundle_is_wired_to_its_driver() {
    let b = common::csi_bundle(common::etcd_store());
    let driver = one(&b, "CSIDriver");
    assert_eq!(driver.name(), csi::DRIVER_NAME);
    assert_eq!(driver.doc()["spec"]["fsGroupPolicy"], "File");
    assert_eq!(driver.doc()["spec"]["attachRequired"], false);
    let classes: Vec<&Object> = b.of_kind("StorageClass").collect();
    assert_eq!(classes.len(), 2);
    let modes: BTreeSet<&str> = classes
        .iter()
        .map(|c| s(&c.doc()["parameters"]["provisioning"]))
        .collect();
    assert_eq!(modes, BTreeSet::from(["subdir", "volume"]));
    for c in classes {
        assert_eq!(c.doc()["provisioner"], csi::DRIVER_NAME);
        assert_eq!(c.doc()["allowVolumeExpansion"], true);
        assert_eq!(c.doc()["reclaimPolicy"], "Delete");
    }
    // Every binding points at a role and an account of the bundle.
    let roles: BTreeSet<(&str, &str)> = b
        .objects
        .iter()
        .filter(|o| matches!(o.kind(), "ClusterRole" | "Role"))
        .map(|o| (o.kind(), o.name()))
        .collect();
    let accounts: BTreeSet<(&str, &str)> = b
        .of_kind("ServiceAccount")
        .map(|o| (o.name(), o.namespace().unwrap_or_default()))
        .collect();
    let bindings: Vec<&Object> = b
        .objects
        .iter()
        .filter(|o| o.kind().ends_with("Binding"))
        .collect();
    assert_eq!(bindings.len(), 3);
    for binding in bindings {
        let d = binding.doc();
        assert!(
            roles.contains(&(s(&d["roleRef"]["kind"]), s(&d["roleRef"]["name"]))),
            "{}",
            binding.id()
        );
        for subject in d["subjects"].as_array().expect("subjects") {
            assert!(accounts.contains(&(s(&subject["name"]), s(&subject["namespace"]))));
        }
    }
    // The registrar tells kubelet where the node plugin's socket is on the host, and that
    // directory is the one mounted as the plugin's socket directory.
    let ds = one(&b, "DaemonSet").doc();
    let pod = &ds["spec"]["template"]["spec"];
    let plugin_dir = format!("/var/lib/kubelet/plugins/{}", csi::DRIVER_NAME);
    assert!(host_paths(pod).contains(&plugin_dir));
    let registrar = &pod["containers"][0];
    assert!(
        registrar["args"]
            .as_array()
            .expect("args")
            .iter()
            .any(|a| s(a) == format!("--kubelet-registration-path={plugin_dir}/csi.sock"))
    );
    let kubelet_mount = pod["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .flat_map(|c| c["volumeMounts"].as_array().expect("mounts"))
        .find(|m| m["mountPath"] == "/var/lib/kubelet")
        .expect("kubelet dir mounted");
    assert_eq!(kubelet_mount["mountPropagation"], "Bidirectional");
    // Sidecar images are pinned.
    for (id, pod) in pod_specs(&b) {
        for c in pod["containers"].as_array().expect("containers") {
            let image = s(&c["image"]);
            assert!(
                !image.ends_with(":latest") && image.contains(':'),
                "{id}: {image}"
            );
        }
    }
}

fn refused(spec: &static_pv::StaticPvSpec) -> String {
    static_pv::bundle(spec)
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn static_pv_refuses_what_cannot_work() {
    let hosts = common::hosts("two-hosts");
    let base = common::static_pv_spec(&hosts);

    for v in ["1.26", "1.37"] {
        let mut spec = base.clone();
        spec.kube_version = Some(v.parse().expect("version"));
        let e = refused(&spec);
        assert!(
            e.contains("removed") && e.contains("brickyard kube csi"),
            "{e}"
        );
    }

    let e = "Recycle"
        .parse::<ReclaimPolicy>()
        .expect_err("Recycle")
        .to_string();
    assert!(
        e.contains("Retain") && e.contains("Delete") && e.contains("brickyard kube csi"),
        "{e}"
    );
    assert!(matches!(
        "recycle".parse::<ReclaimPolicy>(),
        Err(KubeError::RecycleRefused { .. })
    ));

    let mut spec = base.clone();
    spec.hosts.clear();
    assert!(refused(&spec).contains("--hosts"));

    let mut spec = base.clone();
    spec.hosts.push(spec.hosts[0]);
    assert!(refused(&spec).contains("listed twice"));

    let mut spec = base.clone();
    spec.hosts.push("127.0.0.1".parse().expect("ip"));
    assert!(refused(&spec).contains("loopback"));

    let mut spec = base.clone();
    spec.volume = "gv0;rm".into();
    assert!(refused(&spec).starts_with("--volume "));

    let mut spec = base.clone();
    spec.claim = Some("Upload_Claim".into());
    assert!(refused(&spec).starts_with("--claim "));

    let mut spec = base.clone();
    spec.fs_group = 0;
    assert!(refused(&spec).contains("root's group"));

    // A managed volume: the size is checked against its record.
    let mut spec = base.clone();
    spec.known = Some(KnownVolume {
        name: "gv0".into(),
        size_bytes: Some(400_000_000),
    });
    let e = refused(&spec);
    assert!(e.contains("larger than volume gv0"), "{e}");
    spec.known = Some(KnownVolume {
        name: "gv0".into(),
        size_bytes: Some(500_000_000),
    });
    let ok = static_pv::bundle(&spec).expect("fits exactly");
    assert!(ok.notes.is_empty(), "{:?}", ok.notes);
    spec.known = Some(KnownVolume {
        name: "gv1".into(),
        size_bytes: None,
    });
    assert!(refused(&spec).contains("gv1"));
}

#[test]
fn static_pv_says_what_it_did_not_check() {
    let hosts = common::hosts("two-hosts");
    let mut spec = common::static_pv_spec(&hosts);
    spec.kube_version = None;
    spec.reclaim = ReclaimPolicy::Delete;
    let notes = static_pv::bundle(&spec).expect("bundle").notes.join("\n");
    assert!(notes.contains("--kube-version"), "{notes}");
    assert!(notes.contains("not one brickyard manages"), "{notes}");
    assert!(notes.contains("Failed"), "{notes}");
}
