//! The MCP tools: their inputs as types (their JSON Schemas, feature `schema`, make the committed
//! tool list `docs/mcp-tools.json`), and which API operation each tool is. A tool's arguments are
//! handed to that operation's own parser, so a tool refuses exactly what its route refuses.
use super::mcp::Flavor;
#[cfg(feature = "schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a tool does: an API operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateSession,
    ListSessions,
    GetSession,
    DeleteSession,
    RunCode,
    Execute,
    ListFiles,
    ReadFile,
    WriteFile,
    DeleteFile,
    Install,
    Cancel,
    CreateContext,
    DeleteContext,
    StartProcess,
    ProcessLogs,
    StopProcess,
    PortUrl,
}

/// Every tool of a flavor: (name, what it does, description).
pub fn table(flavor: Flavor) -> &'static [(&'static str, Action, &'static str)] {
    match flavor {
        Flavor::Edgerun => &[
            ("create_session", Action::CreateSession, "Create a session: a sandboxed workspace whose files, packages and data stay from one run to the next. `setup` installs packages (pip, npm, go) and runs shell commands in the background."),
            ("run_code", Action::RunCode, "Run code in a session, in its language. Python and Node run in the session's default interpreter context, so variables, imports and functions survive between calls (fresh: true for a new process; context: a context of create_context). The workspace is the current directory; what the code writes there is kept. Returns stdout, stderr, exit_code, killed_by (the limit that ended the run, if one did) and the value of a final expression; send a progressToken to get the output as progress notifications while it runs."),
            ("execute", Action::Execute, "Run code once in a throwaway session (nothing is kept)."),
            ("list_sessions", Action::ListSessions, "List sessions, newest first."),
            ("get_session", Action::GetSession, "A session's settings, counts and setup status."),
            ("delete_session", Action::DeleteSession, "Delete a session and everything it holds."),
            ("list_files", Action::ListFiles, "List a session's files."),
            ("read_file", Action::ReadFile, "Read a file of a session: text as text, other files as a base64 resource with their MIME type."),
            ("write_file", Action::WriteFile, "Write a file into a session's workspace (text, or base64 with encoding: base64)."),
            ("delete_file", Action::DeleteFile, "Delete a file of a session."),
            ("install_packages", Action::Install, "Install packages into a session (pip, npm or go specs, or a requirements / package.json text) and run setup commands; waits for the setup to end unless wait is false."),
            ("cancel", Action::Cancel, "End the session's running run or setup (in a context: interrupted, the context's state kept)."),
            ("create_context", Action::CreateContext, "Start a live interpreter context (python, node or typescript) in a session; pass its id as run_code's context."),
            ("delete_context", Action::DeleteContext, "End an interpreter context."),
            ("start_process", Action::StartProcess, "Start a background process in a session (a dev server, a long job) that outlives the call: a bash command line run in the workspace, in the session's network namespace (no internet; the session's runs reach its ports on 127.0.0.1). Returns its id; read its output with process_logs, reach its port with port_url."),
            ("process_logs", Action::ProcessLogs, "A background process's status and the last of its stdout and stderr (up to 1 MiB each)."),
            ("stop_process", Action::StopProcess, "End a background process and everything it started."),
            ("port_url", Action::PortUrl, "A signed address of a session's port (1024-65535) that works without the API token until it expires (expires_in seconds, at most 86400): open it in a browser to reach the server a background process runs."),
        ],
        Flavor::Era => &[
            ("era_execute_code", Action::Execute, "Execute code in a fresh environment (python, node, typescript, go, deno, bash)."),
            ("era_create_session", Action::CreateSession, "Create a persistent session; the answer names its Session ID."),
            ("era_run_in_session", Action::RunCode, "Execute code in an existing session; files, data and (python, node) variables persist between runs."),
            ("era_list_sessions", Action::ListSessions, "List all sessions."),
            ("era_get_session", Action::GetSession, "Get a session's details."),
            ("era_delete_session", Action::DeleteSession, "Delete a session."),
            ("era_upload_file", Action::WriteFile, "Upload a file to a session's workspace."),
            ("era_read_file", Action::ReadFile, "Read a file from a session's workspace."),
            ("era_list_files", Action::ListFiles, "List the files in a session's workspace."),
        ],
    }
}

/// The operation a tool of `flavor` performs.
pub fn action(flavor: Flavor, name: &str) -> Option<Action> {
    table(flavor).iter().find(|(n, _, _)| *n == name).map(|(_, a, _)| *a)
}

/// Names a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct SessionRef {
    /// The session id.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: String,
}

/// `run_code`: the run route's body, with the session it runs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct RunCodeInput {
    /// The session id.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: String,
    /// The program (at most 1 MiB).
    pub code: String,
    /// Whole seconds 1 to 300; default: the session's default_timeout, else 30.
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 300)))]
    pub timeout: Option<u64>,
    /// Environment variables for this run.
    pub env: Option<BTreeMap<String, String>>,
    /// Fed to the program's standard input.
    pub stdin: Option<String>,
    /// Run in this context (`ctx_…`, from create_context) instead of the default one.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^ctx_[0-9a-f]{24}$")))]
    pub context: Option<String>,
    /// A fresh process instead of the session's default context.
    pub fresh: Option<bool>,
}

/// `create_context`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct CreateContextInput {
    /// The session id.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: String,
    /// `python` or `node`.
    pub language: String,
}

/// `delete_context`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ContextRef {
    /// The session id.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: String,
    /// The context id (`ctx_…`).
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^ctx_[0-9a-f]{24}$")))]
    pub context: String,
}

/// `start_process`: the process route's body, with the session it runs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct StartProcessInput {
    /// The session id.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: String,
    /// A bash command line, e.g. `python -m http.server 8000`.
    pub command: String,
    /// Environment variables added to the process's.
    pub env: Option<BTreeMap<String, String>>,
    /// Its lifetime bound in seconds (default 3600).
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub max_seconds: Option<u64>,
    /// `on-wake`: started again (same id) when the session's sandbox comes back without it.
    pub restart: Option<super::api::ProcessRestart>,
}

/// `process_logs`, `stop_process`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ProcessRef {
    /// The session id.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: String,
    /// The process id (`proc_…`, from start_process).
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^proc_[0-9a-f]{24}$")))]
    pub process: String,
}

/// `port_url`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct PortUrlInput {
    /// The session id.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: String,
    /// The port the session's server listens on.
    #[cfg_attr(feature = "schema", schemars(range(min = 1024, max = 65535)))]
    pub port: u32,
    /// Seconds the address works (1 to 86400; default 3600).
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 86400)))]
    pub expires_in: Option<u64>,
}

/// `list_sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ListSessionsInput {
    /// Entries per page (1 to 1000; default 100).
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 1000)))]
    pub limit: Option<u32>,
    /// The `cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Names a file of a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct FileRef {
    /// The session id.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: String,
    /// A relative, `/`-separated path in the workspace.
    pub path: String,
}

/// How `content` is written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The text itself (UTF-8).
    Utf8,
    /// Base64 of the bytes.
    Base64,
}

/// `write_file`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct WriteFileInput {
    /// The session id.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: String,
    /// A relative, `/`-separated path in the workspace.
    pub path: String,
    /// The file's content.
    pub content: String,
    /// `utf8` (default) or `base64`.
    pub encoding: Option<Encoding>,
}

/// `install_packages`: the setup route's `setup`, with the session and whether to wait.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct InstallInput {
    /// The session id.
    #[cfg_attr(feature = "schema", schemars(extend("pattern" = "^[A-Za-z0-9_-]{1,64}$")))]
    pub session_id: String,
    /// What to install and run: the setup route's `setup` fields.
    #[serde(flatten)]
    pub setup: super::api::Setup,
    /// Wait for the setup to end (default true; at most 300 s).
    pub wait: Option<bool>,
}

/// Every tool's input type, for the generated list (see `core::openapi`'s tests).
#[cfg(feature = "schema")]
pub fn input_schema(g: &mut schemars::SchemaGenerator, action: Action) -> schemars::Schema {
    match action {
        Action::CreateSession => g.root_schema_for::<super::api::CreateSessionRequest>(),
        Action::RunCode => g.root_schema_for::<RunCodeInput>(),
        Action::Execute => g.root_schema_for::<super::api::ExecuteRequest>(),
        Action::ListSessions => g.root_schema_for::<ListSessionsInput>(),
        Action::GetSession | Action::DeleteSession | Action::ListFiles | Action::Cancel => g.root_schema_for::<SessionRef>(),
        Action::ReadFile | Action::DeleteFile => g.root_schema_for::<FileRef>(),
        Action::WriteFile => g.root_schema_for::<WriteFileInput>(),
        Action::Install => g.root_schema_for::<InstallInput>(),
        Action::CreateContext => g.root_schema_for::<CreateContextInput>(),
        Action::DeleteContext => g.root_schema_for::<ContextRef>(),
        Action::StartProcess => g.root_schema_for::<StartProcessInput>(),
        Action::ProcessLogs | Action::StopProcess => g.root_schema_for::<ProcessRef>(),
        Action::PortUrl => g.root_schema_for::<PortUrlInput>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_one_action_and_era_has_its_nine() {
        assert_eq!(table(Flavor::Era).len(), 9, "ERA's test-mcp.sh expects nine tools");
        for f in [Flavor::Edgerun, Flavor::Era] {
            let mut names: Vec<&str> = table(f).iter().map(|t| t.0).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), table(f).len(), "unique names");
        }
        assert_eq!(action(Flavor::Era, "era_run_in_session"), Some(Action::RunCode));
        assert_eq!(action(Flavor::Edgerun, "era_run_in_session"), None, "each server lists its own");
    }
}
