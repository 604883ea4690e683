//! The GlusterFS driver.
//!
//! brickyard drives the real `gluster` CLI in script and XML mode (`gluster --mode=script
//! --xml ...`) through brickyard_exec, and parses its answers with pure parsers over bytes
//! ([`parse`]). It also renders glusterd's config so that glusterd binds to one address
//! ([`config`]).
//!
//! Architecture invariant: the parsers and config renderers never run anything or touch
//! files; only [`Gluster`] runs commands, and only the gluster CLI.
//!
//! Facts this crate relies on (gluster 10.3, measured; see docs/gluster-notes.md): with
//! `option transport.socket.bind-address IP` glusterd and its bricks listen only on IP, and
//! the CLI still reaches glusterd through its unix socket, so every command works on a
//! bound node from glusterd's mount namespace; `--remote-host=IP` answers reads only.

pub mod cli;
pub mod config;
pub mod error;
pub mod mount;
pub mod parse;
mod xml;

pub use cli::{Gluster, READ_TIMEOUT, Target, VolumeCreate, WRITE_TIMEOUT};
pub use config::{
    BIND_OPTION, ConfigError, GLUSTERD_INFO, GLUSTERD_SOCKET, GLUSTERD_VOL, GlusterdInfo,
    PACKAGE_GLUSTERD_VOL, bind_address, parse_glusterd_info, render_glusterd_vol, with_uuid,
};
pub use error::{GlusterError, OpFailure, ParseError, ReplyError};
pub use parse::{
    Brick, BrickStatus, DaemonStatus, HealBrick, HealEntry, Peer, PeerState, ProbeOutcome,
    QuotaLimit, RebalanceStatus, VolumeInfo, VolumeOp, VolumeRef, VolumeState, VolumeStatus,
    VolumeTask, parse_switch,
};
