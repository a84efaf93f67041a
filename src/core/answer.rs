//! The executor's answers, checked before anything in them is stored or committed.
//!
//! In production the container is where user code runs, so whatever listens on its port may
//! answer anything. A run answer, a snapshot and an error body are untrusted input: every entry
//! of a delta is checked (paths by the files API's rules, kinds, sizes, byte ranges inside the
//! pack, counts, duplicates, hashes, link targets, versions), the run's numbers and texts are
//! bounded, and `data` must be an object within [`MAX_DATA_BYTES`]. An answer that fails any
//! check fails the request as `sandbox_failed` before the first R2 write, so nothing is kept.
//! Nothing in an answer names an R2 object: the Worker chooses every key (`index::pack_key`
//! with a checked version), always under the session's own prefix.
use super::error::{ApiError, ApiResult};
use super::ids::{rel_path_problem, truncate};
use edgerun_protocol::{Delta, EntryKind, ErrorCode, RunAnswer, RunResult, DATA_FILE, MAX_DATA_BYTES};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Workspace bounds; the executor enforces the same after runs and the files API on uploads.
pub const MAX_WORKSPACE_BYTES: u64 = 1024 * 1024 * 1024;
pub const MAX_WORKSPACE_FILES: usize = 100_000;
/// Largest JSON header of a framed answer (a delta of 100,000 entries with long paths fits).
pub const MAX_HEADER_BYTES: usize = 96 * 1024 * 1024;
/// Largest error body read from the executor, and the longest message relayed from it.
pub const MAX_ERROR_BODY: usize = 64 * 1024;
pub const MAX_ERROR_MESSAGE: usize = 2000;
/// Largest stdout, stderr and (all lines together) logs of one answer; the executor caps output
/// at 1 MiB by default.
pub const MAX_TEXT_BYTES: usize = 32 * 1024 * 1024;
pub const MAX_LOG_LINES: usize = 10_000;
/// Longest version id (the executor's are 32 hex digits, the Worker's `u` + 32).
pub const MAX_VERSION_LEN: usize = 64;
/// Longest symlink target.
pub const MAX_TARGET_BYTES: usize = 4096;
/// Longest duration a run may report (a day: far beyond any timeout plus installs).
pub const MAX_DURATION_MS: f64 = 86_400_000.0;
/// Tar bytes an entry may take beyond its padded content: its header, GNU long-name and
/// long-link records for paths and targets up to 4096 bytes, with their padding.
const MAX_ENTRY_OVERHEAD: u64 = 512 + 2 * (512 + 4608);
/// The end-of-archive marker.
const TAR_TRAILER: u64 = 1024;
const BLOCK: u64 = 512;

fn refused(why: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::SandboxFailed, format!("the sandbox's answer was refused, nothing was kept: {why}"))
}

fn shown(s: &str) -> String {
    format!("{:?}", truncate(s, 120))
}

/// A version id as the executor and the Worker make them: 1 to 64 of `0-9a-z`. No `/` or `-`,
/// so a version inside a pack key can neither leave the session's prefix nor pass for an upload.
pub fn version_problem(v: &str) -> Option<&'static str> {
    if v.is_empty() {
        return Some("empty");
    }
    if v.len() > MAX_VERSION_LEN {
        return Some("longer than 64 characters");
    }
    if !v.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()) {
        return Some("not made of 0-9 a-z");
    }
    None
}

fn is_hash(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether a link at `link` with `target` stays inside the workspace, read lexically (the
/// executor refuses chains through other links on its side).
fn target_stays_inside(link: &str, target: &str) -> bool {
    let mut depth: Vec<&str> = link.split('/').collect();
    depth.pop();
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            s => depth.push(s),
        }
    }
    true
}

fn check_path(what: &str, p: &str) -> ApiResult<()> {
    if let Some(why) = rel_path_problem(p) {
        return Err(refused(format!("{what} {}: {why}", shown(p))));
    }
    if p == DATA_FILE {
        return Err(refused(format!("{what} {DATA_FILE} (the session's data travels as `data`)")));
    }
    Ok(())
}

/// Checks a delta's header against the tar body it describes (`tar_len` bytes).
///
/// Entries: at most [`MAX_WORKSPACE_FILES`], paths valid and unique, no entry below a non-directory
/// of the same delta, kinds consistent (files: a 64-hex hash, content at a 512-aligned offset after
/// its header, in tar order without overlap, inside the body; directories and links: no content;
/// links: a bounded relative target that stays inside, hashed as the executor hashes it), modes
/// within `0o7777`, sizes within [`MAX_WORKSPACE_BYTES`]. Deleted paths: valid, unique, not also
/// in the entries. The body's length: blocks of 512, no longer than the entries can take.
pub fn check_delta(d: &Delta) -> ApiResult<()> {
    if let Some(b) = &d.base {
        if let Some(why) = version_problem(b) {
            return Err(refused(format!("base version {}: {why}", shown(b))));
        }
    }
    if d.version.is_empty() {
        // "Nothing kept" (a non-persistent run, a workspace over its limits).
        if !d.entries.is_empty() || !d.deleted.is_empty() || d.tar_len != 0 {
            return Err(refused("a delta without a version carries changes"));
        }
        return Ok(());
    }
    if let Some(why) = version_problem(&d.version) {
        return Err(refused(format!("version {}: {why}", shown(&d.version))));
    }
    if d.entries.len() > MAX_WORKSPACE_FILES {
        return Err(refused(format!("{} entries, over the limit of {MAX_WORKSPACE_FILES}", d.entries.len())));
    }
    if d.deleted.len() > MAX_WORKSPACE_FILES {
        return Err(refused(format!("{} deleted paths, over the limit of {MAX_WORKSPACE_FILES}", d.deleted.len())));
    }
    if d.entries.is_empty() != (d.tar_len == 0) {
        return Err(refused(format!("{} entries in a body of {} bytes", d.entries.len(), d.tar_len)));
    }
    if !d.tar_len.is_multiple_of(BLOCK) {
        return Err(refused(format!("a tar body of {} bytes, not whole 512-byte blocks", d.tar_len)));
    }
    let mut kinds: BTreeMap<&str, EntryKind> = BTreeMap::new();
    let mut total: u64 = 0;
    let mut budget: u64 = TAR_TRAILER;
    // Where the next entry's header may start at the earliest.
    let mut next_header: u64 = 0;
    for pe in &d.entries {
        let e = &pe.entry;
        check_path("entry", &e.path)?;
        if kinds.insert(e.path.as_str(), e.kind).is_some() {
            return Err(refused(format!("entry {} appears twice", shown(&e.path))));
        }
        if e.mode > 0o7777 {
            return Err(refused(format!("entry {} has mode {:#o}", shown(&e.path), e.mode)));
        }
        budget = budget.saturating_add(MAX_ENTRY_OVERHEAD);
        match e.kind {
            EntryKind::File => {
                if e.target.is_some() {
                    return Err(refused(format!("file {} carries a link target", shown(&e.path))));
                }
                if !is_hash(&e.hash) {
                    return Err(refused(format!("file {} has hash {}, not 64 hex digits", shown(&e.path), shown(&e.hash))));
                }
                if e.size > MAX_WORKSPACE_BYTES {
                    return Err(refused(format!("file {} claims {} bytes", shown(&e.path), e.size)));
                }
                let end = pe.offset.checked_add(e.size).filter(|end| *end <= d.tar_len);
                let Some(end) = end else {
                    return Err(refused(format!(
                        "file {}: bytes {}+{} lie outside the {}-byte body",
                        shown(&e.path),
                        pe.offset,
                        e.size,
                        d.tar_len
                    )));
                };
                if !pe.offset.is_multiple_of(BLOCK) || pe.offset < next_header + BLOCK {
                    return Err(refused(format!(
                        "file {}: offset {} is not where tar puts content (512-aligned, after its header and the previous file)",
                        shown(&e.path),
                        pe.offset
                    )));
                }
                let padded = end.div_ceil(BLOCK) * BLOCK;
                next_header = padded;
                total = total.saturating_add(e.size);
                budget = budget.saturating_add(e.size.div_ceil(BLOCK) * BLOCK);
            }
            EntryKind::Dir | EntryKind::Symlink => {
                if e.size != 0 || pe.offset != 0 {
                    return Err(refused(format!(
                        "{} {} claims content ({} bytes at {})",
                        kind_name(e.kind),
                        shown(&e.path),
                        e.size,
                        pe.offset
                    )));
                }
                if e.kind == EntryKind::Dir {
                    if e.target.is_some() || !e.hash.is_empty() {
                        return Err(refused(format!("directory {} carries a hash or a link target", shown(&e.path))));
                    }
                } else {
                    let target = e.target.as_deref().unwrap_or("");
                    if target.is_empty() || target.len() > MAX_TARGET_BYTES || target.starts_with('/') || target.contains('\0') {
                        return Err(refused(format!(
                            "link {} has target {}: empty, over {MAX_TARGET_BYTES} bytes, absolute or with NUL",
                            shown(&e.path),
                            shown(target)
                        )));
                    }
                    if !target_stays_inside(&e.path, target) {
                        return Err(refused(format!("link {} points outside the workspace ({})", shown(&e.path), shown(target))));
                    }
                    if e.hash != blake3::hash(target.as_bytes()).to_hex().as_str() {
                        return Err(refused(format!("link {}: its hash is not its target's", shown(&e.path))));
                    }
                }
                // A header (or more) precedes whatever comes next.
                next_header = next_header.max(pe.offset) + BLOCK;
            }
        }
    }
    if total > MAX_WORKSPACE_BYTES {
        return Err(refused(format!("{total} bytes of files, over the workspace limit of {MAX_WORKSPACE_BYTES}")));
    }
    if !d.entries.is_empty() && (d.tar_len < next_header || d.tar_len > budget) {
        return Err(refused(format!("a tar body of {} bytes cannot hold exactly these {} entries", d.tar_len, d.entries.len())));
    }
    for pe in &d.entries {
        for (i, _) in pe.entry.path.match_indices('/') {
            if kinds.get(&pe.entry.path[..i]).is_some_and(|k| *k != EntryKind::Dir) {
                return Err(refused(format!("entry {} lies below a non-directory", shown(&pe.entry.path))));
            }
        }
    }
    let mut deleted = BTreeSet::new();
    for p in &d.deleted {
        check_path("deleted path", p)?;
        if !deleted.insert(p.as_str()) {
            return Err(refused(format!("deleted path {} appears twice", shown(p))));
        }
        if kinds.contains_key(p.as_str()) {
            return Err(refused(format!("{} is both changed and deleted", shown(p))));
        }
    }
    Ok(())
}

fn kind_name(k: EntryKind) -> &'static str {
    match k {
        EntryKind::File => "file",
        EntryKind::Dir => "directory",
        EntryKind::Symlink => "link",
    }
}

/// Checks a run's outcome: sane numbers, bounded texts, `data` an object within [`MAX_DATA_BYTES`].
pub fn check_result(r: &RunResult) -> ApiResult<()> {
    if !r.duration_ms.is_finite() || r.duration_ms < 0.0 || r.duration_ms > MAX_DURATION_MS {
        return Err(refused(format!("duration {} ms", r.duration_ms)));
    }
    if r.cpu_ms.is_some_and(|c| !c.is_finite() || !(0.0..=MAX_DURATION_MS * 1024.0).contains(&c)) {
        return Err(refused(format!("cpu time {:?} ms", r.cpu_ms)));
    }
    if !(-1..=255).contains(&r.exit_code) {
        return Err(refused(format!("exit code {}", r.exit_code)));
    }
    if let Some(s) = &r.signal {
        if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(refused(format!("signal {}", shown(s))));
        }
    }
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        if text.len() > MAX_TEXT_BYTES {
            return Err(refused(format!("{name} of {} bytes, over {MAX_TEXT_BYTES}", text.len())));
        }
    }
    if r.result.as_ref().is_some_and(|t| t.len() > MAX_TEXT_BYTES) {
        return Err(refused(format!("a result over {MAX_TEXT_BYTES} bytes")));
    }
    let output_bytes: usize = r.outputs.iter().map(|o| o.data.len()).sum();
    if r.outputs.len() > 64 || output_bytes > MAX_TEXT_BYTES {
        return Err(refused(format!("{} rich outputs of {output_bytes} bytes", r.outputs.len())));
    }
    if let Some(o) = r.outputs.iter().find(|o| o.mime.is_empty() || o.mime.len() > 128 || !o.mime.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(refused(format!("a rich output of type {}", shown(&o.mime))));
    }
    let lost_bytes: usize = r.lost.iter().map(String::len).sum();
    if r.lost.len() > 100_000 || lost_bytes > MAX_TEXT_BYTES || r.restore_error.as_ref().is_some_and(|e| e.len() > 4096) {
        return Err(refused("the context's restore report is over its bounds"));
    }
    let log_bytes: usize = r.logs.iter().map(String::len).sum();
    if r.logs.len() > MAX_LOG_LINES || log_bytes > MAX_TEXT_BYTES {
        return Err(refused(format!("{} log lines of {log_bytes} bytes", r.logs.len())));
    }
    if let Some(data) = &r.data {
        if !data.is_object() {
            return Err(refused("`data` is not a JSON object"));
        }
        let len = serde_json::to_string(data).map(|s| s.len()).unwrap_or(usize::MAX);
        if len > MAX_DATA_BYTES {
            return Err(refused(format!("`data` of {len} bytes, over the limit of {MAX_DATA_BYTES}")));
        }
    }
    Ok(())
}

/// Checks a run answer. `expect_base` is the version the run was asked to start from: a delta
/// that changes anything must be relative to it.
pub fn check_run_answer(a: &RunAnswer, expect_base: Option<&str>) -> ApiResult<()> {
    check_result(&a.result)?;
    check_delta(&a.delta)?;
    if !a.delta.version.is_empty() && !a.delta.is_empty() && a.delta.base.as_deref() != expect_base {
        return Err(refused(format!("a delta from version {:?}, but the run started from {:?}", a.delta.base, expect_base)));
    }
    Ok(())
}

/// Checks a snapshot (compaction) answer: a full delta (no base, nothing deleted) of exactly
/// `version`, whose body of `body_len` bytes is the tar it describes.
pub fn check_snapshot(d: &Delta, version: &str, body_len: u64) -> ApiResult<()> {
    check_delta(d)?;
    if d.version != version {
        return Err(refused(format!("a snapshot of version {}, not of {version}", shown(&d.version))));
    }
    if d.base.is_some() || !d.deleted.is_empty() {
        return Err(refused("a snapshot with a base or deleted paths"));
    }
    if d.tar_len != body_len {
        return Err(refused(format!("a snapshot whose header says {} bytes of tar, {body_len} came", d.tar_len)));
    }
    Ok(())
}

/// The length of a framed answer's header from its 4-byte prefix, refused over [`MAX_HEADER_BYTES`].
pub fn header_len(prefix: [u8; 4]) -> ApiResult<usize> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_HEADER_BYTES {
        return Err(refused(format!("a header of {len} bytes, over {MAX_HEADER_BYTES}")));
    }
    Ok(len)
}

/// An error the executor answered, relayed with a bounded message. An unparseable body (or a
/// success code on an error status) becomes `sandbox_failed`.
pub fn sandbox_error(status: u16, body: &[u8]) -> ApiError {
    let mut e = ApiError::from_body(status, &body[..body.len().min(MAX_ERROR_BODY)]);
    if e.message.len() > MAX_ERROR_MESSAGE {
        e.message = format!("{}…", truncate(&e.message, MAX_ERROR_MESSAGE));
    }
    e
}

/// Whether `data` is what the session may store (used for the data of answers).
pub fn is_storable_data(v: &Value) -> bool {
    v.is_object() && serde_json::to_string(v).map(|s| s.len() <= MAX_DATA_BYTES).unwrap_or(false)
}

/// Most output a streamed answer may carry before its answer record, well above any output cap
/// the executor is configured with (the answer repeats the output, within its caps).
pub const MAX_STREAMED_OUTPUT: usize = 64 * 1024 * 1024;

/// One record of a streamed answer (`edgerun_protocol::RECORD_STDOUT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Output bytes, as written (cut anywhere).
    Output(super::sse::Out, Vec<u8>),
    /// The answer's JSON header; the tar follows.
    Answer(Vec<u8>),
    /// The run failed after its output began: the error's body (`{"error", "code"}`).
    Error(Vec<u8>),
}

/// Reads the records of a streamed answer as its chunks arrive, untrusting: an unknown tag, an
/// output over [`MAX_STREAMED_OUTPUT`] or an answer header over [`MAX_HEADER_BYTES`] is refused.
#[derive(Debug, Default)]
pub struct Records {
    buf: Vec<u8>,
    streamed: usize,
    answered: bool,
}

impl Records {
    /// The records `chunk` completes; after the answer record, the rest is the tar's
    /// ([`Records::rest`]).
    pub fn push(&mut self, chunk: &[u8]) -> ApiResult<Vec<Record>> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut at = 0;
        while !self.answered && self.buf.len() >= at + 5 {
            let tag = self.buf[at];
            let len = u32::from_be_bytes([self.buf[at + 1], self.buf[at + 2], self.buf[at + 3], self.buf[at + 4]]) as usize;
            let limit = match tag {
                edgerun_protocol::RECORD_STDOUT | edgerun_protocol::RECORD_STDERR | edgerun_protocol::RECORD_LOG => {
                    MAX_STREAMED_OUTPUT - self.streamed
                }
                edgerun_protocol::RECORD_ANSWER => MAX_HEADER_BYTES,
                edgerun_protocol::RECORD_ERROR => MAX_ERROR_BODY,
                t => return Err(refused(format!("a streamed record of unknown kind {t}"))),
            };
            if len > limit {
                return Err(refused(format!("a streamed record of {len} bytes, over its limit")));
            }
            if self.buf.len() < at + 5 + len {
                break;
            }
            let bytes = self.buf[at + 5..at + 5 + len].to_vec();
            at += 5 + len;
            out.push(match tag {
                edgerun_protocol::RECORD_STDOUT => {
                    self.streamed += len;
                    Record::Output(super::sse::Out::Stdout, bytes)
                }
                edgerun_protocol::RECORD_STDERR => {
                    self.streamed += len;
                    Record::Output(super::sse::Out::Stderr, bytes)
                }
                edgerun_protocol::RECORD_LOG => {
                    self.streamed += len;
                    Record::Output(super::sse::Out::Log, bytes)
                }
                edgerun_protocol::RECORD_ANSWER => {
                    self.answered = true;
                    Record::Answer(bytes)
                }
                _ => {
                    self.answered = true;
                    Record::Error(bytes)
                }
            });
        }
        self.buf.drain(..at);
        Ok(out)
    }

    /// Whether the answer record came.
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// What came after the answer record (the start of the tar).
    pub fn rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::MAX_PATH_BYTES;
    use crate::core::index::{is_upload_key, pack_key, rows_from_delta};
    use edgerun_protocol::{Entry, PackEntry};

    const H: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn file(path: &str, size: u64, offset: u64) -> PackEntry {
        PackEntry {
            entry: Entry { path: path.into(), kind: EntryKind::File, mode: 0o644, mtime_ns: 1, size, hash: H.into(), target: None },
            offset,
        }
    }
    fn dir(path: &str) -> PackEntry {
        PackEntry {
            entry: Entry { path: path.into(), kind: EntryKind::Dir, mode: 0o755, mtime_ns: 1, size: 0, hash: String::new(), target: None },
            offset: 0,
        }
    }
    fn link(path: &str, target: &str) -> PackEntry {
        let hash = blake3::hash(target.as_bytes()).to_hex().to_string();
        PackEntry {
            entry: Entry {
                path: path.into(),
                kind: EntryKind::Symlink,
                mode: 0o777,
                mtime_ns: 1,
                size: 0,
                hash,
                target: Some(target.into()),
            },
            offset: 0,
        }
    }
    /// What the executor's tar builder produces: dir `d`, file `d/a` (3 bytes), link `l`, file `b`
    /// (600 bytes), trailer.
    fn good() -> Delta {
        Delta {
            base: Some("0123456789abcdef0123456789abcdef".into()),
            version: "fedcba9876543210fedcba9876543210".into(),
            entries: vec![dir("d"), file("d/a", 3, 1024), link("l", "d/a"), file("b", 600, 2560)],
            deleted: vec!["gone.txt".into(), ".sandbox/old".into()],
            tar_len: 2560 + 1024 + 1024,
        }
    }
    fn answer(d: Delta) -> RunAnswer {
        RunAnswer {
            result: RunResult { duration_ms: 12.5, data: Some(serde_json::json!({"k": 1})), ..Default::default() },
            delta: d,
            held_checkpoints: false,
        }
    }
    fn refused_with(d: &Delta, needle: &str) {
        let e = check_delta(d).expect_err(&format!("accepted {d:?}"));
        assert_eq!(e.code, ErrorCode::SandboxFailed);
        assert_eq!(e.status(), 502);
        assert!(e.message.contains(needle), "{:?} lacks {needle:?}", e.message);
    }

    #[test]
    fn what_the_executor_sends_is_accepted() {
        check_delta(&good()).unwrap();
        check_run_answer(&answer(good()), Some("0123456789abcdef0123456789abcdef")).unwrap();
        // Nothing kept, nothing changed, deletions only, the runtime's own directory.
        check_delta(&Delta { version: String::new(), ..Default::default() }).unwrap();
        check_delta(&Delta { version: "abc".into(), deleted: vec!["x".into()], ..Default::default() }).unwrap();
        check_delta(&Delta {
            version: "abc".into(),
            entries: vec![file(".sandbox/go/bin/x", 0, 512)],
            tar_len: 2048,
            ..Default::default()
        })
        .unwrap();
        // A first run (no base) and an upload version as the base.
        check_run_answer(&answer(Delta { base: None, ..good() }), None).unwrap();
        check_run_answer(&answer(Delta { base: Some("u0123".into()), ..good() }), Some("u0123")).unwrap();
    }

    #[test]
    fn a_real_tar_index_is_accepted() {
        // Offsets as the tar crate lays them out, long names included (GNU long-name records).
        let long = format!("{}/{}/f.txt", "n".repeat(200), "m".repeat(200));
        let d = Delta {
            base: None,
            version: "v1".into(),
            entries: vec![file("a", 0, 512), file("b", 1, 1024), file(&long, 513, 1536 + 512 + 512 + 512)],
            deleted: vec![],
            tar_len: 3072 + 1024 + 1024,
        };
        check_delta(&d).unwrap();
    }

    #[test]
    fn hostile_paths_are_refused() {
        for p in [
            "../x",
            "a/../../b",
            "/etc/passwd",
            "",
            "a//b",
            "./a",
            "a/.",
            "a\\b",
            "a\0b",
            ".session_data.json",
            &"x".repeat(MAX_PATH_BYTES + 1),
        ] {
            let mut d = good();
            d.entries[1].entry.path = p.to_string();
            assert!(check_delta(&d).is_err(), "entry path {p:?} accepted");
            let mut d = good();
            d.deleted.push(p.to_string());
            assert!(check_delta(&d).is_err(), "deleted path {p:?} accepted");
        }
        refused_with(&Delta { deleted: vec!["..".into()], ..good() }, "deleted path");
    }

    #[test]
    fn byte_ranges_must_lie_inside_the_pack_where_tar_puts_them() {
        let mut d = good();
        d.entries[3].entry.size = 10_000; // runs past the body
        refused_with(&d, "outside");
        let mut d = good();
        d.entries[3].offset = u64::MAX - 10; // overflows
        refused_with(&d, "outside");
        let mut d = good();
        d.entries[1].offset = 1000; // not aligned
        refused_with(&d, "offset");
        let mut d = good();
        d.entries[1].offset = 0; // no room for its header
        refused_with(&d, "offset");
        let mut d = good();
        d.entries[3].offset = 1024; // overlaps d/a
        refused_with(&d, "offset");
        let mut d = good();
        d.entries[2].offset = 512; // a link with content
        refused_with(&d, "claims content");
        let mut d = good();
        d.entries[0].entry.size = 5;
        refused_with(&d, "claims content");
        refused_with(&Delta { tar_len: 4000, ..good() }, "512-byte blocks");
        refused_with(&Delta { tar_len: 1 << 40, ..good() }, "cannot hold");
        refused_with(&Delta { tar_len: 0, ..good() }, "entries in a body");
        refused_with(&Delta { entries: vec![], tar_len: 4096, ..good() }, "entries in a body");
    }

    #[test]
    fn counts_sizes_and_duplicates_are_bounded() {
        let many = Delta {
            version: "v".into(),
            entries: (0..MAX_WORKSPACE_FILES + 1).map(|i| dir(&format!("d{i}"))).collect(),
            tar_len: 512,
            ..Default::default()
        };
        refused_with(&many, "entries, over the limit");
        let many =
            Delta { version: "v".into(), deleted: (0..MAX_WORKSPACE_FILES + 1).map(|i| format!("d{i}")).collect(), ..Default::default() };
        refused_with(&many, "deleted paths, over");
        let mut d = good();
        d.entries[3].entry.path = "d/a".into();
        refused_with(&d, "twice");
        refused_with(&Delta { deleted: vec!["x".into(), "x".into()], ..good() }, "twice");
        refused_with(&Delta { deleted: vec!["b".into()], ..good() }, "both changed and deleted");
        let mut d = good();
        d.entries[3].entry.path = "d/a/under-a-file".into();
        refused_with(&d, "below a non-directory");
        let big = Delta {
            version: "v".into(),
            entries: vec![file("a", MAX_WORKSPACE_BYTES + 1, 512)],
            tar_len: MAX_WORKSPACE_BYTES + 4096,
            ..Default::default()
        };
        refused_with(&big, "claims");
        let mut d = good();
        d.entries[1].entry.mode = 0o17777;
        refused_with(&d, "mode");
    }

    #[test]
    fn hashes_links_and_kinds_are_consistent() {
        for h in ["", "xyz", &H[..63], &H.to_uppercase(), &format!("{}g", &H[..63])] {
            let mut d = good();
            d.entries[1].entry.hash = h.to_string();
            refused_with(&d, "hash");
        }
        let mut d = good();
        d.entries[1].entry.target = Some("x".into());
        refused_with(&d, "link target");
        let mut d = good();
        d.entries[0].entry.hash = H.into();
        refused_with(&d, "directory");
        for t in ["", "/etc/passwd", "../../x", "d/../../x", "a\0b", &"x".repeat(MAX_TARGET_BYTES + 1)] {
            let d = Delta { entries: vec![dir("d"), file("d/a", 3, 1024), link("l", t), file("b", 600, 2560)], ..good() };
            refused_with(&d, "link");
        }
        let mut d = good();
        d.entries[2].entry.target = None;
        refused_with(&d, "link");
        let mut d = good();
        d.entries[2].entry.hash = H.into();
        refused_with(&d, "not its target's");
        // In-workspace targets with `..` that stay inside are fine.
        check_delta(&Delta { entries: vec![dir("d"), file("d/a", 3, 1024), link("d/l", "../b"), file("b", 600, 2560)], ..good() }).unwrap();
    }

    #[test]
    fn versions_are_bounded_and_cannot_shape_keys() {
        for v in ["../../packs/other/x", "a/b", "x-upload-y", "ABC", "v 1", &"a".repeat(65), "é"] {
            refused_with(&Delta { version: v.to_string(), ..good() }, "version");
            refused_with(&Delta { base: Some(v.to_string()), ..good() }, "base version");
        }
        refused_with(&Delta { version: String::new(), ..good() }, "without a version");
        // A checked version keeps the key under the session's prefix and never an upload's.
        for v in ["0123abcd", "u1", "z"] {
            assert!(version_problem(v).is_none());
            let key = pack_key("sess-a", 7, v, "00ff");
            assert!(key.starts_with("packs/sess-a/"));
            assert_eq!(key.matches('/').count(), 2);
            assert!(!is_upload_key(&key));
        }
        // Rows always point at the key the Worker chose.
        let rows = rows_from_delta(&good(), "packs/mine/0000000001-v");
        assert!(rows.iter().all(|r| r.pack.is_empty() || r.pack == "packs/mine/0000000001-v"));
    }

    #[test]
    fn run_results_are_sane() {
        let ok = answer(good());
        let base = Some("0123456789abcdef0123456789abcdef");
        let bad = |f: &dyn Fn(&mut RunResult)| {
            let mut a = ok.clone();
            f(&mut a.result);
            let e = check_run_answer(&a, base).expect_err("accepted");
            assert_eq!(e.code, ErrorCode::SandboxFailed);
        };
        bad(&|r| r.duration_ms = f64::NAN);
        bad(&|r| r.duration_ms = -1.0);
        bad(&|r| r.duration_ms = 1e12);
        bad(&|r| r.cpu_ms = Some(f64::NAN));
        bad(&|r| r.cpu_ms = Some(-1.0));
        bad(&|r| r.exit_code = 256);
        bad(&|r| r.exit_code = i32::MIN);
        bad(&|r| r.signal = Some("SIG\nKILL".into()));
        bad(&|r| r.signal = Some("x".repeat(33)));
        bad(&|r| r.stdout = "x".repeat(MAX_TEXT_BYTES + 1));
        bad(&|r| r.logs = vec![String::new(); MAX_LOG_LINES + 1]);
        bad(&|r| r.data = Some(serde_json::json!([1, 2])));
        bad(&|r| r.data = Some(serde_json::json!("s")));
        bad(&|r| r.data = Some(serde_json::json!({"big": "x".repeat(MAX_DATA_BYTES)})));
        // The delta must start where the run did.
        assert!(check_run_answer(&ok, Some("another")).is_err());
        assert!(check_run_answer(&ok, None).is_err());
        // A run that kept nothing may say any base.
        check_run_answer(&answer(Delta { base: Some("x1".into()), version: String::new(), ..Default::default() }), None).unwrap();
        assert!(is_storable_data(&serde_json::json!({})));
        assert!(!is_storable_data(&serde_json::json!(null)));
    }

    #[test]
    fn snapshots_must_be_whole_and_of_the_asked_version() {
        let snap = Delta { base: None, deleted: vec![], ..good() };
        check_snapshot(&snap, &snap.version, snap.tar_len).unwrap();
        assert!(check_snapshot(&snap, "other", snap.tar_len).is_err());
        assert!(check_snapshot(&snap, &snap.version, snap.tar_len + 512).is_err());
        assert!(check_snapshot(&Delta { base: Some("b".into()), ..snap.clone() }, &snap.version, snap.tar_len).is_err());
        assert!(check_snapshot(&Delta { deleted: vec!["x".into()], ..snap.clone() }, &snap.version, snap.tar_len).is_err());
        let mut hostile = snap.clone();
        hostile.entries[1].entry.path = "../escape".into();
        assert!(check_snapshot(&hostile, &snap.version, snap.tar_len).is_err());
    }

    #[test]
    fn headers_and_error_bodies_are_bounded() {
        assert_eq!(header_len(100u32.to_be_bytes()).unwrap(), 100);
        assert!(header_len(u32::MAX.to_be_bytes()).is_err());
        let long = serde_json::json!({"error": "e".repeat(100_000), "code": "internal"}).to_string();
        let e = sandbox_error(500, long.as_bytes());
        assert!(e.message.len() <= MAX_ERROR_MESSAGE + 4);
        assert_eq!(sandbox_error(500, b"\xff\xfe").code, ErrorCode::SandboxFailed);
    }

    #[test]
    fn streamed_records_are_read_across_any_cut() {
        use edgerun_protocol::{record, RECORD_ANSWER, RECORD_STDERR, RECORD_STDOUT};
        let mut body = record(RECORD_STDOUT, b"hello ");
        body.extend(record(RECORD_STDERR, "é".as_bytes()));
        body.extend(record(RECORD_STDOUT, b""));
        body.extend(record(RECORD_ANSWER, br#"{"a":1}"#));
        body.extend(b"TARBYTES");
        for cut in 0..body.len() {
            let mut r = Records::default();
            let mut got = r.push(&body[..cut]).unwrap();
            got.extend(r.push(&body[cut..]).unwrap());
            assert_eq!(
                got,
                vec![
                    Record::Output(crate::core::sse::Out::Stdout, b"hello ".to_vec()),
                    Record::Output(crate::core::sse::Out::Stderr, "é".as_bytes().to_vec()),
                    Record::Output(crate::core::sse::Out::Stdout, vec![]),
                    Record::Answer(br#"{"a":1}"#.to_vec()),
                ],
                "cut at {cut}"
            );
            assert!(r.answered());
            assert_eq!(r.rest(), b"TARBYTES");
        }
    }

    #[test]
    fn hostile_streams_are_refused() {
        use edgerun_protocol::record;
        assert!(Records::default().push(&record(9, b"x")).is_err(), "an unknown kind");
        let mut r = Records::default();
        let err = r.push(&record(edgerun_protocol::RECORD_ERROR, br#"{"error":"e","code":"internal"}"#)).unwrap();
        assert_eq!(err, vec![Record::Error(br#"{"error":"e","code":"internal"}"#.to_vec())]);
        assert!(r.answered(), "an error ends the stream too");
        let mut huge = vec![edgerun_protocol::RECORD_STDOUT];
        huge.extend(((MAX_STREAMED_OUTPUT + 1) as u32).to_be_bytes());
        assert!(Records::default().push(&huge).is_err(), "refused from its length, before its bytes");
        let mut r = Records::default();
        let chunk = record(edgerun_protocol::RECORD_STDERR, &vec![b'x'; 1 << 20]);
        for _ in 0..64 {
            r.push(&chunk).unwrap();
        }
        assert!(r.push(&chunk).is_err(), "the total is bounded too");
    }
}
