//! The subcommands, one module each.

pub mod config;
pub mod host;
pub mod node;
pub mod status;
pub mod lab;
