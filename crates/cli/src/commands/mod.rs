//! The subcommands, one module each.

pub mod config;
pub mod csi;
pub mod host;
pub mod kube;
pub mod lab;
pub mod node;
pub mod serve;
pub mod status;
pub mod volume;
