//! Request bodies of the public API, parsed and validated once into typed values.
//!
//! Unparseable JSON is a 400, a missing field or a field of the wrong type a 422, a value out of
//! range (unknown language, timeout, id) a 400, and oversize code a 413, as the contract says.
use super::error::{ApiError, ApiResult};
use edgerun_protocol::{ErrorCode, Install, Language, MAX_CODE_BYTES, MAX_TIMEOUT_SECS, MIN_TIMEOUT_SECS};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Parses a body that must be a JSON object.
pub fn parse_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("body is not valid JSON: {e}")))?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::invalid_field("body must be a JSON object")),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong(field: &str, want: &str, v: &Value) -> ApiError {
    ApiError::invalid_field(format!("`{field}` must be {want}, got {}", type_name(v)))
}

pub fn opt_str<'a>(m: &'a Map<String, Value>, field: &str) -> ApiResult<Option<&'a str>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(wrong(field, "a string", v)),
    }
}

pub fn req_str<'a>(m: &'a Map<String, Value>, field: &str) -> ApiResult<&'a str> {
    opt_str(m, field)?.ok_or_else(|| ApiError::invalid_field(format!("`{field}` is required")))
}

pub fn opt_bool(m: &Map<String, Value>, field: &str) -> ApiResult<Option<bool>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(wrong(field, "a boolean", v)),
    }
}

pub fn opt_object<'a>(m: &'a Map<String, Value>, field: &str) -> ApiResult<Option<&'a Map<String, Value>>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(v) => Err(wrong(field, "an object", v)),
    }
}

pub fn opt_str_list(m: &Map<String, Value>, field: &str) -> ApiResult<Vec<String>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong(&format!("{field}[]"), "a string", other)),
            })
            .collect(),
        Some(v) => Err(wrong(field, "an array of strings", v)),
    }
}

pub fn language(name: &str) -> ApiResult<Language> {
    Language::parse(name)
        .ok_or_else(|| ApiError::bad(format!("unknown language {name:?}: use one of python, node, typescript, go, deno, bash")))
}

/// A timeout field (`timeout`, `default_timeout`): whole seconds, 1..300; `None` when absent or null.
fn seconds(m: &Map<String, Value>, field: &str) -> ApiResult<Option<u64>> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(t) if (MIN_TIMEOUT_SECS..=MAX_TIMEOUT_SECS).contains(&t) => Ok(Some(t)),
            _ => Err(ApiError::bad(format!("`{field}` must be whole seconds from {MIN_TIMEOUT_SECS} to {MAX_TIMEOUT_SECS}, got {n}"))),
        },
        Some(v) => Err(wrong(field, "a number of seconds", v)),
    }
}

/// `timeout`: whole seconds, 1..300; `None` (the session's `default_timeout`, else 30) when absent.
pub fn timeout(m: &Map<String, Value>) -> ApiResult<Option<u64>> {
    seconds(m, "timeout")
}

/// `code` (at most 1 MiB); `None` when absent.
fn opt_code(m: &Map<String, Value>) -> ApiResult<Option<String>> {
    let Some(c) = opt_str(m, "code")? else { return Ok(None) };
    if c.len() > MAX_CODE_BYTES {
        return Err(ApiError::new(ErrorCode::TooLarge, format!("`code` is {} bytes, the limit is {MAX_CODE_BYTES}", c.len())));
    }
    Ok(Some(c.to_string()))
}

fn code(m: &Map<String, Value>) -> ApiResult<String> {
    opt_code(m)?.ok_or_else(|| ApiError::invalid_field("`code` is required"))
}

pub fn env(m: &Map<String, Value>) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if let Some(o) = opt_object(m, "env")? {
        for (k, v) in o {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(ApiError::bad(format!("invalid environment variable name {k:?}")));
            }
            match v {
                Value::String(s) if !s.contains('\0') => {
                    out.insert(k.clone(), s.clone());
                }
                Value::String(_) => return Err(ApiError::bad(format!("environment variable {k} contains NUL"))),
                other => return Err(wrong(&format!("env.{k}"), "a string", other)),
            }
        }
    }
    Ok(out)
}

/// One run, as the Durable Object executes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunSpec {
    pub language: Option<Language>,
    /// `None`: the session's stored code (`PUT …/code`).
    pub code: Option<String>,
    /// `None`: the session's `default_timeout`, else [`edgerun_protocol::DEFAULT_TIMEOUT_SECS`].
    pub timeout_secs: Option<u64>,
    pub env: BTreeMap<String, String>,
    pub stdin: String,
    pub install: Install,
    /// `POST …/run`'s `context`: run in that live context (`ctx_…`).
    #[serde(default)]
    pub context: Option<String>,
    /// The plugin payload's `fresh`: a fresh process rather than the session's default context.
    #[serde(default)]
    pub fresh: bool,
    /// Without `context`, run in the session's default context of its language as the plugin
    /// endpoint does (MCP's `run_code`): python and node keep their variables between calls.
    #[serde(default)]
    pub default_context: bool,
}

/// A run body's `context`: a context id (`ctx_` and 24 hex digits), or `None`.
fn context(m: &Map<String, Value>) -> ApiResult<Option<String>> {
    let Some(c) = opt_str(m, "context")? else { return Ok(None) };
    if !edgerun_protocol::valid_context_id(c) {
        return Err(ApiError::bad(format!(
            "invalid context id {:?}: context ids are `ctx_` and 24 hex digits",
            super::ids::truncate(c, 80)
        )));
    }
    Ok(Some(c.to_string()))
}

/// Packages named for a language's installer.
pub fn install_for(lang: Language, pkgs: Vec<String>) -> ApiResult<Install> {
    let mut i = Install::default();
    if pkgs.is_empty() {
        return Ok(i);
    }
    edgerun_protocol::check_specs(&pkgs).map_err(ApiError::bad)?;
    match lang {
        Language::Python => i.pip = pkgs,
        Language::Node | Language::Typescript | Language::Deno => i.npm = pkgs,
        Language::Go => i.go = pkgs,
        Language::Bash => return Err(ApiError::bad("bash has no installer: `requirements` cannot be used with bash")),
    }
    Ok(i)
}

/// `POST /?session=` body: `{"plugin": "...", "payload": {"code", "requirements", "timeout", "env", "stdin"}}`.
pub fn parse_plugin(body: &[u8]) -> ApiResult<RunSpec> {
    let m = parse_object(body)?;
    let lang = language(req_str(&m, "plugin")?)?;
    let payload = opt_object(&m, "payload")?.ok_or_else(|| ApiError::invalid_field("`payload` is required"))?;
    let reqs = opt_str_list(payload, "requirements")?;
    Ok(RunSpec {
        language: Some(lang),
        code: Some(code(payload)?),
        timeout_secs: timeout(payload)?,
        env: env(payload)?,
        stdin: opt_str(payload, "stdin")?.unwrap_or_default().to_string(),
        install: install_for(lang, reqs)?,
        context: None,
        fresh: opt_bool(payload, "fresh")?.unwrap_or(false),
        default_context: false,
    })
}

/// Whether a run body must carry its code, or may leave it to the session's stored code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// `POST /api/execute`: a throwaway session has no stored code.
    Required,
    /// `POST /api/sessions/{id}/run`: without `code`, the session's stored code runs.
    OrStored,
}

/// `POST /api/sessions/{id}/run` and `/api/execute` bodies (the language comes from the session or
/// the body).
pub fn parse_run(body: &[u8], lang: Option<Language>, source: CodeSource) -> ApiResult<RunSpec> {
    let m = parse_object(body)?;
    Ok(RunSpec {
        language: lang,
        code: match source {
            CodeSource::Required => Some(code(&m)?),
            CodeSource::OrStored => opt_code(&m)?,
        },
        timeout_secs: timeout(&m)?,
        env: env(&m)?,
        stdin: opt_str(&m, "stdin")?.unwrap_or_default().to_string(),
        install: Install::default(),
        context: match source {
            CodeSource::Required => None,
            CodeSource::OrStored => context(&m)?,
        },
        fresh: false,
        default_context: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(r: ApiResult<RunSpec>) -> u16 {
        r.unwrap_err().status()
    }

    #[test]
    fn plugin_bodies_parse_and_validate() {
        let ok = parse_plugin(br#"{"plugin":"python","payload":{"code":"print(1)","requirements":["requests"],"timeout":5}}"#).unwrap();
        assert_eq!(ok.language, Some(Language::Python));
        assert_eq!(ok.install.pip, vec!["requests".to_string()]);
        assert_eq!(ok.timeout_secs, Some(5));
        let node = parse_plugin(br#"{"plugin":"node","payload":{"code":"1","requirements":["lodash"]}}"#).unwrap();
        assert_eq!(node.install.npm, vec!["lodash".to_string()]);
        assert_eq!(node.timeout_secs, None, "the session's default applies");

        assert_eq!(status(parse_plugin(b"{not json")), 400);
        assert_eq!(status(parse_plugin(b"[1]")), 422);
        assert_eq!(status(parse_plugin(br#"{"payload":{"code":"x"}}"#)), 422);
        assert_eq!(status(parse_plugin(br#"{"plugin":"cobol","payload":{"code":"x"}}"#)), 400);
        assert_eq!(status(parse_plugin(br#"{"plugin":"python"}"#)), 422);
        assert_eq!(status(parse_plugin(br#"{"plugin":"python","payload":{"code":1}}"#)), 422);
        assert_eq!(status(parse_plugin(br#"{"plugin":"python","payload":{"code":"x","timeout":0}}"#)), 400);
        assert_eq!(status(parse_plugin(br#"{"plugin":"python","payload":{"code":"x","timeout":301}}"#)), 400);
        assert_eq!(status(parse_plugin(br#"{"plugin":"python","payload":{"code":"x","timeout":1.5}}"#)), 400);
        assert_eq!(status(parse_plugin(br#"{"plugin":"python","payload":{"code":"x","timeout":"5"}}"#)), 422);
        assert_eq!(status(parse_plugin(br#"{"plugin":"bash","payload":{"code":"x","requirements":["jq"]}}"#)), 400);
        assert_eq!(status(parse_plugin(br#"{"plugin":"python","payload":{"code":"x","requirements":["--index-url=x"]}}"#)), 400);
        assert_eq!(status(parse_plugin(br#"{"plugin":"python","payload":{"code":"x","requirements":"requests"}}"#)), 422);
        let big = format!(r#"{{"plugin":"python","payload":{{"code":"{}"}}}}"#, "x".repeat(MAX_CODE_BYTES + 1));
        assert_eq!(status(parse_plugin(big.as_bytes())), 413);
    }

    #[test]
    fn run_bodies_parse_env_and_stdin() {
        let run = |b: &[u8]| parse_run(b, None, CodeSource::Required);
        let r = parse_run(br#"{"code":"x","env":{"A":"1"},"stdin":"in"}"#, Some(Language::Bash), CodeSource::Required).unwrap();
        assert_eq!(r.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(r.stdin, "in");
        assert_eq!(status(run(br#"{"code":"x","env":{"A":1}}"#)), 422);
        assert_eq!(status(run(br#"{"code":"x","env":{"A=B":"1"}}"#)), 400);
        assert_eq!(status(run(br#"{"code":"x","env":[]}"#)), 422);
        assert_eq!(status(run(br#"{}"#)), 422);
        let stored = parse_run(br#"{"timeout":3}"#, None, CodeSource::OrStored).unwrap();
        assert_eq!((stored.code, stored.timeout_secs), (None, Some(3)), "no code: the stored code runs");
        assert_eq!(status(parse_run(br#"{"code":5}"#, None, CodeSource::OrStored)), 422);
    }
}

/// Setup to run after create (or on `POST …/setup`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SetupSpec {
    pub install: Install,
    pub commands: Vec<String>,
}

impl SetupSpec {
    pub fn is_empty(&self) -> bool {
        self.install.is_empty() && self.commands.is_empty()
    }
}

/// Largest `data` and `metadata` objects, serialized.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Largest file an upload may carry.
pub const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024;

/// `POST /api/sessions` body.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CreateSpec {
    pub id: Option<String>,
    pub language: Language,
    pub persistent: bool,
    pub metadata: Value,
    pub data: Value,
    pub setup: SetupSpec,
    /// The timeout of runs that give none; `None`: [`edgerun_protocol::DEFAULT_TIMEOUT_SECS`].
    pub default_timeout: Option<u64>,
    /// Whether runs reach beyond the sandbox's loopback.
    pub allow_internet: bool,
}

/// A change to a setting that can be unset: leave it, unset it (`null`), or set it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Change<T> {
    #[default]
    Keep,
    Unset,
    Set(T),
}

/// `PATCH /api/sessions/{id}` body: the settings to change; absent fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SettingsSpec {
    pub default_timeout: Change<u64>,
    /// Replaces the metadata whole.
    pub metadata: Option<Value>,
    pub allow_internet: Option<bool>,
}

/// Fields of the session object a `PATCH` cannot change (named in its 400).
const FIXED_FIELDS: [&str; 8] = ["id", "session_id", "language", "persistent", "data", "created_at", "setup", "code"];

/// `allow_internet`, or its ERA spelling `allowInternetAccess` (both given must agree).
fn allow_internet(m: &Map<String, Value>) -> ApiResult<Option<bool>> {
    match (opt_bool(m, "allow_internet")?, opt_bool(m, "allowInternetAccess")?) {
        (Some(a), Some(b)) if a != b => Err(ApiError::bad("`allow_internet` and its alias `allowInternetAccess` disagree")),
        (a, b) => Ok(a.or(b)),
    }
}

/// The settings fields of a create or `PATCH` body.
fn parse_settings(m: &Map<String, Value>) -> ApiResult<SettingsSpec> {
    let default_timeout = match m.get("default_timeout") {
        None => Change::Keep,
        Some(Value::Null) => Change::Unset,
        Some(_) => Change::Set(seconds(m, "default_timeout")?.expect("present and not null")),
    };
    let metadata = match m.get("metadata") {
        None | Some(Value::Null) => None,
        Some(_) => Some(bounded_object(m, "metadata", MAX_METADATA_BYTES)?),
    };
    Ok(SettingsSpec { default_timeout, metadata, allow_internet: allow_internet(m)? })
}

/// `PATCH /api/sessions/{id}` body.
pub fn parse_patch(body: &[u8]) -> ApiResult<SettingsSpec> {
    let m = parse_object(body)?;
    if let Some(f) = FIXED_FIELDS.iter().find(|f| m.contains_key(**f)) {
        return Err(ApiError::bad(format!(
            "`{f}` cannot be changed by PATCH: it takes `default_timeout`, `metadata` and `allow_internet`"
        )));
    }
    parse_settings(&m)
}

fn bounded_object(m: &Map<String, Value>, field: &str, limit: usize) -> ApiResult<Value> {
    match opt_object(m, field)? {
        None => Ok(Value::Object(Map::new())),
        Some(o) => {
            let v = Value::Object(o.clone());
            let len = v.to_string().len();
            if len > limit {
                return Err(ApiError::new(ErrorCode::TooLarge, format!("`{field}` is {len} bytes, the limit is {limit}")));
            }
            Ok(v)
        }
    }
}

/// An installer's field of `setup`: a list of specs, or an object holding one manifest's text
/// under `key` (`requirements` for pip, `packageJson` for npm). Answers (specs, manifest text).
fn installer_field(
    s: &Map<String, Value>,
    field: &str,
    key: &str,
    check: fn(&str) -> Result<(), String>,
) -> ApiResult<(Vec<String>, String)> {
    match s.get(field) {
        Some(Value::Object(o)) => {
            if let Some(other) = o.keys().find(|k| *k != key) {
                return Err(ApiError::bad(format!("`setup.{field}` takes `{key}` (the text of the file), not `{other}`")));
            }
            let text = opt_str(o, key)?.ok_or_else(|| ApiError::invalid_field(format!("`setup.{field}.{key}` is required")))?;
            check(text).map_err(|m| {
                ApiError::new(
                    if text.len() > edgerun_protocol::MAX_MANIFEST_BYTES { ErrorCode::TooLarge } else { ErrorCode::BadRequest },
                    format!("`setup.{field}.{key}`: {m}"),
                )
            })?;
            Ok((Vec::new(), text.to_string()))
        }
        Some(Value::Array(_)) | Some(Value::Null) | None => Ok((opt_str_list(s, field)?, String::new())),
        Some(v) => Err(wrong(&format!("setup.{field}"), &format!("an array of package specs or {{\"{key}\": \"<text>\"}}"), v)),
    }
}

/// `setup`: `{"pip": [], "npm": [], "go": [], "commands": []}`; `pip` may also be
/// `{"requirements": "<requirements.txt>"}` and `npm` `{"packageJson": "<package.json>"}`.
pub fn parse_setup(m: &Map<String, Value>) -> ApiResult<SetupSpec> {
    let Some(s) = opt_object(m, "setup")? else { return Ok(SetupSpec::default()) };
    let (pip, pip_requirements) = installer_field(s, "pip", "requirements", edgerun_protocol::check_requirements)?;
    let (npm, npm_package_json) = installer_field(s, "npm", "packageJson", edgerun_protocol::check_package_json)?;
    let spec = SetupSpec {
        install: Install { pip, npm, go: opt_str_list(s, "go")?, pip_requirements, npm_package_json },
        commands: opt_str_list(s, "commands")?,
    };
    for list in [&spec.install.pip, &spec.install.npm, &spec.install.go] {
        if !list.is_empty() {
            // the same rules as requirements; the installer itself does not matter here
            install_for(Language::Python, list.clone())?;
        }
    }
    if spec.commands.iter().any(|c| c.contains('\0')) {
        return Err(ApiError::bad("setup commands must not contain NUL"));
    }
    Ok(spec)
}

pub fn parse_create(body: &[u8]) -> ApiResult<CreateSpec> {
    let m = parse_object(body)?;
    let settings = parse_settings(&m)?;
    Ok(CreateSpec {
        id: id_field(&m)?,
        language: language(req_str(&m, "language")?)?,
        persistent: opt_bool(&m, "persistent")?.unwrap_or(true),
        metadata: bounded_object(&m, "metadata", MAX_METADATA_BYTES)?,
        data: bounded_object(&m, "data", edgerun_protocol::MAX_DATA_BYTES)?,
        setup: parse_setup(&m)?,
        default_timeout: match settings.default_timeout {
            Change::Set(t) => Some(t),
            Change::Keep | Change::Unset => None,
        },
        allow_internet: settings.allow_internet.unwrap_or(true),
    })
}

/// An `Idempotency-Key` and the hash of the request it came with: a retry with the same key
/// and the same request answers the first answer; the same key with another request is a 409.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Idempotency {
    pub key: String,
    /// Hex BLAKE3 of the route and the raw body.
    pub hash: String,
}

/// How long a key is remembered.
pub const IDEMPOTENCY_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// Checks an `Idempotency-Key` header (1 to 255 visible ASCII characters) and binds it to the
/// request (`route` and raw `body`).
pub fn idempotency(header: Option<&str>, route: &str, body: &[u8]) -> ApiResult<Option<Idempotency>> {
    let Some(key) = header else { return Ok(None) };
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad("`Idempotency-Key` must be 1 to 255 visible ASCII characters"));
    }
    let mut h = blake3::Hasher::new();
    h.update(route.as_bytes());
    h.update(&[0]);
    h.update(body);
    Ok(Some(Idempotency { key: key.to_string(), hash: h.finalize().to_hex().to_string() }))
}

/// Largest description of stored code.
pub const MAX_DESCRIPTION_BYTES: usize = 4 * 1024;

/// `PUT /api/sessions/{id}/code` body: `{"code": "...", "description": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredCodeSpec {
    pub code: String,
    pub description: String,
}

pub fn parse_stored_code(body: &[u8]) -> ApiResult<StoredCodeSpec> {
    let m = parse_object(body)?;
    let description = opt_str(&m, "description")?.unwrap_or_default();
    if description.len() > MAX_DESCRIPTION_BYTES {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("`description` is {} bytes, the limit is {MAX_DESCRIPTION_BYTES}", description.len()),
        ));
    }
    Ok(StoredCodeSpec { code: code(&m)?, description: description.to_string() })
}

/// `POST /api/sessions/{id}/duplicate` body: `{"id": "new-id"}`, id optional; an empty body is fine.
pub fn parse_duplicate(body: &[u8]) -> ApiResult<Option<String>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    id_field(&parse_object(body)?)
}

/// `id` (or its ERA alias `session_id`), validated when present.
fn id_field(m: &Map<String, Value>) -> ApiResult<Option<String>> {
    let id = match opt_str(m, "id")? {
        Some(i) => Some(i),
        None => opt_str(m, "session_id")?,
    };
    if let Some(i) = id {
        super::ids::check_session_id(i)?;
    }
    Ok(id.map(String::from))
}

/// `limit` query values: whole numbers within `1..=max`, else 400.
pub fn parse_limit(raw: Option<&str>, default: u32, max: u32) -> ApiResult<u32> {
    match raw {
        None => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad(format!("`limit` must be a whole number from 1 to {max}, got {s:?}"))),
        },
    }
}

#[cfg(test)]
mod create_tests {
    use super::*;

    #[test]
    fn create_bodies() {
        let c = parse_create(
            br#"{"session_id":"my-counter","language":"python","data":{"count":0},"setup":{"pip":["requests"],"commands":["echo hi"]}}"#,
        )
        .unwrap();
        assert_eq!(c.id.as_deref(), Some("my-counter"));
        assert!(c.persistent);
        assert_eq!(c.data["count"], 0);
        assert_eq!(c.setup.install.pip, vec!["requests".to_string()]);
        assert_eq!(c.setup.commands, vec!["echo hi".to_string()]);
        let anon = parse_create(br#"{"language":"node","persistent":false,"unknown":1}"#).unwrap();
        assert_eq!(anon.id, None);
        assert!(!anon.persistent);
        let code = |b: &[u8]| parse_create(b).unwrap_err().status();
        assert_eq!(code(br#"{"language":"python","id":"bad id"}"#), 400);
        assert_eq!(code(br#"{"id":"x"}"#), 422);
        assert_eq!(code(br#"{"language":"python","persistent":"yes"}"#), 422);
        assert_eq!(code(br#"{"language":"python","data":[1]}"#), 422);
        assert_eq!(code(br#"{"language":"python","setup":{"pip":"requests"}}"#), 422);
        assert_eq!(code(br#"{"language":"python","setup":{"npm":["-g"]}}"#), 400);
        let big = format!(r#"{{"language":"python","data":{{"x":"{}"}}}}"#, "a".repeat(128 * 1024));
        assert_eq!(code(big.as_bytes()), 413);
        let big_meta = format!(r#"{{"language":"python","metadata":{{"x":"{}"}}}}"#, "a".repeat(16 * 1024));
        assert_eq!(code(big_meta.as_bytes()), 413);
    }

    #[test]
    fn settings_at_create_and_patch() {
        let c = parse_create(br#"{"language":"python","default_timeout":12,"allowInternetAccess":false}"#).unwrap();
        assert_eq!((c.default_timeout, c.allow_internet), (Some(12), false));
        let c = parse_create(br#"{"language":"python"}"#).unwrap();
        assert_eq!((c.default_timeout, c.allow_internet), (None, true));
        let p = parse_patch(br#"{"default_timeout":300,"metadata":{"a":1},"allow_internet":true}"#).unwrap();
        assert_eq!(p.default_timeout, Change::Set(300));
        assert_eq!(p.metadata, Some(serde_json::json!({"a": 1})));
        assert_eq!(p.allow_internet, Some(true));
        assert_eq!(parse_patch(br#"{"default_timeout":null}"#).unwrap().default_timeout, Change::Unset);
        assert_eq!(parse_patch(b"{}").unwrap(), SettingsSpec::default());
        let status = |b: &[u8]| parse_patch(b).unwrap_err().status();
        for bad in
            [&br#"{"default_timeout":-1}"#[..], br#"{"default_timeout":0}"#, br#"{"default_timeout":301}"#, br#"{"default_timeout":1.5}"#]
        {
            assert_eq!(status(bad), 400, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(status(br#"{"default_timeout":"5"}"#), 422);
        assert_eq!(status(br#"{"allow_internet":"no"}"#), 422);
        assert_eq!(status(br#"{"metadata":[1]}"#), 422);
        assert_eq!(status(br#"{"allow_internet":true,"allowInternetAccess":false}"#), 400);
        assert_eq!(status(br#"{"language":"go"}"#), 400);
        assert_eq!(status(b"[]"), 422);
        let big = format!(r#"{{"metadata":{{"x":"{}"}}}}"#, "a".repeat(16 * 1024));
        assert_eq!(status(big.as_bytes()), 413);
        assert_eq!(parse_create(br#"{"language":"python","default_timeout":0}"#).unwrap_err().status(), 400);
    }

    #[test]
    fn idempotency_keys_bind_to_their_request() {
        assert_eq!(idempotency(None, "run", b"{}").unwrap(), None);
        let a = idempotency(Some("retry-1"), "run", br#"{"code":"1"}"#).unwrap().unwrap();
        assert_eq!(a.key, "retry-1");
        assert_eq!(a, idempotency(Some("retry-1"), "run", br#"{"code":"1"}"#).unwrap().unwrap());
        assert_ne!(a.hash, idempotency(Some("retry-1"), "run", br#"{"code":"2"}"#).unwrap().unwrap().hash);
        assert_ne!(a.hash, idempotency(Some("retry-1"), "plugin", br#"{"code":"1"}"#).unwrap().unwrap().hash);
        for bad in ["", "has space", "tab\t", "é", &"k".repeat(256)] {
            assert_eq!(idempotency(Some(bad), "run", b"").unwrap_err().status(), 400, "{bad:?}");
        }
    }

    #[test]
    fn stored_code_bodies() {
        let c = parse_stored_code(br#"{"code":"print(1)","description":"hello"}"#).unwrap();
        assert_eq!((c.code.as_str(), c.description.as_str()), ("print(1)", "hello"));
        assert_eq!(parse_stored_code(br#"{"code":"x"}"#).unwrap().description, "");
        assert_eq!(parse_stored_code(br#"{"description":"x"}"#).unwrap_err().status(), 422);
        assert_eq!(parse_stored_code(br#"{"code":"x","description":7}"#).unwrap_err().status(), 422);
        let big = format!(r#"{{"code":"{}"}}"#, "x".repeat(MAX_CODE_BYTES + 1));
        assert_eq!(parse_stored_code(big.as_bytes()).unwrap_err().status(), 413);
    }

    #[test]
    fn setup_takes_era_manifest_forms() {
        let c = parse_create(
            br##"{"language":"python","setup":{"pip":{"requirements":"# deps\nrequests==2.31 --hash=sha256:ab12\n"},"npm":{"packageJson":"{\"dependencies\":{\"ms\":\"^2\"}}"}}}"##,
        )
        .unwrap();
        assert_eq!(c.setup.install.pip_requirements, "# deps\nrequests==2.31 --hash=sha256:ab12\n");
        assert!(c.setup.install.pip.is_empty());
        assert_eq!(c.setup.install.npm_package_json, r#"{"dependencies":{"ms":"^2"}}"#);
        assert!(!c.setup.is_empty());
        let err = |b: &[u8]| parse_create(b).unwrap_err();
        let e = err(br#"{"language":"python","setup":{"pip":{"requirements":"requests\n--index-url https://x"}}}"#);
        assert_eq!(e.status(), 400);
        assert!(e.message.contains("line 2"), "{}", e.message);
        assert_eq!(err(br#"{"language":"python","setup":{"pip":{"requirement":"x"}}}"#).status(), 400);
        assert_eq!(err(br#"{"language":"python","setup":{"pip":{}}}"#).status(), 422);
        assert_eq!(err(br#"{"language":"python","setup":{"pip":{"requirements":5}}}"#).status(), 422);
        assert_eq!(err(br#"{"language":"python","setup":{"pip":"requests"}}"#).status(), 422);
        assert_eq!(err(br#"{"language":"node","setup":{"npm":{"packageJson":"[1]"}}}"#).status(), 400);
    }

    #[test]
    fn limits_and_duplicates() {
        assert_eq!(parse_limit(None, 100, 1000).unwrap(), 100);
        assert_eq!(parse_limit(Some("1000"), 100, 1000).unwrap(), 1000);
        for bad in ["0", "1001", "-1", "x", "1.5"] {
            assert_eq!(parse_limit(Some(bad), 100, 1000).unwrap_err().status(), 400, "{bad}");
        }
        assert_eq!(parse_duplicate(b"").unwrap(), None);
        assert_eq!(parse_duplicate(br#"{"id":"copy"}"#).unwrap().as_deref(), Some("copy"));
        assert_eq!(parse_duplicate(br#"{"id":"../x"}"#).unwrap_err().status(), 400);
    }
}
