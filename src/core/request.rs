//! Request bodies of the public API, parsed and validated once into typed values.
//!
//! Unparseable JSON is a 400, a missing field or a field of the wrong type a 422, a value out of
//! range (unknown language, timeout, id) a 400, and oversize code a 413, as the contract says.
use super::error::{ApiError, ApiResult};
use edgerun_protocol::{ErrorCode, Install, Language, DEFAULT_TIMEOUT_SECS, MAX_CODE_BYTES, MAX_TIMEOUT_SECS, MIN_TIMEOUT_SECS};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Parses a body that must be a JSON object.
pub fn parse_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("body is not valid JSON: {e}")))?;
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
    Language::parse(name).ok_or_else(|| {
        ApiError::bad(format!("unknown language {name:?}: use one of python, node, typescript, go, deno, bash"))
    })
}

/// `timeout`: whole seconds, 1..300, default 30.
pub fn timeout(m: &Map<String, Value>) -> ApiResult<u64> {
    match m.get("timeout") {
        None | Some(Value::Null) => Ok(DEFAULT_TIMEOUT_SECS),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(t) if (MIN_TIMEOUT_SECS..=MAX_TIMEOUT_SECS).contains(&t) => Ok(t),
            _ => Err(ApiError::bad(format!("`timeout` must be whole seconds from {MIN_TIMEOUT_SECS} to {MAX_TIMEOUT_SECS}, got {n}"))),
        },
        Some(v) => Err(wrong("timeout", "a number of seconds", v)),
    }
}

fn code(m: &Map<String, Value>) -> ApiResult<String> {
    let c = req_str(m, "code")?;
    if c.len() > MAX_CODE_BYTES {
        return Err(ApiError::new(ErrorCode::TooLarge, format!("`code` is {} bytes, the limit is {MAX_CODE_BYTES}", c.len())));
    }
    Ok(c.to_string())
}

fn env(m: &Map<String, Value>) -> ApiResult<BTreeMap<String, String>> {
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
    pub code: String,
    pub timeout_secs: u64,
    pub env: BTreeMap<String, String>,
    pub stdin: String,
    pub install: Install,
}

/// Packages named for a language's installer.
pub fn install_for(lang: Language, pkgs: Vec<String>) -> ApiResult<Install> {
    let mut i = Install::default();
    if pkgs.is_empty() {
        return Ok(i);
    }
    for p in &pkgs {
        if p.is_empty() || p.starts_with('-') || p.len() > 256 || p.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(ApiError::bad(format!("invalid package name {p:?}")));
        }
    }
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
        code: code(payload)?,
        timeout_secs: timeout(payload)?,
        env: env(payload)?,
        stdin: opt_str(payload, "stdin")?.unwrap_or_default().to_string(),
        install: install_for(lang, reqs)?,
    })
}

/// `POST /api/sessions/{id}/run` and `/api/execute` bodies (the language comes from the session or
/// the body).
pub fn parse_run(body: &[u8], lang: Option<Language>) -> ApiResult<RunSpec> {
    let m = parse_object(body)?;
    Ok(RunSpec {
        language: lang,
        code: code(&m)?,
        timeout_secs: timeout(&m)?,
        env: env(&m)?,
        stdin: opt_str(&m, "stdin")?.unwrap_or_default().to_string(),
        install: Install::default(),
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
        assert_eq!(ok.timeout_secs, 5);
        let node = parse_plugin(br#"{"plugin":"node","payload":{"code":"1","requirements":["lodash"]}}"#).unwrap();
        assert_eq!(node.install.npm, vec!["lodash".to_string()]);
        assert_eq!(node.timeout_secs, DEFAULT_TIMEOUT_SECS);

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
        let r = parse_run(br#"{"code":"x","env":{"A":"1"},"stdin":"in"}"#, Some(Language::Bash)).unwrap();
        assert_eq!(r.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(r.stdin, "in");
        assert_eq!(status(parse_run(br#"{"code":"x","env":{"A":1}}"#, None)), 422);
        assert_eq!(status(parse_run(br#"{"code":"x","env":{"A=B":"1"}}"#, None)), 400);
        assert_eq!(status(parse_run(br#"{"code":"x","env":[]}"#, None)), 422);
        assert_eq!(status(parse_run(br#"{}"#, None)), 422);
    }
}
