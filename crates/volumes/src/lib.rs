//! Declarative GlusterFS volumes.
//!
//! A volume is asked for by writing a [`VolumeRecord`] at `gluster/volumes/<NAME>`; the
//! node agents drive gluster to it and report what they did at
//! `gluster/volume-status/<NAME>` ([`VolumeStatus`]).
//!
//! The layers, as elsewhere in brickyard:
//! - [`record`]: the stored formats (defined in `brickyard_model::records`, re-exported here)
//!   and what a client asks for ([`VolumeSpec`]); [`request`]: flags or JSON to a layout;
//! - [`placement`]: pure — hosts and their bricks in, the chosen bricks (or a refusal) out;
//! - [`plan`]: pure — desired records and gluster's `volume info` in, ordered [`plan::Action`]s out;
//! - [`profile`]: the named option sets applied with `gluster volume set`;
//! - [`api`]: the store operations a client uses: [`create`], [`list`], [`get`],
//!   [`set_state`], [`delete`], [`expand`], [`replace_brick`]. They only touch the store;
//!   the agents act;
//! - [`reconcile`]: what an agent runs each pass: [`reconcile::cluster_pass`] on the pool
//!   lock's holder, [`reconcile::host_pass`] on every host (removal of its own brick
//!   directories of deleted volumes, of leftovers, and of bricks moved away);
//! - [`release`]: pure — the `remove-brick` steps that free a dead host of the bricks of
//!   volumes being deleted, so that it can leave the pool;
//! - [`settings`]: the cluster's settings, applied to gluster's cluster-wide options by the
//!   pool lock's holder.
//!
//! Architecture invariant: placement and planning never spawn a process or touch the store;
//! only [`reconcile`] runs gluster, and only [`reconcile::host_pass`] touches brick
//! directories, each host only its own.
//!
//! # Using the API
//!
//! ```no_run
//! # async fn demo(store: &dyn brickyard_store::Store) -> Result<(), brickyard_volumes::VolumeError> {
//! use brickyard_volumes::{Layout, VolumeSpec, DesiredState};
//! let spec = VolumeSpec::new("gv0", Layout::replicate(3));
//! let record = brickyard_volumes::create(store, &spec).await?; // fails if the name is taken
//! let view = brickyard_volumes::get(store, "gv0").await?;      // record + observed status
//! brickyard_volumes::set_state(store, "gv0", DesiredState::Stopped).await?;
//! brickyard_volumes::delete(store, "gv0", false).await?;       // refused while started
//! # let _ = (record, view); Ok(()) }
//! ```

pub mod api;
pub mod claim_pass;
pub mod claims;
pub mod error;
pub mod placement;
pub mod plan;
pub mod profile;
pub mod reconcile;
pub mod record;
pub mod release;
pub mod request;
pub mod settings;

pub use api::{
    Forgotten, Listing, Replacement, VolumeView, capacity, create, delete, expand, forget, get,
    list, replace_brick, set_state, unmanaged,
};
pub use error::VolumeError;
pub use record::{
    BrickRef, BrickSpace, DesiredState, Layout, LayoutKind, Phase, VolumeRecord, VolumeSpec,
    VolumeStatus,
};
pub use request::{LayoutRefusal, LayoutRequest, layout_field};
