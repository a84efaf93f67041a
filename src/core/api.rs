//! The public HTTP API as types: every request body and every answer, in one place.
//!
//! **Answers** are built from these types and serialized (the session object, the routes and the
//! Worker never assemble an answer with `json!`), so what the schema says is what goes out. Their
//! serde derives `deny_unknown_fields`, which schemars turns into `additionalProperties: false`,
//! and every field that is always written is `required`: the end-to-end suite checks each answer
//! it receives against these schemas (`tests/helpers.mjs`), so a field added, renamed or retyped
//! here without the schema (or there without the type) fails it.
//!
//! **Requests** are described here for the schema only: `core::request` keeps parsing them by
//! hand, because its messages and its 400/422 split (`timeout: 1.5` is a bad value, 400; `timeout:
//! "5"` a mistyped field, 422; `id` with its alias `session_id`) are part of the contract and a
//! derive would word and classify them differently. Unknown request fields are ignored and `null`
//! counts as absent, which is what these schemas say (no `additionalProperties: false`, nullable
//! optional fields).
//!
//! Schemas are derived with **schemars** (1.x) behind the `schema` feature, so the wasm build never
//! contains it. schemars rather than utoipa: we build the OpenAPI document ourselves from a route
//! table (`core::openapi`, a test), and only need JSON Schemas of the types; utoipa would bring
//! its own document model and a macro per handler into the Worker's code. schemars emits JSON
//! Schema 2020-12, which is what OpenAPI 3.1 uses.
#[cfg(feature = "schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// An object of any JSON values (`data`, `metadata`).
pub type JsonObject = Map<String, Value>;

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// `GET /health`: the Worker is up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Always `ok`.
    #[cfg_attr(feature = "schema", schemars(extend("const" = "ok")))]
    pub status: String,
    /// The Worker crate's version.
    pub version: String,
}

impl Health {
    /// The Worker's own health answer.
    pub fn ok() -> Health {
        Health { status: "ok".into(), version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// The session object: answered by create, get, setup and duplicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The session id: 1 to 64 of `A-Z a-z 0-9 _ -`.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub id: String,
    /// The session's language, by its canonical name.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::language"))]
    pub language: String,
    /// `false`: each run's changes to the workspace are discarded.
    pub persistent: bool,
    /// When the session was created (RFC 3339, UTC, milliseconds).
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub created_at: String,
    /// End of the last counted run; `null` before the first.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::nullable_date_time"))]
    pub last_run_at: Option<String>,
    /// Counted runs: `/run` and plugin calls (setups and refused or failed requests do not count).
    pub run_count: u64,
    /// Entries the files API lists.
    pub file_count: u64,
    /// Sum of their sizes, in bytes.
    pub total_size_bytes: u64,
    /// Stored as given at create (or replaced whole by `PATCH`), never interpreted.
    pub metadata: JsonObject,
    /// The session's data, carried from run to run through `.session_data.json`.
    pub data: JsonObject,
    /// `none`, `pending`, `running`, `completed` or `failed`.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::setup_status"))]
    pub setup_status: String,
    /// The tail (16 KiB) of the last setup's output; `""` without setup.
    pub setup_log: String,
    /// The timeout of runs that give none, in seconds; `null`: 30.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::nullable_timeout"))]
    pub default_timeout: Option<u64>,
    /// Whether runs reach beyond the session's own loopback (setup's installers always reach
    /// their registries).
    pub allow_internet: bool,
}

/// The setup states a session can be in, as the session object names them.
pub const SETUP_STATUSES: [&str; 5] = ["none", "pending", "running", "completed", "failed"];

/// One entry of `GET /api/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SessionSummary {
    /// The session id.
    pub id: String,
    /// Its language, by its canonical name.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::language"))]
    pub language: String,
    /// When it was created (RFC 3339).
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub created_at: String,
    /// Its last run, refreshed at the first run and then at most every 30 s; `null` before it.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::nullable_date_time"))]
    pub last_run_at: Option<String>,
}

/// `GET /api/sessions`: a page of sessions, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SessionList {
    /// This page.
    pub sessions: Vec<SessionSummary>,
    /// Entries in this page (not the total).
    pub count: u64,
    /// Pass it back as `?cursor=` for the next page; `null` on the last page.
    pub cursor: Option<String>,
}

impl SessionList {
    /// A page as answered: `count` is the page's length.
    pub fn new(sessions: Vec<SessionSummary>, cursor: Option<String>) -> SessionList {
        SessionList { count: sessions.len() as u64, sessions, cursor }
    }
}

/// What ended a run early: the limit it hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Limit {
    /// The run, with its installs, took longer than its `timeout`.
    Timeout,
    /// The run's memory reached the memory limit.
    Memory,
    /// The run had as many processes as the limit allows.
    Processes,
    /// stdout or stderr passed its cap (`truncated` is then `true`).
    Output,
    /// A file reached the file-size limit, or the session went over its storage limit.
    Disk,
    /// `POST /api/sessions/{id}/cancel` ended it.
    Cancelled,
}

impl From<edgerun_protocol::KilledBy> for Limit {
    fn from(k: edgerun_protocol::KilledBy) -> Limit {
        use edgerun_protocol::KilledBy as K;
        match k {
            K::Timeout => Limit::Timeout,
            K::Memory => Limit::Memory,
            K::Processes => Limit::Processes,
            K::Output => Limit::Output,
            K::Disk => Limit::Disk,
            K::Cancelled => Limit::Cancelled,
        }
    }
}

impl Limit {
    /// The wire name (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Timeout => "timeout",
            Limit::Memory => "memory",
            Limit::Processes => "processes",
            Limit::Output => "output",
            Limit::Disk => "disk",
            Limit::Cancelled => "cancelled",
        }
    }
}

/// The run answer of `POST /api/sessions/{id}/run` and `POST /api/execute` (ERA-compatible).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunResponse {
    /// The program's exit status (128 + n after signal n; 137 when a limit ended the run; 127 when
    /// it could not start; 126 when the workspace kept it from being prepared).
    pub exit_code: i32,
    /// The signal that ended it, by name (`SIGKILL`, `SIG<n>` for unnamed ones); `null` after a
    /// normal exit.
    pub signal: Option<String>,
    /// The limit that ended the run; `null` if none did.
    pub killed_by: Option<Limit>,
    /// Standard output, up to its cap.
    pub stdout: String,
    /// Standard error, up to its cap, followed by runtime notices (`[edgerun] …` lines).
    pub stderr: String,
    /// `killed_by == "timeout"`.
    pub timed_out: bool,
    /// The duration in Go's `time.Duration` form (`15.31525ms`, `1.2s`, `2m3s`).
    pub duration: String,
    /// The same in milliseconds.
    pub duration_ms: f64,
    /// CPU time (user + system) the run's processes used, installs included, in milliseconds:
    /// from the run's cgroup in cgroup mode; in the uid and tag modes the kernel's account of
    /// each step's main process and the children it waited for (best effort). A context run
    /// counts its interpreter's use during the run.
    #[cfg_attr(feature = "schema", schemars(with = "f64"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<f64>,
    /// The most memory the run held at once, in bytes: the peak charge of its memory cgroup
    /// (page cache included) in cgroup mode; in the uid and tag modes the largest resident set
    /// of a step's main process or a child it waited for (best effort). A context run: the
    /// interpreter's peak during the run, where it can be reset for the run, else absent.
    #[cfg_attr(feature = "schema", schemars(with = "u64"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// The session's data after the run.
    pub data: JsonObject,
    /// stdout or stderr reached its cap.
    pub truncated: bool,
    /// The session's id; absent on `/api/execute`.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// This run's id: `GET /api/sessions/{id}/runs/{run_id}` answers this answer again.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^run_[0-9a-f]{24}$")))]
    pub run_id: String,
    /// A context run only: the id of the context it ran in.
    #[cfg_attr(feature = "schema", schemars(with = "String", extend("pattern" = "^ctx_[0-9a-f]{24}$")))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// A context run only: the text form of the value of the code's final expression (Python's
    /// `repr`, Node's `util.inspect`); absent when it had none.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// A context run only: rich forms of that value and the figures the run drew.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<RichOutput>,
    /// A context run that started its interpreter over the context's checkpoint (after the
    /// sandbox was recycled, the interpreter was killed or stopped idle): whether it was loaded.
    #[cfg_attr(feature = "schema", schemars(with = "bool"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<bool>,
    /// With `restored: false`: why the checkpoint could not be loaded (the context started empty).
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_error: Option<String>,
    /// A context run: the context's variables its checkpoint cannot hold (a socket, a
    /// generator), or after a restore those that were not restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<String>,
}

/// The answer of the seed-compatible plugin endpoint `POST /?session=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PluginAnswer {
    /// `exit_code == 0` and `killed_by == null`.
    pub success: bool,
    /// stdout.
    pub output: String,
    /// Installer output and runtime notices, then stderr, one line each.
    pub logs: Vec<String>,
    /// As in the run answer.
    pub exit_code: i32,
    /// As in the run answer.
    pub signal: Option<String>,
    /// As in the run answer.
    pub timed_out: bool,
    /// As in the run answer.
    pub killed_by: Option<Limit>,
    /// As in the run answer.
    pub truncated: bool,
    /// As in the run answer.
    pub duration_ms: f64,
    /// As in the run answer.
    #[cfg_attr(feature = "schema", schemars(with = "f64"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<f64>,
    /// As in the run answer.
    #[cfg_attr(feature = "schema", schemars(with = "u64"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// Only when `success` is false: why, then `: <last non-empty stderr line>` if there is one.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// This run's id, as in the run answer.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^run_[0-9a-f]{24}$")))]
    pub run_id: String,
    /// A context run only: the id of the context it ran in.
    #[cfg_attr(feature = "schema", schemars(with = "String", extend("pattern" = "^ctx_[0-9a-f]{24}$")))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// A context run only: the text form of the value of the code's final expression (Python's
    /// `repr`, Node's `util.inspect`); absent when it had none.
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// A context run only: rich forms of that value and the figures the run drew.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<RichOutput>,
    /// A context run that started its interpreter over the context's checkpoint (after the
    /// sandbox was recycled, the interpreter was killed or stopped idle): whether it was loaded.
    #[cfg_attr(feature = "schema", schemars(with = "bool"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<bool>,
    /// With `restored: false`: why the checkpoint could not be loaded (the context started empty).
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_error: Option<String>,
    /// A context run: the context's variables its checkpoint cannot hold (a socket, a
    /// generator), or after a restore those that were not restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<String>,
}

/// `GET /api/sessions/{id}/runs/{run_id}`: the answer the run gave, as its route gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(untagged)]
pub enum StoredAnswer {
    /// A run of `POST /api/sessions/{id}/run`.
    Run(RunResponse),
    /// A run of the plugin endpoint.
    Plugin(PluginAnswer),
}

/// One entry of a session's run history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunEntry {
    /// When the run started (RFC 3339).
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub started_at: String,
    /// Its duration in milliseconds.
    pub duration_ms: f64,
    /// Its exit status.
    pub exit_code: i64,
    /// The limit that ended it, or `null`.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::nullable_limit"))]
    pub killed_by: Option<String>,
    /// The language it ran in (for plugin calls, the plugin's).
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::language"))]
    pub language: String,
    /// Its run id (`null` for runs recorded before run ids existed); the answer of one of the
    /// last 20 runs is at `GET /api/sessions/{id}/runs/{run_id}`.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::nullable_run_id"))]
    pub run_id: Option<String>,
}

/// `GET /api/sessions/{id}/runs`: the latest counted runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunList {
    /// Entries answered.
    pub count: u64,
    /// The runs.
    pub runs: Vec<RunEntry>,
}

impl RunList {
    /// A history as answered: `count` is its length.
    pub fn new(runs: Vec<RunEntry>) -> RunList {
        RunList { count: runs.len() as u64, runs }
    }
}

/// One entry of `GET /api/sessions/{id}/files`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FileInfo {
    /// The path, relative to the workspace.
    pub path: String,
    /// Its size in bytes (0 for a link).
    pub size: u64,
    /// When it was last stored: by an upload, a run that changed it or a duplicate.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::nullable_date_time"))]
    pub uploaded: Option<String>,
}

/// `GET /api/sessions/{id}/files`: every file and link, sorted by path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FileList {
    /// Entries listed.
    pub count: u64,
    /// The entries.
    pub files: Vec<FileInfo>,
}

impl FileList {
    /// A listing as answered: `count` is its length.
    pub fn new(files: Vec<FileInfo>) -> FileList {
        FileList { count: files.len() as u64, files }
    }
}

/// `PUT /api/sessions/{id}/files/{path}`: the file was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Uploaded {
    /// The stored path.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

/// `DELETE /api/sessions`: every session that existed when it was asked is deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DeletedAll {
    /// Sessions deleted while the request was answered.
    pub deleted_count: u64,
    /// Sessions still to delete: more than one request deletes, so the rest are deleted in the
    /// background (the list shrinks as they go); 0 when none are left.
    pub remaining: u64,
    /// True while `remaining` sessions are being deleted in the background.
    pub continuing: bool,
}

/// The data of a streamed run's `stdout` and `stderr` events: output as it was written, cut on
/// character boundaries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OutputEvent {
    /// The chunk's text.
    pub data: String,
}

/// The data of a streamed run's first event, `run`: its id, to fetch its answer if the stream drops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunStartedEvent {
    /// As in the run answer.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^run_[0-9a-f]{24}$")))]
    pub run_id: String,
}

/// `POST /api/sessions/{id}/cancel`: what was ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Cancelled {
    /// The run id of the run that was ended, or `"setup"`.
    pub cancelled: String,
}

/// `GET /api/sessions/{id}/code`: the session's stored code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StoredCode {
    /// The code a run without `code` runs.
    pub code: String,
    /// As given; `""` when none was.
    pub description: String,
    /// Length of `code` in bytes.
    pub code_length: u64,
    /// When it was stored (RFC 3339).
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub updated_at: String,
}

/// `DELETE` of a session or of a file: what is gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Deleted {
    /// The deleted session's id, or the deleted file's path.
    pub deleted: String,
}

/// The body of every error answer (the same shape as `edgerun_protocol::ErrorBody`, which
/// serializes it; the document narrows `code` to the codes of each status).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Error {
    /// A sentence for people; it may change between versions.
    pub error: String,
    /// A machine-readable code; its status is fixed by the code.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::error_code"))]
    pub code: String,
}

/// Every error code, in the order of `edgerun_protocol::ErrorCode` (checked by [`code_index`]).
pub const ERROR_CODES: [edgerun_protocol::ErrorCode; 15] = {
    use edgerun_protocol::ErrorCode as C;
    [
        C::BadRequest,
        C::InvalidJson,
        C::InvalidField,
        C::Unauthorized,
        C::Forbidden,
        C::NotFound,
        C::MethodNotAllowed,
        C::Conflict,
        C::TooLarge,
        C::UnsupportedMediaType,
        C::TooManyRuns,
        C::WorkspaceStale,
        C::Internal,
        C::SandboxFailed,
        C::SandboxUnavailable,
    ]
};

/// The position of a code in [`ERROR_CODES`]. The match is exhaustive, so a code added to the
/// protocol fails to compile here until it is listed (and so reaches the document).
pub fn code_index(c: edgerun_protocol::ErrorCode) -> usize {
    use edgerun_protocol::ErrorCode as C;
    match c {
        C::BadRequest => 0,
        C::InvalidJson => 1,
        C::InvalidField => 2,
        C::Unauthorized => 3,
        C::Forbidden => 4,
        C::NotFound => 5,
        C::MethodNotAllowed => 6,
        C::Conflict => 7,
        C::TooLarge => 8,
        C::UnsupportedMediaType => 9,
        C::TooManyRuns => 10,
        C::WorkspaceStale => 11,
        C::Internal => 12,
        C::SandboxFailed => 13,
        C::SandboxUnavailable => 14,
    }
}

// ---------------------------------------------------------------------------------------------
// Requests (schema only: `core::request` parses them)
// ---------------------------------------------------------------------------------------------

/// Every language name a request may use: canonical names and aliases (`Language::parse`).
pub const LANGUAGE_NAMES: [&str; 14] =
    ["python", "python3", "py", "node", "javascript", "js", "typescript", "ts", "go", "golang", "deno", "bash", "sh", "shell"];

/// `POST /?session={id}` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PluginRequest {
    /// The language to run in: a canonical name or an alias.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::language_name"))]
    pub plugin: String,
    /// What to run.
    pub payload: PluginPayload,
}

/// The `payload` of a plugin call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PluginPayload {
    /// The program (at most 1 MiB, else 413).
    pub code: String,
    /// Packages installed with the plugin's installer first (none for bash: 400).
    pub requirements: Option<Vec<String>>,
    /// Whole seconds, installs included; default 30.
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 300)))]
    pub timeout: Option<u64>,
    /// Environment variables added last.
    pub env: Option<BTreeMap<String, String>>,
    /// Fed to the program's standard input.
    pub stdin: Option<String>,
    /// `true`: a fresh process, as before contexts; otherwise `python` and `node` run in the
    /// session's default context of that language (created on first use), so that variables
    /// stay from one call to the next. Other plugins always run fresh.
    pub fresh: Option<bool>,
}

/// `POST /api/sessions/{id}/run` body (the session's language is used).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct RunRequest {
    /// The program (at most 1 MiB, else 413); absent: the session's stored code (422 when it
    /// has none).
    pub code: Option<String>,
    /// Whole seconds 1 to 300 (400 out of range or fractional, 422 if not a number); default:
    /// the session's `default_timeout`, else 30.
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 300)))]
    pub timeout: Option<u64>,
    /// Environment variables added last (names non-empty without `=` or NUL, values strings).
    pub env: Option<BTreeMap<String, String>>,
    /// Fed to the program's standard input.
    pub stdin: Option<String>,
    /// Run in this live context of the session (`POST …/contexts` made it; 404 unknown): the
    /// code runs in the context's interpreter, whose variables stay for its next run.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^ctx_[0-9a-f]{24}$")))]
    pub context: Option<String>,
}

/// `POST /api/execute` body: a one-shot run in a throwaway session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ExecuteRequest {
    /// The language: a canonical name or an alias.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::language_name"))]
    pub language: String,
    /// The program (at most 1 MiB, else 413).
    pub code: String,
    /// Whole seconds 1 to 300; default 30.
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 300)))]
    pub timeout: Option<u64>,
    /// Environment variables added last.
    pub env: Option<BTreeMap<String, String>>,
    /// Fed to the program's standard input.
    pub stdin: Option<String>,
}

/// pip's part of a setup: specs, or the text of a requirements file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(untagged)]
pub enum PipSetup {
    /// Package specs (`requests==2.31`), no whitespace, none starting with `-`.
    Specs(Vec<String>),
    /// A requirements file: specs with versions and markers, `--hash=` options, comments and
    /// blank lines; any other option line (`-r`, `-e`, `--index-url`, …) is a 400 naming it.
    Requirements {
        /// The file's text (at most 64 KiB).
        requirements: String,
    },
}

/// npm's part of a setup: specs, or the text of a package.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(untagged)]
pub enum NpmSetup {
    /// Package specs (`lodash@4`).
    Specs(Vec<String>),
    /// A package.json, written as the workspace's `package.json` before `npm install`.
    PackageJson {
        /// The file's text (at most 64 KiB): an object whose dependency maps hold version strings.
        #[serde(rename = "packageJson")]
        package_json: String,
    },
}

/// What a setup installs and runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct Setup {
    /// Packages for pip.
    pub pip: Option<PipSetup>,
    /// Packages for npm.
    pub npm: Option<NpmSetup>,
    /// Go modules.
    pub go: Option<Vec<String>>,
    /// Shell commands run in the workspace one after another (no NUL).
    pub commands: Option<Vec<String>>,
}

/// `POST /api/sessions` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct CreateSessionRequest {
    /// The new session's id; generated (`sess_<32 hex>`) when absent.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub id: Option<String>,
    /// The ERA alias of `id`, used when `id` is absent.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: Option<String>,
    /// The session's language: a canonical name or an alias.
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::language_name"))]
    pub language: String,
    /// `false`: each run's changes are discarded; default `true`.
    pub persistent: Option<bool>,
    /// Stored as given (at most 16 KiB serialized).
    pub metadata: Option<JsonObject>,
    /// The initial data (at most 128 KiB serialized).
    pub data: Option<JsonObject>,
    /// A setup scheduled at once when given and not empty.
    pub setup: Option<Setup>,
    /// The timeout of runs that give none: whole seconds 1 to 300; default 30.
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 300)))]
    pub default_timeout: Option<u64>,
    /// Whether runs reach beyond the session's loopback; default `true`.
    pub allow_internet: Option<bool>,
    /// ERA's name for `allow_internet` (both given must agree).
    #[serde(rename = "allowInternetAccess")]
    pub allow_internet_access: Option<bool>,
}

/// `PATCH /api/sessions/{id}` body: absent fields stay as they are; other fields of the session
/// object (`language`, `persistent`, `data`, …) are a 400.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PatchSessionRequest {
    /// Whole seconds 1 to 300; `null` unsets it (runs without a timeout get 30).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(schema_with = "schema::nullable_timeout"))]
    pub default_timeout: Option<u64>,
    /// Replaces the metadata whole (at most 16 KiB serialized).
    pub metadata: Option<JsonObject>,
    /// Applies to runs started after the answer.
    pub allow_internet: Option<bool>,
    /// ERA's name for `allow_internet`.
    #[serde(rename = "allowInternetAccess")]
    pub allow_internet_access: Option<bool>,
}

/// `PUT /api/sessions/{id}/code` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct StoreCodeRequest {
    /// The code (at most 1 MiB) that runs without `code` will run.
    pub code: String,
    /// Free text for people (at most 4 KiB).
    pub description: Option<String>,
}

/// `POST /api/sessions/{id}/setup` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct SetupRequest {
    /// The new setup (required: 422 without it).
    pub setup: Setup,
}

/// `POST /api/sessions/{id}/duplicate` body; an empty body is fine too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct DuplicateRequest {
    /// The copy's id; generated when absent.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub id: Option<String>,
    /// The ERA alias of `id`.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: Option<String>,
}

/// Hand-written pieces of schemas, where a field's Rust type is wider than what it may hold.
#[cfg(feature = "schema")]
pub mod schema {
    use schemars::{json_schema, Schema, SchemaGenerator};

    fn canonical_languages() -> Vec<&'static str> {
        edgerun_protocol::Language::ALL.iter().map(|l| l.as_str()).collect()
    }

    /// A canonical language name.
    pub fn language(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "enum": canonical_languages()})
    }

    /// A language name a request may use (aliases too).
    pub fn language_name(_: &mut SchemaGenerator) -> Schema {
        let mut names: Vec<&str> = super::LANGUAGE_NAMES.to_vec();
        names.sort_unstable();
        json_schema!({"type": "string", "enum": names})
    }

    /// A setup status.
    pub fn setup_status(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "enum": super::SETUP_STATUSES})
    }

    /// An RFC 3339 time or `null`.
    pub fn nullable_date_time(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "null"], "format": "date-time"})
    }

    /// A run id, or `null`.
    pub fn nullable_run_id(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "null"], "pattern": "^run_[0-9a-f]{24}$"})
    }

    /// Whole seconds 1 to 300, or `null`.
    pub fn nullable_timeout(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["integer", "null"], "minimum": 1, "maximum": 300})
    }

    /// A limit's name or `null`.
    pub fn nullable_limit(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = [
            super::Limit::Timeout,
            super::Limit::Memory,
            super::Limit::Processes,
            super::Limit::Output,
            super::Limit::Disk,
            super::Limit::Cancelled,
        ]
        .iter()
        .map(|l| l.as_str())
        .collect();
        json_schema!({"anyOf": [{"type": "string", "enum": names}, {"type": "null"}]})
    }

    /// Any error code.
    pub fn error_code(_: &mut SchemaGenerator) -> Schema {
        let codes: Vec<&str> = super::ERROR_CODES.iter().map(|c| c.as_str()).collect();
        json_schema!({"type": "string", "enum": codes})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgerun_protocol::{ErrorCode, Language};

    #[test]
    fn error_codes_are_all_listed_in_order() {
        for (i, c) in ERROR_CODES.iter().enumerate() {
            assert_eq!(code_index(*c), i, "{c:?}");
        }
    }

    #[test]
    fn language_names_are_exactly_what_the_parser_takes() {
        for n in LANGUAGE_NAMES {
            assert!(Language::parse(n).is_some(), "{n}");
        }
        for l in Language::ALL {
            assert!(LANGUAGE_NAMES.contains(&l.as_str()), "{l}");
        }
        assert!(Language::parse("cobol").is_none());
    }

    #[test]
    fn limits_serialize_as_their_names() {
        for k in [
            edgerun_protocol::KilledBy::Timeout,
            edgerun_protocol::KilledBy::Memory,
            edgerun_protocol::KilledBy::Processes,
            edgerun_protocol::KilledBy::Output,
            edgerun_protocol::KilledBy::Disk,
            edgerun_protocol::KilledBy::Cancelled,
        ] {
            let l = Limit::from(k);
            assert_eq!(serde_json::to_value(l).unwrap(), Value::String(l.as_str().into()));
            // the protocol's own name is the same
            assert_eq!(serde_json::to_value(k).unwrap(), Value::String(l.as_str().into()));
        }
    }

    #[test]
    fn the_error_type_has_the_protocol_shape() {
        let body = edgerun_protocol::ErrorBody { error: "no".into(), code: ErrorCode::Conflict };
        let typed: Error = serde_json::from_str(&serde_json::to_string(&body).unwrap()).unwrap();
        assert_eq!(typed, Error { error: "no".into(), code: "conflict".into() });
    }

    #[test]
    fn optional_answer_fields_are_left_out_not_null() {
        let r = RunResponse {
            exit_code: 0,
            signal: None,
            killed_by: Some(Limit::Output),
            stdout: String::new(),
            stderr: String::new(),
            timed_out: false,
            duration: "0s".into(),
            duration_ms: 0.0,
            cpu_ms: None,
            peak_memory_bytes: None,
            data: JsonObject::new(),
            truncated: true,
            session_id: None,
            run_id: "run_0123456789abcdef01234567".into(),
            context: None,
            result: None,
            outputs: Vec::new(),
            restored: None,
            restore_error: None,
            lost: Vec::new(),
        };
        let v = serde_json::to_value(&r).unwrap();
        assert!(v.get("session_id").is_none());
        assert!(v.get("cpu_ms").is_none() && v.get("peak_memory_bytes").is_none(), "unknown costs are left out");
        assert!(
            v.get("context").is_none() && v.get("result").is_none() && v.get("outputs").is_none(),
            "plain runs carry no context fields"
        );
        assert_eq!(v["signal"], Value::Null);
        assert_eq!(v["killed_by"], "output");
        // unknown fields are refused when read back
        let mut extra = v.clone();
        extra["surprise"] = Value::Bool(true);
        assert!(serde_json::from_value::<RunResponse>(extra).is_err());
        assert_eq!(serde_json::from_value::<RunResponse>(v).unwrap(), r);
    }
}

/// A rich value of a context run (a figure, an HTML table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RichOutput {
    /// Its media type: `image/png`, `text/html`, `image/svg+xml`.
    pub mime: String,
    /// Base64 for `image/png`; the text itself for text types.
    pub data: String,
}

/// `POST /api/sessions/{id}/contexts` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct CreateContextRequest {
    /// The interpreter: `python`, `node` or `typescript` (or an alias of one).
    pub language: String,
}

/// A live interpreter context of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ContextInfo {
    /// `ctx_` and 24 hex digits; runs name it in `context`.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^ctx_[0-9a-f]{24}$")))]
    pub id: String,
    /// `python` or `node`.
    pub language: String,
    /// When it was made (RFC 3339).
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub created_at: String,
    /// Runs it answered.
    pub run_count: u64,
    /// Whether it is the session's default context of its language (the plugin endpoint's).
    pub default: bool,
    /// Whether its latest checkpoint is still only in the sandbox: a run that changes nothing but
    /// the context's state does not wait for R2; the checkpoint follows within
    /// `CHECKPOINT_FLUSH_MS` (1 s by default), or with the next run that changes files.
    #[serde(default)]
    pub checkpoint_pending: bool,
}

/// `GET /api/sessions/{id}/contexts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ContextList {
    /// Oldest first.
    pub contexts: Vec<ContextInfo>,
}

/// `DELETE /api/sessions/{id}/contexts/{ctx}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ContextDeleted {
    /// The id of the context that was ended.
    pub deleted: String,
}

/// `POST /api/sessions/{id}/processes` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct StartProcessRequest {
    /// A bash command line (run with `bash -c` in the workspace), at most 1 MiB.
    pub command: String,
    /// Variables added to the process's environment.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Its lifetime bound in seconds (default and maximum per deployment: 3600 and 86400 unless
    /// `PROCESS_DEFAULT_SECONDS` and `PROCESS_MAX_SECONDS` say otherwise).
    #[serde(default)]
    pub max_seconds: Option<u64>,
    /// `never` (default) or `on-wake`: started again when the session's sandbox comes back without it.
    #[serde(default)]
    pub restart: Option<ProcessRestart>,
}

/// What ended a background process that did not exit on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProcessKilledBy {
    /// `DELETE …/processes/{proc}`.
    Deleted,
    /// Its `max_seconds` passed.
    Timeout,
    /// The session's memory limit.
    Memory,
    /// The session's process limit.
    Processes,
}

/// A background process's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProcessStatus {
    /// It runs.
    Running,
    /// It ended on its own (`exit_code` says how).
    Exited,
    /// Something ended it (`killed_by` says what).
    Killed,
    /// The sandbox it ran in is gone (an executor restart, a recycled container): its state and
    /// logs went with it.
    Lost,
}

/// A background process of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProcessInfo {
    /// `proc_` and 24 hex digits.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^proc_[0-9a-f]{24}$")))]
    pub id: String,
    /// The command line it runs.
    pub command: String,
    pub status: ProcessStatus,
    /// When it started (RFC 3339).
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub started_at: String,
    /// When it was seen ended (RFC 3339), or `null` while it runs.
    pub ended_at: Option<String>,
    /// Its exit code once it ended (`128 + n` after signal `n`), else `null`.
    pub exit_code: Option<i64>,
    /// What ended it, when something did; else `null`.
    pub killed_by: Option<ProcessKilledBy>,
    /// Its lifetime bound.
    pub max_seconds: u64,
    /// Whether it is started again when the session's sandbox comes back without it.
    pub restart: ProcessRestart,
    /// Times it was started again (same id).
    pub restarts: u64,
}

/// When a background process is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub enum ProcessRestart {
    /// Never: a sandbox that comes back without it says it is `lost`.
    #[serde(rename = "never")]
    Never,
    /// When the session's sandbox comes back without it (recycled, restarted), at the session's
    /// next request: with the same id and command.
    #[serde(rename = "on-wake")]
    OnWake,
}

/// `GET /api/sessions/{id}/processes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProcessList {
    /// Oldest first.
    pub processes: Vec<ProcessInfo>,
}

/// `GET /api/sessions/{id}/processes/{proc}/logs`: the last of each stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProcessLogs {
    /// The newest bytes of its standard output (at most the ring's size, 1 MiB by default), as
    /// text with invalid UTF-8 replaced.
    pub stdout: String,
    /// The newest bytes of its standard error.
    pub stderr: String,
    /// Bytes of standard output that came before those kept.
    pub stdout_dropped: u64,
    /// Bytes of standard error that came before those kept.
    pub stderr_dropped: u64,
    /// The process when its logs were read.
    pub process: ProcessInfo,
}

/// `POST /api/sessions/{id}/processes/{proc}/stdin` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ProcessInput {
    /// Text written to its standard input, at most 1 MiB.
    #[serde(default)]
    pub data: String,
    /// Close its standard input after `data`.
    #[serde(default)]
    pub eof: bool,
}

/// `POST /api/sessions/{id}/ports/{port}/url` body (may be empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PortUrlRequest {
    /// Seconds the address works, 1 to 86400 (default 3600).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// A signed, expiring address of a session's port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PortUrl {
    /// The address: works without the API token until `expires_at`, for this session and port only.
    pub url: String,
    /// When it stops working (RFC 3339).
    #[cfg_attr(feature = "schema", schemars(extend("format" = "date-time")))]
    pub expires_at: String,
    /// The port it reaches.
    pub port: u64,
}
