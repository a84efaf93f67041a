//! The registry: one Durable Object (named `registry`) that lists sessions newest first and owns
//! the reference counts of packs shared between sessions by `duplicate`.
//!
//! Create adds the listing entry *before* the session object is created, and delete removes it
//! *after* the object is gone, so a session that exists is never missing from the list; an entry
//! whose object does not exist (a crash between the two writes) is removed by the periodic sweep,
//! which also repairs the pack reference counts and collects objects that no session holds.
use crate::core::api::SessionSummary;
use crate::core::error::{ApiError, ApiResult};
use crate::ops::{Added, Claim, Done, Freed, PacksHeld, Page, RegistryOp, SessionOp, Used};
use crate::platform::{error_response, json_response};
use crate::rpc::{internal, read_op, session_typed};
use edgerun_protocol::ErrorCode;
use serde::Deserialize;
use serde_json::Value;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue as V, State};

/// A registry answer as JSON.
fn answer(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).expect("answers serialize")
}

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
        let result = match read_op::<RegistryOp>(&mut req).await {
            Ok(RegistryOp::DeleteAll) => self.delete_all().await.map(|d| answer(&d)),
            Ok(op) => {
                let is_add = matches!(op, RegistryOp::Add { .. });
                let result = self.dispatch(op);
                if is_add {
                    self.schedule_sweep().await;
                }
                result
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => json_response(200, &v),
            Err(e) => error_response(&e),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // A delete of every session that one request could not finish goes on first.
        let before = self.purge_left().unwrap_or(0);
        match self.purge_batch().await {
            Ok(left) if left > 0 => {
                // Only entries waiting for their create are left: look again later.
                let pause = if left < before { PURGE_PAUSE_MS } else { PURGE_RETRY_MS };
                let _ = self.state.storage().set_alarm(pause).await;
                return Response::ok("");
            }
            Ok(_) => {}
            Err(e) => {
                worker::console_error!("deleting every session: a batch failed, retried shortly: {e}");
                let _ = self.state.storage().set_alarm(PURGE_RETRY_MS).await;
                return Response::ok("");
            }
        }
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

/// After this long, a create that claimed an idempotency key and never finished frees it.
const CLAIM_STALE_MS: f64 = 60_000.0;

/// Sessions one request (or one alarm) of a delete-all deletes before it answers.
const PURGE_BATCH: u32 = 25;
/// Pause between background batches of a delete-all, and the retry after a failed one.
const PURGE_PAUSE_MS: i64 = 10;
const PURGE_RETRY_MS: i64 = 5_000;

#[derive(Deserialize)]
struct Seq {
    n: Option<i64>,
}

impl Registry {
    /// `DELETE /api/sessions`: marks every session listed now (the highest sequence number so
    /// far; sessions created after are kept), deletes a batch, and leaves the rest to the alarm.
    async fn delete_all(&self) -> ApiResult<crate::core::api::DeletedAll> {
        let sql = self.sql()?;
        let newest: Vec<Seq> = sql.exec("SELECT MAX(seq) AS n FROM sessions", None).and_then(|c| c.to_array()).map_err(sql_err)?;
        if let Some(n) = newest.first().and_then(|s| s.n) {
            sql.exec(
                "INSERT INTO purge (one, upto) VALUES (1, ?) ON CONFLICT(one) DO UPDATE SET upto = MAX(upto, excluded.upto)",
                vec![V::Integer(n)],
            )
            .map_err(sql_err)?;
        }
        let before = self.purge_left()?;
        let left = match self.purge_batch().await {
            Ok(left) => left,
            Err(e) => {
                // What was deleted stays deleted; the alarm goes on with the rest.
                let _ = self.state.storage().set_alarm(PURGE_RETRY_MS).await;
                return Err(e);
            }
        };
        if left > 0 {
            self.state.storage().set_alarm(PURGE_PAUSE_MS).await.map_err(internal)?;
        }
        Ok(crate::core::api::DeletedAll { deleted_count: before.saturating_sub(left), remaining: left, continuing: left > 0 })
    }

    /// Sessions a delete-all still has to delete.
    fn purge_left(&self) -> ApiResult<u64> {
        let sql = self.sql()?;
        let rows: Vec<Seq> = sql
            .exec("SELECT COUNT(*) AS n FROM sessions WHERE seq <= (SELECT upto FROM purge WHERE one = 1)", None)
            .and_then(|c| c.to_array())
            .map_err(sql_err)?;
        Ok(rows.first().and_then(|s| s.n).unwrap_or(0).max(0) as u64)
    }

    /// Deletes up to [`PURGE_BATCH`] marked sessions (each through its object, then from the
    /// list, as a single delete does) and answers how many are left; with none left the mark goes.
    async fn purge_batch(&self) -> ApiResult<u64> {
        #[derive(Deserialize)]
        struct Id {
            id: String,
            created_at: String,
        }
        let sql = self.sql()?;
        let batch = self.env.var("PURGE_BATCH").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(PURGE_BATCH);
        let ids: Vec<Id> = sql
            .exec(
                "SELECT id, created_at FROM sessions WHERE seq <= (SELECT upto FROM purge WHERE one = 1) ORDER BY seq DESC LIMIT ?",
                vec![V::Integer(i64::from(batch))],
            )
            .and_then(|c| c.to_array())
            .map_err(sql_err)?;
        let young = js_sys::Date::now() - CLAIM_STALE_MS;
        for Id { id, created_at } in ids {
            let status = crate::rpc::session(&self.env, &id, &SessionOp::Delete).await?.status_code();
            // A session listed a moment ago may not be created yet (create lists first): its
            // entry stays for a later batch, so that its create cannot land unlisted.
            let just_listed = status == 404 && js_sys::Date::parse(&created_at) > young;
            if status != 200 && status != 404 {
                return Err(ApiError::new(ErrorCode::Internal, format!("deleting session {id} answered {status}")));
            }
            if !just_listed {
                sql.exec("DELETE FROM sessions WHERE id = ?", vec![V::String(id)]).map_err(sql_err)?;
            }
        }
        let left = self.purge_left()?;
        if left == 0 {
            sql.exec("DELETE FROM purge", None).map_err(sql_err)?;
        }
        Ok(left)
    }

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
            let (_, held) = session_typed::<PacksHeld>(&self.env, id, &SessionOp::Packs).await?;
            if !held.exists {
                sql.exec("DELETE FROM sessions WHERE id = ?", vec![V::String(id.clone())]).map_err(sql_err)?;
                gone += 1;
                continue;
            }
            for k in held.keys {
                *holders.entry(k).or_default() += 1;
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
             CREATE TABLE IF NOT EXISTS packrefs (key TEXT PRIMARY KEY, refs INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS purge (one INTEGER PRIMARY KEY CHECK (one = 1), upto INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS idem (key TEXT PRIMARY KEY, hash TEXT NOT NULL, created_ms REAL NOT NULL, answer TEXT);",
            None,
        )
        .map_err(sql_err)?;
        Ok(sql)
    }

    fn dispatch(&self, op: RegistryOp) -> ApiResult<Value> {
        let sql = self.sql()?;
        match op {
            RegistryOp::Add { id, language, created_at } => {
                let existed = sql
                    .exec("SELECT COUNT(*) AS refs FROM sessions WHERE id = ?", vec![V::String(id.clone())])
                    .and_then(|c| c.to_array::<Refs>())
                    .map_err(sql_err)?
                    .first()
                    .is_some_and(|r| r.refs > 0);
                if !existed {
                    sql.exec(
                        "INSERT INTO sessions (id, language, created_at) VALUES (?, ?, ?)",
                        vec![V::String(id), V::String(language), V::String(created_at)],
                    )
                    .map_err(sql_err)?;
                }
                Ok(answer(&Added { added: !existed }))
            }
            RegistryOp::Remove { id } => {
                sql.exec("DELETE FROM sessions WHERE id = ?", vec![V::String(id)]).map_err(sql_err)?;
                Ok(answer(&Done {}))
            }
            RegistryOp::Touch { id, last_run_at } => {
                sql.exec("UPDATE sessions SET last_run_at = ? WHERE id = ?", vec![V::String(last_run_at), V::String(id)])
                    .map_err(sql_err)?;
                Ok(answer(&Done {}))
            }
            RegistryOp::List { limit, cursor } => {
                let before = cursor.unwrap_or(i64::MAX);
                let rows: Vec<Listed> = sql
                    .exec(
                        "SELECT seq, id, language, created_at, last_run_at FROM sessions WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                        vec![V::Integer(before), V::Integer(i64::from(limit) + 1)],
                    )
                    .and_then(|c| c.to_array())
                    .map_err(sql_err)?;
                let more = rows.len() > limit as usize;
                let page: Vec<Listed> = rows.into_iter().take(limit as usize).collect();
                let cursor = if more { page.last().map(|l| l.seq.to_string()) } else { None };
                let sessions = page
                    .into_iter()
                    .map(|l| SessionSummary { id: l.id, language: l.language, created_at: l.created_at, last_run_at: l.last_run_at })
                    .collect();
                Ok(answer(&Page { sessions, cursor }))
            }
            // A pack now also used by another session: counts start at 2 (its first owner and the new one).
            RegistryOp::AddRef { keys } => {
                self.ref_changes.set(self.ref_changes.get() + 1);
                for k in keys {
                    sql.exec(
                        "INSERT INTO packrefs (key, refs) VALUES (?, 2) ON CONFLICT(key) DO UPDATE SET refs = refs + 1",
                        vec![V::String(k)],
                    )
                    .map_err(sql_err)?;
                }
                Ok(answer(&Done {}))
            }
            // Answers the keys no session uses any more: only those may be deleted from R2.
            RegistryOp::DecRef { keys } => {
                self.ref_changes.set(self.ref_changes.get() + 1);
                let mut free = Vec::new();
                for k in keys {
                    // A key the registry never counted has one owner: the caller.
                    let refs = refs_of(&sql, &k)?.unwrap_or(1);
                    if refs <= 1 {
                        sql.exec("DELETE FROM packrefs WHERE key = ?", vec![V::String(k.clone())]).map_err(sql_err)?;
                        free.push(k);
                    } else {
                        sql.exec("UPDATE packrefs SET refs = refs - 1 WHERE key = ?", vec![V::String(k)]).map_err(sql_err)?;
                    }
                }
                Ok(answer(&Freed { free }))
            }
            // Which of these keys another session still uses (the orphan sweep must keep them).
            RegistryOp::ClaimKey { key, hash } => {
                #[derive(Deserialize)]
                struct Row {
                    hash: String,
                    created_ms: f64,
                    answer: Option<String>,
                }
                let now = js_sys::Date::now();
                sql.exec("DELETE FROM idem WHERE created_ms < ?", vec![V::Float(now - crate::core::request::IDEMPOTENCY_MS)])
                    .map_err(sql_err)?;
                let rows: Vec<Row> = sql
                    .exec("SELECT hash, created_ms, answer FROM idem WHERE key = ?", vec![V::String(key.clone())])
                    .and_then(|c| c.to_array())
                    .map_err(sql_err)?;
                let claim = match rows.into_iter().next() {
                    Some(r) if r.hash != hash => Claim::Mismatch,
                    Some(Row { answer: Some(a), .. }) => Claim::Replay {
                        answer: serde_json::from_str(&a)
                            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("stored create answer: {e}")))?,
                    },
                    // A create that never finished (its Worker died) frees its key after a minute.
                    Some(r) if now - r.created_ms < CLAIM_STALE_MS => Claim::Busy,
                    _ => {
                        sql.exec(
                            "INSERT OR REPLACE INTO idem (key, hash, created_ms, answer) VALUES (?, ?, ?, NULL)",
                            vec![V::String(key), V::String(hash), V::Float(now)],
                        )
                        .map_err(sql_err)?;
                        Claim::Fresh
                    }
                };
                Ok(answer(&claim))
            }
            RegistryOp::CompleteKey { key, answer: a } => {
                sql.exec("UPDATE idem SET answer = ? WHERE key = ?", vec![V::String(a.to_string()), V::String(key)]).map_err(sql_err)?;
                Ok(answer(&Done {}))
            }
            RegistryOp::ReleaseKey { key } => {
                sql.exec("DELETE FROM idem WHERE key = ? AND answer IS NULL", vec![V::String(key)]).map_err(sql_err)?;
                Ok(answer(&Done {}))
            }
            // Answered by `delete_all`, which awaits the session objects.
            RegistryOp::DeleteAll => Err(ApiError::new(ErrorCode::Internal, "delete-all reached the synchronous registry operations")),
            RegistryOp::Referenced { keys } => {
                let mut used = Vec::new();
                for k in keys {
                    if refs_of(&sql, &k)?.unwrap_or(0) > 0 {
                        used.push(k);
                    }
                }
                Ok(answer(&Used { used }))
            }
        }
    }
}

/// The registry's operations as functions, for its callers.
pub mod client {
    use super::*;
    use crate::rpc::registry as call;

    pub async fn add(env: &Env, id: &str, language: &str, created_at: &str) -> ApiResult<bool> {
        let op = RegistryOp::Add { id: id.into(), language: language.into(), created_at: created_at.into() };
        Ok(call::<Added>(env, &op).await?.added)
    }

    pub async fn remove(env: &Env, id: &str) -> ApiResult<()> {
        call::<Done>(env, &RegistryOp::Remove { id: id.into() }).await.map(|_| ())
    }

    pub async fn touch(env: &Env, id: &str, last_run_at: &str) -> ApiResult<()> {
        call::<Done>(env, &RegistryOp::Touch { id: id.into(), last_run_at: last_run_at.into() }).await.map(|_| ())
    }

    pub async fn addref(env: &Env, keys: &[String]) -> ApiResult<()> {
        call::<Done>(env, &RegistryOp::AddRef { keys: keys.to_vec() }).await.map(|_| ())
    }

    pub async fn decref(env: &Env, keys: &[String]) -> ApiResult<Vec<String>> {
        Ok(call::<Freed>(env, &RegistryOp::DecRef { keys: keys.to_vec() }).await?.free)
    }

    pub async fn referenced(env: &Env, keys: &[String]) -> ApiResult<Vec<String>> {
        Ok(call::<Used>(env, &RegistryOp::Referenced { keys: keys.to_vec() }).await?.used)
    }

    pub async fn list(env: &Env, limit: u32, cursor: Option<&str>) -> ApiResult<Page> {
        let cursor = match cursor {
            None => None,
            Some(c) => Some(
                c.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0 && c.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| ApiError::bad("invalid cursor: pass back the `cursor` of the previous page"))?,
            ),
        };
        call::<Page>(env, &RegistryOp::List { limit, cursor }).await
    }
}
