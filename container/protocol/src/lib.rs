//! Wire types spoken between the Worker (session Durable Object) and the executor.
//!
//! Everything that crosses the Worker ↔ executor boundary, and the public error shape, is defined
//! here exactly once. The crate is serde-only so that it compiles both to wasm32 and natively.
//!
//! Framed bodies (`run` answers, `inject` requests) are `u32` big-endian header length, a JSON
//! header, then raw bytes (tar packs). See [`frame`] and [`split_frame`].
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

mod packages;
pub use packages::{check_package_json, check_requirements, check_specs, MAX_MANIFEST_BYTES};

/// Header sent by the Worker with the shared executor secret.
pub const SECRET_HEADER: &str = "x-edgerun-secret";
/// The session's data file, inside the workspace.
pub const DATA_FILE: &str = ".session_data.json";
/// The runtime's own directory inside the workspace (persisted, never listed).
pub const SANDBOX_DIR: &str = ".sandbox";
/// Largest `data` object, serialized.
pub const MAX_DATA_BYTES: usize = 128 * 1024;
/// Shortest run timeout, whole seconds; the Worker and the executor refuse shorter ones.
pub const MIN_TIMEOUT_SECS: u64 = 1;
/// Longest run timeout, whole seconds (installs included: one deadline covers the whole run).
pub const MAX_TIMEOUT_SECS: u64 = 300;
/// Timeout of a run that names none, whole seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Largest `code`.
pub const MAX_CODE_BYTES: usize = 1024 * 1024;

/// A language plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Python 3, the code run as a file (`python`; also parsed from `python3`, `py`); pip installs.
    Python,
    /// JavaScript on Node (`node`; also `javascript`, `js`); npm installs into `node_modules`.
    Node,
    /// TypeScript on Node's own type stripping, no compiler started (`typescript`, `ts`).
    Typescript,
    /// Go, compiled once per program and `go.mod`/`go.sum`, then the cached binary runs (`go`, `golang`).
    Go,
    /// TypeScript or JavaScript on Deno, with all permissions inside the sandbox (`deno`).
    Deno,
    /// A bash script (`bash`; also `sh`, `shell`); what the executor runs when a request names no language.
    Bash,
}

impl Language {
    /// Every language, in declaration order; a new variant must be added here too (tests walk it).
    pub const ALL: [Language; 6] = [Language::Python, Language::Node, Language::Typescript, Language::Go, Language::Deno, Language::Bash];

    /// The wire name, as serde writes it and `Display` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Node => "node",
            Language::Typescript => "typescript",
            Language::Go => "go",
            Language::Deno => "deno",
            Language::Bash => "bash",
        }
    }

    /// Parses a language name; `javascript`/`js` are accepted for `node`, `ts` for `typescript`.
    pub fn parse(s: &str) -> Option<Language> {
        Some(match s {
            "python" | "python3" | "py" => Language::Python,
            "node" | "javascript" | "js" => Language::Node,
            "typescript" | "ts" => Language::Typescript,
            "go" | "golang" => Language::Go,
            "deno" => Language::Deno,
            "bash" | "sh" | "shell" => Language::Bash,
            _ => return None,
        })
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Machine-readable error codes; each maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A malformed request: bad session id, path, timeout, package spec or framed body (400).
    BadRequest,
    /// The body is not valid JSON, or not the JSON the route reads (400).
    InvalidJson,
    /// Valid JSON, but a field is missing or of the wrong type (422).
    InvalidField,
    /// No or a wrong credential: the API token at the Worker, the shared secret at the executor (401).
    Unauthorized,
    /// A cross-site request to an open API (no token).
    Forbidden,
    /// No such route, session or file (404).
    NotFound,
    /// The route exists but not with this method; the message names the allowed ones (405).
    MethodNotAllowed,
    /// The request contradicts the current state: a session that already exists, a file where a
    /// directory must be, a session that moved on during compaction (409).
    Conflict,
    /// A body, `code`, file or workspace over its limit (413).
    TooLarge,
    /// A body whose content type is not the route's (`application/json`).
    UnsupportedMediaType,
    /// Too many runs already wait on the session; retry later (429).
    TooManyRuns,
    /// The executor does not hold the version the caller expected (inject first).
    WorkspaceStale,
    /// A failure of the service itself (storage, I/O); the message says what failed (500).
    Internal,
    /// The sandbox answered, but wrongly: an answer that fails the Worker's checks, or one that is
    /// not an error body; nothing of it is kept (502).
    SandboxFailed,
    /// No sandbox to run in: its container did not start or become healthy, no executor secret is
    /// configured, or the executor ran out of sandbox uids (503).
    SandboxUnavailable,
}

impl ErrorCode {
    /// The HTTP status every answer with this code carries.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::InvalidJson => 400,
            ErrorCode::InvalidField => 422,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict | ErrorCode::WorkspaceStale => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::TooManyRuns => 429,
            ErrorCode::Internal => 500,
            ErrorCode::SandboxFailed => 502,
            ErrorCode::SandboxUnavailable => 503,
        }
    }

    /// The wire name (`snake_case`), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::TooManyRuns => "too_many_runs",
            ErrorCode::WorkspaceStale => "workspace_stale",
            ErrorCode::Internal => "internal",
            ErrorCode::SandboxFailed => "sandbox_failed",
            ErrorCode::SandboxUnavailable => "sandbox_unavailable",
        }
    }
}

/// The JSON body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable explanation; clients branch on `code`, not on this text.
    pub error: String,
    /// What went wrong, machine-readable; its [`ErrorCode::status`] is the answer's HTTP status.
    pub code: ErrorCode,
}

/// Which limit ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KilledBy {
    /// The run's `timeout_secs` passed (one deadline for installs and code together).
    Timeout,
    /// The memory limit: an OOM kill in the run's cgroup, or the watched resident memory reached it.
    Memory,
    /// The process limit: a fork refused in the run's cgroup, or the watched process count reached it.
    Processes,
    /// stdout or stderr went past the output cap; what came before the cap is kept (`truncated`).
    Output,
    /// A file reached the file-size limit (`SIGXFSZ`, or a file of that size left behind), or the
    /// session went over its workspace limit and the run's changes were not kept.
    Disk,
    /// `POST …/cancel` ended it; what it wrote is kept like any run's.
    Cancelled,
}

/// Worker → executor: run code in a session's workspace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRequest {
    /// Language of `code`; `None` runs `code` as a bash script.
    pub language: Option<Language>,
    /// Shell commands to run instead of code (setup `commands`); ignored when empty.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Source of the program, at most [`MAX_CODE_BYTES`] (the Worker checks); empty with
    /// `commands` runs the commands only.
    #[serde(default)]
    pub code: String,
    /// Whole seconds from [`MIN_TIMEOUT_SECS`] to [`MAX_TIMEOUT_SECS`] for the whole run, installs
    /// and commands included; out of range is `bad_request`.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Variables added to every process's environment (installers too), after the runtime's own,
    /// so they override them.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Text written to the standard input of the commands and the code (installers get none).
    #[serde(default)]
    pub stdin: String,
    /// Dependencies to install before the code, per installer.
    #[serde(default)]
    pub install: Install,
    /// The session's data, written to `.session_data.json` before the run and read back after.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    /// The workspace version the caller believes the executor holds; mismatch → `workspace_stale`.
    #[serde(default)]
    pub expect_version: Option<String>,
    /// After the run, return the workspace to this version's content (non-persistent sessions).
    #[serde(default)]
    pub restore_after: bool,
    /// Whether the run's setup `commands` and code may use the machine's network. `false` runs
    /// them in the session's own network namespace, which has a loopback interface and nothing
    /// else (shared by all the session's runs); the installers of `install` still reach their
    /// registries. An executor that cannot make network namespaces refuses `false`
    /// (`bad_request`) rather than run with the network. Absent means `true`, so a Worker that
    /// does not send it keeps the machine's network.
    #[serde(default = "default_allow_internet")]
    pub allow_internet: bool,
    /// Run `code` in this live interpreter context of the session instead of a fresh process
    /// (`None`: a fresh process, as always). The executor starts the context's interpreter on
    /// its first run (and again after it was lost); `commands` are not run with a context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextRef>,
    /// Hold back the context checkpoints ([`CHECKPOINTS_DIR`]) when they are the run's only
    /// changes: the delta is then empty (no write on the run's way) and the answer says
    /// [`RunAnswer::held_checkpoints`]; the caller commits them later with a run that holds
    /// nothing (a run without code commits just them). Changes elsewhere take them along.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold_checkpoints: bool,
}

/// Where context checkpoints live in a workspace (`<id>/state.pickle`, `<id>/state.v8`).
pub const CHECKPOINTS_DIR: &str = ".sandbox/contexts";

/// A live interpreter context a run goes to ([`RunRequest::context`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextRef {
    /// The context's id, `ctx_` and 24 lower-case hex digits ([`valid_context_id`]).
    pub id: String,
    /// Its interpreter: [`Language::Python`] or [`Language::Node`].
    pub language: Language,
}

/// Whether `id` is a context id: `ctx_` and 24 lower-case hex digits.
pub fn valid_context_id(id: &str) -> bool {
    id.strip_prefix("ctx_").is_some_and(|h| h.len() == 24 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// Most live contexts one session holds, its default contexts included.
pub const MAX_CONTEXTS: usize = 8;

/// A rich value a context run's final expression produced (a figure, an HTML table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RichOutput {
    /// Its media type: `image/png`, `text/html`, `image/svg+xml`, …
    pub mime: String,
    /// The value: base64 for binary types (`image/png`), the text itself for text types.
    pub data: String,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

fn default_allow_internet() -> bool {
    true
}

impl Default for RunRequest {
    /// An empty run with the wire defaults: the default timeout, the machine's network.
    fn default() -> Self {
        RunRequest {
            language: None,
            commands: Vec::new(),
            code: String::new(),
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            env: BTreeMap::new(),
            stdin: String::new(),
            install: Install::default(),
            data: None,
            expect_version: None,
            restore_after: false,
            allow_internet: true,
            context: None,
            hold_checkpoints: false,
        }
    }
}

/// Packages to install, by installer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Install {
    /// pip requirement specs (`requests==2.31`), installed with `--target .deps/pip` (on `PYTHONPATH`).
    #[serde(default)]
    pub pip: Vec<String>,
    /// npm package specs (`lodash@4`), installed into the workspace's `node_modules`.
    #[serde(default)]
    pub npm: Vec<String>,
    /// Go module specs (`golang.org/x/text@latest`), added with `go get` to the session's module;
    /// downloads land in `.deps/go`.
    #[serde(default)]
    pub go: Vec<String>,
    /// The text of a requirements file (setup's `"pip": {"requirements": …}`), checked by
    /// [`check_requirements`]; installed with `pip install -r`, after `pip`'s specs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pip_requirements: String,
    /// The text of a package.json (setup's `"npm": {"packageJson": …}`), checked by
    /// [`check_package_json`]; written as the workspace's `package.json`, then `npm install`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub npm_package_json: String,
}

impl Install {
    /// Whether no installer has anything to install.
    pub fn is_empty(&self) -> bool {
        self.pip.is_empty()
            && self.npm.is_empty()
            && self.go.is_empty()
            && self.pip_requirements.is_empty()
            && self.npm_package_json.is_empty()
    }

    /// Checks everything this asks of the installers (the rules of [`check_specs`],
    /// [`check_requirements`] and [`check_package_json`]).
    pub fn check(&self) -> Result<(), String> {
        for list in [&self.pip, &self.npm, &self.go] {
            check_specs(list)?;
        }
        if !self.pip_requirements.is_empty() {
            check_requirements(&self.pip_requirements)?;
        }
        if !self.npm_package_json.is_empty() {
            check_package_json(&self.npm_package_json)?;
        }
        Ok(())
    }
}

/// The outcome of one run, as the executor reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Exit status of the last step that ran: `128 + n` after signal `n` (137 when a limit killed
    /// the run), 127 when it could not start, 126 when the run could not be prepared.
    pub exit_code: i32,
    /// Name of the signal that ended the last step (`SIGKILL`, `SIGSEGV`, …), if one did.
    pub signal: Option<String>,
    /// The limit that ended the run, if one did.
    pub killed_by: Option<KilledBy>,
    /// Standard output of the commands and the code, concatenated, lossy UTF-8, capped per process.
    pub stdout: String,
    /// Standard error as `stdout`, followed by the runtime's `[edgerun]` notes.
    pub stderr: String,
    /// Whether the timeout ended the run (`killed_by` is then `timeout`).
    pub timed_out: bool,
    /// Whether stdout or stderr was cut at the output cap.
    pub truncated: bool,
    /// Wall-clock time of the whole run, installs included, in milliseconds.
    pub duration_ms: f64,
    /// CPU time (user + system) the run's processes used, installs included, in milliseconds.
    /// In cgroup mode the run's cgroup counts every process of the run; in the uid and tag
    /// modes it is the kernel's account of each step's main process and of the children it
    /// waited for (a daemon left behind is not counted). A context run counts its interpreter's
    /// use during the run (its groups in cgroup mode, its own counters otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<f64>,
    /// The most memory the run held at once, in bytes, over its steps. In cgroup mode the peak
    /// charge of the run's memory cgroup (page cache included); in the uid and tag modes the
    /// largest resident set of a step's main process or one child it waited for. A context run:
    /// the interpreter's peak during the run where it can be reset for the run (v1 memory
    /// cgroups, or the interpreter's resident peak outside cgroups), else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// Installer output and runtime notices, one line each.
    #[serde(default)]
    pub logs: Vec<String>,
    /// `.session_data.json` read back after the run, when it parsed.
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    /// Whether an install step failed (the code was then not run).
    #[serde(default)]
    pub install_failed: bool,
    /// A context run only: the text form of the value of the code's final expression (Python's
    /// `repr`, Node's `util.inspect`), when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// A context run only: rich forms of that value and figures the run drew.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<RichOutput>,
    /// A context run that started a new interpreter over a checkpoint: whether the checkpoint
    /// was loaded (`false`: it could not be read, and the context starts empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<bool>,
    /// Why the checkpoint could not be loaded (with `restored: false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_error: Option<String>,
    /// A context run: names of the context's variables its checkpoint does not hold (they
    /// could not be pickled), or, after a restore, that were not restored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost: Vec<String>,
}

/// Kind of a workspace entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file; the only kind with content (`size`, `hash` of the bytes).
    File,
    /// A directory; created from the manifest, never carried in a tar.
    Dir,
    /// A symbolic link, whose `target` must resolve inside the workspace without passing through
    /// another link.
    Symlink,
}

/// One workspace entry as the manifest knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Workspace-relative path, `/`-separated, without empty, `.` or `..` segments (the executor's
    /// `check_rel_path`); the entry's key in a manifest.
    pub path: String,
    /// File, directory or symlink: says which of the fields below carry meaning.
    pub kind: EntryKind,
    /// Permission bits (`0o777` mask).
    pub mode: u32,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Content size in bytes (files), 0 otherwise.
    pub size: u64,
    /// blake3 hex of the content (files) or of the link target (symlinks); empty for dirs.
    pub hash: String,
    /// Symlink target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A file's bytes inside a pack: the byte range of its content in the tar body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackEntry {
    /// The entry as the manifest records it, flattened into the same JSON object as `offset`.
    #[serde(flatten)]
    pub entry: Entry,
    /// Offset of the content from the start of the tar body (files only).
    pub offset: u64,
}

/// Header of a workspace delta: which entries the tar body carries and what was deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// Version the delta starts from (`None`: a full snapshot).
    pub base: Option<String>,
    /// Version the workspace is at after the delta.
    pub version: String,
    /// Entries added or changed, in tar order.
    pub entries: Vec<PackEntry>,
    /// Paths removed since `base`.
    pub deleted: Vec<String>,
    /// Length of the tar body that follows the header (0 when nothing changed).
    pub tar_len: u64,
}

impl Delta {
    /// Whether the delta changes nothing: no entries added or changed, none deleted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.deleted.is_empty()
    }
}

/// Header of a `run` answer; the delta's tar body follows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunAnswer {
    /// What the run did: exit status, output, the limit that ended it, `data` read back.
    pub result: RunResult,
    /// How the run changed the workspace; its `version` is empty when the changes are not kept
    /// (`restore_after`, or the session over its workspace limit).
    pub delta: Delta,
    /// Checkpoints were held back ([`RunRequest::hold_checkpoints`]): the executor's files differ
    /// from the committed version under [`CHECKPOINTS_DIR`] until a run that holds nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held_checkpoints: bool,
}

/// One segment of an inject body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Segment {
    /// A tar pack of `len` bytes; its entries are applied in order.
    Tar {
        /// Bytes of the body the segment takes; whatever follows the archive's end within them is skipped.
        len: u64,
    },
    /// The raw content of one file (an upload stored as its own object).
    Raw {
        /// Workspace-relative path of the file (checked like [`Entry::path`]); ignored unless the
        /// manifest lists it as a file.
        path: String,
        /// Bytes of the body the segment takes: the file's whole content.
        len: u64,
    },
}

/// Header of an `inject` request: the segments follow, concatenated, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectRequest {
    /// Version the workspace is at once applied.
    pub version: String,
    /// The complete manifest of that version: entries not in it are removed, files are verified.
    pub manifest: Vec<Entry>,
    /// The segments of the body, in the order they follow the header, oldest pack first, so that
    /// later content supersedes earlier.
    pub segments: Vec<Segment>,
}

/// Header of an `apply` request: a small delta (uploads, deletions) applied to the version the
/// executor holds, so that it stays current without a full inject. The raw contents of `put`
/// files follow the header, concatenated in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// Version the executor must hold; otherwise the answer is `workspace_stale` and nothing changes.
    pub expect_version: String,
    /// Version the workspace is at once the apply is done.
    pub version: String,
    /// Files and directories to write (no symlinks); each file's `size` bytes follow in order and
    /// must match its `hash`.
    #[serde(default)]
    pub put: Vec<Entry>,
    /// Workspace-relative paths to remove, directories with everything under them; a missing path
    /// is not an error.
    #[serde(default)]
    pub delete: Vec<String>,
}

/// Executor's view of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The committed version on the executor's disk; `None` when it vouches for none (a new
    /// session, a restarted executor, a run or inject under way). In a snapshot request: the
    /// version the caller expects.
    pub version: Option<String>,
}

/// A streamed run's answer (`POST /v1/sessions/{sid}/run?stream=1`) is a sequence of records:
/// a tag byte, a `u32` big-endian length, then that many bytes. [`RECORD_STDOUT`] and
/// [`RECORD_STDERR`] records carry output as the process writes it (never more in all than the
/// output caps), [`RECORD_LOG`] records the installers' output; then one [`RECORD_ANSWER`] record carries the JSON [`RunAnswer`], and the delta's
/// tar (`tar_len` bytes) follows, unframed, to the end of the body.
pub const RECORD_STDOUT: u8 = 1;
/// See [`RECORD_STDOUT`].
pub const RECORD_STDERR: u8 = 2;
/// See [`RECORD_STDOUT`].
pub const RECORD_ANSWER: u8 = 3;
/// Ends a streamed answer instead of [`RECORD_ANSWER`] when the run failed after its output
/// began: the bytes are an [`ErrorBody`].
pub const RECORD_ERROR: u8 = 4;
/// Installer output as it comes (it ends in the answer's `logs`, not in stdout or stderr).
pub const RECORD_LOG: u8 = 5;

/// One record of a streamed answer (see [`RECORD_STDOUT`]).
pub fn record(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + bytes.len());
    out.push(tag);
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
    out
}

/// Frames a JSON header and a body: `u32` BE header length, header, body.
pub fn frame<T: Serialize>(header: &T, body: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("wire types always serialize");
    let mut out = Vec::with_capacity(4 + json.len() + body.len());
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(body);
    out
}

/// Splits a framed body into its parsed header and the rest.
pub fn split_frame<T: for<'de> Deserialize<'de>>(buf: &[u8]) -> Result<(T, &[u8]), String> {
    if buf.len() < 4 {
        return Err("framed body shorter than its length prefix".into());
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let rest = &buf[4..];
    if rest.len() < len {
        return Err(format!("framed header says {len} bytes, {} present", rest.len()));
    }
    let header = serde_json::from_slice(&rest[..len]).map_err(|e| format!("framed header: {e}"))?;
    Ok((header, &rest[len..]))
}

/// Go's `time.Duration` text form for a duration in milliseconds (`15.31525ms`, `1.2s`, `2m3s`).
pub fn go_duration(ms: f64) -> String {
    let ns = (ms * 1_000_000.0).round() as u128;
    if ns == 0 {
        return "0s".into();
    }
    fn trim(v: String) -> String {
        if v.contains('.') {
            v.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            v
        }
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim(format!("{:.3}", ns as f64 / 1e3)));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim(format!("{:.6}", ns as f64 / 1e6)));
    }
    let total_s = ns / 1_000_000_000;
    let frac_ns = ns % 1_000_000_000;
    let (h, m, s) = (total_s / 3600, (total_s / 60) % 60, total_s % 60);
    let secs = trim(format!("{s}.{frac_ns:09}"));
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_round_trip_through_serde_and_parse() {
        for l in Language::ALL {
            let json = serde_json::to_string(&l).unwrap();
            assert_eq!(json, format!("\"{}\"", l.as_str()));
            assert_eq!(Language::parse(l.as_str()), Some(l));
        }
        assert_eq!(Language::parse("javascript"), Some(Language::Node));
        assert_eq!(Language::parse("cobol"), None);
    }

    #[test]
    fn error_codes_map_to_the_contract_statuses() {
        assert_eq!(ErrorCode::InvalidJson.status(), 400);
        assert_eq!(ErrorCode::InvalidField.status(), 422);
        assert_eq!(ErrorCode::TooManyRuns.status(), 429);
        assert_eq!(ErrorCode::SandboxUnavailable.status(), 503);
        let body = serde_json::to_value(ErrorBody { error: "x".into(), code: ErrorCode::TooLarge }).unwrap();
        assert_eq!(body["code"], "too_large");
        assert_eq!(ErrorCode::TooLarge.as_str(), "too_large");
        for c in [ErrorCode::Forbidden, ErrorCode::UnsupportedMediaType] {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str(), "serde and as_str agree");
        }
        assert_eq!(ErrorCode::Forbidden.status(), 403);
        assert_eq!(ErrorCode::UnsupportedMediaType.status(), 415);
    }

    #[test]
    fn runs_keep_the_network_unless_the_request_says_otherwise() {
        let old_worker: RunRequest = serde_json::from_str(r#"{"language":"python","code":"print(1)"}"#).unwrap();
        assert!(old_worker.allow_internet, "a Worker that does not send the field keeps today's network");
        assert_eq!(old_worker.timeout_secs, DEFAULT_TIMEOUT_SECS);
        assert!(RunRequest::default().allow_internet);
        let off: RunRequest = serde_json::from_str(r#"{"code":"","allow_internet":false}"#).unwrap();
        assert!(!off.allow_internet);
        assert_eq!(serde_json::to_value(&off).unwrap()["allow_internet"], false);
    }

    #[test]
    fn frames_split_back_into_header_and_body() {
        let s = SessionState { version: Some("v1".into()) };
        let framed = frame(&s, b"tarbytes");
        let (back, rest): (SessionState, _) = split_frame(&framed).unwrap();
        assert_eq!(back, s);
        assert_eq!(rest, b"tarbytes");
        assert!(split_frame::<SessionState>(&framed[..6]).is_err());
        assert!(split_frame::<SessionState>(&[0, 0]).is_err());
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(15.31525), "15.31525ms");
        assert_eq!(go_duration(1200.0), "1.2s");
        assert_eq!(go_duration(123_000.0), "2m3s");
        assert_eq!(go_duration(0.0005), "500ns");
        assert_eq!(go_duration(0.25), "250µs");
        assert_eq!(go_duration(3_723_000.0), "1h2m3s");
        assert_eq!(go_duration(0.0), "0s");
    }
}

/// Whether `id` is a background process id: `proc_` and 24 lower-case hex digits.
pub fn valid_process_id(id: &str) -> bool {
    id.strip_prefix("proc_").is_some_and(|h| h.len() == 24 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// Most live background processes one session holds.
pub const MAX_PROCESSES: usize = 8;

/// Worker → executor: start a background process in a session's workspace
/// (`POST /v1/sessions/{sid}/processes`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessStart {
    /// The process id the Worker chose ([`valid_process_id`]).
    pub id: String,
    /// A bash command line, run with `bash -c`.
    pub command: String,
    /// Variables added to the process's environment.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Its lifetime bound: it is killed (`timeout`) this long after it started.
    pub max_secs: u64,
    /// The committed version the workspace must hold (`workspace_stale` otherwise: the Worker
    /// injects it and asks again).
    pub expect_version: Option<String>,
}

/// How a background process ended, when it did not exit on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessKilledBy {
    /// `DELETE …/processes/{proc}` (or the session's deletion).
    Deleted,
    /// Its `max_seconds` passed.
    Timeout,
    /// The memory limit.
    Memory,
    /// The process limit.
    Processes,
}

/// A background process as the executor holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessState {
    /// Its id.
    pub id: String,
    /// `running`, `exited` (it ended on its own) or `killed`.
    pub status: String,
    /// Its exit code once it ended (`128 + n` after signal `n`).
    pub exit_code: Option<i32>,
    /// What killed it, if something did.
    pub killed_by: Option<ProcessKilledBy>,
}

/// The executor's live and ended background processes of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStates {
    /// Every process the executor started for the session since it started.
    pub processes: Vec<ProcessState>,
}

/// A background process's buffered output: the last bytes of each stream (at most the ring's
/// size) and how many earlier bytes the ring dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessLogs {
    /// The last of its standard output, as text (invalid UTF-8 replaced).
    pub stdout: String,
    /// The last of its standard error.
    pub stderr: String,
    /// Bytes of standard output written before those kept.
    pub stdout_dropped: u64,
    /// Bytes of standard error written before those kept.
    pub stderr_dropped: u64,
    /// Its state when the logs were read.
    pub process: ProcessState,
}

/// Worker → executor, on the port route: the app's path and query, as the client sent them.
pub const PORT_TARGET_HEADER: &str = "x-edgerun-target";
/// Worker → executor, on the port route: the prefix the app is served under
/// (`/api/sessions/{id}/ports/{port}`), passed to the app as `x-forwarded-prefix`.
pub const PORT_PREFIX_HEADER: &str = "x-edgerun-prefix";
