//! The files API of the session object. Listing reads only SQLite; reading one file is one
//! ranged R2 read inside the pack that holds it; an upload is one R2 object plus one commit.
use super::{Answer, Session};
use crate::core::api;
use crate::core::error::{ApiError, ApiResult};
use crate::core::ids::check_file_path;
use crate::core::index::{listed_files, parents, upload_key, FileRow};
use crate::core::shape::content_type;
use crate::core::web::download_headers;
use crate::platform::{now_rfc3339, random_hex};
use edgerun_protocol::{ApplyRequest, Entry, EntryKind, ErrorCode};
use futures_util::TryStreamExt;
use std::cell::RefCell;
use std::rc::Rc;
use worker::{FixedLengthStream, Range};

use crate::core::answer::{MAX_WORKSPACE_BYTES, MAX_WORKSPACE_FILES};
use crate::core::request::MAX_UPLOAD_BYTES;

/// Uploads up to this size are pushed to a running executor right away.
const PUSH_MAX_BYTES: usize = 8 * 1024 * 1024;

impl Session {
    pub(crate) fn handle_list_files(&self) -> ApiResult<Answer> {
        self.session()?;
        let rows = self.with_store(|s| s.files())?;
        let uploaded = self.with_store(|s| s.uploaded_times())?;
        let files = listed_files(&rows)
            .into_iter()
            .map(|r| api::FileInfo { path: r.entry.path.clone(), size: r.entry.size, uploaded: uploaded.get(&r.entry.path).cloned() })
            .collect();
        Ok(Answer::json(200, &api::FileList::new(files)))
    }

    fn find_file(&self, path: &str) -> ApiResult<FileRow> {
        check_file_path(path)?;
        self.session()?;
        let rows = self.with_store(|s| s.files())?;
        let mut current = path.to_string();
        // Follow in-workspace symlinks a few hops, as reading the path in the workspace would.
        for _ in 0..8 {
            let row = rows
                .iter()
                .find(|r| r.entry.path == current)
                .ok_or_else(|| ApiError::not_found(format!("no file {path:?} in this session")))?;
            match row.entry.kind {
                EntryKind::File => return Ok(row.clone()),
                EntryKind::Dir => return Err(ApiError::not_found(format!("{path:?} is a directory, not a file"))),
                EntryKind::Symlink => {
                    let target = row.entry.target.clone().unwrap_or_default();
                    let mut parts: Vec<&str> = current.split('/').collect();
                    parts.pop();
                    for seg in target.split('/') {
                        match seg {
                            "" | "." => {}
                            ".." => {
                                parts.pop();
                            }
                            s => parts.push(s),
                        }
                    }
                    current = parts.join("/");
                }
            }
        }
        Err(ApiError::not_found(format!("{path:?} is a chain of links too long to follow")))
    }

    pub(crate) async fn handle_get_file(&self, path: &str) -> ApiResult<Answer> {
        let row = self.find_file(path)?;
        if row.entry.size == 0 {
            let empty = futures_util::stream::empty::<worker::Result<Vec<u8>>>();
            return Ok(Answer::Stream(
                worker::ByteStream::from(crate::executor::js_stream(empty)),
                download_headers(path, content_type(path)),
            ));
        }
        let obj = self
            .bucket()?
            .get(row.pack.clone())
            .range(Range::OffsetWithLength { offset: row.offset, length: row.entry.size })
            .execute()
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("reading {path}: {e}")))?
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, format!("the pack holding {path} is missing")))?;
        // Streamed through: a large file is never held in the object's memory.
        let stream = obj
            .body()
            .ok_or_else(|| ApiError::new(ErrorCode::Internal, "empty pack body"))?
            .stream()
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("reading {path}: {e}")))?;
        Ok(Answer::Stream(stream, download_headers(path, content_type(path))))
    }

    /// Stores an upload as one R2 object. Up to [`PUSH_MAX_BYTES`] the body is read whole (and
    /// pushed to a running executor); beyond, it streams into R2 with its declared length while
    /// it is hashed, so memory stays flat whatever its size. A body that ends early or runs
    /// over its length fails the R2 write, and nothing is committed.
    pub(crate) async fn handle_put_file(&self, sid: &str, path: &str, len: u64, mut req: worker::Request) -> ApiResult<Answer> {
        check_file_path(path)?;
        if len > MAX_UPLOAD_BYTES as u64 {
            return Err(ApiError::new(ErrorCode::TooLarge, format!("a file may be at most {MAX_UPLOAD_BYTES} bytes")));
        }
        let guard = self.queue.lock().await;
        self.session()?;
        let rows = self.with_store(|s| s.files())?;
        let existing = rows.iter().find(|r| r.entry.path == path);
        if existing.is_some_and(|r| r.entry.kind == EntryKind::Dir) {
            return Err(ApiError::new(ErrorCode::Conflict, format!("{path:?} is a directory")));
        }
        for p in parents(path) {
            if rows.iter().any(|r| r.entry.path == p && r.entry.kind != EntryKind::Dir) {
                return Err(ApiError::new(ErrorCode::Conflict, format!("{p:?} is a file, so {path:?} cannot be created below it")));
            }
        }
        let total: u64 = rows.iter().filter(|r| r.entry.path != path).map(|r| r.entry.size).sum::<u64>() + len;
        if total > MAX_WORKSPACE_BYTES || rows.len() + 1 > MAX_WORKSPACE_FILES {
            return Err(ApiError::new(ErrorCode::TooLarge, "the workspace would exceed its limit of 1 GiB in 100,000 files"));
        }
        let now_ns = (js_sys::Date::now() as i64) * 1_000_000;
        let seq = self.with_store(|s| s.next_pack_seq())?;
        let key = upload_key(sid, seq, &random_hex());
        let size = len;
        let stored = |e: worker::Error| ApiError::new(ErrorCode::Internal, format!("storing {path} in R2 failed: {e}"));
        let short = |got: u64| ApiError::bad(format!("the upload ended after {got} of its {len} bytes"));
        // Small uploads also go to a running executor at once; large ones arrive with the next inject.
        let (hash, content) = if len <= PUSH_MAX_BYTES as u64 {
            let body = req.bytes().await.map_err(|e| ApiError::bad(format!("unreadable upload: {e}")))?;
            if body.len() as u64 != len {
                return Err(short(body.len() as u64));
            }
            self.bucket()?.put(key.clone(), body.clone()).execute().await.map_err(stored)?;
            (blake3::hash(&body).to_hex().to_string(), Some(body))
        } else {
            let hasher = Rc::new(RefCell::new((blake3::Hasher::new(), 0u64)));
            let tap = hasher.clone();
            let body = req.stream().map_err(|e| ApiError::bad(format!("unreadable upload: {e}")))?.map_ok(move |chunk| {
                let mut t = tap.borrow_mut();
                t.0.update(&chunk);
                t.1 += chunk.len() as u64;
                chunk
            });
            let put = self.bucket()?.put(key.clone(), FixedLengthStream::wrap(body, len)).execute().await;
            let (hasher, got) = &*hasher.borrow();
            match put {
                Ok(_) if *got == len => {}
                Ok(_) => return Err(short(*got)),
                Err(_) if *got != len => return Err(short(*got)),
                Err(e) => return Err(stored(e)),
            }
            (hasher.finalize().to_hex().to_string(), None)
        };
        let mode = existing.map(|r| r.entry.mode).unwrap_or(0o644);
        let mut new_rows = vec![FileRow {
            entry: Entry { path: path.to_string(), kind: EntryKind::File, mode, mtime_ns: now_ns, size, hash, target: None },
            pack: key.clone(),
            offset: 0,
        }];
        for p in parents(path) {
            if !rows.iter().any(|r| r.entry.path == p) {
                new_rows.push(FileRow {
                    entry: Entry {
                        path: p.to_string(),
                        kind: EntryKind::Dir,
                        mode: 0o755,
                        mtime_ns: now_ns,
                        size: 0,
                        hash: String::new(),
                        target: None,
                    },
                    pack: String::new(),
                    offset: 0,
                });
            }
        }
        let version = format!("u{}", random_hex());
        let now = now_rfc3339();
        let before = self.session()?.version;
        self.with_store(|s| s.commit_run(Some((&key, seq, size)), &new_rows, &[], Some(&version), None, &now, None))?;
        self.collect_dead_packs().await;
        let mut put: Vec<Entry> = new_rows.into_iter().map(|r| r.entry).collect();
        put.reverse(); // parents first
        if let Some(content) = content {
            self.push_to_executor(sid, before, &version, put, content, Vec::new()).await;
        }
        drop(guard);
        Ok(Answer::json(200, &api::Uploaded { path: path.to_string(), size }))
    }

    /// Keeps a running executor current after an upload or a deletion by sending just that change;
    /// when it does not hold the version before the change (or is down), the next run injects.
    async fn push_to_executor(
        &self,
        sid: &str,
        before: Option<String>,
        version: &str,
        put: Vec<Entry>,
        content: Vec<u8>,
        delete: Vec<String>,
    ) {
        let Some(expect) = before else { return };
        let Ok(exec) = self.executor() else { return };
        if !exec.is_up() {
            return;
        }
        let req = ApplyRequest { expect_version: expect, version: version.to_string(), put, delete };
        let _ = exec.apply(sid, &req, &content).await;
    }

    pub(crate) async fn handle_delete_file(&self, sid: &str, path: &str) -> ApiResult<Answer> {
        check_file_path(path)?;
        let guard = self.queue.lock().await;
        let row = self.find_file(path)?;
        if row.entry.path != path {
            // a link: delete the link itself, not what it points at
            self.with_store(|s| s.files())?
                .iter()
                .find(|r| r.entry.path == path)
                .ok_or_else(|| ApiError::not_found(format!("no file {path:?}")))?;
        }
        let version = format!("u{}", random_hex());
        let now = now_rfc3339();
        let before = self.session()?.version;
        self.with_store(|s| s.commit_run(None, &[], &[path.to_string()], Some(&version), None, &now, None))?;
        self.collect_dead_packs().await;
        self.push_to_executor(sid, before, &version, Vec::new(), Vec::new(), vec![path.to_string()]).await;
        drop(guard);
        Ok(Answer::json(200, &api::Deleted { deleted: path.to_string() }))
    }
}
