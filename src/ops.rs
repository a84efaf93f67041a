//! The calls between the Worker and its Durable Objects, as types: what the Worker (or another
//! object) asks a session object or the registry to do, and what the registry answers.
//!
//! Every call is one `POST` whose JSON body is the operation (`{"op": "run", …}`); an upload,
//! whose body is the file, carries its operation in [`OP_HEADER`] instead. The session object's
//! answers are the public API's (relayed to the client as they are); the registry's are the
//! answer types below. Nothing here touches the platform, so the encoding is tested natively.
use crate::core::api::SessionSummary;
use crate::core::index::FileRow;
use crate::core::request::{CreateSpec, Idempotency, RunSpec, SettingsSpec, SetupSpec, StoredCodeSpec};
use crate::core::sse::Form;
use crate::store::{PackRow, SessionRow, StoredCode};
use serde::{Deserialize, Serialize};

/// Header carrying the operation of a call whose body is not JSON (an upload's bytes).
pub const OP_HEADER: &str = "x-edgerun-op";

/// What a session object is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum SessionOp {
    /// Create the session (public `POST /api/sessions`).
    Create { spec: CreateSpec },
    /// Run, creating the session on first use (the plugin endpoint `POST /?session=`).
    Plugin { spec: RunSpec, idempotency: Option<Idempotency>, stream: Option<Form> },
    /// Run once in a throwaway session, deleted after (`POST /api/execute`).
    Execute { spec: RunSpec, stream: Option<Form> },
    /// The session object.
    Get,
    /// Change the session's settings.
    Patch { spec: SettingsSpec },
    /// Store the code that runs without `code` run.
    PutCode { spec: StoredCodeSpec },
    /// The stored code.
    GetCode,
    /// Delete the session, its packs and its sandbox.
    Delete,
    /// Run in the session.
    /// (`stream`: answer Server-Sent Events of that form.)
    Run { spec: RunSpec, idempotency: Option<Idempotency>, stream: Option<Form> },
    /// One of the last runs' answers.
    GetRun { run_id: String },
    /// End the running run (or setup).
    Cancel,
    /// The run history, newest first.
    Runs { limit: u32 },
    /// Replace the session's setup and run it in the background.
    Setup { spec: SetupSpec },
    /// The setup's state, or (`stream`) its output as events until it ends.
    GetSetup { stream: Option<Form> },
    /// Source side of a duplicate: share this session's packs with `target`.
    Duplicate { target: String },
    /// Target side of a duplicate (object to object): become a copy of the bundle.
    Import { bundle: Bundle },
    /// The session's files.
    ListFiles,
    /// For the registry's sweep: which packs the session holds.
    Packs,
    /// One file's bytes.
    GetFile { path: String },
    /// Store the call's body as the file at `path` (`length` bytes; the body may be a stream).
    PutFile { path: String, length: u64 },
    /// Delete one file (a link itself, not its target).
    DeleteFile { path: String },
    /// Make a live interpreter context (`python` or `node`).
    CreateContext { language: edgerun_protocol::Language },
    /// The session's contexts.
    ListContexts,
    /// End one context.
    DeleteContext { ctx: String },
    /// Start a background process.
    StartProcess { spec: crate::core::processes::StartSpec },
    /// The session's background processes.
    ListProcesses,
    /// One background process.
    GetProcess { proc: String },
    /// End one background process and everything it started.
    DeleteProcess { proc: String },
    /// A background process's logs (`stream`: followed as events).
    ProcessLogs { proc: String, stream: Option<Form> },
    /// Write to a background process's standard input.
    ProcessInput { proc: String, data: String, eof: bool },
    /// An HTTP request for the app on `port` in the session (the call's body is the request's).
    /// (`websocket`: the request asks to become a WebSocket; the call is then a `GET` upgrade.)
    Port {
        port: u16,
        target: String,
        method: String,
        headers: Vec<(String, String)>,
        length: Option<u64>,
        #[serde(default)]
        websocket: bool,
    },
}

/// Everything a duplicate carries to its new object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bundle {
    pub session: SessionRow,
    pub files: Vec<FileRow>,
    pub packs: Vec<PackRow>,
    pub code: Option<StoredCode>,
    /// The source's contexts: the copy's start from the source's checkpoints (in the files).
    #[serde(default)]
    pub contexts: Vec<crate::core::contexts::ContextRow>,
}

/// What the registry is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum RegistryOp {
    /// List a session (before its object is created) → [`Added`].
    Add { id: String, language: String, created_at: String },
    /// Drop a session from the list (after its object is gone) → [`Done`].
    Remove { id: String },
    /// Record a session's last run → [`Done`].
    Touch { id: String, last_run_at: String },
    /// A page of the list, newest first, before `cursor` → [`Page`].
    List { limit: u32, cursor: Option<i64> },
    /// Packs now shared by one more session → [`Done`].
    AddRef { keys: Vec<String> },
    /// Packs one session no longer holds → [`Freed`]: those no session holds any more.
    DecRef { keys: Vec<String> },
    /// Which of these packs some session still shares → [`Used`].
    Referenced { keys: Vec<String> },
    /// Delete every session listed now: a batch at once, the rest in the background →
    /// `core::api::DeletedAll`.
    DeleteAll,
    /// A create with an `Idempotency-Key` begins → [`Claim`].
    ClaimKey { key: String, hash: String },
    /// That create answered `answer` (201): retries within 24 h get it → [`Done`].
    CompleteKey { key: String, answer: serde_json::Value },
    /// That create failed: the key is free again → [`Done`].
    ReleaseKey { key: String },
}

/// Answer of [`RegistryOp::ClaimKey`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "claim", rename_all = "snake_case")]
pub enum Claim {
    /// The key is new (or its last use is over 24 h old): go on.
    Fresh,
    /// A create with this key and request answered this, within 24 h.
    Replay { answer: serde_json::Value },
    /// A create with this key is under way.
    Busy,
    /// The key was used with another request.
    Mismatch,
}

/// Answer of [`RegistryOp::Add`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Added {
    /// False when the id was listed already.
    pub added: bool,
}

/// Answer of registry operations that only succeed or fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {}

/// Answer of [`RegistryOp::DecRef`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freed {
    /// Keys no session holds any more: only these may be deleted from R2.
    pub free: Vec<String>,
}

/// Answer of [`RegistryOp::Referenced`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Used {
    pub used: Vec<String>,
}

/// A page of the listing, as the registry answers it (the Worker adds `count`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page {
    /// The page's sessions, newest first.
    pub sessions: Vec<SessionSummary>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<String>,
}

/// The session object's answer to [`SessionOp::Packs`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacksHeld {
    /// False when no session lives under this id (a listing entry left by a crash).
    pub exists: bool,
    pub keys: Vec<String>,
}

/// Reads a call's operation, from [`OP_HEADER`] when present (the body is then the call's
/// payload), else from the JSON body. A call nobody could have sent is an internal error.
pub fn decode<T: for<'de> Deserialize<'de>>(header: Option<&str>, body: &[u8]) -> Result<T, String> {
    match header {
        Some(h) => serde_json::from_str(h).map_err(|e| format!("operation header: {e}")),
        None => serde_json::from_slice(body).map_err(|e| format!("operation: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_tagged_objects() {
        let op = RegistryOp::Touch { id: "s1".into(), last_run_at: "2026-01-01T00:00:00Z".into() };
        let json = serde_json::to_value(&op).unwrap();
        assert_eq!(json, serde_json::json!({"op": "touch", "id": "s1", "last_run_at": "2026-01-01T00:00:00Z"}));
        assert_eq!(decode::<RegistryOp>(None, json.to_string().as_bytes()).unwrap(), op);
        let json = serde_json::to_string(&RegistryOp::List { limit: 5, cursor: None }).unwrap();
        assert_eq!(json, r#"{"op":"list","limit":5,"cursor":null}"#);
    }

    #[test]
    fn an_upload_carries_its_operation_in_the_header() {
        let header = serde_json::to_string(&SessionOp::PutFile { path: "a/b.txt".into(), length: 3 }).unwrap();
        match decode::<SessionOp>(Some(&header), b"abc").unwrap() {
            SessionOp::PutFile { path, length } => assert_eq!((path.as_str(), length), ("a/b.txt", 3)),
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn unknown_or_malformed_operations_are_refused() {
        for body in [&br#"{"op":"format_disk"}"#[..], b"not json", b"", br#"{"id":"s1"}"#] {
            assert!(decode::<SessionOp>(None, body).is_err(), "{}", String::from_utf8_lossy(body));
            assert!(decode::<RegistryOp>(None, body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        assert!(decode::<SessionOp>(Some("{"), b"").is_err());
    }
}
