//! The pure steps of a run: what the object asks its executor, and what of the answer it commits.
//!
//! A run is a pipeline (`session::run`): **plan** (here) → make sure the executor holds the
//! committed workspace → **execute** → store the pack → **commit** (here: what the commit holds) →
//! after-commit chores. These two steps decide everything that does not need the platform, so they
//! are tested natively; the object's steps only carry their decisions out.
use edgerun_protocol::{Delta, KilledBy, Language, RunRequest, RunResult, DEFAULT_TIMEOUT_SECS};
use serde_json::{json, Value};

use super::request::RunSpec;

/// What the session's stored row contributes to a run.
#[derive(Debug, Clone, Copy)]
pub struct SessionFacts<'a> {
    /// The committed workspace version (`None` before the first run that kept anything).
    pub version: Option<&'a str>,
    /// The session's stored data, JSON text (as the row holds it).
    pub data: &'a str,
    /// Whether the session keeps its workspace between runs.
    pub persistent: bool,
    /// The session's language, for runs that do not name one.
    pub language: &'a str,
    /// The timeout of runs that give none (`None`: [`DEFAULT_TIMEOUT_SECS`]).
    pub default_timeout: Option<u64>,
    /// Whether runs reach beyond the sandbox's loopback.
    pub allow_internet: bool,
}

/// A planned run: the executor request and what the answer is measured against.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// What the executor is asked.
    pub request: RunRequest,
    /// The data the run starts from (the answer's `data` when the run leaves none).
    pub data: Value,
    /// The language the run is recorded under.
    pub language: String,
}

/// Plans a run. `counted` runs are the user's own (setup runs are not): a non-persistent
/// session's counted run is restored afterwards, so that nothing it did is kept.
pub fn plan_run(session: SessionFacts<'_>, spec: RunSpec, commands: Vec<String>, counted: bool) -> RunPlan {
    // Stored data is always an object (checked on the way in); a row that somehow is not
    // starts the run from an empty one rather than failing it.
    let data: Value = serde_json::from_str(session.data).ok().filter(Value::is_object).unwrap_or_else(|| json!({}));
    let language = spec.language.map(|l: Language| l.as_str().to_string()).unwrap_or_else(|| session.language.to_string());
    let request = RunRequest {
        language: spec.language,
        commands,
        // Stored code was looked up before planning; a setup has none (it runs commands).
        code: spec.code.unwrap_or_default(),
        timeout_secs: spec.timeout_secs.or(session.default_timeout).unwrap_or(DEFAULT_TIMEOUT_SECS),
        env: spec.env,
        stdin: spec.stdin,
        install: spec.install,
        data: Some(data.clone()),
        expect_version: session.version.map(str::to_string),
        restore_after: !session.persistent && counted,
        allow_internet: session.allow_internet,
        // Resolved by the session object, which knows its contexts.
        context: None,
        hold_checkpoints: false,
    };
    RunPlan { request, data, language }
}

/// What the commit of an answer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPlan {
    /// The workspace changed: new file rows, deletions and a new version are committed.
    pub changed: bool,
    /// The change carries file contents, stored as one pack before the commit.
    pub needs_pack: bool,
}

/// Decides what an (already checked) answer changes against the committed version: nothing when
/// the executor kept nothing (no version: a non-persistent run, a workspace over its limits) or
/// when it reports the version already committed. An empty delta under another version (a
/// session whose workspace is still empty: nothing committed, while the executor names the empty
/// tree's version) commits that version alone, without a pack: else the executor, holding it,
/// would find the next run's expected version stale and every run would inject first.
pub fn plan_commit(delta: &Delta, committed: Option<&str>) -> CommitPlan {
    let changed = !delta.version.is_empty() && Some(delta.version.as_str()) != committed;
    CommitPlan { changed, needs_pack: changed && delta.tar_len > 0 }
}

/// The name a limit is recorded under in the run history (`"timeout"`, `"memory"`, …).
pub fn killed_name(k: KilledBy) -> String {
    super::wire_name(&k)
}

/// The answer's data: what the run left, else what it started from.
pub fn answer_data(result: &RunResult, plan: &RunPlan) -> Value {
    result.data.clone().unwrap_or_else(|| plan.data.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgerun_protocol::{Entry, EntryKind, Install, PackEntry};
    use std::collections::BTreeMap;

    fn spec(lang: Option<Language>) -> RunSpec {
        RunSpec {
            language: lang,
            code: Some("print(1)".into()),
            timeout_secs: Some(7),
            env: BTreeMap::new(),
            stdin: String::new(),
            install: Install::default(),
            context: None,
            fresh: false,
            default_context: false,
        }
    }

    fn facts(persistent: bool) -> SessionFacts<'static> {
        SessionFacts {
            version: Some("v1"),
            data: r#"{"n": 1}"#,
            persistent,
            language: "python",
            default_timeout: None,
            allow_internet: true,
        }
    }

    #[test]
    fn a_run_is_planned_against_the_committed_version_and_data() {
        let p = plan_run(facts(true), spec(None), vec![], true);
        assert_eq!(p.request.expect_version.as_deref(), Some("v1"));
        assert_eq!(p.request.data, Some(json!({"n": 1})));
        assert_eq!((p.request.timeout_secs, p.request.code.as_str()), (7, "print(1)"));
        assert!(!p.request.restore_after);
        assert_eq!(p.language, "python", "a run without a language is recorded under the session's");
        let p = plan_run(facts(true), spec(Some(Language::Node)), vec!["echo hi".into()], false);
        assert_eq!((p.language.as_str(), p.request.commands.len()), ("node", 1));
    }

    #[test]
    fn a_run_without_a_timeout_takes_the_sessions_default_then_the_apis() {
        let untimed = RunSpec { timeout_secs: None, ..spec(None) };
        assert_eq!(plan_run(facts(true), untimed.clone(), vec![], true).request.timeout_secs, DEFAULT_TIMEOUT_SECS);
        let with_default = SessionFacts { default_timeout: Some(4), ..facts(true) };
        assert_eq!(plan_run(with_default, untimed, vec![], true).request.timeout_secs, 4);
        assert_eq!(plan_run(with_default, spec(None), vec![], true).request.timeout_secs, 7, "the run's own timeout wins");
    }

    #[test]
    fn the_sessions_network_setting_reaches_the_executor() {
        assert!(plan_run(facts(true), spec(None), vec![], true).request.allow_internet);
        let offline = SessionFacts { allow_internet: false, ..facts(true) };
        assert!(!plan_run(offline, spec(None), vec![], false).request.allow_internet, "setup commands too");
    }

    #[test]
    fn only_counted_runs_of_non_persistent_sessions_are_restored() {
        assert!(plan_run(facts(false), spec(None), vec![], true).request.restore_after);
        assert!(!plan_run(facts(false), spec(None), vec![], false).request.restore_after, "setup of a non-persistent session is kept");
        assert!(!plan_run(facts(true), spec(None), vec![], true).request.restore_after);
    }

    #[test]
    fn unreadable_stored_data_starts_the_run_from_an_empty_object() {
        for data in ["", "not json", "[1]", "3"] {
            let p = plan_run(SessionFacts { data, ..facts(true) }, spec(None), vec![], true);
            assert_eq!(p.data, json!({}), "{data:?}");
        }
    }

    #[test]
    fn a_commit_holds_only_real_changes() {
        let file = PackEntry {
            entry: Entry { path: "a".into(), kind: EntryKind::File, mode: 0o644, mtime_ns: 0, size: 1, hash: "0".repeat(64), target: None },
            offset: 512,
        };
        let delta = |version: &str, entries: Vec<PackEntry>, deleted: Vec<String>, tar_len| Delta {
            base: Some("v1".into()),
            version: version.into(),
            tar_len,
            entries,
            deleted,
        };
        let nothing = CommitPlan { changed: false, needs_pack: false };
        assert_eq!(plan_commit(&delta("", vec![], vec![], 0), Some("v1")), nothing, "nothing kept");
        assert_eq!(plan_commit(&delta("v1", vec![file.clone()], vec![], 1536), Some("v1")), nothing, "the committed version");
        let version_only = CommitPlan { changed: true, needs_pack: false };
        assert_eq!(plan_commit(&delta("v2", vec![], vec![], 0), None), version_only, "an empty tree's version, nothing committed yet");
        assert_eq!(plan_commit(&delta("v2", vec![], vec!["a".into()], 0), Some("v1")), CommitPlan { changed: true, needs_pack: false });
        assert_eq!(plan_commit(&delta("v2", vec![file], vec![], 1536), None), CommitPlan { changed: true, needs_pack: true });
    }

    #[test]
    fn limits_are_recorded_by_their_wire_names() {
        assert_eq!(killed_name(KilledBy::Timeout), "timeout");
        assert_eq!(killed_name(KilledBy::Processes), "processes");
    }
}
