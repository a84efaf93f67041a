//! Workspace manifests, deltas and injects.
//!
//! A manifest lists every entry of a workspace (path, kind, mode, mtime, size, blake3 hash). A
//! delta against a base manifest carries the added and changed entries as one uncompressed tar
//! body plus an index of where each file's bytes sit in it, so the Worker can store the body as
//! one R2 object and later read a single file by byte range. Unchanged files are recognised by
//! size, mode and mtime without being read, except when their mtime is too close to the base
//! scan to be trusted (a same-size rewrite within one mtime tick), in which case they are hashed.
//!
//! Injects are treated as hostile input: every path is checked, links must stay inside the
//! workspace, only files, directories and symlinks are accepted, and sizes are bounded. A full
//! inject builds the new tree beside the old one and swaps it in with renames, so a failed or
//! interrupted inject leaves the previous workspace as it was ([`recover`] finishes the job at
//! start-up).

use edgerun_protocol::{Delta, Entry, EntryKind, PackEntry, Segment, DATA_FILE};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest workspace path the API takes.
pub const MAX_PATH_BYTES: usize = 4096;

/// Files whose mtime lies within this window before the base scan are re-hashed.
const MTIME_TRUST_WINDOW_NS: i64 = 2_000_000_000;

/// A manifest plus the moment it was taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    /// The version it describes: [`manifest_version`] of a scan, or what an inject or apply named.
    pub version: String,
    /// When the scan began, nanoseconds since the epoch; files modified less than 2 s before it
    /// are hashed again by the next scan instead of trusted by their mtime.
    pub scanned_at_ns: i64,
    /// Every entry of the workspace, by workspace-relative path.
    pub entries: BTreeMap<String, Entry>,
}

/// Limits applied to injects.
#[derive(Debug, Clone, Copy)]
pub struct InjectLimits {
    /// Largest single file, in bytes (the executor uses its file-size limit, at least 100 MiB).
    pub max_file_bytes: u64,
    /// Largest sum of the manifest's file sizes, in bytes (the session's workspace limit).
    pub max_total_bytes: u64,
    /// Most entries the manifest may list (the session's entry limit).
    pub max_entries: u64,
}

/// Why an inject or apply failed: refused input answers `bad_request`, I/O `internal`.
#[derive(Debug)]
pub enum SyncError {
    /// The input is refused (hostile or inconsistent archive, bad path).
    Refused(String),
    /// A filesystem operation failed.
    Io(io::Error),
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Refused(m) => write!(f, "{m}"),
            SyncError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl From<io::Error> for SyncError {
    fn from(e: io::Error) -> Self {
        SyncError::Io(e)
    }
}

fn refused<T>(msg: impl Into<String>) -> Result<T, SyncError> {
    Err(SyncError::Refused(msg.into()))
}

/// Now, in nanoseconds since the epoch (0 if the clock says before it).
pub fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

fn mtime_ns(md: &fs::Metadata) -> i64 {
    md.mtime() * 1_000_000_000 + md.mtime_nsec()
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut f = crate::confine::open_regular(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Checks a workspace-relative path: `/`-separated, no empty, `.` or `..` segments, no NUL or
/// backslash, not absolute.
pub fn check_rel_path(p: &str) -> Result<(), SyncError> {
    if p.is_empty() || p.len() > MAX_PATH_BYTES || p.starts_with('/') || p.contains('\0') || p.contains('\\') {
        return refused(format!("refused path {p:?}: must be relative, without NUL or backslash"));
    }
    if p.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return refused(format!("refused path {p:?}: empty, '.' or '..' segment"));
    }
    Ok(())
}

/// Whether a symlink at `link_path` (workspace-relative) with `target` resolves inside the
/// workspace, lexically (no other link considered; see [`check_link`]).
pub fn link_stays_inside(link_path: &str, target: &str) -> bool {
    check_link(link_path, target, |_| None).is_ok()
}

/// Checks a symlink by how it resolves, not by its text: walking `target` from the link's
/// directory, it must never climb above the workspace and never pass *through* another link
/// (`kind_of` tells what a workspace path is). Its last component may be a link: that link is
/// checked on its own, so a chain resolves inside link by link. A chain such as `a -> .` with
/// `b -> a/a/../..` is refused, though its text alone stays inside.
pub fn check_link(link_path: &str, target: &str, kind_of: impl Fn(&str) -> Option<EntryKind>) -> Result<(), String> {
    if target.is_empty() || target.starts_with('/') || target.contains('\0') || target.len() > 4096 {
        return Err(format!("symlink {link_path} -> {target:?}: empty, absolute or too long"));
    }
    let mut at: Vec<&str> = link_path.split('/').collect();
    at.pop();
    let comps: Vec<Component> = Path::new(target).components().filter(|c| *c != Component::CurDir).collect();
    for (i, comp) in comps.iter().enumerate() {
        match comp {
            Component::Normal(s) => {
                at.push(s.to_str().unwrap_or("\u{0}"));
                if i + 1 < comps.len() && kind_of(&at.join("/")) == Some(EntryKind::Symlink) {
                    return Err(format!("symlink {link_path} -> {target}: passes through the link {}", at.join("/")));
                }
            }
            Component::ParentDir => {
                if at.pop().is_none() {
                    return Err(format!("symlink {link_path} -> {target}: resolves outside the workspace"));
                }
            }
            _ => return Err(format!("symlink {link_path} -> {target}: not a relative path")),
        }
    }
    Ok(())
}

/// Links of `entries` that fail [`check_link`] against the others, with the reason.
pub fn bad_links(entries: &BTreeMap<String, Entry>) -> Vec<(String, String)> {
    let kind_of = |p: &str| entries.get(p).map(|e| e.kind);
    entries
        .values()
        .filter(|e| e.kind == EntryKind::Symlink)
        .filter_map(|e| check_link(&e.path, e.target.as_deref().unwrap_or(""), kind_of).err().map(|why| (e.path.clone(), why)))
        .collect()
}

/// What a scan found but does not keep, and why; counted against the workspace limits all the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unkept {
    /// (path as far as it can be shown, reason)
    pub entries: Vec<(String, String)>,
    /// Bytes of what is not kept, a directory's contents included where they can be read.
    pub bytes: u64,
    /// Entries not kept, a readable directory's contents included; all are counted, only the
    /// first 20 are listed.
    pub count: u64,
}

impl Unkept {
    /// Adds what another part of the same scan did not keep.
    fn merge(&mut self, other: Unkept) {
        self.bytes += other.bytes;
        self.count += other.count;
        let room = 20usize.saturating_sub(self.entries.len());
        self.entries.extend(other.entries.into_iter().take(room));
    }

    fn add(&mut self, path: String, why: impl Into<String>, bytes: u64, count: u64) {
        self.bytes += bytes;
        self.count += count;
        if self.entries.len() < 20 {
            self.entries.push((path, why.into()));
        }
    }

    /// One line per reason for the run's stderr, or nothing.
    pub fn note(&self) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let mut s = format!("\n[edgerun] {} entries ({} bytes) of the workspace are not kept:\n", self.count, self.bytes);
        for (p, why) in &self.entries {
            s.push_str(&format!("[edgerun]   {p}: {why}\n"));
        }
        Some(s)
    }
}

/// Longest name the filesystem holds, in bytes (Linux `NAME_MAX`).
pub const NAME_MAX_BYTES: usize = 255;

/// Longest path a system call takes, in bytes, the terminating NUL included (Linux `PATH_MAX`).
pub const PATH_MAX_BYTES: usize = 4096;

/// Entries of a snapshot or an apply that the filesystem cannot hold, left out of the workspace
/// (a name over [`NAME_MAX_BYTES`], a path that reaches [`PATH_MAX_BYTES`] below the tree
/// the executor works from, or a name the filesystem refuses), with the reason. They stay the
/// session's: the executor keeps them in its manifest, so a run neither deletes nor rewrites them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    /// The entries, in path order, each with why it was left out.
    pub entries: Vec<(Entry, String)>,
}

impl Skipped {
    fn add(&mut self, e: &Entry, why: impl Into<String>) {
        self.entries.push((e.clone(), why.into()));
    }

    /// Whether nothing was left out.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// One line per entry (the first 20) for the run's stderr, or nothing.
    pub fn note(&self) -> Option<String> {
        if self.entries.is_empty() {
            return None;
        }
        let mut s = format!(
            "\n[edgerun] {} of the session's stored entries cannot be placed in the workspace and were skipped (they stay stored; rename or delete them through the files API):\n",
            self.entries.len()
        );
        for (e, why) in self.entries.iter().take(20) {
            let shown: String = if e.path.len() > 80 {
                format!("{}… ({} bytes)", &e.path[..e.path.floor_char_boundary(60)], e.path.len())
            } else {
                e.path.clone()
            };
            s.push_str(&format!("[edgerun]   {shown}: {why}\n"));
        }
        Some(s)
    }
}

/// Whether `rel` can be created under `root`: every name at most [`NAME_MAX_BYTES`], the whole
/// path, `root` included, shorter than [`PATH_MAX_BYTES`] (the executor passes `.`, working from
/// inside the workspace, so that only `./` counts besides `rel`). `Err` says which limit it passes.
pub fn fits(root: &Path, rel: &str) -> Result<(), String> {
    if let Some(seg) = rel.split('/').find(|s| s.len() > NAME_MAX_BYTES) {
        return Err(format!("a name of {} bytes; the filesystem holds names of at most {NAME_MAX_BYTES} bytes", seg.len()));
    }
    let room = (PATH_MAX_BYTES - 1).saturating_sub(root.as_os_str().len() + 1);
    if rel.len() > room {
        return Err(format!(
            "a path of {} bytes; the system takes paths of at most {} bytes, which leaves {room} for paths here",
            rel.len(),
            PATH_MAX_BYTES - 1
        ));
    }
    Ok(())
}

/// Whether an error is the filesystem refusing a name (too long, invalid for it), rather than
/// a failure of the disk or of permissions.
fn refuses_name(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENAMETOOLONG) | Some(libc::EINVAL) | Some(libc::EILSEQ))
}

/// [`scan_report`] without the report.
pub fn scan(root: &Path, base: Option<&Manifest>) -> io::Result<Manifest> {
    scan_report(root, base).map(|(m, _)| m)
}

/// Scans `root`, reusing hashes from `base` where size, mode and mtime prove a file unchanged,
/// and reports what it cannot keep: names that are not UTF-8 (not representable on the wire),
/// links that leave the workspace or pass through other links, entries the user made unreadable.
/// Those still count against the limits (their bytes and entries are in [`Unkept`]).
pub fn scan_report(root: &Path, base: Option<&Manifest>) -> io::Result<(Manifest, Unkept)> {
    let scanned_at_ns = now_ns();
    let mut found = Vec::new();
    let mut unkept = Unkept::default();
    let mut dirs = Vec::new();
    // The top directory here; what lies below it by two threads (a workspace of a few files
    // starts none).
    scan_dir(root, "", base, &mut found, &mut unkept, &mut dirs)?;
    if !dirs.is_empty() {
        let queue = ScanQueue { state: std::sync::Mutex::new((dirs, 0, None)), more: std::sync::Condvar::new() };
        let parts: Vec<(Vec<(String, Entry)>, Unkept)> = std::thread::scope(|scope| {
            // Threads share the calling thread's current directory and filesystem identity (see
            // [`Written::start`]).
            let helpers: Vec<_> = (1..SCAN_THREADS).map(|_| scope.spawn(|| queue.work(base))).collect();
            let mut parts = vec![queue.work(base)];
            parts.extend(helpers.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))));
            parts
        });
        if let Some(e) = queue.state.into_inner().unwrap_or_else(|e| e.into_inner()).2 {
            return Err(e);
        }
        for (f, u) in parts {
            found.extend(f);
            unkept.merge(u);
        }
        unkept.entries.sort();
    }
    let mut entries: BTreeMap<String, Entry> = found.into_iter().collect();
    // Links are judged by how they resolve, against the whole tree; refused ones are not kept.
    for (path, why) in bad_links(&entries) {
        entries.remove(&path);
        unkept.add(path, why, 0, 1);
    }
    let version = manifest_version(&entries);
    Ok((Manifest { version, scanned_at_ns, entries }, unkept))
}

/// Threads that scan a workspace's directories (the machines this runs on have two cores; a
/// warm run's scan of 10,000 files is most of what the executor adds to it).
const SCAN_THREADS: usize = 2;

/// Directories still to scan, how many threads are scanning one, and the first failure.
type ScanState = (Vec<(PathBuf, String)>, usize, Option<io::Error>);

struct ScanQueue {
    state: std::sync::Mutex<ScanState>,
    more: std::sync::Condvar,
}

impl ScanQueue {
    /// Scans directories from the queue until none is left and no thread is scanning one (which
    /// could add more), or one failed; answers what this thread found.
    fn work(&self, base: Option<&Manifest>) -> (Vec<(String, Entry)>, Unkept) {
        let (mut found, mut unkept) = (Vec::new(), Unkept::default());
        loop {
            let (dir, rel) = {
                let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if st.2.is_some() {
                        return (found, unkept);
                    }
                    if let Some(job) = st.0.pop() {
                        st.1 += 1;
                        break job;
                    }
                    if st.1 == 0 {
                        return (found, unkept);
                    }
                    st = self.more.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            };
            let mut below = Vec::new();
            let r = scan_dir(&dir, &rel, base, &mut found, &mut unkept, &mut below);
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.1 -= 1;
            match r {
                Ok(()) => st.0.extend(below),
                Err(e) => {
                    st.2.get_or_insert(e);
                }
            }
            self.more.notify_all();
        }
    }
}

/// Scans the entries of one directory `dir` (at `rel` in the workspace) into `found`, what is
/// not kept into `unkept`, and its subdirectories into `below`. Each entry's metadata is read
/// through the directory's descriptor, not by its whole path.
fn scan_dir(
    dir: &Path,
    rel: &str,
    base: Option<&Manifest>,
    found: &mut Vec<(String, Entry)>,
    unkept: &mut Unkept,
    below: &mut Vec<(PathBuf, String)>,
) -> io::Result<()> {
    let listing = match fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if !rel.is_empty() && e.kind() == io::ErrorKind::PermissionDenied => {
            unkept.add(rel.to_string(), "its contents cannot be read by the session's user", 0, 0);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let dir_len = dir.as_os_str().len();
    for item in listing {
        let item = item?;
        let raw_name = item.file_name();
        if dir_len + 1 + raw_name.len() >= PATH_MAX_BYTES {
            // Too long a path for the system calls that would read it.
            let shown = format!("{rel}/{}", raw_name.to_string_lossy());
            let why = format!("its path passes the system's limit of {} bytes", PATH_MAX_BYTES - 1);
            unkept.add(shown.trim_start_matches('/').chars().take(200).collect(), why, 0, 1);
            continue;
        }
        let md = match item.metadata() {
            Ok(md) => md,
            Err(_) => continue, // gone since the listing
        };
        let name = match raw_name.into_string() {
            Ok(n) => n,
            Err(raw) => {
                let shown = format!("{rel}/{}", raw.to_string_lossy());
                let (bytes, count) = if md.is_dir() { crate::confine::usage(&item.path()) } else { (md.len(), 0) };
                unkept.add(shown.trim_start_matches('/').to_string(), "the name is not UTF-8", bytes, count + 1);
                continue;
            }
        };
        let backslash = name.contains('\\');
        let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        if path == DATA_FILE {
            continue;
        }
        if backslash || path.len() > MAX_PATH_BYTES {
            // Not a path the API can name (the Worker and injects refuse them).
            let (bytes, count) = if md.is_dir() { crate::confine::usage(&item.path()) } else { (md.len(), 0) };
            let why = if path.len() > MAX_PATH_BYTES { "the path is longer than 4096 bytes" } else { "the name holds a backslash" };
            unkept.add(path.chars().take(200).collect(), why, bytes, count + 1);
            continue;
        }
        let ft = md.file_type();
        let mode = md.permissions().mode() & 0o7777;
        let mtime = mtime_ns(&md);
        if ft.is_dir() {
            below.push((item.path(), path.clone()));
            found.push((
                path.clone(),
                Entry { path, kind: EntryKind::Dir, mode, mtime_ns: mtime, size: 0, hash: String::new(), target: None },
            ));
        } else if ft.is_symlink() {
            let target = fs::read_link(item.path())?;
            let Some(target) = target.to_str().map(str::to_string) else {
                unkept.add(path, "the link's target is not UTF-8", 0, 1);
                continue;
            };
            let hash = blake3::hash(target.as_bytes()).to_hex().to_string();
            found.push((
                path.clone(),
                Entry { path, kind: EntryKind::Symlink, mode: 0o777, mtime_ns: mtime, size: 0, hash, target: Some(target) },
            ));
        } else if ft.is_file() {
            let size = md.len();
            let reuse = base.and_then(|b| {
                let old = b.entries.get(&path)?;
                let trusted = mtime < b.scanned_at_ns - MTIME_TRUST_WINDOW_NS;
                (old.kind == EntryKind::File && old.size == size && old.mtime_ns == mtime && trusted).then(|| old.hash.clone())
            });
            let hash = match reuse {
                Some(h) => h,
                None => match hash_file(&item.path()) {
                    Ok(h) => h,
                    Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP) => continue,
                    Err(e) if matches!(e.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidData) => {
                        unkept.add(path, "the session's user cannot read it", size, 1);
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            found.push((path.clone(), Entry { path, kind: EntryKind::File, mode, mtime_ns: mtime, size, hash, target: None }));
        }
        // sockets, fifos and devices are not persisted
    }
    Ok(())
}

/// A version id derived from the content of a manifest.
pub fn manifest_version(entries: &BTreeMap<String, Entry>) -> String {
    let mut h = blake3::Hasher::new();
    for e in entries.values() {
        h.update(e.path.as_bytes());
        h.update(&[0, e.kind as u8]);
        h.update(&e.mode.to_le_bytes());
        h.update(&e.mtime_ns.to_le_bytes());
        h.update(e.hash.as_bytes());
        h.update(&[0]);
    }
    h.finalize().to_hex()[..32].to_string()
}

/// The entries of `current` that are new or changed against `base`, and the paths of `base`
/// that `current` no longer has: one pass over both (they are sorted alike), in path order.
fn diff<'a>(base: &'a BTreeMap<String, Entry>, current: &'a BTreeMap<String, Entry>) -> (Vec<&'a Entry>, Vec<&'a String>) {
    let (mut changed, mut deleted) = (Vec::new(), Vec::new());
    let (mut old, mut new) = (base.iter().peekable(), current.iter().peekable());
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some((p, _)), None) => {
                deleted.push(*p);
                old.next();
            }
            (None, Some((_, e))) => {
                changed.push(*e);
                new.next();
            }
            (Some((po, eo)), Some((pn, en))) => match po.cmp(pn) {
                std::cmp::Ordering::Less => {
                    deleted.push(*po);
                    old.next();
                }
                std::cmp::Ordering::Greater => {
                    changed.push(*en);
                    new.next();
                }
                std::cmp::Ordering::Equal => {
                    if entry_changed(eo, en) {
                        changed.push(*en);
                    }
                    old.next();
                    new.next();
                }
            },
        }
    }
    (changed, deleted)
}

fn entry_changed(old: &Entry, new: &Entry) -> bool {
    old.kind != new.kind || old.mode != new.mode || old.mtime_ns != new.mtime_ns || old.hash != new.hash || old.size != new.size
}

/// Whether `path` is `prefix` or lies under it.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Holds back the changes under `prefix` (context checkpoints) when they are the only changes
/// from `base`: their entries go back to what `base` says (dropped where it has none), so that the
/// delta is empty and the run costs no write. Answers whether anything was held: the disk then
/// differs from the manifest under `prefix`, which the next scan that holds nothing finds (the
/// entries it holds have their old size or mtime, so it hashes them again). Changes elsewhere are
/// committed anyway, and the ones under `prefix` go with them.
pub fn hold_back(current: &mut Manifest, base: &Manifest, prefix: &str) -> bool {
    let (changed, deleted) = diff(&base.entries, &current.entries);
    let (mut held, mut other) = (false, false);
    for p in changed.iter().map(|e| &e.path).chain(deleted) {
        *(if under(p, prefix) { &mut held } else { &mut other }) = true;
    }
    if other || !held {
        return false;
    }
    current.entries.retain(|p, _| !under(p, prefix));
    current.entries.extend(base.entries.iter().filter(|(p, _)| under(p, prefix)).map(|(p, e)| (p.clone(), e.clone())));
    current.version = base.version.clone();
    true
}

/// Builds the delta from `base` (or from nothing) to `current` in memory (tests, snapshots of
/// small workspaces, benchmarks); see [`build_delta_to`].
pub fn build_delta(root: &Path, base: Option<&Manifest>, current: &Manifest) -> io::Result<(Delta, Vec<u8>)> {
    let mut out = io::Cursor::new(Vec::new());
    let delta = build_delta_to(root, base, current, &mut out)?;
    let mut tar = out.into_inner();
    tar.truncate(delta.tar_len as usize); // an empty delta has no body (the builder pads on drop)
    Ok((delta, tar))
}

/// Builds the delta from `base` (or from nothing) to `current`: a tar of what changed, written to
/// `out` file by file (never a whole file in memory), plus its index.
pub fn build_delta_to<W: io::Write + io::Seek>(root: &Path, base: Option<&Manifest>, current: &Manifest, out: W) -> io::Result<Delta> {
    let (delta, left) = build_delta_report_to(root, base, current, out)?;
    match left.first() {
        Some(p) => Err(io::Error::other(format!("{p} changed while being extracted"))),
        None => Ok(delta),
    }
}

/// Reads as it goes into a hash of what it read.
struct Hashing<R> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: io::Read> io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// [`build_delta_to`] for a workspace that may change while it is read (a background process
/// writes in it): a file is stored as a point-in-time copy of its first `size` bytes (the size
/// the scan saw), and its entry in the delta carries the hash of the bytes stored, whatever the
/// scan hashed; a file that became shorter than the scan saw is left out of the delta and
/// answered (it is for the next commit). Answers the delta and the paths left out.
pub fn build_delta_report_to<W: io::Write + io::Seek>(
    root: &Path,
    base: Option<&Manifest>,
    current: &Manifest,
    out: W,
) -> io::Result<(Delta, Vec<String>)> {
    let mut left = Vec::new();
    let empty = BTreeMap::new();
    let base_entries = base.map(|b| &b.entries).unwrap_or(&empty);
    let (changed, deleted) = diff(base_entries, &current.entries);
    let deleted: Vec<String> = deleted.into_iter().cloned().collect();
    let mut builder = tar::Builder::new(out);
    let mut index = Vec::with_capacity(changed.len());
    for e in changed {
        let mut header = tar::Header::new_gnu();
        header.set_mode(e.mode);
        header.set_mtime((e.mtime_ns.max(0) / 1_000_000_000) as u64);
        let mut offset = 0;
        match e.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, &e.path, io::empty())?;
            }
            EntryKind::Symlink => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, &e.path, e.target.as_deref().unwrap_or(""))?;
            }
            EntryKind::File => {
                let file = crate::confine::open_regular(&root.join(&e.path))?;
                if file.metadata()?.len() < e.size {
                    left.push(e.path.clone());
                    continue;
                }
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(e.size);
                let mut reader = Hashing { inner: io::Read::take(file, e.size), hasher: blake3::Hasher::new() };
                builder.append_data(&mut header, &e.path, &mut reader)?;
                let end = builder.get_mut().stream_position()?;
                offset = end - e.size.div_ceil(512) * 512;
                let stored = reader.hasher.finalize().to_hex().to_string();
                if stored != e.hash {
                    // Written to while it was read: the copy stored is what the entry describes.
                    let mut copy = e.clone();
                    copy.hash = stored;
                    index.push(PackEntry { entry: copy, offset });
                    continue;
                }
            }
        }
        index.push(PackEntry { entry: e.clone(), offset });
    }
    let tar_len = if index.is_empty() { 0 } else { builder.into_inner()?.stream_position()? };
    Ok((Delta { base: base.map(|b| b.version.clone()), version: current.version.clone(), tar_len, entries: index, deleted }, left))
}

fn set_mtime(path: &Path, mtime_ns: i64, follow: bool) -> io::Result<()> {
    let t = UNIX_EPOCH + std::time::Duration::from_nanos(mtime_ns.max(0) as u64);
    if follow {
        fs::File::options().write(true).open(path).or_else(|_| fs::File::open(path))?.set_modified(t)
    } else {
        set_symlink_mtime(path, mtime_ns)
    }
}

fn set_symlink_mtime(path: &Path, mtime_ns: i64) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let ts = libc::timespec { tv_sec: mtime_ns / 1_000_000_000, tv_nsec: mtime_ns % 1_000_000_000 };
    let times = [ts, ts];
    // SAFETY: `c` is a valid NUL-terminated path and `times` points at two timespecs.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Applies a full snapshot (the segments of a pack list, oldest first) into an empty `staging`
/// directory, then checks it against `manifest`: files of the manifest must be present with the
/// same size and hash; anything not in the manifest is removed; modes and mtimes are set last.
/// Entries the filesystem cannot hold are left out and answered as [`Skipped`]; so is
/// everything under a directory left out.
pub fn apply_full(
    staging: &Path,
    segments: &[Segment],
    body: &[u8],
    manifest: &[Entry],
    limits: InjectLimits,
) -> Result<Skipped, SyncError> {
    let mut reader = body;
    let skipped = apply_full_from(staging, segments, &mut reader, manifest, limits)?;
    if !reader.is_empty() {
        return refused("inject body is longer than its segments say");
    }
    Ok(skipped)
}

/// Whether `path` lies under one of `dirs` (paths of directories).
fn under_any(dirs: &std::collections::BTreeSet<String>, path: &str) -> Option<String> {
    let mut at = path;
    while let Some((parent, _)) = at.rsplit_once('/') {
        if dirs.contains(parent) {
            return Some(parent.to_string());
        }
        at = parent;
    }
    None
}

/// The snapshot's entries minus those that cannot be created under `root` (and everything
/// below a directory that cannot), which go to `skipped`.
fn placeable<'a>(root: &Path, wanted: &BTreeMap<&'a str, &'a Entry>, skipped: &mut Skipped) -> BTreeMap<&'a str, &'a Entry> {
    let mut gone = std::collections::BTreeSet::new();
    let mut kept = BTreeMap::new();
    for (p, e) in wanted {
        let why = match under_any(&gone, p) {
            Some(dir) => Err(format!(
                "inside {}, which is skipped",
                if dir.len() > 80 { format!("a directory of {} bytes", dir.len()) } else { dir }
            )),
            None => fits(root, p),
        };
        match why {
            Ok(()) => {
                kept.insert(*p, *e);
            }
            Err(why) => {
                skipped.add(e, why);
                gone.insert(p.to_string());
            }
        }
    }
    kept
}

/// Files up to this size are read whole by the apply and written by its writer threads; larger
/// ones are streamed to disk by the reading thread itself, so at most
/// `WRITERS * WRITER_QUEUE * POOLED_FILE_MAX` bytes (8 MiB) wait in memory.
const POOLED_FILE_MAX: u64 = 256 * 1024;
/// Writer threads of an apply. Creating a file waits on the filesystem's journal far more than
/// it uses a core: 1,000 files of 20 KiB on this machine's disk took 161–482 ms from one thread
/// and 22–147 ms from four, in the same minutes (the disk's speed varies tenfold here).
const WRITERS: usize = 4;
const WRITER_QUEUE: usize = 8;

/// A file for a writer thread: its bytes and what it must get.
struct Job {
    full: PathBuf,
    path: String,
    mode: u32,
    mtime_ns: i64,
    bytes: Vec<u8>,
}

/// What a snapshot's apply has written so far: the directories it made or checked (each is
/// checked once, not once per file below it), and each file's size and hash as its bytes went
/// by (so nothing is read back to be verified). Small files go to writer threads, each path
/// always to the same one, so that a newer pack's copy of a file lands after the older one's.
struct Written {
    dirs: std::collections::HashSet<PathBuf>,
    files: std::collections::HashMap<String, (u64, String)>,
    /// Files the filesystem refused (a name it cannot hold), with why; the caller skips them.
    refused: Vec<(String, String)>,
    writers: Vec<std::sync::mpsc::SyncSender<Job>>,
    done: std::sync::mpsc::Receiver<(String, io::Result<(u64, String)>)>,
    outstanding: usize,
}

impl Written {
    /// Starts the writer threads in `scope`; they end when this is dropped.
    fn start<'scope>(scope: &'scope std::thread::Scope<'scope, '_>) -> Self {
        let (done_tx, done) = std::sync::mpsc::channel();
        let writers = (0..WRITERS)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(WRITER_QUEUE);
                let done_tx = done_tx.clone();
                // Writer threads share the applying thread's current directory (its own, made
                // with `unshare(CLONE_FS)`, which threads it starts share) and its filesystem
                // identity (a new thread copies its creator's credentials).
                scope.spawn(move || {
                    for job in rx {
                        let r = write_new(&job.full, job.mode, job.mtime_ns, &mut job.bytes.as_slice());
                        if done_tx.send((job.path, r)).is_err() {
                            return;
                        }
                    }
                });
                tx
            })
            .collect();
        Written { dirs: Default::default(), files: Default::default(), refused: Vec::new(), writers, done, outstanding: 0 }
    }

    /// Creates the parents of `full` as [`ensure_parent_inside`] does, skipping those already
    /// made or checked in this apply (the staging directory is the executor's, filled by it alone).
    fn parents(&mut self, root: &Path, full: &Path) -> Result<(), SyncError> {
        let parent = full.parent().unwrap_or(root);
        if parent == root || self.dirs.contains(parent) {
            return Ok(());
        }
        ensure_parent_inside(root, full)?;
        let mut at = parent;
        while at != root && self.dirs.insert(at.to_path_buf()) {
            let Some(up) = at.parent() else { break };
            at = up;
        }
        Ok(())
    }

    /// Writes `e`'s `size` bytes from `body` to a new file at `full` (whatever was at that name is
    /// unlinked, never opened): small files are read here and written by a writer thread, large
    /// ones written here, once the writers are idle (one of them may hold an older copy).
    fn file(&mut self, root: &Path, full: PathBuf, e: &Entry, size: u64, body: &mut dyn Read) -> Result<(), SyncError> {
        self.parents(root, &full)?;
        if size > POOLED_FILE_MAX {
            self.settle(0)?;
            return match write_new(&full, e.mode, e.mtime_ns, body) {
                Ok(written) => {
                    self.files.insert(e.path.clone(), written);
                    Ok(())
                }
                Err(err) => self.note(e.path.clone(), err),
            };
        }
        let mut bytes = Vec::with_capacity(size as usize);
        body.read_to_end(&mut bytes)?;
        let lane = {
            use std::hash::{BuildHasher, BuildHasherDefault};
            BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(&e.path) as usize % WRITERS
        };
        let job = Job { full, path: e.path.clone(), mode: e.mode, mtime_ns: e.mtime_ns, bytes };
        self.writers[lane].send(job).map_err(|_| io::Error::other("a writer thread of the apply ended"))?;
        self.outstanding += 1;
        // Results are taken as they come, so that the queue of answers stays short.
        while let Ok((path, r)) = self.done.try_recv() {
            self.outstanding -= 1;
            self.take(path, r)?;
        }
        Ok(())
    }

    /// Waits until at most `left` files are still with the writers.
    fn settle(&mut self, left: usize) -> Result<(), SyncError> {
        while self.outstanding > left {
            let (path, r) = self.done.recv().map_err(|_| io::Error::other("a writer thread of the apply ended"))?;
            self.outstanding -= 1;
            self.take(path, r)?;
        }
        Ok(())
    }

    fn take(&mut self, path: String, r: io::Result<(u64, String)>) -> Result<(), SyncError> {
        match r {
            Ok(written) => {
                self.files.insert(path, written);
                Ok(())
            }
            Err(err) => self.note(path, err),
        }
    }

    /// A name the filesystem refuses is noted for the caller to skip; any other failure fails.
    fn note(&mut self, path: String, err: io::Error) -> Result<(), SyncError> {
        if refuses_name(&err) {
            self.files.remove(&path);
            self.refused.push((path, format!("the filesystem refuses it ({err})")));
            Ok(())
        } else {
            Err(SyncError::Io(err))
        }
    }
}

/// Writes `body` to a new file at `full` (whatever was at that name is unlinked, never opened),
/// hashing the bytes on the way, and gives it `mode` and `mtime_ns` through the descriptor
/// still open: one open per file, no read back. Answers the size and hash written.
fn write_new(full: &Path, mode: u32, mtime_ns: i64, body: &mut dyn Read) -> io::Result<(u64, String)> {
    use std::io::Write;
    let mut f = match crate::confine::create_new(full, 0o600) {
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => fresh_file(full)?,
        r => r?,
    };
    let mut hasher = blake3::Hasher::new();
    let mut buf = [0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buf[..n]);
        f.write_all(&buf[..n])?;
        size += n as u64;
    }
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.set_modified(UNIX_EPOCH + std::time::Duration::from_nanos(mtime_ns.max(0) as u64))?;
    Ok((size, hasher.finalize().to_hex().to_string()))
}

/// [`apply_full`] reading the segments from a stream (an inject request as it arrives).
pub fn apply_full_from<R: Read>(
    staging: &Path,
    segments: &[Segment],
    body: &mut R,
    manifest: &[Entry],
    limits: InjectLimits,
) -> Result<Skipped, SyncError> {
    if manifest.len() as u64 > limits.max_entries {
        return refused(format!("workspace has {} entries, the limit is {}", manifest.len(), limits.max_entries));
    }
    let total: u64 = manifest.iter().map(|e| e.size).sum();
    if total > limits.max_total_bytes {
        return refused(format!("workspace holds {total} bytes, the limit is {}", limits.max_total_bytes));
    }
    let all: BTreeMap<&str, &Entry> = manifest.iter().map(|e| (e.path.as_str(), e)).collect();
    check_manifest(manifest, &all)?;
    let mut skipped = Skipped::default();
    let mut wanted = placeable(staging, &all, &mut skipped);
    fs::create_dir_all(staging)?;
    std::thread::scope(|scope| {
        let mut written = Written::start(scope);
        write_segments(staging, segments, body, &mut wanted, &mut skipped, &mut written, limits)?;
        written.settle(0)?;
        for (path, why) in std::mem::take(&mut written.refused) {
            if let Some(e) = wanted.remove(path.as_str()) {
                skipped.add(e, why);
            }
        }
        finish_apply(staging, &mut wanted, &mut skipped, &written.files)
    })?;
    skipped.entries.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    Ok(skipped)
}

/// The segments' files written into `staging` through `written`.
fn write_segments<R: Read>(
    staging: &Path,
    segments: &[Segment],
    body: &mut R,
    wanted: &mut BTreeMap<&str, &Entry>,
    skipped: &mut Skipped,
    written: &mut Written,
    limits: InjectLimits,
) -> Result<(), SyncError> {
    for seg in segments {
        let len = match seg {
            Segment::Tar { len } | Segment::Raw { len, .. } => *len,
        };
        let mut part = body.by_ref().take(len);
        match seg {
            Segment::Tar { .. } => apply_tar(staging, &mut part, wanted, skipped, written, limits)?,
            Segment::Raw { path, .. } => {
                check_rel_path(path)?;
                if len > limits.max_file_bytes {
                    return refused(format!("file {path} is {len} bytes, the limit is {}", limits.max_file_bytes));
                }
                if let Some(e) = wanted.get(path.as_str()).copied().filter(|e| e.kind == EntryKind::File) {
                    written_or_skipped(written.file(staging, staging.join(path), e, len, &mut part), e, wanted, skipped)?;
                }
            }
        }
        // Whatever the segment holds past its archive (padding, superseded content) is skipped.
        io::copy(&mut part, &mut io::sink())?;
        if part.limit() != 0 {
            return refused("inject body is shorter than its segments say");
        }
    }
    Ok(())
}

/// A file's parent refused by the filesystem skips the file; any other failure fails the apply.
fn written_or_skipped(
    r: Result<(), SyncError>,
    e: &Entry,
    wanted: &mut BTreeMap<&str, &Entry>,
    skipped: &mut Skipped,
) -> Result<(), SyncError> {
    match r {
        Ok(()) => Ok(()),
        Err(SyncError::Io(err)) if refuses_name(&err) => {
            skipped.add(e, format!("the filesystem refuses it ({err})"));
            wanted.remove(e.path.as_str());
            Ok(())
        }
        Err(err) => Err(err),
    }
}

/// After the files: directories and links from the manifest, every file checked against it,
/// anything else removed, and modes and mtimes set.
fn finish_apply(
    staging: &Path,
    wanted: &mut BTreeMap<&str, &Entry>,
    skipped: &mut Skipped,
    files: &std::collections::HashMap<String, (u64, String)>,
) -> Result<(), SyncError> {
    // Directories and symlinks come from the manifest itself, links last so that nothing is ever
    // created through one; files must have arrived.
    let dirs: Vec<&Entry> = wanted.values().filter(|e| e.kind == EntryKind::Dir).copied().collect();
    for e in dirs {
        match ensure_parent_inside(staging, &staging.join(&e.path).join("x")) {
            Ok(()) => {}
            Err(SyncError::Io(err)) if refuses_name(&err) => {
                skipped.add(e, format!("the filesystem refuses it ({err})"));
                wanted.remove(e.path.as_str());
            }
            Err(err) => return Err(err),
        }
    }
    let gone: std::collections::BTreeSet<String> = skipped.entries.iter().map(|(e, _)| e.path.clone()).collect();
    wanted.retain(|p, e| match under_any(&gone, p) {
        Some(dir) => {
            skipped.add(e, format!("inside {dir}, which is skipped"));
            false
        }
        None => true,
    });
    let entries: Vec<&Entry> = wanted.values().copied().collect();
    for e in entries {
        let full = staging.join(&e.path);
        match e.kind {
            EntryKind::Dir => {}
            EntryKind::Symlink => {
                ensure_parent_inside(staging, &full)?;
                match fs::symlink_metadata(&full) {
                    Ok(md) if md.is_dir() => return refused(format!("symlink {} is also a directory", e.path)),
                    Ok(_) => fs::remove_file(&full)?,
                    Err(_) => {}
                }
                if let Err(err) = std::os::unix::fs::symlink(e.target.as_deref().unwrap_or(""), &full) {
                    if !refuses_name(&err) {
                        return Err(err.into());
                    }
                    skipped.add(e, format!("the filesystem refuses it ({err})"));
                    wanted.remove(e.path.as_str());
                }
            }
            EntryKind::File => {
                let Some((size, hash)) = files.get(&e.path) else {
                    return refused(format!("file {} is missing from the packs", e.path));
                };
                if *size != e.size || *hash != e.hash {
                    return refused(format!("file {} does not match its manifest entry", e.path));
                }
            }
        }
    }
    remove_extras(staging, "", wanted)?;
    // Modes, then mtimes deepest first so that directory times are not disturbed (files got
    // theirs as they were written). Owners need no change: the caller applies the snapshot as
    // the session's user ([`crate::confine::as_user`]).
    let mut ordered: Vec<&Entry> = wanted.values().copied().filter(|e| e.kind != EntryKind::File).collect();
    ordered.sort_by(|a, b| b.path.matches('/').count().cmp(&a.path.matches('/').count()).then(b.path.cmp(&a.path)));
    for e in ordered {
        let full = staging.join(&e.path);
        if e.kind != EntryKind::Symlink {
            fs::set_permissions(&full, fs::Permissions::from_mode(e.mode))?;
        }
        set_mtime(&full, e.mtime_ns, e.kind != EntryKind::Symlink)?;
    }
    Ok(())
}

fn apply_tar<R: Read>(
    staging: &Path,
    tar_bytes: &mut R,
    wanted: &mut BTreeMap<&str, &Entry>,
    skipped: &mut Skipped,
    written: &mut Written,
    limits: InjectLimits,
) -> Result<(), SyncError> {
    let mut archive = tar::Archive::new(tar_bytes);
    for item in archive.entries().map_err(|e| SyncError::Refused(format!("unreadable tar: {e}")))? {
        let mut item = item.map_err(|e| SyncError::Refused(format!("unreadable tar entry: {e}")))?;
        let path = item.path().map_err(|e| SyncError::Refused(format!("bad tar path: {e}")))?;
        let path = path.to_str().ok_or_else(|| SyncError::Refused("tar path is not UTF-8".into()))?.trim_end_matches('/').to_string();
        check_rel_path(&path)?;
        let kind = item.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = item.header().size().map_err(|e| SyncError::Refused(e.to_string()))?;
                if size > limits.max_file_bytes {
                    return refused(format!("file {path} is {size} bytes, the limit is {}", limits.max_file_bytes));
                }
                let Some(e) = wanted.get(path.as_str()).copied().filter(|e| e.kind == EntryKind::File) else {
                    continue; // superseded content in an older pack, or an entry skipped
                };
                written_or_skipped(written.file(staging, staging.join(&path), e, size, &mut item), e, wanted, skipped)?;
            }
            tar::EntryType::Directory | tar::EntryType::Symlink => {} // created from the manifest
            other => return refused(format!("tar entry {path} has a refused type {other:?} (only files, directories and symlinks)")),
        }
    }
    Ok(())
}

/// Checks a snapshot's manifest as a whole before anything is written: paths, no duplicates, no
/// data file, every entry's parent a directory of the manifest (so nothing is created through a
/// link or a file), and every link resolving inside without passing through another.
fn check_manifest(manifest: &[Entry], wanted: &BTreeMap<&str, &Entry>) -> Result<(), SyncError> {
    if wanted.len() != manifest.len() {
        return refused("the manifest names a path twice");
    }
    for e in manifest {
        check_rel_path(&e.path)?;
        if e.path == DATA_FILE {
            return refused("the data file is not part of a workspace snapshot");
        }
        if let Some((parent, _)) = e.path.rsplit_once('/') {
            if !wanted.get(parent).is_some_and(|p| p.kind == EntryKind::Dir) {
                return refused(format!("{}: its parent {parent} is not a directory of the snapshot", e.path));
            }
        }
        if (e.kind == EntryKind::Symlink) != e.target.is_some() {
            return refused(format!("{}: only symlinks carry a target", e.path));
        }
    }
    let by_path: BTreeMap<String, Entry> = manifest.iter().map(|e| (e.path.clone(), e.clone())).collect();
    if let Some((_, why)) = bad_links(&by_path).into_iter().next() {
        return refused(why);
    }
    Ok(())
}

/// A new file at `full`, whatever was at that name unlinked first (never opened through it).
fn fresh_file(full: &Path) -> io::Result<fs::File> {
    match fs::symlink_metadata(full) {
        Ok(md) if md.is_dir() => return Err(io::Error::other(format!("{} is a directory", full.display()))),
        Ok(_) => fs::remove_file(full)?,
        Err(_) => {}
    }
    crate::confine::create_new(full, 0o600)
}

/// Creates the parents of `full`, refusing any parent that is not a real directory inside `root`.
fn ensure_parent_inside(root: &Path, full: &Path) -> Result<(), SyncError> {
    let parent = full.parent().unwrap_or(root);
    let rel = parent.strip_prefix(root).map_err(|_| SyncError::Refused("path escapes the workspace".into()))?;
    let mut cur = root.to_path_buf();
    for comp in rel.components() {
        cur.push(comp);
        match fs::symlink_metadata(&cur) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => return refused(format!("{} is not a directory", cur.display())),
            Err(_) => fs::create_dir(&cur)?,
        }
    }
    Ok(())
}

fn remove_extras(dir: &Path, rel: &str, wanted: &BTreeMap<&str, &Entry>) -> io::Result<()> {
    for item in fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name().to_string_lossy().to_string();
        let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let ft = item.file_type()?;
        match wanted.get(path.as_str()) {
            Some(e) if e.kind == EntryKind::Dir && ft.is_dir() => remove_extras(&item.path(), &path, wanted)?,
            Some(_) => {}
            None if ft.is_dir() => fs::remove_dir_all(item.path())?,
            None => fs::remove_file(item.path())?,
        }
    }
    Ok(())
}

/// Applies uploads and deletions to a live workspace: each file is written under a fresh name in
/// `stage` (a directory of the runtime's beside the workspace, never a name in the user's
/// tree), checked against its entry, then renamed into place, so a file is either old or new,
/// never half-written. Directories named by `put` entries are created first. The caller clears
/// its version marker before and sets it after, so an interrupted apply is never taken for current.
///
/// Entries the filesystem cannot hold (see [`fits`]) are not written and are answered as
/// [`Skipped`]; a deletion of a path that cannot exist has nothing to remove.
pub fn apply_small(ws: &Path, stage: &Path, put: &[Entry], body: &[u8], delete: &[String]) -> Result<Skipped, SyncError> {
    let total: u64 = put.iter().filter(|e| e.kind == EntryKind::File).map(|e| e.size).sum();
    if total != body.len() as u64 {
        return refused("apply body does not match the sizes of its files");
    }
    for e in put {
        check_rel_path(&e.path)?;
        if e.kind == EntryKind::Symlink {
            return refused("apply carries files and directories only");
        }
    }
    for p in delete {
        check_rel_path(p)?;
    }
    let mut pos = 0usize;
    let mut skipped = Skipped::default();
    for e in put {
        let bytes = if e.kind == EntryKind::File {
            let bytes = &body[pos..pos + e.size as usize];
            pos += e.size as usize;
            if blake3::hash(bytes).to_hex().as_str() != e.hash {
                return refused(format!("content of {} does not match its hash", e.path));
            }
            bytes
        } else {
            &[]
        };
        if let Err(why) = fits(ws, &e.path) {
            skipped.add(e, why);
            continue;
        }
        let full = ws.join(&e.path);
        match ensure_parent_inside(ws, &full) {
            Ok(()) => {}
            Err(SyncError::Io(err)) if refuses_name(&err) => {
                skipped.add(e, format!("the filesystem refuses it ({err})"));
                continue;
            }
            Err(err) => return Err(err),
        }
        match e.kind {
            EntryKind::Dir => {
                if !full.is_dir() {
                    if let Err(err) = fs::create_dir(&full) {
                        if !refuses_name(&err) {
                            return Err(err.into());
                        }
                        skipped.add(e, format!("the filesystem refuses it ({err})"));
                    }
                }
            }
            EntryKind::File => {
                let tmp = stage.join(format!("upload-{:016x}", rand_u64()));
                let mut f = crate::confine::create_new(&tmp, 0o600)?;
                io::Write::write_all(&mut f, bytes)?;
                f.set_permissions(fs::Permissions::from_mode(e.mode))?;
                f.set_modified(UNIX_EPOCH + std::time::Duration::from_nanos(e.mtime_ns.max(0) as u64))?;
                drop(f);
                if let Err(err) = fs::rename(&tmp, &full) {
                    let _ = fs::remove_file(&tmp);
                    if !refuses_name(&err) {
                        return Err(err.into());
                    }
                    skipped.add(e, format!("the filesystem refuses it ({err})"));
                }
            }
            EntryKind::Symlink => unreachable!("refused above"),
        }
    }
    for p in delete {
        if fits(ws, p).is_err() {
            continue;
        }
        let full = ws.join(p);
        ensure_parent_inside(ws, &full)?;
        match fs::symlink_metadata(&full) {
            Ok(md) if md.is_dir() => fs::remove_dir_all(&full)?,
            Ok(_) => fs::remove_file(&full)?,
            Err(_) => {}
        }
    }
    Ok(skipped)
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom(2) into an 8-byte stack buffer.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), 8, 0) };
    u64::from_ne_bytes(b)
}

/// Paths of a session's directories under its root.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// `ws`: the live workspace.
    pub ws: PathBuf,
    /// `ws.new`: where a full inject builds the next workspace before [`swap_in`].
    pub staging: PathBuf,
    /// `ws.old`: the previous workspace during a swap; [`recover`] brings it back if the swap was cut short.
    pub old: PathBuf,
}

impl Dirs {
    /// The paths under `session_root`; nothing is created.
    pub fn new(session_root: &Path) -> Self {
        Dirs { ws: session_root.join("ws"), staging: session_root.join("ws.new"), old: session_root.join("ws.old") }
    }
}

/// Swaps a prepared staging tree in as the workspace.
pub fn swap_in(d: &Dirs) -> io::Result<()> {
    if d.old.exists() {
        fs::remove_dir_all(&d.old)?;
    }
    if d.ws.exists() {
        fs::rename(&d.ws, &d.old)?;
    }
    fs::rename(&d.staging, &d.ws)?;
    if d.old.exists() {
        fs::remove_dir_all(&d.old)?;
    }
    Ok(())
}

/// Swaps a prepared staging tree in *inside* the workspace directory, which stays the same
/// directory (the one live contexts work in): its entries are moved aside into `ws.old`, the
/// staging tree's entries moved in, then both emptied trees go. Renames never follow links.
/// Interrupted, it leaves a mixed workspace; the version marker (cleared for the inject) then
/// makes the caller inject again before anything runs.
pub fn swap_contents(d: &Dirs) -> io::Result<()> {
    if d.old.exists() {
        fs::remove_dir_all(&d.old)?;
    }
    fs::create_dir(&d.old)?;
    fs::set_permissions(&d.old, fs::Permissions::from_mode(0o700))?;
    for e in fs::read_dir(&d.ws)? {
        let name = e?.file_name();
        fs::rename(d.ws.join(&name), d.old.join(&name))?;
    }
    for e in fs::read_dir(&d.staging)? {
        let name = e?.file_name();
        fs::rename(d.staging.join(&name), d.ws.join(&name))?;
    }
    fs::remove_dir(&d.staging)?;
    fs::remove_dir_all(&d.old)?;
    Ok(())
}

/// Rolls an interrupted inject back: the staging tree goes, a moved-aside workspace comes back.
pub fn recover(d: &Dirs) -> io::Result<()> {
    if d.staging.exists() {
        fs::remove_dir_all(&d.staging)?;
    }
    if d.old.exists() {
        if d.ws.exists() {
            fs::remove_dir_all(&d.old)?;
        } else {
            fs::rename(&d.old, &d.ws)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn checkpoints_are_held_back_only_when_they_are_all_that_changed() {
        let file = |path: &str, hash: &str, mtime: i64| {
            (
                path.to_string(),
                Entry { path: path.into(), kind: EntryKind::File, mode: 0o644, mtime_ns: mtime, size: 4, hash: hash.into(), target: None },
            )
        };
        let base = Manifest {
            version: "v1".into(),
            scanned_at_ns: 0,
            entries: [file("a.txt", "h1", 1), file(".sandbox/contexts/c/state.pickle", "s1", 1)].into_iter().collect(),
        };
        // Only the checkpoint changed (and a new one appeared): both go back to the base's view.
        let mut now = Manifest {
            version: "v2".into(),
            scanned_at_ns: 5,
            entries: [
                file("a.txt", "h1", 1),
                file(".sandbox/contexts/c/state.pickle", "s2", 2),
                file(".sandbox/contexts/d/state.v8", "n", 2),
            ]
            .into_iter()
            .collect(),
        };
        assert!(hold_back(&mut now, &base, ".sandbox/contexts"));
        assert_eq!(now.entries, base.entries);
        assert_eq!(now.version, "v1", "nothing changed as far as the commit goes");
        // Another change: everything is committed, the checkpoint included.
        let mut both = Manifest {
            version: "v3".into(),
            scanned_at_ns: 5,
            entries: [file("a.txt", "h9", 3), file(".sandbox/contexts/c/state.pickle", "s2", 2)].into_iter().collect(),
        };
        let before = both.clone();
        assert!(!hold_back(&mut both, &base, ".sandbox/contexts"));
        assert_eq!(both, before);
        // Nothing changed under the prefix: nothing is held.
        let mut same = base.clone();
        assert!(!hold_back(&mut same, &base, ".sandbox/contexts"));
        // A look-alike name is not under the prefix.
        let mut other = base.clone();
        other.entries.extend([file(".sandbox/contexts-old", "x", 4)]);
        assert!(!hold_back(&mut other, &base, ".sandbox/contexts"));
    }

    use super::*;

    #[test]
    fn a_file_written_while_it_is_read_is_stored_as_the_bytes_read_or_left_for_later() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("log.txt"), b"0123456789").unwrap();
        fs::write(root.join("gone.txt"), b"abcdef").unwrap();
        let m = scan(root, None).unwrap();
        // Rewritten in place at the same size, grown, and shrunk after the scan.
        fs::write(root.join("log.txt"), b"ABCDEFGHIJ and more").unwrap();
        fs::write(root.join("gone.txt"), b"ab").unwrap();
        let mut out = io::Cursor::new(Vec::new());
        let (d, left) = build_delta_report_to(root, None, &m, &mut out).unwrap();
        assert_eq!(left, vec!["gone.txt".to_string()], "a file shorter than scanned is for the next commit");
        let e = d.entries.iter().find(|p| p.entry.path == "log.txt").unwrap();
        assert_eq!(e.entry.size, 10, "the size the scan saw");
        assert_eq!(e.entry.hash, blake3::hash(b"ABCDEFGHIJ").to_hex().to_string(), "the hash of the bytes stored");
        let tar = out.into_inner();
        assert_eq!(&tar[e.offset as usize..e.offset as usize + 10], b"ABCDEFGHIJ");
        assert!(build_delta_to(root, None, &m, &mut io::Cursor::new(Vec::new())).is_err(), "the strict form still refuses");
    }

    #[test]
    fn rel_paths_are_checked() {
        for ok in ["a", "a/b.txt", "node_modules/x/y", "ünï/ç"] {
            assert!(check_rel_path(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/etc", "a/../b", "./a", "a//b", "a\\b", "a\0b", ".."] {
            assert!(check_rel_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn links_must_resolve_inside() {
        assert!(link_stays_inside("a/link", "../b"));
        assert!(link_stays_inside("a/link", "c/d"));
        assert!(!link_stays_inside("a/link", "../../b"));
        assert!(!link_stays_inside("link", "/etc/passwd"));
        assert!(!link_stays_inside("link", ".."));
        assert!(link_stays_inside("link", "."));
    }
}
