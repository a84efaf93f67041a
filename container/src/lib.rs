//! The edgerun executor: runs session code under limits and moves session workspaces in and
//! out as packed deltas. `main.rs` is glue; everything here is testable in-process.
#![warn(missing_docs)]
pub mod api;
pub mod cgroup;
pub mod config;
pub mod confine;
pub mod context;
pub mod error;
pub mod firewall;
pub mod lang;
pub mod ports;
pub mod process;
pub mod sandbox;
pub mod session;
pub mod spawn;
pub mod workspace;

pub use api::app;
