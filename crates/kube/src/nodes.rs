//! The objects that run `brickyard node run` on every storage host: the first seed's
//! hand-written pods (one per host, pinned, host networking, privileged, the host's gluster
//! directories mounted in), generated from the host configs, or a DaemonSet over labelled
//! nodes.
//!
//! Probes, and what they run:
//! - startup and liveness mean "glusterd answers": a TCP connect to port 24007 on the host's
//!   storage address for a pod of one known host, or `brickyard node health --glusterd` for
//!   the DaemonSet, whose one template cannot name each host's address (glusterd binds to
//!   the storage address only, which need not be the node's address that a TCP probe would
//!   dial). A glusterd that stops answering gets the container restarted.
//! - readiness means "the agent is healthy": `brickyard node health`, which exits 0 only
//!   when the agent reports itself healthy. A node that is not ready is only reported, never
//!   restarted: restarting a storage node that is healing would make things worse.

use brickyard_model::HostConfig;
use serde_json::{Value, json};

use crate::common::{StoreSettings, host_path, namespace, service_account};
use crate::names::check_label;
use crate::object::{Meta, Object};
use crate::{Bundle, KubeError};

/// The node label that opts a node into running a storage agent (DaemonSet layout):
/// `kubectl label node NODE brickyard.io/storage-host=true`.
pub const STORAGE_HOST_LABEL: &str = "brickyard.io/storage-host";

/// The name of the agent's DaemonSet, service account and `app.kubernetes.io/name` label.
pub const NODE_AGENT: &str = "brickyard-node";

/// glusterd's management port, which clients fetch volume files from.
pub const GLUSTERD_PORT: u16 = 24007;

/// The command a readiness probe runs: exits 0 when the node agent is healthy.
pub const READINESS_COMMAND: &[&str] = &["brickyard", "node", "health"];

/// The command a liveness probe runs where it cannot dial glusterd itself: exits 0 when
/// glusterd answers.
pub const LIVENESS_COMMAND: &[&str] = &["brickyard", "node", "health", "--glusterd"];

/// How the agents are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One DaemonSet on the nodes labelled [`STORAGE_HOST_LABEL`] that have a host config.
    DaemonSet,
    /// One Pod per host, named after its `GlusterNodeName`, as in the seed.
    PodPerHost,
}

/// What `brickyard kube nodes` was asked for.
#[derive(Debug, Clone)]
pub struct NodesSpec {
    /// The brickyard image.
    pub image: String,
    /// The namespace for the agents.
    pub namespace: String,
    /// DaemonSet or one pod per host.
    pub layout: Layout,
    /// How the agents reach the store.
    pub store: StoreSettings,
}

/// Builds the node agents' objects for `hosts` (any order; the output is sorted by host).
pub fn bundle(hosts: &[HostConfig], spec: &NodesSpec) -> Result<Bundle, KubeError> {
    check_label("--namespace", &spec.namespace, 63)?;
    if spec.image.trim().is_empty() || spec.image.contains(char::is_whitespace) {
        return Err(KubeError::BadName {
            flag: "--image",
            value: spec.image.clone(),
            problem: "is not an image reference".into(),
            fix: "name the brickyard image, e.g. registry.example.com/brickyard:0.1.0".into(),
        });
    }
    if hosts.is_empty() {
        return Err(KubeError::NoHosts {
            fix: "the store holds no valid host config; load them with `brickyard config load FILE...`".into(),
        });
    }
    let mut hosts: Vec<&HostConfig> = hosts.iter().collect();
    hosts.sort_by(|a, b| a.host_name.cmp(&b.host_name));

    let mut objects = vec![
        namespace(&spec.namespace),
        service_account(NODE_AGENT, &spec.namespace, "node-agent", false),
    ];
    match spec.layout {
        Layout::DaemonSet => objects.push(daemon_set(&hosts, spec)),
        Layout::PodPerHost => objects.extend(hosts.iter().map(|h| pod(h, spec))),
    }
    Ok(Bundle {
        objects,
        notes: spec.store.notes(hosts.len()),
    })
}

/// Kubernetes lowercases host names in the `kubernetes.io/hostname` label and object names
/// must be lowercase; host names are case-insensitive, so nothing is lost.
fn k8s_host(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn selector_labels() -> Value {
    json!({"app.kubernetes.io/name": NODE_AGENT})
}

fn daemon_set(hosts: &[&HostConfig], spec: &NodesSpec) -> Object {
    let names: Vec<String> = hosts.iter().map(|h| k8s_host(&h.host_name)).collect();
    // The template mounts every brick mount point any host has; a host with fewer bricks
    // gets an empty directory it never uses.
    let bricks = hosts.iter().map(|h| h.bricks().len()).max().unwrap_or(1);
    let host_arg = json!({"name": "BRICKYARD_HOST", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}});
    let liveness = json!({"exec": {"command": LIVENESS_COMMAND}});
    let mut pod_spec = pod_spec(spec, host_arg, bricks, liveness);
    // The label is the operator's opt-in; the affinity keeps the agent off a labelled node
    // that has no host config, where it could only fail.
    pod_spec.insert("nodeSelector".into(), json!({STORAGE_HOST_LABEL: "true"}));
    pod_spec.insert(
        "affinity".into(),
        json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": names}
            ]}]
        }}}),
    );
    let meta = Meta::namespaced(NODE_AGENT, &spec.namespace)
        .label("app.kubernetes.io/name", NODE_AGENT)
        .label("app.kubernetes.io/component", "node-agent");
    let template_labels = meta_labels(&meta);
    Object::new(
        "apps/v1",
        "DaemonSet",
        meta,
        json!({"spec": {
            "selector": {"matchLabels": selector_labels()},
            // A rolling update would restart the next storage node while the previous one
            // is still healing; the operator deletes each pod once `gluster volume heal
            // VOLUME info` is clean.
            "updateStrategy": {"type": "OnDelete"},
            "template": {
                "metadata": {"labels": template_labels},
                "spec": Value::Object(pod_spec),
            },
        }}),
    )
}

fn pod(host: &HostConfig, spec: &NodesSpec) -> Object {
    let host_arg = json!({"name": "BRICKYARD_HOST", "value": host.host_name});
    // One host's pod knows the address glusterd binds to, so the probe dials it directly.
    let liveness = json!({"tcpSocket": {"host": host.ip().to_string(), "port": GLUSTERD_PORT}});
    let mut pod_spec = pod_spec(spec, host_arg, host.bricks().len(), liveness);
    pod_spec.insert(
        "nodeSelector".into(),
        json!({"kubernetes.io/hostname": k8s_host(&host.host_name)}),
    );
    let name = k8s_host(&host.gluster_node_name);
    let meta = Meta::namespaced(&name, &spec.namespace)
        .label("app.kubernetes.io/name", NODE_AGENT)
        .label("app.kubernetes.io/component", "node-agent")
        .label("app.kubernetes.io/instance", &k8s_host(&host.host_name));
    Object::new("v1", "Pod", meta, json!({"spec": Value::Object(pod_spec)}))
}

fn meta_labels(meta: &Meta) -> Value {
    crate::object::pairs(&meta.labels)
}

/// The pod spec shared by both layouts. `host_env` tells the agent which host it is;
/// `bricks` is how many brick mount points to mount.
fn pod_spec(
    spec: &NodesSpec,
    host_env: Value,
    bricks: usize,
    liveness: Value,
) -> serde_json::Map<String, Value> {
    let mut env = vec![host_env];
    env.extend(spec.store.env());

    // The seed's docker run: the gluster state and logs live on the host, so a new
    // container picks up the same peer UUID, volumes and bricks.
    let mut mounts = Vec::new();
    let mut volumes = Vec::new();
    for (name, path) in [
        ("etc-glusterfs", "/etc/glusterfs"),
        ("var-lib-glusterd", "/var/lib/glusterd"),
        ("var-log-glusterfs", "/var/log/glusterfs"),
    ] {
        mounts.push(json!({"name": name, "mountPath": path}));
        volumes.push(host_path(name, path, "DirectoryOrCreate"));
    }
    mounts.push(json!({"name": "dev", "mountPath": "/dev"}));
    volumes.push(host_path("dev", "/dev", "Directory"));
    for i in 0..bricks {
        let name = format!("brick{}", i + 1);
        let path = brickyard_model::host::brick_mount_point(i);
        // Bidirectional: a brick the agent mounts shows on the host too, so it survives a
        // container restart, and a brick mounted on the host shows in the container.
        mounts.push(json!({"name": name, "mountPath": path, "mountPropagation": "Bidirectional"}));
        volumes.push(host_path(&name, &path, "DirectoryOrCreate"));
    }
    mounts.extend(spec.store.mounts());
    volumes.extend(spec.store.volumes());

    let container = json!({
        "name": "node",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["brickyard", "node", "run", "--host", "$(BRICKYARD_HOST)"],
        "env": env,
        "securityContext": {"privileged": true},
        // First start prepares bricks and forms the pool: allow it five minutes.
        "startupProbe": probe(&liveness, 10, 5, 30),
        "livenessProbe": probe(&liveness, 20, 5, 3),
        "readinessProbe": probe(&json!({"exec": {"command": READINESS_COMMAND}}), 10, 5, 3),
        // Requests only: a memory limit would let the kernel kill glusterd and its bricks.
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
        "volumeMounts": mounts,
    });

    let mut pod = serde_json::Map::new();
    pod.insert("serviceAccountName".into(), json!(NODE_AGENT));
    pod.insert("automountServiceAccountToken".into(), json!(false));
    // glusterd binds to the host's storage address, which only the host network has.
    pod.insert("hostNetwork".into(), json!(true));
    pod.insert("dnsPolicy".into(), json!("ClusterFirstWithHostNet"));
    pod.insert("priorityClassName".into(), json!("system-node-critical"));
    // The agent stops glusterd and its brick processes cleanly on SIGTERM.
    pod.insert("terminationGracePeriodSeconds".into(), json!(60));
    pod.insert("containers".into(), json!([container]));
    pod.insert("volumes".into(), Value::Array(volumes));
    pod
}

fn probe(action: &Value, period: u32, timeout: u32, failures: u32) -> Value {
    let mut p = action.as_object().cloned().unwrap_or_default();
    p.insert("periodSeconds".into(), json!(period));
    p.insert("timeoutSeconds".into(), json!(timeout));
    p.insert("failureThreshold".into(), json!(failures));
    Value::Object(p)
}
