//! Background processes, the platform-free part: the start and input bodies, ids, the bounds,
//! and how a stored process is brought up to date with what the executor says of it (an
//! executor that no longer knows a running process has lost it).
use super::api::{ProcessInfo, ProcessKilledBy, ProcessRestart, ProcessStatus};
use super::error::{ApiError, ApiResult};
use super::request::{env, opt_bool, opt_str, parse_object, req_str};
use edgerun_protocol::{ErrorCode, ProcessState, MAX_CODE_BYTES, MAX_PROCESSES};
use std::collections::BTreeMap;

/// A process's lifetime bound when the start does not say (`PROCESS_DEFAULT_SECONDS`).
pub const DEFAULT_MAX_SECONDS: u64 = 3600;
/// The largest lifetime bound a start may ask (`PROCESS_MAX_SECONDS`).
pub const MAX_MAX_SECONDS: u64 = 86_400;
/// Ended processes a session lists (the oldest go first).
pub const KEPT_ENDED: usize = 32;
/// Largest input one `POST …/stdin` writes.
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// A process as the session stores it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessRow {
    pub id: String,
    pub command: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// `running`, `exited`, `killed` or `lost`.
    pub status: String,
    pub exit_code: Option<i64>,
    pub killed_by: Option<String>,
    pub max_seconds: i64,
    /// `never` or `on-wake`.
    pub restart: String,
    /// Times it was started again.
    pub restarts: i64,
    /// Its variables, as JSON (to start it again with them).
    pub env: String,
}

impl ProcessRow {
    /// The API's view of it.
    pub fn info(&self) -> ProcessInfo {
        ProcessInfo {
            id: self.id.clone(),
            command: self.command.clone(),
            status: super::from_wire_name(&self.status).unwrap_or(ProcessStatus::Lost),
            started_at: self.started_at.clone(),
            ended_at: self.ended_at.clone(),
            exit_code: self.exit_code,
            killed_by: self.killed_by.as_deref().and_then(super::from_wire_name::<ProcessKilledBy>),
            max_seconds: self.max_seconds.max(0) as u64,
            restart: if self.restart == "on-wake" { ProcessRestart::OnWake } else { ProcessRestart::Never },
            restarts: self.restarts.max(0) as u64,
        }
    }

    /// Whether it is started again when its sandbox comes back without it.
    pub fn restarts_on_wake(&self) -> bool {
        self.restart == "on-wake"
    }

    pub fn running(&self) -> bool {
        self.status == "running"
    }

    /// The row once the executor's word on it is taken (`None`: it does not know the process),
    /// or `None` when nothing changed. Only a running row changes: an ended one is final. The
    /// executor's answer is untrusted: a state that names another id, or an unknown status,
    /// changes nothing.
    pub fn settled(&self, seen: Option<&ProcessState>, now: &str) -> Option<ProcessRow> {
        if !self.running() {
            return None;
        }
        let mut row = self.clone();
        match seen {
            None => {
                row.status = "lost".into();
                row.ended_at = Some(now.to_string());
            }
            Some(s) if s.id != self.id => return None,
            Some(s) => match s.status.as_str() {
                "running" => return None,
                "exited" | "killed" => {
                    row.status = s.status.clone();
                    row.exit_code = s.exit_code.map(i64::from);
                    row.killed_by = s.killed_by.map(|k| super::wire_name(&k));
                    row.ended_at = Some(now.to_string());
                }
                _ => return None,
            },
        }
        Some(row)
    }
}

/// What one tick of the session object's alarm does for its processes (see
/// [`plan_tick`]): commit the workspace now or not, and when to tick again (`None`: no process
/// runs, so no tick is owed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessTick {
    pub commit: bool,
    pub next_in_ms: Option<i64>,
}

/// Whether a process was seen ended at or after `last_commit` (the RFC 3339 time the last commit
/// of processes' files began; `None`: not known, as on a fresh instance of the object), so that
/// what it wrote up to its end may not be committed yet.
pub fn ended_since(rows: &[ProcessRow], last_commit: Option<&str>) -> bool {
    // Both are `Date.toISOString()`'s: the same width, so their order is their text's.
    rows.iter().filter_map(|r| r.ended_at.as_deref()).any(|e| last_commit.is_none_or(|c| e >= c))
}

/// One tick, over the rows brought up to date with the executor: the workspace is committed as
/// soon as a process is seen ended since the last commit (its final commit, within one `poll_ms`
/// of its end), and every `interval_ms` while one runs (`due_in_ms`: until that commit is due);
/// while one runs the next tick comes within `poll_ms`.
pub fn plan_tick(rows: &[ProcessRow], last_commit: Option<&str>, due_in_ms: i64, poll_ms: i64, interval_ms: i64) -> ProcessTick {
    let running = rows.iter().any(ProcessRow::running);
    let commit = ended_since(rows, last_commit) || (running && due_in_ms <= 0);
    let due = if commit { interval_ms } else { due_in_ms };
    ProcessTick { commit, next_in_ms: running.then(|| poll_ms.min(due).max(0)) }
}

/// A start, validated: the command, its variables, its lifetime bound.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StartSpec {
    pub command: String,
    pub env: BTreeMap<String, String>,
    /// `None`: the deployment's default.
    pub max_seconds: Option<u64>,
    /// Started again (same id) when the session's sandbox comes back without it.
    pub on_wake: bool,
}

/// `POST …/processes` body: `{"command", "env"?, "max_seconds"?}`.
pub fn parse_start(body: &[u8]) -> ApiResult<StartSpec> {
    let m = parse_object(body)?;
    let command = req_str(&m, "command")?;
    if command.trim().is_empty() {
        return Err(ApiError::bad("`command` is empty"));
    }
    if command.len() > MAX_CODE_BYTES {
        return Err(ApiError::new(ErrorCode::TooLarge, format!("`command` is over {MAX_CODE_BYTES} bytes")));
    }
    if command.contains('\0') {
        return Err(ApiError::bad("`command` contains NUL"));
    }
    let max_seconds = match m.get("max_seconds") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => match n.as_u64() {
            Some(s) if s >= 1 => Some(s),
            _ => return Err(ApiError::bad(format!("`max_seconds` must be whole seconds of at least 1, got {n}"))),
        },
        Some(_) => return Err(ApiError::invalid_field("`max_seconds` must be a number of seconds")),
    };
    let on_wake = match opt_str(&m, "restart")? {
        None | Some("never") => false,
        Some("on-wake") => true,
        Some(other) => {
            return Err(ApiError::bad(format!("`restart` is \"never\" or \"on-wake\", got {:?}", super::ids::truncate(other, 40))))
        }
    };
    Ok(StartSpec { command: command.to_string(), env: env(&m)?, max_seconds, on_wake })
}

/// The lifetime bound of a start: what it asked, within the deployment's maximum, or the default.
pub fn lifetime(asked: Option<u64>, default: u64, max: u64) -> ApiResult<u64> {
    match asked {
        Some(s) if s > max => Err(ApiError::bad(format!("`max_seconds` may be at most {max} (this deployment's maximum), got {s}"))),
        Some(s) => Ok(s),
        None => Ok(default.min(max)),
    }
}

/// `POST …/stdin` body: `{"data"?: string, "eof"?: bool}`.
pub fn parse_input(body: &[u8]) -> ApiResult<(String, bool)> {
    let m = parse_object(body)?;
    let data = opt_str(&m, "data")?.unwrap_or("").to_string();
    if data.len() > MAX_INPUT_BYTES {
        return Err(ApiError::new(ErrorCode::TooLarge, format!("`data` is over {MAX_INPUT_BYTES} bytes")));
    }
    let eof = opt_bool(&m, "eof")?.unwrap_or(false);
    if data.is_empty() && !eof {
        return Err(ApiError::invalid_field("give `data` to write, or `eof: true` to close the input"));
    }
    Ok((data, eof))
}

/// A new process id from 24 random hex digits.
pub fn new_id(random_hex: &str) -> String {
    format!("proc_{}", &random_hex[..24])
}

/// Whether a session may start one more process: persistent, and under [`MAX_PROCESSES`] live.
pub fn may_start(persistent: bool, live: usize) -> ApiResult<()> {
    if !persistent {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "non-persistent sessions have no background processes: every run starts from the committed state",
        ));
    }
    if live >= MAX_PROCESSES {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("the session has {live} live processes, the most it may hold: end one first (DELETE …/processes/{{proc}})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str) -> ProcessRow {
        ProcessRow {
            id: "proc_0123456789abcdef01234567".into(),
            command: "sleep 1".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            ended_at: None,
            status: status.into(),
            exit_code: None,
            killed_by: None,
            max_seconds: 60,
            restart: "never".into(),
            restarts: 0,
            env: "{}".into(),
        }
    }

    #[test]
    fn a_tick_commits_once_a_process_ended_and_at_the_interval_while_one_runs() {
        let ended = |at: &str| ProcessRow { status: "exited".into(), ended_at: Some(at.into()), ..row("exited") };
        let (t1, t2) = ("2026-01-01T00:00:01.000Z", "2026-01-01T00:00:02.500Z");
        // A process runs, the interval is not up: no commit, the next tick within the poll.
        let live = [row("running")];
        assert_eq!(plan_tick(&live, Some(t1), 50_000, 2000, 60_000), ProcessTick { commit: false, next_in_ms: Some(2000) });
        // The commit falls due before the next poll: the tick comes then.
        assert_eq!(plan_tick(&live, Some(t1), 700, 2000, 60_000).next_in_ms, Some(700));
        assert_eq!(plan_tick(&live, Some(t1), 0, 2000, 60_000), ProcessTick { commit: true, next_in_ms: Some(2000) });
        // One ended after the last commit: committed at once, though the interval is far.
        let both = [row("running"), ended(t2)];
        assert_eq!(plan_tick(&both, Some(t1), 50_000, 2000, 60_000), ProcessTick { commit: true, next_in_ms: Some(2000) });
        assert!(
            !plan_tick(&both, Some("2026-01-01T00:00:02.501Z"), 50_000, 2000, 60_000).commit,
            "an end seen before a commit began is in it"
        );
        assert!(plan_tick(&both, Some(t2), 50_000, 2000, 60_000).commit, "one seen the same millisecond may not be");
        // The last one ended: its commit, and no tick after it.
        let done = [ended(t2)];
        assert_eq!(plan_tick(&done, Some(t1), 50_000, 2000, 60_000), ProcessTick { commit: true, next_in_ms: None });
        assert_eq!(plan_tick(&done, Some("2026-01-01T00:00:03.000Z"), 0, 2000, 60_000), ProcessTick { commit: false, next_in_ms: None });
        // A fresh instance knows no last commit: it commits once.
        assert!(ended_since(&done, None) && !ended_since(&live, None));
        assert_eq!(plan_tick(&[], None, 0, 2000, 60_000), ProcessTick { commit: false, next_in_ms: None });
    }

    #[test]
    fn start_bodies_parse_and_bad_ones_are_refused() {
        let s = parse_start(br#"{"command":"python -m http.server 8000","env":{"A":"1"},"max_seconds":5}"#).unwrap();
        assert_eq!(
            (s.command.as_str(), s.env.get("A").map(String::as_str), s.max_seconds),
            ("python -m http.server 8000", Some("1"), Some(5))
        );
        assert_eq!(parse_start(br#"{"command":"x"}"#).unwrap().max_seconds, None);
        assert!(parse_start(br#"{"command":"x","restart":"on-wake"}"#).unwrap().on_wake);
        assert!(!parse_start(br#"{"command":"x","restart":"never"}"#).unwrap().on_wake);
        assert_eq!(parse_start(br#"{"command":"x","restart":"always"}"#).unwrap_err().status(), 400);
        let st = |b: &[u8]| parse_start(b).unwrap_err().status();
        assert_eq!(st(br#"{}"#), 422);
        assert_eq!(st(br#"{"command":1}"#), 422);
        assert_eq!(st(br#"{"command":"  "}"#), 400);
        assert_eq!(st(br#"{"command":"a\u0000b"}"#), 400);
        assert_eq!(st(br#"{"command":"x","max_seconds":0}"#), 400);
        assert_eq!(st(br#"{"command":"x","max_seconds":-1}"#), 400);
        assert_eq!(st(br#"{"command":"x","max_seconds":"5"}"#), 422);
        assert_eq!(st(br#"{"command":"x","env":{"A=B":"1"}}"#), 400);
        assert_eq!(st(b"nope"), 400);
        assert_eq!(parse_start(format!(r#"{{"command":"{}"}}"#, "x".repeat(MAX_CODE_BYTES + 1)).as_bytes()).unwrap_err().status(), 413);
    }

    #[test]
    fn lifetimes_are_bounded_by_the_deployment() {
        assert_eq!(lifetime(None, 3600, 86_400).unwrap(), 3600);
        assert_eq!(lifetime(Some(10), 3600, 86_400).unwrap(), 10);
        assert_eq!(lifetime(Some(86_401), 3600, 86_400).unwrap_err().status(), 400);
        assert_eq!(lifetime(None, 3600, 60).unwrap(), 60, "a default over the maximum is the maximum");
    }

    #[test]
    fn input_bodies_parse() {
        assert_eq!(parse_input(br#"{"data":"hi\n"}"#).unwrap(), ("hi\n".to_string(), false));
        assert_eq!(parse_input(br#"{"eof":true}"#).unwrap(), (String::new(), true));
        assert_eq!(parse_input(br#"{}"#).unwrap_err().status(), 422);
        assert_eq!(parse_input(br#"{"data":1}"#).unwrap_err().status(), 422);
        assert_eq!(parse_input(br#"{"data":"x","eof":"yes"}"#).unwrap_err().status(), 422);
    }

    #[test]
    fn bounds_hold() {
        may_start(true, MAX_PROCESSES - 1).unwrap();
        assert_eq!(may_start(true, MAX_PROCESSES).unwrap_err().status(), 409);
        assert_eq!(may_start(false, 0).unwrap_err().status(), 409);
        assert!(edgerun_protocol::valid_process_id(&new_id("0123456789abcdef0123456789abcdef")));
    }

    #[test]
    fn rows_settle_on_the_executors_word() {
        let now = "2026-01-01T00:01:00Z";
        let lost = row("running").settled(None, now).unwrap();
        assert_eq!((lost.status.as_str(), lost.ended_at.as_deref()), ("lost", Some(now)));
        assert_eq!(lost.info().status, ProcessStatus::Lost);
        let seen = |status: &str, code: Option<i32>, k| ProcessState {
            id: "proc_0123456789abcdef01234567".into(),
            status: status.into(),
            exit_code: code,
            killed_by: k,
        };
        assert_eq!(row("running").settled(Some(&seen("running", None, None)), now), None);
        let done = row("running").settled(Some(&seen("killed", Some(137), Some(edgerun_protocol::ProcessKilledBy::Deleted))), now).unwrap();
        assert_eq!(done.info().killed_by, Some(ProcessKilledBy::Deleted));
        assert_eq!(done.info().exit_code, Some(137));
        assert_eq!(row("exited").settled(None, now), None, "an ended row is final");
        assert_eq!(row("running").settled(Some(&seen("weird", None, None)), now), None, "an unknown status changes nothing");
        let mut other = seen("exited", Some(0), None);
        other.id = "proc_ffffffffffffffffffffffff".into();
        assert_eq!(row("running").settled(Some(&other), now), None, "another id's state changes nothing");
    }
}
