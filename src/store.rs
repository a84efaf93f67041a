//! The session Durable Object's SQLite storage: schema (created and migrated by version in code)
//! and the queries the object needs. Writes made without an `await` between them commit together.

use crate::core::error::{ApiError, ApiResult};
use crate::core::index::FileRow;
use edgerun_protocol::{Entry, EntryKind, ErrorCode};
use serde::Deserialize;
use std::collections::BTreeMap;
use worker::{SqlStorage, SqlStorageValue as V};

const MIGRATIONS: &[&str] = &[
    // 1: sessions, file index, packs, run history
    "CREATE TABLE IF NOT EXISTS session (
        id TEXT PRIMARY KEY, language TEXT NOT NULL, persistent INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL, last_run_at TEXT, run_count INTEGER NOT NULL DEFAULT 0,
        metadata TEXT NOT NULL DEFAULT '{}', data TEXT NOT NULL DEFAULT '{}',
        setup_status TEXT NOT NULL DEFAULT 'none', setup_log TEXT NOT NULL DEFAULT '',
        version TEXT);
     CREATE TABLE IF NOT EXISTS files (
        path TEXT PRIMARY KEY, kind TEXT NOT NULL, mode INTEGER NOT NULL, mtime_ns TEXT NOT NULL,
        size INTEGER NOT NULL, hash TEXT NOT NULL, target TEXT, pack TEXT NOT NULL, offset INTEGER NOT NULL,
        uploaded TEXT NOT NULL);
     CREATE TABLE IF NOT EXISTS packs (key TEXT PRIMARY KEY, seq INTEGER NOT NULL, size INTEGER NOT NULL, created_at TEXT NOT NULL);
     CREATE TABLE IF NOT EXISTS runs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, duration_ms REAL NOT NULL,
        exit_code INTEGER NOT NULL, killed_by TEXT, language TEXT NOT NULL);",
    // 2: pending setup, and packs shared with duplicates (reference-counted by the registry)
    "ALTER TABLE session ADD COLUMN setup_spec TEXT;
     ALTER TABLE packs ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;",
    // 3: session settings (PATCH) and stored code (one row, apart from the session row, which
    // every request reads)
    "ALTER TABLE session ADD COLUMN default_timeout INTEGER;
     ALTER TABLE session ADD COLUMN allow_internet INTEGER NOT NULL DEFAULT 1;
     CREATE TABLE IF NOT EXISTS stored_code (
        one INTEGER PRIMARY KEY CHECK (one = 1), code TEXT NOT NULL, description TEXT NOT NULL, updated_at TEXT NOT NULL);",
    // 4: run ids: each counted run's answer (in parts: a row holds at most 2 MB) for the last
    // runs and for 24 h behind an idempotency key
    "ALTER TABLE runs ADD COLUMN run_id TEXT;
     CREATE TABLE IF NOT EXISTS run_answers (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT UNIQUE NOT NULL, created_ms REAL NOT NULL,
        idem_key TEXT UNIQUE, idem_hash TEXT);
     CREATE TABLE IF NOT EXISTS answer_parts (run_id TEXT NOT NULL, n INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY (run_id, n));",
    // 5: live interpreter contexts (the executor holds their processes; this is their list)
    "CREATE TABLE IF NOT EXISTS contexts (
        id TEXT PRIMARY KEY, language TEXT NOT NULL, created_at TEXT NOT NULL,
        run_count INTEGER NOT NULL DEFAULT 0, is_default INTEGER NOT NULL DEFAULT 0);",
    // 6: background processes (the executor holds them; this is their list and their last word)
    "CREATE TABLE IF NOT EXISTS processes (
        id TEXT PRIMARY KEY, command TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT,
        status TEXT NOT NULL, exit_code INTEGER, killed_by TEXT, max_seconds INTEGER NOT NULL,
        restart TEXT NOT NULL DEFAULT 'never', restarts INTEGER NOT NULL DEFAULT 0, env TEXT NOT NULL DEFAULT '{}',
        seq INTEGER NOT NULL);",
];

/// Answers kept by run id (older ones stay only behind a live idempotency key).
pub const KEPT_ANSWERS: i64 = 20;
/// Largest part of a stored answer (one SQLite row holds at most 2 MB).
const ANSWER_PART_BYTES: usize = 1 << 20;

#[allow(clippy::needless_pass_by_value, reason = "a `map_err` adapter takes the error by value")]
fn sql_err(e: worker::Error) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("session storage: {e}"))
}

pub struct Store {
    sql: SqlStorage,
}

#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct SessionRow {
    pub id: String,
    pub language: String,
    pub persistent: i64,
    pub created_at: String,
    pub last_run_at: Option<String>,
    pub run_count: i64,
    pub metadata: String,
    pub data: String,
    pub setup_status: String,
    pub setup_log: String,
    pub version: Option<String>,
    #[serde(default)]
    pub setup_spec: Option<String>,
    /// Seconds; `None`: runs without a timeout get the API's default.
    #[serde(default)]
    pub default_timeout: Option<i64>,
    #[serde(default = "one")]
    pub allow_internet: i64,
}

fn one() -> i64 {
    1
}

/// The session's stored code (`PUT …/code`).
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct StoredCode {
    pub code: String,
    pub description: String,
    pub updated_at: String,
}

/// One entry of the run history.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct RunRow {
    pub started_at: String,
    pub duration_ms: f64,
    pub exit_code: i64,
    pub killed_by: Option<String>,
    pub language: String,
    /// `None` for runs recorded before run ids existed.
    #[serde(default)]
    pub run_id: Option<String>,
}

/// A run's answer as stored: the answer's JSON text, and the key it was asked under.
pub struct StoredAnswer<'a> {
    pub run_id: &'a str,
    pub text: &'a str,
    pub idempotency: Option<&'a crate::core::request::Idempotency>,
    pub created_ms: f64,
}

#[derive(Deserialize)]
struct Part {
    text: String,
}

#[derive(Deserialize)]
struct Keyed {
    run_id: String,
    idem_hash: Option<String>,
}

/// A stored pack.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
pub struct PackRow {
    pub key: String,
    pub seq: i64,
    pub size: i64,
    pub shared: i64,
}

#[derive(Deserialize)]
struct FileSql {
    path: String,
    kind: String,
    mode: i64,
    mtime_ns: String,
    size: i64,
    hash: String,
    target: Option<String>,
    pack: String,
    offset: i64,
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

fn kind_str(k: EntryKind) -> &'static str {
    match k {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
        EntryKind::Symlink => "symlink",
    }
}

impl Store {
    /// Opens the storage, creating or migrating the schema.
    pub fn open(sql: SqlStorage) -> ApiResult<Store> {
        sql.exec("CREATE TABLE IF NOT EXISTS schema_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)", None).map_err(sql_err)?;
        let current = sql
            .exec("SELECT v AS n FROM schema_meta WHERE k = 'version'", None)
            .and_then(|c| c.to_array::<Count>())
            .map_err(sql_err)?
            .first()
            .map(|c| c.n)
            .unwrap_or(0);
        for (i, m) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            sql.exec(m, None).map_err(sql_err)?;
            sql.exec("INSERT OR REPLACE INTO schema_meta (k, v) VALUES ('version', ?)", vec![V::Integer(i as i64 + 1)]).map_err(sql_err)?;
        }
        Ok(Store { sql })
    }

    pub fn session(&self) -> ApiResult<Option<SessionRow>> {
        let rows: Vec<SessionRow> = self.sql.exec("SELECT * FROM session LIMIT 1", None).and_then(|c| c.to_array()).map_err(sql_err)?;
        Ok(rows.into_iter().next())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create_session(
        &self,
        id: &str,
        language: &str,
        persistent: bool,
        created_at: &str,
        metadata: &str,
        data: &str,
    ) -> ApiResult<()> {
        self.sql
            .exec(
                "INSERT INTO session (id, language, persistent, created_at, metadata, data) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    V::String(id.into()),
                    V::String(language.into()),
                    V::Integer(persistent as i64),
                    V::String(created_at.into()),
                    V::String(metadata.into()),
                    V::String(data.into()),
                ],
            )
            .map_err(sql_err)?;
        Ok(())
    }

    pub fn files(&self) -> ApiResult<Vec<FileRow>> {
        let rows: Vec<FileSql> = self.sql.exec("SELECT * FROM files ORDER BY path", None).and_then(|c| c.to_array()).map_err(sql_err)?;
        Ok(rows
            .into_iter()
            .map(|r| FileRow {
                entry: Entry {
                    kind: match r.kind.as_str() {
                        "dir" => EntryKind::Dir,
                        "symlink" => EntryKind::Symlink,
                        _ => EntryKind::File,
                    },
                    path: r.path,
                    mode: r.mode as u32,
                    mtime_ns: r.mtime_ns.parse().unwrap_or(0),
                    size: r.size as u64,
                    hash: r.hash,
                    target: r.target,
                },
                pack: r.pack,
                offset: r.offset as u64,
            })
            .collect())
    }

    pub fn next_pack_seq(&self) -> ApiResult<i64> {
        let rows: Vec<Count> =
            self.sql.exec("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM packs", None).and_then(|c| c.to_array()).map_err(sql_err)?;
        Ok(rows.first().map(|c| c.n).unwrap_or(1))
    }

    /// Commits a run: the new pack (if any), the index changes, the new version, the data and,
    /// for a counted run, the counters and history. Called with no `await` between its
    /// statements, so it commits as one.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_run(
        &self,
        pack: Option<(&str, i64, u64)>,
        rows: &[FileRow],
        deleted: &[String],
        version: Option<&str>,
        data: Option<&str>,
        now: &str,
        run: Option<&RunRow>,
    ) -> ApiResult<()> {
        if let Some((key, seq, size)) = pack {
            self.sql
                .exec(
                    "INSERT INTO packs (key, seq, size, created_at) VALUES (?, ?, ?, ?)",
                    vec![V::String(key.into()), V::Integer(seq), V::Integer(size as i64), V::String(now.into())],
                )
                .map_err(sql_err)?;
        }
        for p in deleted {
            self.delete_file(p)?;
        }
        self.upsert_files(rows, now)?;
        if let Some(v) = version {
            self.set_version(v)?;
        }
        if let Some(d) = data {
            self.sql.exec("UPDATE session SET data = ?", vec![V::String(d.into())]).map_err(sql_err)?;
        }
        let Some(run) = run else { return Ok(()) };
        self.sql.exec("UPDATE session SET run_count = run_count + 1, last_run_at = ?", vec![V::String(now.into())]).map_err(sql_err)?;
        self.sql
            .exec(
                "INSERT INTO runs (started_at, duration_ms, exit_code, killed_by, language, run_id) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    V::String(run.started_at.clone()),
                    V::Float(run.duration_ms),
                    V::Integer(run.exit_code),
                    run.killed_by.clone().map(V::String).unwrap_or(V::Null),
                    V::String(run.language.clone()),
                    run.run_id.clone().map(V::String).unwrap_or(V::Null),
                ],
            )
            .map_err(sql_err)?;
        self.sql.exec("DELETE FROM runs WHERE seq <= (SELECT MAX(seq) - 100 FROM runs)", None).map_err(sql_err)?;
        Ok(())
    }

    pub fn upsert_files(&self, rows: &[FileRow], now: &str) -> ApiResult<()> {
        for r in rows {
            let e = &r.entry;
            self.sql
                .exec(
                    "INSERT OR REPLACE INTO files (path, kind, mode, mtime_ns, size, hash, target, pack, offset, uploaded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    vec![
                        V::String(e.path.clone()),
                        V::String(kind_str(e.kind).into()),
                        V::Integer(e.mode as i64),
                        V::String(e.mtime_ns.to_string()),
                        V::Integer(e.size as i64),
                        V::String(e.hash.clone()),
                        e.target.clone().map(V::String).unwrap_or(V::Null),
                        V::String(r.pack.clone()),
                        V::Integer(r.offset as i64),
                        V::String(now.into()),
                    ],
                )
                .map_err(sql_err)?;
        }
        Ok(())
    }

    /// Upload times of the files, by path.
    pub fn uploaded_times(&self) -> ApiResult<BTreeMap<String, String>> {
        #[derive(Deserialize)]
        struct U {
            path: String,
            uploaded: String,
        }
        let rows: Vec<U> = self.sql.exec("SELECT path, uploaded FROM files", None).and_then(|c| c.to_array()).map_err(sql_err)?;
        Ok(rows.into_iter().map(|u| (u.path, u.uploaded)).collect())
    }

    pub fn all_packs(&self) -> ApiResult<Vec<PackRow>> {
        self.sql.exec("SELECT key, seq, size, shared FROM packs ORDER BY seq", None).and_then(|c| c.to_array()).map_err(sql_err)
    }

    /// Records packs imported from a duplicated session: all shared.
    pub fn insert_shared_packs(&self, packs: &[PackRow], now: &str) -> ApiResult<()> {
        for p in packs {
            self.sql
                .exec(
                    "INSERT OR REPLACE INTO packs (key, seq, size, created_at, shared) VALUES (?, ?, ?, ?, 1)",
                    vec![V::String(p.key.clone()), V::Integer(p.seq), V::Integer(p.size), V::String(now.into())],
                )
                .map_err(sql_err)?;
        }
        Ok(())
    }

    pub fn mark_packs_shared(&self) -> ApiResult<()> {
        self.sql.exec("UPDATE packs SET shared = 1", None).map_err(sql_err)?;
        Ok(())
    }

    pub fn runs(&self, limit: u32) -> ApiResult<Vec<RunRow>> {
        self.sql
            .exec(
                "SELECT started_at, duration_ms, exit_code, killed_by, language, run_id FROM runs ORDER BY seq DESC LIMIT ?",
                vec![V::Integer(limit as i64)],
            )
            .and_then(|c| c.to_array())
            .map_err(sql_err)
    }

    pub fn delete_file(&self, path: &str) -> ApiResult<()> {
        self.sql.exec("DELETE FROM files WHERE path = ?", vec![V::String(path.into())]).map_err(sql_err)?;
        Ok(())
    }

    pub fn set_version(&self, version: &str) -> ApiResult<()> {
        self.sql.exec("UPDATE session SET version = ?", vec![V::String(version.into())]).map_err(sql_err)?;
        Ok(())
    }

    /// Sets the setup status, and optionally its log and its pending spec.
    pub fn set_setup(&self, status: &str, log: Option<&str>, spec: Option<Option<&str>>) -> ApiResult<()> {
        self.sql.exec("UPDATE session SET setup_status = ?", vec![V::String(status.into())]).map_err(sql_err)?;
        if let Some(l) = log {
            self.sql.exec("UPDATE session SET setup_log = ?", vec![V::String(l.into())]).map_err(sql_err)?;
        }
        if let Some(sp) = spec {
            let v = sp.map(|x| V::String(x.into())).unwrap_or(V::Null);
            self.sql.exec("UPDATE session SET setup_spec = ?", vec![v]).map_err(sql_err)?;
        }
        Ok(())
    }

    /// Copies a duplicated session's row under a new id, with fresh counters.
    pub fn import_session(&self, id: &str, src: &SessionRow, code: Option<&StoredCode>, created_at: &str) -> ApiResult<()> {
        self.create_session(id, &src.language, src.persistent != 0, created_at, &src.metadata, &src.data)?;
        self.sql
            .exec(
                "UPDATE session SET setup_status = ?, setup_log = ?, version = ?",
                vec![
                    V::String(src.setup_status.clone()),
                    V::String(src.setup_log.clone()),
                    src.version.clone().map(V::String).unwrap_or(V::Null),
                ],
            )
            .map_err(sql_err)?;
        self.set_settings(src.default_timeout.map(|t| t as u64), src.allow_internet != 0, None)?;
        if let Some(c) = code {
            self.set_code(&c.code, &c.description, &c.updated_at)?;
        }
        Ok(())
    }

    /// Writes the settings (`metadata` only when given: it is replaced whole).
    pub fn set_settings(&self, default_timeout: Option<u64>, allow_internet: bool, metadata: Option<&str>) -> ApiResult<()> {
        let timeout = default_timeout.map(|t| V::Integer(t as i64)).unwrap_or(V::Null);
        self.sql
            .exec("UPDATE session SET default_timeout = ?, allow_internet = ?", vec![timeout, V::Integer(allow_internet as i64)])
            .map_err(sql_err)?;
        if let Some(m) = metadata {
            self.sql.exec("UPDATE session SET metadata = ?", vec![V::String(m.into())]).map_err(sql_err)?;
        }
        Ok(())
    }

    /// Stores a run's answer (call in the commit's transaction), then forgets answers beyond the
    /// last [`KEPT_ANSWERS`] that no live idempotency key holds.
    pub fn save_answer(&self, a: &StoredAnswer) -> ApiResult<()> {
        let (key, hash) = match a.idempotency {
            Some(i) => {
                // The key may have served an earlier request over 24 h ago: that use is forgotten.
                self.sql
                    .exec("UPDATE run_answers SET idem_key = NULL WHERE idem_key = ?", vec![V::String(i.key.clone())])
                    .map_err(sql_err)?;
                (V::String(i.key.clone()), V::String(i.hash.clone()))
            }
            None => (V::Null, V::Null),
        };
        self.sql
            .exec(
                "INSERT INTO run_answers (run_id, created_ms, idem_key, idem_hash) VALUES (?, ?, ?, ?)",
                vec![V::String(a.run_id.into()), V::Float(a.created_ms), key, hash],
            )
            .map_err(sql_err)?;
        for (n, part) in crate::core::shape::split_text(a.text, ANSWER_PART_BYTES).into_iter().enumerate() {
            self.sql
                .exec(
                    "INSERT INTO answer_parts (run_id, n, text) VALUES (?, ?, ?)",
                    vec![V::String(a.run_id.into()), V::Integer(n as i64), V::String(part.into())],
                )
                .map_err(sql_err)?;
        }
        let expired = a.created_ms - crate::core::request::IDEMPOTENCY_MS;
        let stale = "seq <= (SELECT MAX(seq) - ? FROM run_answers) AND (idem_key IS NULL OR created_ms < ?)";
        self.sql
            .exec(
                &format!("DELETE FROM answer_parts WHERE run_id IN (SELECT run_id FROM run_answers WHERE {stale})"),
                vec![V::Integer(KEPT_ANSWERS), V::Float(expired)],
            )
            .map_err(sql_err)?;
        self.sql
            .exec(&format!("DELETE FROM run_answers WHERE {stale}"), vec![V::Integer(KEPT_ANSWERS), V::Float(expired)])
            .map_err(sql_err)?;
        Ok(())
    }

    /// A stored answer's JSON text.
    pub fn answer(&self, run_id: &str) -> ApiResult<Option<String>> {
        let parts: Vec<Part> = self
            .sql
            .exec("SELECT text FROM answer_parts WHERE run_id = ? ORDER BY n", vec![V::String(run_id.into())])
            .and_then(|c| c.to_array())
            .map_err(sql_err)?;
        Ok((!parts.is_empty()).then(|| parts.into_iter().map(|p| p.text).collect()))
    }

    /// The run an idempotency key was first used for, younger than `since_ms`: (run id, the
    /// request's hash).
    pub fn answer_by_key(&self, key: &str, since_ms: f64) -> ApiResult<Option<(String, String)>> {
        let rows: Vec<Keyed> = self
            .sql
            .exec(
                "SELECT run_id, idem_hash FROM run_answers WHERE idem_key = ? AND created_ms >= ?",
                vec![V::String(key.into()), V::Float(since_ms)],
            )
            .and_then(|c| c.to_array())
            .map_err(sql_err)?;
        Ok(rows.into_iter().next().map(|k| (k.run_id, k.idem_hash.unwrap_or_default())))
    }

    pub fn stored_code(&self) -> ApiResult<Option<StoredCode>> {
        let rows: Vec<StoredCode> = self
            .sql
            .exec("SELECT code, description, updated_at FROM stored_code WHERE one = 1", None)
            .and_then(|c| c.to_array())
            .map_err(sql_err)?;
        Ok(rows.into_iter().next())
    }

    pub fn set_code(&self, code: &str, description: &str, updated_at: &str) -> ApiResult<()> {
        self.sql
            .exec(
                "INSERT OR REPLACE INTO stored_code (one, code, description, updated_at) VALUES (1, ?, ?, ?)",
                vec![V::String(code.into()), V::String(description.into()), V::String(updated_at.into())],
            )
            .map_err(sql_err)?;
        Ok(())
    }

    /// Packs no file row refers to any more.
    pub fn dead_packs(&self) -> ApiResult<Vec<PackRow>> {
        self.sql
            .exec("SELECT key, seq, size, shared FROM packs WHERE key NOT IN (SELECT DISTINCT pack FROM files WHERE pack != '')", None)
            .and_then(|c| c.to_array())
            .map_err(sql_err)
    }

    /// The session's contexts, oldest first.
    pub fn contexts(&self) -> ApiResult<Vec<crate::core::contexts::ContextRow>> {
        self.sql.exec("SELECT * FROM contexts ORDER BY created_at, id", None).and_then(|c| c.to_array()).map_err(sql_err)
    }

    /// One context by id.
    pub fn context(&self, id: &str) -> ApiResult<Option<crate::core::contexts::ContextRow>> {
        let rows: Vec<crate::core::contexts::ContextRow> =
            self.sql.exec("SELECT * FROM contexts WHERE id = ?", vec![V::String(id.into())]).and_then(|c| c.to_array()).map_err(sql_err)?;
        Ok(rows.into_iter().next())
    }

    /// The default context of a language, if the session has one.
    pub fn default_context(&self, language: &str) -> ApiResult<Option<crate::core::contexts::ContextRow>> {
        let rows: Vec<crate::core::contexts::ContextRow> = self
            .sql
            .exec("SELECT * FROM contexts WHERE language = ? AND is_default = 1", vec![V::String(language.into())])
            .and_then(|c| c.to_array())
            .map_err(sql_err)?;
        Ok(rows.into_iter().next())
    }

    pub fn insert_context(&self, row: &crate::core::contexts::ContextRow) -> ApiResult<()> {
        self.sql
            .exec(
                "INSERT INTO contexts (id, language, created_at, run_count, is_default) VALUES (?, ?, ?, ?, ?)",
                vec![
                    V::String(row.id.clone()),
                    V::String(row.language.clone()),
                    V::String(row.created_at.clone()),
                    V::Integer(row.run_count),
                    V::Integer(row.is_default),
                ],
            )
            .map_err(sql_err)?;
        Ok(())
    }

    pub fn delete_context(&self, id: &str) -> ApiResult<()> {
        self.sql.exec("DELETE FROM contexts WHERE id = ?", vec![V::String(id.into())]).map_err(sql_err)?;
        Ok(())
    }

    /// Counts one more run of a context.
    pub fn count_context_run(&self, id: &str) -> ApiResult<()> {
        self.sql.exec("UPDATE contexts SET run_count = run_count + 1 WHERE id = ?", vec![V::String(id.into())]).map_err(sql_err)?;
        Ok(())
    }

    /// The session's background processes, oldest first.
    pub fn processes(&self) -> ApiResult<Vec<crate::core::processes::ProcessRow>> {
        self.sql
            .exec(
                "SELECT id, command, started_at, ended_at, status, exit_code, killed_by, max_seconds, restart, restarts, env FROM processes ORDER BY seq",
                None,
            )
            .and_then(|c| c.to_array())
            .map_err(sql_err)
    }

    /// Adds a started process; ended ones past [`crate::core::processes::KEPT_ENDED`] go, oldest first.
    pub fn insert_process(&self, row: &crate::core::processes::ProcessRow) -> ApiResult<()> {
        self.sql
            .exec(
                "INSERT INTO processes (id, command, started_at, ended_at, status, exit_code, killed_by, max_seconds, restart, restarts, env, seq)
                 VALUES (?, ?, ?, NULL, ?, NULL, NULL, ?, ?, 0, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM processes))",
                vec![
                    V::String(row.id.clone()),
                    V::String(row.command.clone()),
                    V::String(row.started_at.clone()),
                    V::String(row.status.clone()),
                    V::Integer(row.max_seconds),
                    V::String(row.restart.clone()),
                    V::String(row.env.clone()),
                ],
            )
            .map_err(sql_err)?;
        self.sql
            .exec(
                "DELETE FROM processes WHERE status != 'running' AND seq NOT IN
                 (SELECT seq FROM processes WHERE status != 'running' ORDER BY seq DESC LIMIT ?)",
                vec![V::Integer(crate::core::processes::KEPT_ENDED as i64)],
            )
            .map_err(sql_err)?;
        Ok(())
    }

    /// Stores a process's new state (its status, end, exit code and killer).
    pub fn update_process(&self, row: &crate::core::processes::ProcessRow) -> ApiResult<()> {
        let opt = |v: Option<String>| v.map(V::String).unwrap_or(V::Null);
        self.sql
            .exec(
                "UPDATE processes SET status = ?, ended_at = ?, exit_code = ?, killed_by = ?, started_at = ?, restarts = ? WHERE id = ?",
                vec![
                    V::String(row.status.clone()),
                    opt(row.ended_at.clone()),
                    row.exit_code.map(V::Integer).unwrap_or(V::Null),
                    opt(row.killed_by.clone()),
                    V::String(row.started_at.clone()),
                    V::Integer(row.restarts),
                    V::String(row.id.clone()),
                ],
            )
            .map_err(sql_err)?;
        Ok(())
    }

    pub fn forget_packs(&self, keys: &[String]) -> ApiResult<()> {
        for k in keys {
            self.sql.exec("DELETE FROM packs WHERE key = ?", vec![V::String(k.clone())]).map_err(sql_err)?;
        }
        Ok(())
    }
}
