//! edgerun's Worker: routes requests to one session Durable Object per session, which keeps
//! metadata in SQLite, files in R2 and runs code through its executor.
//!
//! `core` is platform-free and tested natively; `entry`, `session`, `store` and `executor` are
//! the thin workers-rs adapters.
#![forbid(unsafe_code)]

pub mod core;
pub mod entry;
pub mod executor;
pub mod mcp;
pub mod ops;
pub mod platform;
pub mod registry;
pub mod rpc;
pub mod session;
pub mod store;
