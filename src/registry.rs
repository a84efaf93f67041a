//! The registry: one Durable Object (named `registry`) that lists sessions newest first and owns
//! the reference counts of packs shared between sessions by `duplicate`.
//!
//! Create adds the listing entry *before* the session object is created, and delete removes it
//! *after* the object is gone, so a session that exists is never missing from the list; an entry
//! whose object does not exist (a crash between the two writes) is removed by the periodic sweep,
//! which also repairs the pack reference counts and collects objects that no session holds.
use crate::core::api::SessionSummary;
use crate::core::error::{ApiError, ApiResult};
use crate::platform::{error_response, json_response};
use crate::rpc::internal;
use edgerun_protocol::ErrorCode;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, SqlStorageValue as V, State};

#[durable_object]
pub struct Registry {
    state: State,
    env: Env,
    /// Reference-count changes seen by this instance; a sweep that overlapped one skips its
    /// count repair (its view of the holders may predate the change).
    ref_changes: std::cell::Cell<u64>,
}

#[derive(Deserialize)]
struct Listed {
    seq: i64,
    id: String,
    language: String,
    created_at: String,
    #[serde(default)]
    last_run_at: Option<String>,
}

/// A page of the listing, as the registry answers it (the Worker adds `count`).
#[derive(serde::Serialize, Deserialize)]
pub struct Page {
    /// The page's sessions, newest first.
    pub sessions: Vec<SessionSummary>,
    /// Where the next page starts; `None` on the last page.
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
struct Refs {
    refs: i64,
}

#[allow(clippy::needless_pass_by_value, reason = "a `map_err` adapter takes the error by value")]
fn sql_err(e: worker::Error) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("registry storage: {e}"))
}

/// The reference count of a shared pack, if the registry counts it.
fn refs_of(sql: &SqlStorage, key: &str) -> ApiResult<Option<i64>> {
    let rows = sql
        .exec("SELECT refs FROM packrefs WHERE key = ?", vec![V::String(key.to_string())])
        .and_then(|c| c.to_array::<Refs>())
        .map_err(sql_err)?;
    Ok(rows.first().map(|r| r.refs))
}

impl DurableObject for Registry {
    fn new(state: State, env: Env) -> Self {
        Registry { state, env, ref_changes: std::cell::Cell::new(0) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let method = req.method();
        let body: Value = if method == Method::Get { Value::Null } else { req.json().await.unwrap_or(Value::Null) };
        let url = req.url()?;
        let is_add = path == "/add";
        let result = self.dispatch(method, &path, &body, &url);
        if is_add {
            self.schedule_sweep().await;
        }
        match result {
            Ok(v) => json_response(200, &v),
            Err(e) => error_response(&e),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        match self.sweep().await {
            Ok(report) => worker::console_warn!("registry sweep: {report}"),
            Err(e) => worker::console_error!("registry sweep failed, retried at the next interval: {e}"),
        }
        let _ = self.state.storage().set_alarm(self.sweep_interval_ms()).await;
        Response::ok("")
    }
}

/// How often the sweep runs, and how old an unreferenced object must be before it is collected
/// (younger ones may belong to a run between its R2 write and its commit).
const SWEEP_INTERVAL_MS: i64 = 6 * 3600 * 1000;
const ORPHAN_MIN_AGE_MS: f64 = 3600.0 * 1000.0;

impl Registry {
    fn sweep_interval_ms(&self) -> i64 {
        self.env.var("SWEEP_INTERVAL_MS").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(SWEEP_INTERVAL_MS)
    }

    /// Schedules the sweep unless one is due within the interval (a shorter interval configured
    /// since the last schedule takes effect at once).
    async fn schedule_sweep(&self) {
        let interval = self.sweep_interval_ms();
        let latest = js_sys::Date::now() as i64 + interval;
        match self.state.storage().get_alarm().await {
            Ok(Some(at)) if at <= latest => {}
            Ok(_) => {
                let _ = self.state.storage().set_alarm(interval).await;
            }
            Err(e) => worker::console_error!("registry sweep not scheduled: {e}"),
        }
    }

    /// The periodic repair: asks every listed session which packs it holds, drops listing entries
    /// whose session is gone, sets every shared pack's count to its real number of holders, and
    /// deletes objects under `packs/` that no session holds (once they are old enough).
    async fn sweep(&self) -> ApiResult<String> {
        let sql = self.sql()?;
        let changes_at_start = self.ref_changes.get();
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        let ids: Vec<Id> = sql.exec("SELECT id FROM sessions", None).and_then(|c| c.to_array()).map_err(sql_err)?;
        let mut holders: std::collections::BTreeMap<String, i64> = Default::default();
        let mut gone = 0;
        for Id { id } in &ids {
            let req = crate::rpc::object_request(Method::Get, "/packs", id, None, "application/json")?;
            let mut resp = crate::rpc::send(&self.env, "SESSIONS", id, req).await?;
            let v: Value = resp.json().await.map_err(internal)?;
            if v["exists"] == Value::Bool(false) {
                sql.exec("DELETE FROM sessions WHERE id = ?", vec![V::String(id.clone())]).map_err(sql_err)?;
                gone += 1;
                continue;
            }
            for k in v["keys"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                *holders.entry(k.to_string()).or_default() += 1;
            }
        }
        // Counts: shared packs get their real number of holders; single holders need no count.
        let counts_repaired = self.ref_changes.get() == changes_at_start;
        if counts_repaired {
            sql.exec("DELETE FROM packrefs", None).map_err(sql_err)?;
            for (k, n) in holders.iter().filter(|(_, n)| **n > 1) {
                sql.exec("INSERT INTO packrefs (key, refs) VALUES (?, ?)", vec![V::String(k.clone()), V::Integer(*n)]).map_err(sql_err)?;
            }
        }
        // Orphans: objects nobody holds.
        let min_age = self.env.var("ORPHAN_MIN_AGE_MS").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(ORPHAN_MIN_AGE_MS);
        let bucket = self.env.bucket("FILES").map_err(internal)?;
        let now = js_sys::Date::now();
        let mut orphans = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut list = bucket.list().prefix("packs/");
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = list.execute().await.map_err(internal)?;
            for o in page.objects() {
                if !holders.contains_key(&o.key()) && now - o.uploaded().as_millis() as f64 >= min_age {
                    orphans.push(o.key());
                }
            }
            match (page.truncated(), page.cursor()) {
                (true, Some(c)) => cursor = Some(c),
                _ => break,
            }
        }
        for chunk in orphans.chunks(1000) {
            bucket.delete_multiple(chunk.to_vec()).await.map_err(internal)?;
        }
        Ok(format!(
            "{} sessions, {gone} gone, {} shared packs (counts {}), {} orphans collected",
            ids.len(),
            holders.values().filter(|n| **n > 1).count(),
            if counts_repaired { "repaired" } else { "left for the next sweep" },
            orphans.len()
        ))
    }

    fn sql(&self) -> ApiResult<SqlStorage> {
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS sessions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, language TEXT NOT NULL, created_at TEXT NOT NULL, last_run_at TEXT);
             CREATE TABLE IF NOT EXISTS packrefs (key TEXT PRIMARY KEY, refs INTEGER NOT NULL);",
            None,
        )
        .map_err(sql_err)?;
        Ok(sql)
    }

    fn dispatch(&self, method: Method, path: &str, body: &Value, url: &worker::Url) -> ApiResult<Value> {
        let sql = self.sql()?;
        let str_field = |f: &str| {
            body.get(f)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| ApiError::new(ErrorCode::Internal, format!("registry call without {f}")))
        };
        let keys = || -> Vec<String> {
            body.get("keys")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|k| k.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        match (method, path) {
            (Method::Post, "/add") => {
                let id = str_field("id")?;
                let existed = sql
                    .exec("SELECT COUNT(*) AS refs FROM sessions WHERE id = ?", vec![V::String(id.clone())])
                    .and_then(|c| c.to_array::<Refs>())
                    .map_err(sql_err)?
                    .first()
                    .is_some_and(|r| r.refs > 0);
                if !existed {
                    sql.exec(
                        "INSERT INTO sessions (id, language, created_at) VALUES (?, ?, ?)",
                        vec![V::String(id), V::String(str_field("language")?), V::String(str_field("created_at")?)],
                    )
                    .map_err(sql_err)?;
                }
                Ok(json!({"added": !existed}))
            }
            (Method::Post, "/remove") => {
                sql.exec("DELETE FROM sessions WHERE id = ?", vec![V::String(str_field("id")?)]).map_err(sql_err)?;
                Ok(json!({"removed": true}))
            }
            (Method::Post, "/touch") => {
                sql.exec(
                    "UPDATE sessions SET last_run_at = ? WHERE id = ?",
                    vec![V::String(str_field("last_run_at")?), V::String(str_field("id")?)],
                )
                .map_err(sql_err)?;
                Ok(json!({}))
            }
            (Method::Get, "/list") => {
                let q = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.to_string());
                let limit: i64 = q("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
                let before: i64 = match q("cursor") {
                    None => i64::MAX,
                    Some(c) => c.parse().map_err(|_| ApiError::bad("invalid cursor"))?,
                };
                let rows: Vec<Listed> = sql
                    .exec(
                        "SELECT seq, id, language, created_at, last_run_at FROM sessions WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                        vec![V::Integer(before), V::Integer(limit + 1)],
                    )
                    .and_then(|c| c.to_array())
                    .map_err(sql_err)?;
                let more = rows.len() as i64 > limit;
                let page: Vec<&Listed> = rows.iter().take(limit as usize).collect();
                let cursor = if more { page.last().map(|l| l.seq.to_string()) } else { None };
                let sessions = page
                    .into_iter()
                    .map(|l| SessionSummary {
                        id: l.id.clone(),
                        language: l.language.clone(),
                        created_at: l.created_at.clone(),
                        last_run_at: l.last_run_at.clone(),
                    })
                    .collect();
                serde_json::to_value(Page { sessions, cursor }).map_err(|e| ApiError::new(ErrorCode::Internal, format!("listing: {e}")))
            }
            // A pack now also used by another session: counts start at 2 (its first owner and the new one).
            (Method::Post, "/addref") => {
                self.ref_changes.set(self.ref_changes.get() + 1);
                for k in keys() {
                    sql.exec(
                        "INSERT INTO packrefs (key, refs) VALUES (?, 2) ON CONFLICT(key) DO UPDATE SET refs = refs + 1",
                        vec![V::String(k)],
                    )
                    .map_err(sql_err)?;
                }
                Ok(json!({}))
            }
            // Returns the keys no session uses any more: only those may be deleted from R2.
            (Method::Post, "/decref") => {
                self.ref_changes.set(self.ref_changes.get() + 1);
                let mut free = Vec::new();
                for k in keys() {
                    // A key the registry never counted has one owner: the caller.
                    let refs = refs_of(&sql, &k)?.unwrap_or(1);
                    if refs <= 1 {
                        sql.exec("DELETE FROM packrefs WHERE key = ?", vec![V::String(k.clone())]).map_err(sql_err)?;
                        free.push(k);
                    } else {
                        sql.exec("UPDATE packrefs SET refs = refs - 1 WHERE key = ?", vec![V::String(k)]).map_err(sql_err)?;
                    }
                }
                Ok(json!({"free": free}))
            }
            // Which of these keys another session still uses (the orphan sweep must keep them).
            (Method::Post, "/referenced") => {
                let mut used = Vec::new();
                for k in keys() {
                    if refs_of(&sql, &k)?.unwrap_or(0) > 0 {
                        used.push(k);
                    }
                }
                Ok(json!({"used": used}))
            }
            _ => Err(ApiError::not_found("no such registry operation")),
        }
    }
}

/// Helpers for callers of the registry.
pub mod client {
    use super::*;
    use crate::rpc::{call_json, REGISTRY};

    pub async fn add(env: &Env, id: &str, language: &str, created_at: &str) -> ApiResult<bool> {
        let v =
            call_json(env, "REGISTRY", REGISTRY, Method::Post, "/add", &json!({"id": id, "language": language, "created_at": created_at}))
                .await?;
        Ok(v["added"].as_bool().unwrap_or(false))
    }

    pub async fn remove(env: &Env, id: &str) -> ApiResult<()> {
        call_json(env, "REGISTRY", REGISTRY, Method::Post, "/remove", &json!({"id": id})).await.map(|_| ())
    }

    pub async fn touch(env: &Env, id: &str, last_run_at: &str) -> ApiResult<()> {
        call_json(env, "REGISTRY", REGISTRY, Method::Post, "/touch", &json!({"id": id, "last_run_at": last_run_at})).await.map(|_| ())
    }

    pub async fn addref(env: &Env, keys: &[String]) -> ApiResult<()> {
        call_json(env, "REGISTRY", REGISTRY, Method::Post, "/addref", &json!({"keys": keys})).await.map(|_| ())
    }

    pub async fn decref(env: &Env, keys: &[String]) -> ApiResult<Vec<String>> {
        let v = call_json(env, "REGISTRY", REGISTRY, Method::Post, "/decref", &json!({"keys": keys})).await?;
        Ok(v["free"].as_array().map(|a| a.iter().filter_map(|k| k.as_str().map(String::from)).collect()).unwrap_or_default())
    }

    pub async fn referenced(env: &Env, keys: &[String]) -> ApiResult<Vec<String>> {
        let v = call_json(env, "REGISTRY", REGISTRY, Method::Post, "/referenced", &json!({"keys": keys})).await?;
        Ok(v["used"].as_array().map(|a| a.iter().filter_map(|k| k.as_str().map(String::from)).collect()).unwrap_or_default())
    }

    pub async fn list(env: &Env, limit: u32, cursor: Option<&str>) -> ApiResult<Page> {
        let mut path = format!("/list?limit={limit}");
        if let Some(c) = cursor {
            if c.is_empty() || !c.bytes().all(|b| b.is_ascii_digit()) || c.len() > 18 {
                return Err(ApiError::bad("invalid cursor: pass back the `cursor` of the previous page"));
            }
            path.push_str(&format!("&cursor={c}"));
        }
        let req = crate::rpc::object_request(Method::Get, &path, REGISTRY, None, "application/json")?;
        let mut resp = crate::rpc::send(env, "REGISTRY", REGISTRY, req).await?;
        let status = resp.status_code();
        let bytes = resp.bytes().await.map_err(internal)?;
        if status != 200 {
            return Err(ApiError::from_body(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ApiError::new(ErrorCode::Internal, format!("registry answer: {e}")))
    }
}
