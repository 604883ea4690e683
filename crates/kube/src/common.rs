//! Pieces shared by the bundles: the namespace, service accounts, the store settings that
//! every brickyard container needs, host paths.

use serde_json::{Value, json};

use crate::object::{Meta, Object};

/// How brickyard containers reach the store: what `--store`/`BRICKYARD_STORE` say on the
/// machine the manifests are generated on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// The store URL, e.g. `etcd://10.1.1.10:2379`, passed as `BRICKYARD_STORE`.
    pub url: String,
    /// For a `file://` store: its directory, mounted from the host at the same path. Each
    /// host then has its own store, which only makes sense for a one-host cluster.
    pub file_dir: Option<String>,
    /// A Secret holding `ca.crt`, `tls.crt` and `tls.key` for etcd's TLS, mounted at
    /// [`ETCD_TLS_DIR`].
    pub etcd_tls_secret: Option<String>,
}

/// Where the etcd TLS Secret is mounted in brickyard containers.
pub const ETCD_TLS_DIR: &str = "/etc/brickyard/etcd";

impl StoreSettings {
    /// The environment variables of a brickyard container.
    pub(crate) fn env(&self) -> Vec<Value> {
        let mut env = vec![json!({"name": "BRICKYARD_STORE", "value": self.url})];
        if self.etcd_tls_secret.is_some() {
            for (name, file) in [
                ("BRICKYARD_ETCD_CA", "ca.crt"),
                ("BRICKYARD_ETCD_CERT", "tls.crt"),
                ("BRICKYARD_ETCD_KEY", "tls.key"),
            ] {
                env.push(json!({"name": name, "value": format!("{ETCD_TLS_DIR}/{file}")}));
            }
        }
        env
    }

    /// The volume mounts for the store (file store directory, TLS Secret).
    pub(crate) fn mounts(&self) -> Vec<Value> {
        let mut mounts = Vec::new();
        if let Some(dir) = &self.file_dir {
            mounts.push(json!({"name": "brickyard-store", "mountPath": dir}));
        }
        if self.etcd_tls_secret.is_some() {
            mounts.push(json!({"name": "etcd-tls", "mountPath": ETCD_TLS_DIR, "readOnly": true}));
        }
        mounts
    }

    /// The volumes behind [`Self::mounts`].
    pub(crate) fn volumes(&self) -> Vec<Value> {
        let mut volumes = Vec::new();
        if let Some(dir) = &self.file_dir {
            volumes.push(host_path("brickyard-store", dir, "DirectoryOrCreate"));
        }
        if let Some(secret) = &self.etcd_tls_secret {
            // 0400: the key is readable by the container's user only.
            volumes.push(json!({
                "name": "etcd-tls",
                "secret": {"secretName": secret, "defaultMode": 0o400},
            }));
        }
        volumes
    }

    /// Remarks about settings that will not work as the person may expect.
    pub(crate) fn notes(&self, hosts: usize) -> Vec<String> {
        match &self.file_dir {
            Some(dir) if hosts != 1 => vec![format!(
                "the store is the file store in {dir}: every host would read its own copy; \
                 pass --store etcd://HOST:PORT so that all hosts share one"
            )],
            _ => Vec::new(),
        }
    }
}

/// A `hostPath` volume.
pub(crate) fn host_path(name: &str, path: &str, kind: &str) -> Value {
    json!({"name": name, "hostPath": {"path": path, "type": kind}})
}

/// The namespace brickyard's pods run in. Its pods are privileged, so the namespace says so
/// for Pod Security Admission; a cluster whose default level is `baseline` or `restricted`
/// would refuse them otherwise.
pub(crate) fn namespace(name: &str) -> Object {
    let mut meta = Meta::cluster(name);
    for mode in ["enforce", "audit", "warn"] {
        meta = meta.label(&format!("pod-security.kubernetes.io/{mode}"), "privileged");
    }
    Object::new("v1", "Namespace", meta, json!({}))
}

/// A service account; `token` says whether its pods get an API token. Pods that never talk
/// to the Kubernetes API get none, so that a privileged container holds no credentials.
pub(crate) fn service_account(name: &str, namespace: &str, component: &str, token: bool) -> Object {
    Object::new(
        "v1",
        "ServiceAccount",
        Meta::namespaced(name, namespace).label("app.kubernetes.io/component", component),
        json!({"automountServiceAccountToken": token}),
    )
}
