//! The deployment bundle of brickyard's CSI driver: what replaces the in-tree chain from
//! Kubernetes 1.26 on, and what makes volumes dynamic (a claim against a StorageClass
//! creates the storage; deleting it removes the storage, which is what Recycle never did).
//!
//! The driver itself (`brickyard csi controller` and `brickyard csi node`) speaks CSI on the
//! Unix socket given by `--endpoint`; the standard sidecars translate Kubernetes objects into
//! CSI calls. Sidecar images are pinned to one tested set.
//!
//! Permissions: the CSIDriver declares `fsGroupPolicy: File`, so kubelet hands every mounted
//! volume to the pod's `fsGroup` (group owner and group-writable), and a non-root container
//! can write without any preparation of the volume.

use serde_json::{Value, json};

use crate::common::{StoreSettings, host_path, namespace, service_account};
use crate::names::check_label;
use crate::object::{Meta, Object, pairs};
use crate::{Bundle, KubeError};

pub use brickyard_model::records::claim::DRIVER_NAME;
use brickyard_model::records::claim::params;

/// The external-provisioner sidecar: CreateVolume/DeleteVolume for claims.
pub const PROVISIONER_IMAGE: &str = "registry.k8s.io/sig-storage/csi-provisioner:v5.2.0";
/// The external-resizer sidecar: ControllerExpandVolume for grown claims.
pub const RESIZER_IMAGE: &str = "registry.k8s.io/sig-storage/csi-resizer:v1.13.2";
/// The node-driver-registrar sidecar: registers the node plugin with kubelet.
pub const REGISTRAR_IMAGE: &str = "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.13.0";
/// The livenessprobe sidecar: turns the driver's CSI Probe into an HTTP health check.
pub const LIVENESS_IMAGE: &str = "registry.k8s.io/sig-storage/livenessprobe:v2.15.0";

/// The controller's Deployment and service account.
pub const CONTROLLER: &str = "brickyard-csi-controller";
/// The node plugin's DaemonSet and service account.
pub const NODE: &str = "brickyard-csi-node";
/// The StorageClass that gives each claim a subdirectory of one shared volume.
pub const SUBDIR_CLASS: &str = "brickyard-subdir";
/// The StorageClass that gives each claim a GlusterFS volume of its own.
pub const VOLUME_CLASS: &str = "brickyard-volume";

/// The kubelet's directory on the nodes (where CSI mounts and sockets live).
pub const KUBELET_DIR: &str = "/var/lib/kubelet";

/// The health port of the node plugin's livenessprobe sidecar. The node plugin runs on the
/// host network, so this port is taken on every node; 9808 (the sidecar's default) is left
/// to other drivers.
pub const NODE_HEALTH_PORT: u16 = 9809;
/// The health port of the controller's livenessprobe sidecar (pod network).
pub const CONTROLLER_HEALTH_PORT: u16 = 9808;

/// What `brickyard kube csi` was asked for.
#[derive(Debug, Clone)]
pub struct CsiSpec {
    /// The brickyard image.
    pub image: String,
    /// The namespace of the controller and the node plugin.
    pub namespace: String,
    /// How the driver reaches the store.
    pub store: StoreSettings,
    /// The volume that holds the subdirectories of [`SUBDIR_CLASS`].
    pub shared_volume: String,
}

/// Builds the CSI driver's bundle.
pub fn bundle(spec: &CsiSpec) -> Result<Bundle, KubeError> {
    check_label("--namespace", &spec.namespace, 63)?;
    brickyard_model::names::check_volume_name(&spec.shared_volume).map_err(|e| {
        KubeError::BadName {
            flag: "--shared-volume",
            value: spec.shared_volume.clone(),
            problem: e.problem,
            fix: e.fix.to_owned(),
        }
    })?;
    let ns = spec.namespace.as_str();
    let objects = vec![
        namespace(ns),
        csi_driver(),
        service_account(CONTROLLER, ns, "csi-controller", true),
        // The node plugin only serves kubelet on its socket; it needs no API access.
        service_account(NODE, ns, "csi-node", false),
        cluster_role("brickyard-csi-provisioner", provisioner_rules()),
        cluster_role_binding("brickyard-csi-provisioner", ns),
        cluster_role("brickyard-csi-resizer", resizer_rules()),
        cluster_role_binding("brickyard-csi-resizer", ns),
        leader_election_role(ns),
        leader_election_binding(ns),
        controller(spec),
        node(spec),
        storage_class(
            SUBDIR_CLASS,
            &[
                (params::PROVISIONING, "subdir"),
                (params::SHARED_VOLUME, &spec.shared_volume),
            ],
        ),
        storage_class(VOLUME_CLASS, &[(params::PROVISIONING, "volume")]),
    ];
    Ok(Bundle {
        objects,
        notes: spec.store.notes(0),
    })
}

fn csi_driver() -> Object {
    Object::new(
        "storage.k8s.io/v1",
        "CSIDriver",
        Meta::cluster(DRIVER_NAME),
        json!({"spec": {
            // A network filesystem has nothing to attach to a node.
            "attachRequired": false,
            // The node plugin learns which pod a mount is for (names in its logs).
            "podInfoOnMount": true,
            // kubelet hands mounted volumes to the pod's fsGroup: non-root pods can write.
            "fsGroupPolicy": "File",
            "volumeLifecycleModes": ["Persistent"],
        }}),
    )
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

/// What external-provisioner reads and writes (its upstream RBAC, without snapshots).
fn provisioner_rules() -> Vec<Value> {
    let watch = ["get", "list", "watch"];
    vec![
        rule(
            &[""],
            &["persistentvolumes"],
            &["get", "list", "watch", "create", "patch", "delete"],
        ),
        rule(
            &[""],
            &["persistentvolumeclaims"],
            &["get", "list", "watch", "update"],
        ),
        rule(&["storage.k8s.io"], &["storageclasses"], &watch),
        rule(
            &[""],
            &["events"],
            &["list", "watch", "create", "update", "patch"],
        ),
        rule(&["storage.k8s.io"], &["csinodes"], &watch),
        rule(&[""], &["nodes"], &watch),
        rule(&["storage.k8s.io"], &["volumeattachments"], &watch),
        rule(&["storage.k8s.io"], &["volumeattributesclasses"], &watch),
    ]
}

/// What external-resizer reads and writes (its upstream RBAC).
fn resizer_rules() -> Vec<Value> {
    let watch = ["get", "list", "watch"];
    vec![
        rule(
            &[""],
            &["persistentvolumes"],
            &["get", "list", "watch", "patch"],
        ),
        rule(&[""], &["persistentvolumeclaims"], &watch),
        rule(&[""], &["pods"], &watch),
        rule(&[""], &["persistentvolumeclaims/status"], &["patch"]),
        rule(
            &[""],
            &["events"],
            &["list", "watch", "create", "update", "patch"],
        ),
        rule(&["storage.k8s.io"], &["volumeattributesclasses"], &watch),
    ]
}

fn cluster_role(name: &str, rules: Vec<Value>) -> Object {
    Object::new(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        Meta::cluster(name).label("app.kubernetes.io/component", "csi-controller"),
        json!({"rules": rules}),
    )
}

fn controller_subject(ns: &str) -> Value {
    json!([{"kind": "ServiceAccount", "name": CONTROLLER, "namespace": ns}])
}

fn cluster_role_binding(name: &str, ns: &str) -> Object {
    Object::new(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        Meta::cluster(name).label("app.kubernetes.io/component", "csi-controller"),
        json!({
            "subjects": controller_subject(ns),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        }),
    )
}

const LEADER_ELECTION: &str = "brickyard-csi-leader-election";

/// Both sidecars elect a leader with a Lease in their own namespace, so the controller can
/// run more than one replica.
fn leader_election_role(ns: &str) -> Object {
    Object::new(
        "rbac.authorization.k8s.io/v1",
        "Role",
        Meta::namespaced(LEADER_ELECTION, ns)
            .label("app.kubernetes.io/component", "csi-controller"),
        json!({"rules": [rule(
            &["coordination.k8s.io"],
            &["leases"],
            &["get", "watch", "list", "delete", "update", "create"],
        )]}),
    )
}

fn leader_election_binding(ns: &str) -> Object {
    Object::new(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        Meta::namespaced(LEADER_ELECTION, ns)
            .label("app.kubernetes.io/component", "csi-controller"),
        json!({
            "subjects": controller_subject(ns),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": LEADER_ELECTION},
        }),
    )
}

const SOCKET_DIR: &str = "/csi";
const SOCKET: &str = "/csi/csi.sock";

fn sidecar(name: &str, image: &str, args: &[String]) -> Value {
    json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        "volumeMounts": [{"name": "socket-dir", "mountPath": SOCKET_DIR}],
    })
}

fn health_probe() -> Value {
    json!({
        "httpGet": {"path": "/healthz", "port": "healthz"},
        "periodSeconds": 10,
        "timeoutSeconds": 3,
        "failureThreshold": 5,
    })
}

fn controller(spec: &CsiSpec) -> Object {
    let ns = spec.namespace.as_str();
    let labels = json!({"app.kubernetes.io/name": CONTROLLER});
    let meta = Meta::namespaced(CONTROLLER, ns)
        .label("app.kubernetes.io/name", CONTROLLER)
        .label("app.kubernetes.io/component", "csi-controller");
    let template_labels = pairs(&meta.labels);
    let csi_address = format!("--csi-address={SOCKET}");
    // Creating a GlusterFS volume means agreeing bricks on several hosts: give it time.
    let timeout = "--timeout=120s".to_owned();
    let mut mounts = vec![json!({"name": "socket-dir", "mountPath": SOCKET_DIR})];
    mounts.extend(spec.store.mounts());
    let mut volumes = vec![json!({"name": "socket-dir", "emptyDir": {}})];
    volumes.extend(spec.store.volumes());
    let driver = json!({
        "name": "brickyard",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["brickyard", "csi", "controller", format!("--endpoint=unix://{SOCKET}")],
        "env": spec.store.env(),
        "ports": [{"name": "healthz", "containerPort": CONTROLLER_HEALTH_PORT, "protocol": "TCP"}],
        "livenessProbe": health_probe(),
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}},
        "volumeMounts": mounts,
    });
    Object::new(
        "apps/v1",
        "Deployment",
        meta,
        json!({"spec": {
            // One replica is enough (a restarted controller picks up where it left off);
            // the sidecars elect a leader, so more replicas are safe.
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": template_labels},
                "spec": {
                    "serviceAccountName": CONTROLLER,
                    "priorityClassName": "system-cluster-critical",
                    "containers": [
                        sidecar("csi-provisioner", PROVISIONER_IMAGE, &[
                            "--v=2".to_owned(),
                            csi_address.clone(),
                            "--leader-election".to_owned(),
                            // Passes the claim's name and namespace to CreateVolume, so that
                            // volumes and subdirectories can be named after their claims.
                            "--extra-create-metadata".to_owned(),
                            timeout.clone(),
                        ]),
                        sidecar("csi-resizer", RESIZER_IMAGE, &[
                            "--v=2".to_owned(),
                            csi_address.clone(),
                            "--leader-election".to_owned(),
                            timeout,
                        ]),
                        sidecar("liveness-probe", LIVENESS_IMAGE, &[
                            csi_address,
                            format!("--health-port={CONTROLLER_HEALTH_PORT}"),
                        ]),
                        driver,
                    ],
                    "volumes": volumes,
                },
            },
        }}),
    )
}

fn node(spec: &CsiSpec) -> Object {
    let ns = spec.namespace.as_str();
    let labels = json!({"app.kubernetes.io/name": NODE});
    let meta = Meta::namespaced(NODE, ns)
        .label("app.kubernetes.io/name", NODE)
        .label("app.kubernetes.io/component", "csi-node");
    let template_labels = pairs(&meta.labels);
    let plugin_dir = format!("{KUBELET_DIR}/plugins/{DRIVER_NAME}");
    let registration_path = format!("--kubelet-registration-path={plugin_dir}/csi.sock");
    let mut registrar = sidecar(
        "node-driver-registrar",
        REGISTRAR_IMAGE,
        &[
            "--v=2".to_owned(),
            format!("--csi-address={SOCKET}"),
            registration_path.clone(),
        ],
    );
    if let Some(c) = registrar.as_object_mut() {
        c.insert(
            "livenessProbe".into(),
            json!({
                "exec": {"command": [
                    "/csi-node-driver-registrar",
                    registration_path,
                    "--mode=kubelet-registration-probe",
                ]},
                "periodSeconds": 30,
                "timeoutSeconds": 15,
            }),
        );
        c.insert(
            "volumeMounts".into(),
            json!([
                {"name": "socket-dir", "mountPath": SOCKET_DIR},
                {"name": "registration-dir", "mountPath": "/registration"},
            ]),
        );
    }
    let mut env = vec![
        json!({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}),
    ];
    env.extend(spec.store.env());
    let mut mounts = vec![
        json!({"name": "socket-dir", "mountPath": SOCKET_DIR}),
        // Bidirectional: the GlusterFS mounts the plugin makes under the kubelet's directory
        // must be seen by kubelet and by the pods it starts.
        json!({"name": "kubelet-dir", "mountPath": KUBELET_DIR, "mountPropagation": "Bidirectional"}),
        // /dev/fuse for the GlusterFS client.
        json!({"name": "dev", "mountPath": "/dev"}),
    ];
    mounts.extend(spec.store.mounts());
    let driver = json!({
        "name": "brickyard",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": [
            "brickyard", "csi", "node",
            format!("--endpoint=unix://{SOCKET}"),
            "--node-id=$(NODE_NAME)",
        ],
        "env": env,
        "ports": [{"name": "healthz", "containerPort": NODE_HEALTH_PORT, "protocol": "TCP"}],
        "livenessProbe": health_probe(),
        // Mounting needs CAP_SYS_ADMIN and /dev/fuse; mount propagation needs privileged.
        "securityContext": {"privileged": true},
        "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}},
        "volumeMounts": mounts,
    });
    let mut volumes = vec![
        host_path("socket-dir", &plugin_dir, "DirectoryOrCreate"),
        host_path(
            "registration-dir",
            &format!("{KUBELET_DIR}/plugins_registry"),
            "Directory",
        ),
        host_path("kubelet-dir", KUBELET_DIR, "Directory"),
        host_path("dev", "/dev", "Directory"),
    ];
    volumes.extend(spec.store.volumes());
    Object::new(
        "apps/v1",
        "DaemonSet",
        meta,
        json!({"spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": template_labels},
                "spec": {
                    "serviceAccountName": NODE,
                    "automountServiceAccountToken": false,
                    // The storage hosts' addresses may be reachable from the host network
                    // only (the seed's IP aliases on the storage subnet).
                    "hostNetwork": true,
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    "priorityClassName": "system-node-critical",
                    // Every node that may run a pod with a GlusterFS volume needs the plugin,
                    // tainted or not.
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        registrar,
                        sidecar("liveness-probe", LIVENESS_IMAGE, &[
                            format!("--csi-address={SOCKET}"),
                            format!("--health-port={NODE_HEALTH_PORT}"),
                        ]),
                        driver,
                    ],
                    "volumes": volumes,
                },
            },
        }}),
    )
}

fn storage_class(name: &str, parameters: &[(&str, &str)]) -> Object {
    let parameters: Vec<(String, String)> = parameters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Object::new(
        "storage.k8s.io/v1",
        "StorageClass",
        Meta::cluster(name),
        json!({
            "provisioner": DRIVER_NAME,
            "parameters": pairs(&parameters),
            // Deleting a claim deletes its volume or subdirectory: what Recycle was meant
            // to be, done by the driver that made it.
            "reclaimPolicy": "Delete",
            "allowVolumeExpansion": true,
            "volumeBindingMode": "Immediate",
        }),
    )
}
