//! The subcommands, one module each.

pub mod config;
pub mod lab;
