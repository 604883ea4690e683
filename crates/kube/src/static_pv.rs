//! The second seed's "chain of abstractions" for one GlusterFS volume, generated whole so
//! that no link can be missing or mistyped:
//!
//! ```text
//! Deployment ──claimName──▶ PersistentVolumeClaim ──volumeName + selector──▶ PersistentVolume
//!                                                                              │ glusterfs.endpoints
//!                                                 Service ◀──same name──▶ Endpoints (every host IP)
//! ```
//!
//! Only for Kubernetes up to 1.25: the in-tree `glusterfs` volume plugin this chain relies
//! on was removed in 1.26 (use [`crate::csi`] there).
//!
//! Ports: the plugin only reads the addresses of the Endpoints and mounts with
//! `mount.glusterfs`, which fetches the volume file from glusterd on port 24007. Kubernetes
//! still insists on a port; brickyard writes 24007 rather than the seed's placeholder 1, so
//! that the objects state the port really used and the Service is a working path to
//! glusterd for anyone who dials it.
//!
//! Permissions (the seed's second wound): the plugin does not change ownership of a GlusterFS
//! mount, so `fsGroup` alone does not make it writable. What does: the volume's root
//! directory belongs to a group and is group-writable (see docs/kubernetes.md), and the pod
//! runs with that group as a supplementary group. The PersistentVolume's
//! `pv.beta.kubernetes.io/gid` annotation makes kubelet add the group to every pod that
//! mounts it; the example Deployment also sets `fsGroup` to it, which is what CSI drivers
//! with `fsGroupPolicy: File` honour.

use std::net::IpAddr;
use std::str::FromStr;

use serde_json::{Value, json};

use crate::names::{check_label, volume_label};
use crate::object::{Meta, Object};
use crate::{Bundle, KubeError, KubeVersion, Quantity};

/// The name of the Endpoints and the Service listing the storage hosts (one pair per
/// namespace, shared by every volume's PersistentVolume).
pub const ENDPOINTS_NAME: &str = "brickyard-glusterfs";

/// The port written into the Endpoints and the Service: glusterd's.
pub const PORT: u16 = crate::nodes::GLUSTERD_PORT;

/// The name of that port in the Endpoints and the Service (they must agree).
pub const PORT_NAME: &str = "glusterd";

/// The label on the PersistentVolume that the claim's selector matches.
pub const VOLUME_LABEL: &str = "brickyard.io/volume";

/// The PersistentVolume annotation whose group kubelet adds to the pods that mount it.
pub const GID_ANNOTATION: &str = "pv.beta.kubernetes.io/gid";

/// The user the example Deployment runs as: any non-root user works, the group grants access.
pub const EXAMPLE_UID: i64 = 1000;

/// The image of the example Deployment: small, pinned, has a shell.
pub const EXAMPLE_IMAGE: &str = "busybox:1.36";

/// The group used when `--fs-group` is not given.
pub const DEFAULT_GID: i64 = 2000;

/// How the volume may be mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessMode {
    /// Read-write by pods on many nodes: what a GlusterFS volume is for.
    #[default]
    ReadWriteMany,
    /// Read-write by pods on one node.
    ReadWriteOnce,
    /// Read-only by pods on many nodes.
    ReadOnlyMany,
}

impl AccessMode {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadWriteMany => "ReadWriteMany",
            Self::ReadWriteOnce => "ReadWriteOnce",
            Self::ReadOnlyMany => "ReadOnlyMany",
        }
    }
}

/// What happens to the volume when its claim is deleted. Recycle is deliberately missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReclaimPolicy {
    /// Keep the PersistentVolume (phase Released) and the data; an admin cleans up.
    #[default]
    Retain,
    /// Ask the volume plugin to delete the volume.
    Delete,
}

impl ReclaimPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retain => "Retain",
            Self::Delete => "Delete",
        }
    }
}

impl FromStr for ReclaimPolicy {
    type Err = KubeError;

    /// Accepts `Retain` and `Delete` in any case; refuses `Recycle` with the reason.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "retain" => Ok(Self::Retain),
            "delete" => Ok(Self::Delete),
            "recycle" => Err(KubeError::RecycleRefused {
                value: s.to_owned(),
            }),
            _ => Err(KubeError::BadReclaim {
                value: s.to_owned(),
            }),
        }
    }
}

/// What the store says about a volume brickyard manages, checked before the chain is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownVolume {
    /// The volume's name.
    pub name: String,
    /// Its size in bytes, when recorded.
    pub size_bytes: Option<u128>,
}

/// What `brickyard kube static-pv` was asked for.
#[derive(Debug, Clone)]
pub struct StaticPvSpec {
    /// The GlusterFS volume (`--volume`).
    pub volume: String,
    /// The size written into the PersistentVolume and requested by the claim (`--size`).
    pub size: Quantity,
    /// Every storage host's address, in the order given.
    pub hosts: Vec<IpAddr>,
    /// The access mode of the PersistentVolume and the claim.
    pub access_mode: AccessMode,
    /// The claim's name; the volume's Kubernetes name when `None`.
    pub claim: Option<String>,
    /// The namespace of the claim, the Endpoints, the Service and the example.
    pub namespace: String,
    /// The PersistentVolume's reclaim policy.
    pub reclaim: ReclaimPolicy,
    /// The group that may write into the volume.
    pub fs_group: i64,
    /// The targeted Kubernetes version, when known.
    pub kube_version: Option<KubeVersion>,
    /// The store's record of the volume when brickyard manages it; `None` for a volume made
    /// by hand (nothing to check it against).
    pub known: Option<KnownVolume>,
}

/// The names of the objects of one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainNames {
    /// The volume's name in labels and derived names.
    pub volume_label: String,
    /// The PersistentVolume.
    pub pv: String,
    /// The PersistentVolumeClaim.
    pub claim: String,
    /// The example Deployment.
    pub example: String,
}

impl StaticPvSpec {
    /// The names the chain's objects get.
    pub fn names(&self) -> ChainNames {
        let label = volume_label(&self.volume);
        let claim = self.claim.clone().unwrap_or_else(|| label.clone());
        ChainNames {
            pv: format!("gluster-{label}"),
            example: format!("{claim}-writer"),
            volume_label: label,
            claim,
        }
    }
}

/// Checks the request and builds Endpoints, Service, PersistentVolume, claim and example.
pub fn bundle(spec: &StaticPvSpec) -> Result<Bundle, KubeError> {
    let mut notes = check(spec)?;
    let names = spec.names();
    let ns = spec.namespace.as_str();

    let addresses: Vec<Value> = spec
        .hosts
        .iter()
        .map(|ip| json!({"ip": ip.to_string()}))
        .collect();
    let endpoints = Object::new(
        "v1",
        "Endpoints",
        Meta::namespaced(ENDPOINTS_NAME, ns).label("app.kubernetes.io/component", "storage-hosts"),
        json!({"subsets": [{
            "addresses": addresses,
            "ports": [{"name": PORT_NAME, "port": PORT, "protocol": "TCP"}],
        }]}),
    );
    // No selector: Kubernetes then leaves the hand-made Endpoints of the same name alone.
    let service = Object::new(
        "v1",
        "Service",
        Meta::namespaced(ENDPOINTS_NAME, ns).label("app.kubernetes.io/component", "storage-hosts"),
        json!({"spec": {
            "ports": [{"name": PORT_NAME, "port": PORT, "protocol": "TCP", "targetPort": PORT}],
        }}),
    );

    let gid = spec.fs_group.to_string();
    let pv = Object::new(
        "v1",
        "PersistentVolume",
        Meta::cluster(&names.pv)
            .label(VOLUME_LABEL, &names.volume_label)
            .annotation(GID_ANNOTATION, &gid),
        json!({"spec": {
            "capacity": {"storage": spec.size.as_str()},
            "accessModes": [spec.access_mode.as_str()],
            "persistentVolumeReclaimPolicy": spec.reclaim.as_str(),
            // Empty class: only a claim that also asks for no class, and names this PV,
            // can bind it; no dynamic provisioner takes part.
            "storageClassName": "",
            "volumeMode": "Filesystem",
            // Reserved for the claim, so that no other claim binds it first.
            "claimRef": {"namespace": ns, "name": names.claim},
            "glusterfs": {
                "endpoints": ENDPOINTS_NAME,
                // The PV is cluster-wide; without this the plugin would look for the
                // Endpoints in the namespace of each pod that mounts the volume.
                "endpointsNamespace": ns,
                "path": spec.volume,
                "readOnly": spec.access_mode == AccessMode::ReadOnlyMany,
            },
        }}),
    );
    let claim = Object::new(
        "v1",
        "PersistentVolumeClaim",
        Meta::namespaced(&names.claim, ns).label(VOLUME_LABEL, &names.volume_label),
        json!({"spec": {
            "accessModes": [spec.access_mode.as_str()],
            "resources": {"requests": {"storage": spec.size.as_str()}},
            "storageClassName": "",
            "volumeMode": "Filesystem",
            "volumeName": names.pv,
            "selector": {"matchLabels": {VOLUME_LABEL: names.volume_label}},
        }}),
    );
    let example = example_deployment(&names, ns, spec.fs_group, spec.access_mode);

    if spec.reclaim == ReclaimPolicy::Delete {
        notes.push(format!(
            "--reclaim Delete: the in-tree glusterfs plugin can only delete volumes it provisioned itself; \
             for volume {} the PersistentVolume will go to phase Failed and the data stays (as with Retain)",
            spec.volume
        ));
    }
    Ok(Bundle {
        objects: vec![endpoints, service, pv, claim, example],
        notes,
    })
}

/// Refuses what cannot work and returns remarks about what was not checked.
fn check(spec: &StaticPvSpec) -> Result<Vec<String>, KubeError> {
    let mut notes = Vec::new();
    match spec.kube_version {
        Some(v) if !v.has_in_tree_glusterfs() => {
            return Err(KubeError::InTreeRemoved {
                version: v.to_string(),
            });
        }
        Some(_) => {}
        None => notes.push(
            "no --kube-version given: this chain needs Kubernetes 1.25 or older (the in-tree glusterfs \
             plugin was removed in 1.26; use `brickyard kube csi` there)"
                .to_owned(),
        ),
    }
    brickyard_model::names::check_volume_name(&spec.volume).map_err(|e| KubeError::BadName {
        flag: "--volume",
        value: spec.volume.clone(),
        problem: e.problem,
        fix: e.fix.to_owned(),
    })?;
    check_label("--namespace", &spec.namespace, 63)?;
    if let Some(claim) = &spec.claim {
        // 50 leaves room for the example's `-writer` within a 63-character label.
        check_label("--claim", claim, 50)?;
    }
    if !(1..=i64::from(i32::MAX)).contains(&spec.fs_group) {
        return Err(KubeError::BadGroup {
            value: spec.fs_group,
            problem: if spec.fs_group == 0 {
                "is root's group, which grants nothing a non-root container lacks".into()
            } else {
                "is out of range".into()
            },
        });
    }
    if spec.hosts.is_empty() {
        return Err(KubeError::NoHosts {
            fix: "load the host configs with `brickyard config load FILE...`, or pass --hosts IP,IP for a cluster brickyard does not manage".into(),
        });
    }
    for (i, ip) in spec.hosts.iter().enumerate() {
        let problem = if ip.is_loopback() {
            Some("is a loopback address, which pods cannot reach glusterd on")
        } else if ip.is_unspecified() || ip.is_multicast() {
            Some("is not a host's address")
        } else if spec.hosts[..i].contains(ip) {
            Some("is listed twice")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(KubeError::BadHost {
                flag: "--hosts",
                value: ip.to_string(),
                problem: problem.to_owned(),
            });
        }
    }
    match &spec.known {
        None => notes.push(format!(
            "volume {} is not one brickyard manages: its existence and size were not checked; make sure it \
             exists on the GlusterFS cluster and holds at least {}",
            spec.volume, spec.size
        )),
        Some(k) if k.name != spec.volume => {
            return Err(KubeError::VolumeMismatch {
                requested: spec.volume.clone(),
                known: k.name.clone(),
            });
        }
        Some(KnownVolume {
            size_bytes: Some(volume_size),
            ..
        }) if spec.size.bytes() > *volume_size => {
            return Err(KubeError::SizeExceedsVolume {
                size: spec.size.to_string(),
                volume: spec.volume.clone(),
                volume_size: *volume_size,
            });
        }
        Some(KnownVolume {
            size_bytes: None, ..
        }) => notes.push(format!(
            "volume {} is managed by brickyard, but not every host of its bricks has reported its brick sizes (is its agent running?): the size was not checked",
            spec.volume
        )),
        Some(_) => {}
    }
    Ok(notes)
}

/// A Deployment whose non-root container writes into the claim: the proof that the chain
/// works, and the shape to copy.
pub(crate) fn example_deployment(
    names: &ChainNames,
    namespace: &str,
    gid: i64,
    access: AccessMode,
) -> Object {
    let meta = Meta::namespaced(&names.example, namespace)
        .label("app.kubernetes.io/name", &names.example)
        .label("app.kubernetes.io/component", "example");
    let labels = json!({"app.kubernetes.io/name": names.example});
    let read_only = access == AccessMode::ReadOnlyMany;
    let script = if read_only {
        "while true; do ls -l /data; sleep 60; done"
    } else {
        "while true; do date >> /data/written-by-example.log; sleep 60; done"
    };
    Object::new(
        "apps/v1",
        "Deployment",
        meta,
        json!({"spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": EXAMPLE_UID,
                        "runAsGroup": gid,
                        // Adds the volume's group to the container's groups; with a CSI
                        // driver whose fsGroupPolicy is File, kubelet also hands the volume
                        // to this group.
                        "fsGroup": gid,
                        "fsGroupChangePolicy": "OnRootMismatch",
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [{
                        "name": "writer",
                        "image": EXAMPLE_IMAGE,
                        "command": ["sh", "-c", script],
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": read_only}],
                    }],
                    "volumes": [{
                        "name": "data",
                        "persistentVolumeClaim": {"claimName": names.claim, "readOnly": read_only},
                    }],
                },
            },
        }}),
    )
}
