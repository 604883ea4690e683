//! Kubernetes manifests for a brickyard cluster.
//!
//! Three bundles, one module each:
//! - [`nodes`]: the objects that run `brickyard node run` on every storage host (the first
//!   seed's hand-written pods, as a DaemonSet or one pod per host);
//! - [`static_pv`]: the in-tree GlusterFS chain of the second seed (Endpoints, Service,
//!   PersistentVolume, PersistentVolumeClaim, an example Deployment), for clusters up to
//!   Kubernetes 1.25;
//! - [`csi`]: the deployment bundle of brickyard's CSI driver.
//!
//! Architecture invariant: this crate is pure. It builds objects from the values it is given
//! and renders them as text; it never reads files, talks to a store or to Kubernetes. The
//! CLI gathers the inputs and writes the output.
//!
//! Objects are `serde_json::Value`s built in a fixed order (serde_json keeps insertion order
//! in this workspace), so the same input always renders to the same bytes.

mod common;
pub mod csi;
mod error;
pub mod names;
pub mod nodes;
mod object;
pub mod quantity;
pub mod static_pv;
pub mod version;

pub use brickyard_model::Quantity;
pub use common::{ETCD_TLS_DIR, StoreSettings};
pub use error::KubeError;
pub use object::{Bundle, Meta, Object};
pub use quantity::parse_quantity;
pub use version::KubeVersion;

/// Labels every object carries, so that `kubectl get -l app.kubernetes.io/part-of=brickyard`
/// finds them all. Keys and values are fixed strings.
pub const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "brickyard");

/// The `managed-by` label: these objects are generated, edit the input and regenerate.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "brickyard");

/// The namespace the node agents and the CSI driver go to unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "brickyard-system";

/// The image used when none is given: the locally built brickyard image of this version.
/// There is no public registry for it; build and push it, or pass `--image`.
pub fn default_image() -> String {
    format!("localhost/brickyard:{}", env!("CARGO_PKG_VERSION"))
}
