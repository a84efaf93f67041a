//! Platform-free session logic: validation, request parsing, errors and the file index
//! arithmetic. Nothing here imports `worker`; `cargo test` runs it natively.
pub mod answer;
pub mod api;
pub mod contexts;
pub mod error;
pub mod ids;
pub mod index;
pub mod lifecycle;
pub mod mcp;
#[cfg(all(test, feature = "schema"))]
mod openapi;
pub mod plan;
pub mod ports;
pub mod processes;
pub mod request;
pub mod route;
pub mod shape;
pub mod sse;
pub mod tools;
pub mod web;
