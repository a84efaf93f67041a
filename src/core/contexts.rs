//! Live interpreter contexts, the platform-free part: the create body, ids, the bounds, and
//! which context a run goes to (a named one, the plugin endpoint's default one, or none).
use super::error::{ApiError, ApiResult};
use super::request::{language, parse_object, req_str};
use edgerun_protocol::{ErrorCode, Language, MAX_CONTEXTS};

/// A context as the session stores it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContextRow {
    pub id: String,
    pub language: String,
    pub created_at: String,
    pub run_count: i64,
    /// 1 for the session's default context of its language (the plugin endpoint's).
    pub is_default: i64,
}

impl ContextRow {
    /// The API's view of it.
    pub fn info(&self) -> super::api::ContextInfo {
        super::api::ContextInfo {
            id: self.id.clone(),
            language: self.language.clone(),
            created_at: self.created_at.clone(),
            run_count: self.run_count.max(0) as u64,
            default: self.is_default != 0,
            checkpoint_pending: false,
        }
    }
}

/// Languages a context can run.
pub fn context_language(l: Language) -> ApiResult<Language> {
    match l {
        Language::Python | Language::Node | Language::Typescript => Ok(l),
        other => Err(ApiError::bad(format!("contexts run python, node or typescript, not {other}"))),
    }
}

/// `POST …/contexts` body: `{"language": "python" | "node" | "typescript"}` (aliases accepted).
pub fn parse_create(body: &[u8]) -> ApiResult<Language> {
    let m = parse_object(body)?;
    context_language(language(req_str(&m, "language")?)?)
}

/// A new context id from 24 random hex digits.
pub fn new_id(random_hex: &str) -> String {
    format!("ctx_{}", &random_hex[..24])
}

/// Whether a session may make one more context: persistent, and under [`MAX_CONTEXTS`].
pub fn may_create(persistent: bool, existing: usize) -> ApiResult<()> {
    if !persistent {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "non-persistent sessions have no contexts: every run starts from the committed state",
        ));
    }
    if existing >= MAX_CONTEXTS {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("the session has {existing} contexts, the most it may hold (default contexts included): delete one first"),
        ));
    }
    Ok(())
}

/// Where a plugin call runs: in the default context of its language when the session is
/// persistent, the language is python or node and the payload did not ask for a fresh process.
pub fn plugin_uses_context(lang: Language, persistent: bool, fresh: bool) -> bool {
    persistent && !fresh && matches!(lang, Language::Python | Language::Node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_take_python_or_node() {
        assert_eq!(parse_create(br#"{"language":"python"}"#).unwrap(), Language::Python);
        assert_eq!(parse_create(br#"{"language":"js"}"#).unwrap(), Language::Node);
        assert_eq!(parse_create(br#"{"language":"go"}"#).unwrap_err().status(), 400);
        assert_eq!(parse_create(br#"{"language":"cobol"}"#).unwrap_err().status(), 400);
        assert_eq!(parse_create(br#"{}"#).unwrap_err().status(), 422);
        assert_eq!(parse_create(br#"{"language":1}"#).unwrap_err().status(), 422);
        assert_eq!(parse_create(b"nope").unwrap_err().status(), 400);
    }

    #[test]
    fn bounds_hold() {
        may_create(true, MAX_CONTEXTS - 1).unwrap();
        assert_eq!(may_create(true, MAX_CONTEXTS).unwrap_err().status(), 409);
        assert_eq!(may_create(false, 0).unwrap_err().status(), 409);
        let id = new_id("0123456789abcdef0123456789abcdef");
        assert!(edgerun_protocol::valid_context_id(&id), "{id}");
    }

    #[test]
    fn plugin_calls_use_the_default_context_unless_told_otherwise() {
        assert!(plugin_uses_context(Language::Python, true, false));
        assert!(plugin_uses_context(Language::Node, true, false));
        assert!(!plugin_uses_context(Language::Python, true, true));
        assert!(!plugin_uses_context(Language::Python, false, false));
        assert!(!plugin_uses_context(Language::Go, true, false));
    }
}
