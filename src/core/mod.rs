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

/// The name a unit-variant enum goes by on the wire and in storage (its serde name, e.g.
/// `"timeout"`); empty for anything that does not serialize to a string.
pub fn wire_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

/// The enum value a stored name stands for ([`wire_name`]'s inverse); `None` for a name it
/// does not have.
pub fn from_wire_name<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        use api::{ProcessKilledBy, ProcessStatus};
        assert_eq!(wire_name(&edgerun_protocol::ProcessKilledBy::Processes), "processes");
        assert_eq!(from_wire_name::<ProcessKilledBy>("deleted"), Some(ProcessKilledBy::Deleted));
        assert_eq!(from_wire_name::<ProcessStatus>("killed"), Some(ProcessStatus::Killed));
        assert_eq!(from_wire_name::<ProcessStatus>("gone"), None);
        assert_eq!(wire_name(&edgerun_protocol::KilledBy::Timeout), "timeout");
    }
}
