//! Sessions as the executor holds them: one work root per session id, runs serialized per
//! session, and the version marker that says which committed workspace version is on disk.
//!
//! The marker lives in memory: it is cleared when a run or inject starts and set only when it
//! finishes, so a killed run or a restarted executor never passes a workspace off as current; the
//! Worker then injects the committed version again. On first touch after start-up a session's
//! leftover directories are rolled back and wiped for the same reason.

use crate::cgroup::{self, Cgroups};
use crate::config::{Config, KillSetting, UID_BLOCK};
use crate::confine::{self, as_user};
use crate::error::{AppError, AppResult};
use crate::lang::{self, Ctx, Step};
use crate::sandbox::{self, Identity, Spawn};
use crate::workspace::{self, Dirs, InjectLimits, Manifest};
use edgerun_protocol::{
    ApplyRequest, Delta, ErrorCode, InjectRequest, Language, RunAnswer, RunRequest, RunResult, DATA_FILE, MAX_DATA_BYTES,
};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A session's directories that are never persisted but count with its files: `$HOME`, its
/// `/tmp` and `/dev/shm`, its Go build cache. Over the session's limit they are emptied.
const SCRATCH: [&str; 4] = ["home", "tmp", "shm", "gocache"];

/// Most log lines one run answers (the Worker refuses more).
const MAX_LOG_LINES: usize = 5_000;

/// Hands out sandbox uids from `[base, base + UID_BLOCK)`, each at most once over the life of the
/// work root: the high-water mark is written (renamed into place) before a uid is used, so a
/// restarted executor never gives a new session the uid of a deleted one, whose files could
/// linger wherever that uid could write. It is synced, so that not even a machine crash can
/// hand a uid out twice (measured here: 0.18 ms median per fsync, once per new session).
struct UidCounter {
    mark: PathBuf,
    base: u32,
    next: Mutex<u32>,
}

impl UidCounter {
    fn open(work_root: &Path, base: u32) -> std::io::Result<UidCounter> {
        let mark = work_root.join(".uid-next");
        let mut next = base;
        if let Ok(s) = fs::read_to_string(&mark) {
            next = next.max(s.trim().parse().map_err(|_| std::io::Error::other(format!("{} is not a number", mark.display())))?);
        }
        // Work roots written before the mark existed: continue after every uid on record.
        for e in fs::read_dir(work_root)?.flatten() {
            if let Some(u) = fs::read_to_string(e.path().join("uid")).ok().and_then(|s| s.trim().parse::<u32>().ok()) {
                next = next.max(u + 1);
            }
        }
        Ok(UidCounter { mark, base, next: Mutex::new(next) })
    }

    fn take(&self) -> AppResult<u32> {
        let mut next = self.next.lock().expect("uid counter lock");
        let uid = *next;
        if uid >= self.base + UID_BLOCK {
            return Err(AppError::new(
                ErrorCode::SandboxUnavailable,
                format!(
                    "this executor has handed out all of its {UID_BLOCK} sandbox uids (they are never reused); give it a new work root"
                ),
            ));
        }
        let tmp = self.mark.with_extension("tmp");
        let mut f = fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut f, (uid + 1).to_string().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &self.mark)?;
        *next = uid + 1;
        Ok(uid)
    }
}

/// Where runs see their session's code directory when they get private mounts (bound there in
/// their mount namespace; the mount point is an empty root-owned directory made at start).
pub const CODE_MOUNT: &str = "/run/edgerun/code";

/// Makes [`CODE_MOUNT`] (root's, 0755, empty) and answers it, or `None` (with a log line) when
/// it cannot be made or is not an empty directory: runs then see the code at its own path.
fn make_code_mount() -> Option<PathBuf> {
    let at = PathBuf::from(CODE_MOUNT);
    let made = fs::create_dir_all(&at).and_then(|()| {
        let md = fs::symlink_metadata(&at)?;
        if !md.is_dir() || std::os::unix::fs::MetadataExt::uid(&md) != 0 || fs::read_dir(&at)?.next().is_some() {
            return Err(std::io::Error::other("not an empty directory of root's"));
        }
        fs::set_permissions(&at, fs::Permissions::from_mode(0o755))
    });
    match made {
        Ok(()) => Some(at),
        Err(e) => {
            tracing::warn!(error = %e, at = CODE_MOUNT, "runs see their code at its path under the work root");
            None
        }
    }
}

/// Where a session's runs may not keep a work root: the directories they get privately.
fn under_private_mounts(p: &Path) -> bool {
    let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    p.starts_with("/proc") || sandbox::shared_writable_dirs().iter().any(|(_, at)| p.starts_with(at))
}

/// Test-only pauses, named in `EDGERUN_FAILPOINT` (never set in the image): `inject-before-swap`
/// and `run-before-extract` sleep so that a test can kill the executor at that point.
fn failpoint_pause(name: &str) -> Option<Duration> {
    let v = std::env::var("EDGERUN_FAILPOINT").ok()?;
    v.split(',').any(|f| f == name).then(|| Duration::from_secs(5))
}

/// The strongest containment the configuration allows and the machine offers. The tag mode also
/// makes this process a child subreaper (for the whole process: one executor, one mode).
fn resolve_kill_mode(config: &Config, is_root: bool) -> std::io::Result<sandbox::KillMode> {
    let detect = || Cgroups::detect(&cgroup::name_for(&config.work_root));
    let mode = match config.kill_mode {
        KillSetting::Cgroup => sandbox::KillMode::Cgroup(Arc::new(
            detect().map_err(|e| std::io::Error::other(format!("EDGERUN_KILL_MODE=cgroup, but cgroups cannot be used here: {e}")))?,
        )),
        KillSetting::Auto => match detect() {
            Ok(cg) => sandbox::KillMode::Cgroup(Arc::new(cg)),
            Err(why) => {
                tracing::info!(%why, "cgroups not used");
                if is_root {
                    sandbox::KillMode::Uid
                } else {
                    sandbox::KillMode::Tag
                }
            }
        },
        KillSetting::Uid if is_root => sandbox::KillMode::Uid,
        KillSetting::Uid | KillSetting::Tag => sandbox::KillMode::Tag,
    };
    if matches!(mode, sandbox::KillMode::Tag) {
        sandbox::reaper::enable();
    }
    Ok(mode)
}

/// `workspace_stale` unless the slot holds the version the caller expects.
fn holds(slot: &Slot, expect: &Option<String>) -> AppResult<()> {
    if *expect == slot.version {
        return Ok(());
    }
    Err(AppError::new(ErrorCode::WorkspaceStale, format!("executor holds version {:?}, caller expected {expect:?}", slot.version)))
}

/// Session ids: `[A-Za-z0-9_-]{1,64}`.
pub fn valid_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Default)]
struct Slot {
    version: Option<String>,
    base: Option<Manifest>,
    /// Entries of the committed version the filesystem cannot hold: in `base`, not on disk.
    skipped: workspace::Skipped,
    identity: Option<Identity>,
    touched: bool,
    /// Context checkpoints were held back ([`RunRequest::hold_checkpoints`]): under
    /// [`edgerun_protocol::CHECKPOINTS_DIR`] the disk differs from `base`, which a snapshot
    /// (read by the manifest) must not be taken from.
    held: bool,
    /// The session's network namespace, made for its first run without internet and shared by
    /// every later one; it goes with the session (or with the executor).
    net: Option<Arc<sandbox::NetNs>>,
}

/// The executor's state: every session's slot (its version marker and manifest, behind a lock
/// that serializes its runs), the uid counter, and how runs are contained.
pub struct Sessions {
    /// The configuration the executor started with.
    pub config: Config,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    /// The running run of each session, notified by `cancel`.
    cancels: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    /// Live interpreter contexts, by session and context id.
    contexts: crate::context::Contexts,
    /// Background processes, by session ([`crate::process`]).
    processes: crate::process::Processes,
    /// Each session's network namespace, for the port route (which must not wait for a run to
    /// release the session's slot); the slot holds the same one.
    nets: Mutex<HashMap<String, Arc<sandbox::NetNs>>>,
    /// The port the executor listens on (refused by the port route).
    own_port: Option<u16>,
    uids: UidCounter,
    is_root: bool,
    /// Runs get their session's own `/tmp` and `/dev/shm` and a `/proc` showing only their
    /// user's processes (root with mount namespaces; probed at start).
    private_mounts: bool,
    /// Where runs see their session's code directory: [`CODE_MOUNT`] when private mounts work and
    /// that mount point could be made, so that interpreters naming modules by absolute path (Deno)
    /// name a fixed path rather than the work root's; `None`: at its own path.
    code_mount: Option<PathBuf>,
    /// How runs are contained and killed, resolved once from the configuration and the machine.
    kill_mode: sandbox::KillMode,
    /// The read-only Go build cache new sessions' caches start from, once it is built.
    go_seed: Arc<std::sync::OnceLock<PathBuf>>,
    /// Ports sandbox users cannot connect to (the executor's own, first).
    closed_ports: Vec<u16>,
    /// Whether runs without internet can get a network namespace of their session (root, probed
    /// at start); `Err` says why not, and such runs are refused.
    network_namespaces: Result<(), String>,
}

/// What a run's steps share besides the request: the session's network namespace (no internet),
/// where their output streams, and the notification that cancels them.
struct RunLinks {
    net: Option<Arc<sandbox::NetNs>>,
    tee: Option<sandbox::Chunks>,
    cancel: Arc<tokio::sync::Notify>,
}

impl Sessions {
    /// Prepares the work root and resolves the containment. As root it also kills processes a
    /// previous executor left in its uid block, probes private mounts (refusing a work root under
    /// one) and starts building the Go seed cache in the background.
    pub fn new(config: Config) -> std::io::Result<Sessions> {
        fs::create_dir_all(&config.work_root)?;

        // SAFETY: geteuid has no preconditions.
        let is_root = unsafe { libc::geteuid() } == 0;
        if is_root {
            std::os::unix::fs::chown(&config.work_root, Some(0), Some(0))?;
            fs::set_permissions(&config.work_root, fs::Permissions::from_mode(0o711))?;
            // Runs of a previous executor that died with it (SIGKILL) may still be running.
            let killed = sandbox::kill_uid_range(config.sandbox_uid_base, config.sandbox_uid_base + UID_BLOCK);
            if killed > 0 {
                tracing::warn!(killed, "killed processes left by a previous executor");
            }
        }
        let uids = UidCounter::open(&config.work_root, config.sandbox_uid_base)?;
        let private_mounts = is_root
            && match sandbox::private_mounts_work(&config.work_root.join(".probe")) {
                Ok(()) if under_private_mounts(&config.work_root) => {
                    return Err(std::io::Error::other(format!(
                        "the work root {} lies under /tmp, /var/tmp, /dev/shm or /run/lock, which every run gets privately: choose another (EDGERUN_WORK_ROOT)",
                        config.work_root.display()
                    )))
                }
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "runs share the machine's /tmp, /dev/shm and /proc");
                    false
                }
            };
        let code_mount = private_mounts.then(make_code_mount).flatten();
        let kill_mode = resolve_kill_mode(&config, is_root)?;
        let network_namespaces = if is_root {
            sandbox::network_namespaces_work().map_err(|e| e.to_string())
        } else {
            Err("the executor does not run as root".to_string())
        };
        if let Err(why) = &network_namespaces {
            tracing::warn!(%why, "runs without internet are refused: no network namespaces");
        }
        let go_seed = Arc::new(std::sync::OnceLock::new());
        if is_root {
            // The Go seed cache is built once per machine and Go version, off the request path.
            let (seed, config) = (go_seed.clone(), config.clone());
            std::thread::spawn(move || match seed_go_cache(&config) {
                Ok(dir) => {
                    let _ = seed.set(dir);
                }
                Err(e) => tracing::warn!(error = %e, "no Go seed cache: a session's first Go build compiles the standard library"),
            });
        }
        Ok(Sessions {
            config,
            slots: Mutex::new(HashMap::new()),
            cancels: Mutex::new(HashMap::new()),
            contexts: crate::context::Contexts::default(),
            processes: crate::process::Processes::default(),
            nets: Mutex::new(HashMap::new()),
            own_port: None,
            uids,
            is_root,
            private_mounts,
            code_mount,
            kill_mode,
            go_seed,
            closed_ports: Vec::new(),
            network_namespaces,
        })
    }

    /// How runs are contained, for logs and `/health`: `cgroup (v2 kill, v1 memory, v1 pids)`, `uid`, `tag`.
    pub fn isolation(&self) -> String {
        let mode = match &self.kill_mode {
            sandbox::KillMode::Cgroup(cg) => format!("cgroup ({})", cg.describe()),
            sandbox::KillMode::Uid => "uid".into(),
            sandbox::KillMode::Tag => "tag".into(),
        };
        if self.private_mounts {
            format!("{mode}, private /tmp /dev/shm /proc")
        } else {
            mode
        }
    }

    /// How runs reach the network, for `/health`.
    pub fn network(&self) -> String {
        match &self.network_namespaces {
            Ok(()) => "machine's network with internet; without, a network namespace per session (loopback only)".into(),
            Err(why) => format!("machine's network; runs without internet are refused (no network namespaces: {why})"),
        }
    }

    /// The session's network namespace, made on first use; refused where none can be made.
    fn netns(&self, sid: &str, slot: &mut Slot) -> AppResult<Arc<sandbox::NetNs>> {
        if let Err(why) = &self.network_namespaces {
            return Err(AppError::new(
                ErrorCode::BadRequest,
                format!(
                    "allow_internet: false needs a network namespace per session, which this executor cannot make ({why}); nothing ran"
                ),
            ));
        }
        if let Some(net) = &slot.net {
            return Ok(net.clone());
        }
        let net = Arc::new(sandbox::NetNs::create()?);
        slot.net = Some(net.clone());
        self.nets.lock().unwrap_or_else(|e| e.into_inner()).insert(sid.to_string(), net.clone());
        Ok(net)
    }

    /// Closes the executor's listening `port` (and `EDGERUN_CLOSED_PORTS`) to this executor's
    /// sandbox uids ([`crate::firewall`]); without root or nftables they stay reachable, and
    /// only the secret guards them. The caller removes the table at a graceful stop.
    pub fn close_to_sandboxes(&mut self, port: u16) -> Option<crate::firewall::Firewall> {
        self.own_port = Some(port);
        if !self.is_root {
            return None;
        }
        let mut ports = vec![port];
        match crate::firewall::extra_ports() {
            Ok(extra) => ports.extend(extra),
            Err(e) => tracing::warn!(error = %e, "ignored"),
        }
        let base = self.config.sandbox_uid_base;
        match crate::firewall::Firewall::close(&cgroup::name_for(&self.config.work_root), base, base + UID_BLOCK, &ports) {
            Ok(f) => {
                self.closed_ports = ports;
                Some(f)
            }
            Err(e) => {
                tracing::warn!(error = %e, "the executor's port stays reachable from sandboxes (the secret still guards it)");
                None
            }
        }
    }

    /// Ports sandbox users cannot connect to, for `/health`.
    pub fn closed_ports(&self) -> &[u16] {
        &self.closed_ports
    }

    /// The Go seed cache new sessions start from, once it is built.
    pub fn go_seed(&self) -> Option<&Path> {
        self.go_seed.get().map(PathBuf::as_path)
    }

    fn slot(&self, sid: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        self.slots.lock().expect("slots lock").entry(sid.to_string()).or_default().clone()
    }

    fn root(&self, sid: &str) -> PathBuf {
        self.config.work_root.join(sid)
    }

    /// Brings a session's directories to a known state the first time it is touched.
    ///
    /// The session root is the runtime's (root, 0711: not listable), and so is `code/`, where
    /// the run's code is written. The user's directories sit directly under it: `ws` (the
    /// workspace), `home`, `tmp` and `shm` (its private `/tmp` and `/dev/shm`), and `stage`
    /// (where uploads are written before they are renamed into place), `gocache` (its Go build
    /// cache, seeded before it is handed over). User code can never replace one of these names,
    /// only what is inside them.
    fn touch(&self, sid: &str, slot: &mut Slot) -> AppResult<()> {
        let root = self.root(sid);
        if !root.exists() {
            fs::create_dir(&root)?;
            fs::set_permissions(&root, fs::Permissions::from_mode(if self.is_root { 0o711 } else { 0o700 }))?;
        }
        if !slot.touched {
            let dirs = Dirs::new(&root);
            workspace::recover(&dirs)?;
            if dirs.ws.exists() {
                fs::remove_dir_all(&dirs.ws)?;
            }
            if self.is_root {
                let uid_file = root.join("uid");
                let uid = match fs::read_to_string(&uid_file).ok().and_then(|s| s.trim().parse().ok()) {
                    Some(u) => u,
                    None => {
                        let u = self.uids.take()?;
                        fs::write(&uid_file, u.to_string())?;
                        u
                    }
                };
                slot.identity = Some(Identity { uid, gid: self.config.sandbox_gid });
            }
            slot.touched = true;
        }
        for (d, users) in [("ws", true), ("home", true), ("tmp", true), ("shm", true), ("stage", true), ("code", false)] {
            let p = root.join(d);
            if !p.exists() {
                fs::create_dir(&p)?;
                match slot.identity.filter(|_| users) {
                    Some(id) => std::os::unix::fs::chown(&p, Some(id.uid), Some(id.gid))?,
                    None if self.is_root => std::os::unix::fs::chown(&p, Some(0), Some(0))?,
                    None => {}
                }
                let mode = if users || !self.is_root { 0o700 } else { 0o711 };
                fs::set_permissions(&p, fs::Permissions::from_mode(mode))?;
            }
        }
        Ok(())
    }

    /// Makes the session's Go build cache on its first run, seeded from the read-only seed when
    /// that run builds Go (linking the seed's ~500 entries costs 60–150 ms here, which runs of
    /// other languages should not pay). It is made in the runtime's session root and seeded
    /// while still root's, so user code never sees it before it is whole; a session whose first
    /// run is another language gets an empty cache, and its first Go build compiles cold.
    fn ensure_gocache(&self, root: &Path, identity: Option<Identity>, seed: bool) -> std::io::Result<()> {
        let p = root.join("gocache");
        if p.exists() {
            return Ok(());
        }
        fs::create_dir(&p)?;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o700))?;
        if let (true, Some(s)) = (seed && self.is_root, self.go_seed.get()) {
            if let Err(e) = lang::go::link_seed(s, &p, identity) {
                tracing::warn!(error = %e, "the Go cache starts empty");
            }
        }
        if let Some(id) = identity {
            std::os::unix::fs::chown(&p, Some(id.uid), Some(id.gid))?;
        }
        Ok(())
    }

    fn private(&self, root: &Path) -> Option<sandbox::Private> {
        self.private_mounts.then(|| {
            let mut binds: Vec<(PathBuf, PathBuf)> =
                sandbox::shared_writable_dirs().into_iter().map(|(sub, at)| (root.join(sub), at)).collect();
            if let Some(at) = &self.code_mount {
                binds.push((root.join("code"), at.clone()));
            }
            sandbox::Private { binds }
        })
    }

    /// The committed version the executor holds for `sid`, if any; waits for a run, inject or
    /// apply of the session that is under way.
    pub async fn version(&self, sid: &str) -> Option<String> {
        self.slot(sid).lock().await.version.clone()
    }

    /// Runs code (or setup commands) in a session and answers the result plus the workspace delta.
    /// The delta's tar is written to a file under the session root and handed back open at its
    /// start (unlinked, so it goes away with its handle); it is never held in memory whole.
    pub async fn run(&self, sid: &str, req: RunRequest) -> AppResult<(RunAnswer, Option<fs::File>)> {
        self.run_streamed(sid, req, None).await
    }

    /// Ends the session's running run (its tree is killed; it answers `cancelled`); false when
    /// nothing runs.
    pub fn cancel(&self, sid: &str) -> bool {
        match self.cancels.lock().unwrap_or_else(|e| e.into_inner()).get(sid) {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        }
    }

    /// [`Sessions::run`], with the output of its setup commands and code also sent to `tee` as it
    /// comes (the sender is dropped when the last step ends).
    pub async fn run_streamed(&self, sid: &str, req: RunRequest, tee: Option<sandbox::Chunks>) -> AppResult<(RunAnswer, Option<fs::File>)> {
        let slot_arc = self.slot(sid);
        let mut slot = slot_arc.lock().await;
        holds(&slot, &req.expect_version)?;
        let net = if req.allow_internet { None } else { Some(self.netns(sid, &mut slot)?) };
        self.touch(sid, &mut slot)?;
        let base = slot.base.take();
        slot.version = None;
        let root = self.root(sid);
        let ws = root.join("ws");
        let identity = slot.identity;
        let cancel = Arc::new(tokio::sync::Notify::new());
        self.cancels.lock().unwrap_or_else(|e| e.into_inner()).insert(sid.to_string(), cancel.clone());
        let result = self.execute(sid, &root, &ws, &req, identity, RunLinks { net, tee, cancel: cancel.clone() }).await;
        self.cancels.lock().unwrap_or_else(|e| e.into_inner()).remove(sid);
        let mut result = result?;
        if let Some(note) = slot.skipped.note() {
            result.stderr.push_str(&note);
        }
        if req.restore_after {
            if req.expect_version.is_none() {
                // Nothing is committed: the committed workspace is the empty one, and no inject
                // would bring it back (the Worker sees no version to mismatch), so the run's
                // files are removed here and the next run starts from empty as well.
                let ws = ws.clone();
                tokio::task::spawn_blocking(move || as_user(identity, move || empty_dir(&ws))).await.map_err(AppError::internal)???;
            }
            // The committed version is what stays; the Worker injects it again before the next run.
            return Ok((
                RunAnswer {
                    result,
                    delta: Delta { base: base.as_ref().map(|b| b.version.clone()), version: String::new(), ..Delta::default() },
                    held_checkpoints: false,
                },
                None,
            ));
        }
        if let Some(d) = failpoint_pause("run-before-extract") {
            tokio::time::sleep(d).await;
        }
        // The tar is made in the runtime's session root (a name user code cannot plant), then
        // written, like every read of the workspace, with the session user's authority.
        let mut file = unlinked_file(&root.join("delta.tar"))?;
        let (max_bytes, max_files) = (self.config.max_workspace_bytes, self.config.max_workspace_files);
        let scratch: Vec<PathBuf> = SCRATCH.iter().map(|d| root.join(d)).collect();
        let skipped = std::mem::take(&mut slot.skipped.entries);
        let hold = req.hold_checkpoints;
        // Read from inside the workspace (see [`confine::in_dir`]): its location does not count
        // toward the system's path limit.
        let (manifest, unkept, scratch_use, built, skipped, held) = tokio::task::spawn_blocking(move || {
            confine::in_dir(identity, &ws.clone(), move || -> std::io::Result<_> {
                let here = Path::new(".");
                let (mut m, unkept) = workspace::scan_report(here, base.as_ref())?;
                let skipped = keep_skipped(&mut m, skipped);
                let held = hold && base.as_ref().is_some_and(|b| workspace::hold_back(&mut m, b, edgerun_protocol::CHECKPOINTS_DIR));
                let scratch_use = scratch.iter().map(|d| confine::usage(d)).fold((0, 0), |a, u| (a.0 + u.0, a.1 + u.1));
                let bytes = m.entries.values().map(|e| e.size).sum::<u64>() + unkept.bytes + scratch_use.0;
                let count = m.entries.len() as u64 + unkept.count + scratch_use.1;
                if bytes > max_bytes || count > max_files {
                    return Ok((m, unkept, scratch_use, None, skipped, held));
                }
                // Background processes may write while this reads: see `build_delta_report_to`.
                let (d, left) = workspace::build_delta_report_to(here, base.as_ref(), &m, &mut file)?;
                for pe in &d.entries {
                    m.entries.insert(pe.entry.path.clone(), pe.entry.clone());
                }
                for p in &left {
                    // Not committed: the version holds what the last commit had, so the next
                    // scan sees the file as changed.
                    match base.as_ref().and_then(|b| b.entries.get(p)) {
                        Some(old) => m.entries.insert(p.clone(), old.clone()),
                        None => m.entries.remove(p),
                    };
                }
                std::io::Seek::rewind(&mut file)?;
                Ok((m, unkept, scratch_use, Some((d, file, left)), skipped, held))
            })?
        })
        .await
        .map_err(AppError::internal)??;
        let built = built.map(|(d, file, left)| {
            if !left.is_empty() {
                result.stderr.push_str(&format!(
                    "\n[edgerun] {} shrank while it was read (a process writes to it): it is left for the next commit\n",
                    left.join(", ")
                ));
            }
            (d, file)
        });
        slot.skipped.entries = skipped;
        if let Some(note) = unkept.note() {
            result.stderr.push_str(&note);
        }
        // A file that reached the file-size limit means a write was refused (Python, for one,
        // ignores SIGXFSZ and raises instead): the disk limit ended the run.
        if result.killed_by.is_none() && manifest.entries.values().any(|e| e.size >= self.config.limits.file_size_bytes) {
            result.killed_by = Some(edgerun_protocol::KilledBy::Disk);
        }
        let Some((delta, tar)) = built else {
            let bytes = manifest.entries.values().map(|e| e.size).sum::<u64>() + unkept.bytes;
            let count = manifest.entries.len() as u64 + unkept.count;
            result.stderr.push_str(&format!(
                "\n[edgerun] the session holds {} bytes in {} entries (workspace {bytes} in {count}; $HOME, /tmp and /dev/shm {} in {}), over the limit of {} bytes in {} entries: this run's changes are not kept and $HOME, /tmp and /dev/shm are emptied\n",
                bytes + scratch_use.0,
                count + scratch_use.1,
                scratch_use.0,
                scratch_use.1,
                self.config.max_workspace_bytes,
                self.config.max_workspace_files
            ));
            result.killed_by = result.killed_by.or(Some(edgerun_protocol::KilledBy::Disk));
            self.empty_scratch(&root, identity).await?;
            return Ok((RunAnswer { result, delta: Delta { version: String::new(), ..Delta::default() }, held_checkpoints: false }, None));
        };
        slot.version = Some(manifest.version.clone());
        slot.base = Some(manifest);
        slot.held = held;
        release_free_memory();
        Ok((RunAnswer { result, delta, held_checkpoints: held }, Some(tar)))
    }

    /// Empties the session's `$HOME`, `/tmp` and `/dev/shm` (as its user): they are scratch, and
    /// over the session's limit they go first.
    async fn empty_scratch(&self, root: &Path, identity: Option<Identity>) -> AppResult<()> {
        let dirs: Vec<PathBuf> = SCRATCH.iter().map(|d| root.join(d)).collect();
        tokio::task::spawn_blocking(move || {
            as_user(identity, move || -> std::io::Result<()> {
                for d in dirs {
                    let Ok(listing) = fs::read_dir(&d) else { continue };
                    for e in listing.flatten() {
                        let p = e.path();
                        if e.file_type()?.is_dir() {
                            fs::remove_dir_all(&p)?
                        } else {
                            fs::remove_file(&p)?
                        }
                    }
                }
                Ok(())
            })?
        })
        .await
        .map_err(AppError::internal)??;
        Ok(())
    }

    /// Installs (always with the machine's network: they fetch from registries), then setup
    /// commands and code (in `net`, the session's network namespace, when the run has no internet).
    async fn execute(
        &self,
        sid: &str,
        root: &Path,
        ws: &Path,
        req: &RunRequest,
        identity: Option<Identity>,
        links: RunLinks,
    ) -> AppResult<RunResult> {
        let RunLinks { net, tee, cancel } = links;
        let builds_go = req.language == Some(Language::Go) || !req.install.go.is_empty();
        self.ensure_gocache(root, identity, builds_go)?;
        let code_dir = root.join("code");
        let gocache = root.join("gocache");
        let code_seen = self.code_mount.clone().unwrap_or_else(|| code_dir.clone());
        let ctx = Ctx { ws, runtimes: &self.config.runtimes, gocache: &gocache, code: &code_dir, code_seen: &code_seen, identity };
        let data_path = ws.join(DATA_FILE);
        let mut data_note = None;
        if let Some(data) = &req.data {
            let bytes = serde_json::to_vec(data).map_err(AppError::internal)?;
            let p = data_path.clone();
            // As the user, and unlinking whatever user code left at that name (a link, a FIFO).
            if let Err(e) = as_user(identity, move || confine::replace_file(&p, &bytes, 0o600))? {
                data_note = Some(format!("\n[edgerun] {DATA_FILE} could not be written ({e}): the previous data is kept\n"));
            }
        }
        let lang = req.language.unwrap_or(Language::Bash);
        let plugin = lang::plugin(lang);
        let mut env = self.base_env(root);
        env.extend(session_env(sid, lang));
        env.extend(plugin.env(&ctx));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(req.timeout_secs);
        let mut logs = Vec::new();
        let mut combined = RunResult::default();
        let mut cost = Cost::default();
        let started = std::time::Instant::now();
        let private = self.private(root);

        // 1. Installs, each set once.
        let plan = match lang::install_steps(&ctx, &req.install, !req.allow_internet) {
            Ok(p) => p,
            Err(e) => return Ok(not_prepared(&e)),
        };
        for s in &plan.skipped {
            logs.push(format!("[{s}] requirements already installed"));
        }
        let mut install_ok = true;
        for step in &plan.steps {
            let tap = tee.clone().map(|to| sandbox::Tap { to, log: true });
            let out = self.spawn(step, ws, &env, &req.env, b"", deadline, identity, &private, None, tap, Some(cancel.clone())).await?;
            cost.add(&out);
            let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            logs.extend(text.lines().map(str::to_string));
            if out.exit_code != 0 || out.killed_by.is_some() {
                install_ok = false;
                combined = outcome_to_result(out);
                combined.install_failed = true;
                combined.stderr = format!("dependency install failed ({}):\n{}", step.args.join(" "), text);
                break;
            }
        }
        if install_ok {
            let markers = plan.markers.clone();
            let marked = as_user(identity, move || -> std::io::Result<()> {
                for m in &markers {
                    fs::create_dir_all(m.parent().expect("marker has a parent"))?;
                    confine::replace_file(m, b"", 0o644)?;
                }
                Ok(())
            })?;
            if let Err(e) = marked {
                logs.push(format!("[edgerun] the install markers could not be written ({e}): the next run installs again"));
            }
            // 2. Setup commands (each a script only the session's user can read, never a
            // command line another process could see), then the code.
            if let Some(c) = &req.context {
                // 2'. A live context: the code goes to its interpreter, no process is started
                // (but its first, or the first after it was lost).
                let mut r = self.run_in_context(sid, c, ws, &env, identity, &private, net.clone(), req, deadline, tee, cancel).await?;
                r.logs = std::mem::take(&mut logs);
                return self.finish(r, started, data_note, req, data_path, identity).await;
            }
            let mut steps = Vec::new();
            for (i, c) in req.commands.iter().enumerate() {
                let name = format!("setup-{i}.sh");
                let script = lang::write_code(&ctx, &name, c)?;
                steps.push(lang::bash_script_step(&self.config.runtimes.bash, &name, &script));
            }
            if req.commands.is_empty() || !req.code.is_empty() {
                if req.code.is_empty() && req.language.is_none() {
                    // nothing to run
                } else {
                    match plugin.steps(&ctx, &req.code) {
                        Ok(s) => steps.extend(s),
                        Err(e) => return Ok(not_prepared(&e)),
                    }
                }
            }
            let mut stdout = String::new();
            let mut stderr = String::new();
            for step in &steps {
                let out = self
                    .spawn(
                        step,
                        ws,
                        &env,
                        &req.env,
                        req.stdin.as_bytes(),
                        deadline,
                        identity,
                        &private,
                        net.clone(),
                        tee.clone().map(|to| sandbox::Tap { to, log: false }),
                        Some(cancel.clone()),
                    )
                    .await?;
                cost.add(&out);
                let r = outcome_to_result(out);
                stdout.push_str(&r.stdout);
                stderr.push_str(&r.stderr);
                let failed = r.exit_code != 0 || r.killed_by.is_some();
                combined = r;
                if failed {
                    break;
                }
            }
            combined.stdout = stdout;
            combined.stderr = stderr;
        }
        combined.logs = logs;
        cost.put(&mut combined);
        self.finish(combined, started, data_note, req, data_path, identity).await
    }

    /// The end of every run: its log lines capped, its duration, its data read back.
    async fn finish(
        &self,
        mut combined: RunResult,
        started: std::time::Instant,
        data_note: Option<String>,
        req: &RunRequest,
        data_path: PathBuf,
        identity: Option<Identity>,
    ) -> AppResult<RunResult> {
        // Installer output is capped by the output limit; its lines are capped too (the newest kept).
        if combined.logs.len() > MAX_LOG_LINES {
            combined.logs.drain(..combined.logs.len() - MAX_LOG_LINES);
        }
        combined.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Some(note) = data_note {
            combined.stderr.push_str(&note);
        } else if req.data.is_some() {
            // 3. Data back: a regular file only, bounded, read as the user off the async threads.
            match read_data(data_path, identity).await {
                Ok(Some(v)) => combined.data = Some(v),
                Ok(None) => {}
                Err(note) => combined.stderr.push_str(&format!("\n[edgerun] {DATA_FILE} {note}: the previous data is kept\n")),
            }
        }
        Ok(combined)
    }

    /// Runs the request's code in its live context ([`crate::context`]), starting the
    /// context's interpreter as a run's process would be started when it has none.
    #[allow(clippy::too_many_arguments)]
    async fn run_in_context(
        &self,
        sid: &str,
        c: &edgerun_protocol::ContextRef,
        ws: &Path,
        env: &[(String, String)],
        identity: Option<Identity>,
        private: &Option<sandbox::Private>,
        net: Option<Arc<sandbox::NetNs>>,
        req: &RunRequest,
        deadline: tokio::time::Instant,
        tee: Option<sandbox::Chunks>,
        cancel: Arc<tokio::sync::Notify>,
    ) -> AppResult<RunResult> {
        let (program, args) = match c.language {
            Language::Python => (
                self.config.runtimes.python.clone(),
                vec![
                    "-P".to_string(),
                    "-c".into(),
                    crate::context::PYTHON_DRIVER.into(),
                    self.config.runtimes.py_context_lib.display().to_string(),
                ],
            ),
            // Internals exposed for the REPL's rewriting of top-level `await` (the user's code gains
            // nothing it lacks: it runs in that process with the same rights either way).
            Language::Node => {
                (self.config.runtimes.node.clone(), vec!["--expose-internals".to_string(), "-e".into(), crate::context::NODE_DRIVER.into()])
            }
            // The Node driver, which strips the types of each run's code first (without Node's
            // notice that type stripping is experimental, as the TypeScript plugin runs).
            Language::Typescript => (
                self.config.runtimes.node.clone(),
                vec![
                    "--expose-internals".to_string(),
                    "--no-warnings".into(),
                    "-e".into(),
                    crate::context::NODE_DRIVER.into(),
                    "typescript".into(),
                ],
            ),
            other => return Err(AppError::new(ErrorCode::BadRequest, format!("contexts run python, node or typescript, not {other}"))),
        };
        if !edgerun_protocol::valid_context_id(&c.id) {
            return Err(AppError::new(ErrorCode::BadRequest, "context ids are `ctx_` and 24 hex digits"));
        }
        let offline = net.is_some();
        let start = || {
            let mut env = env.to_vec();
            env.push(("MPLBACKEND".into(), "Agg".into()));
            Ok(crate::context::Start {
                spawn: Spawn {
                    program,
                    args,
                    cwd: ws.to_path_buf(),
                    env,
                    stdin: Vec::new(),
                    timeout: Duration::from_secs(edgerun_protocol::MAX_TIMEOUT_SECS),
                    limits: self.config.limits,
                    identity,
                    umask: 0o022,
                    kill_mode: self.kill_mode.clone(),
                    private: private.clone(),
                    net,
                    cancel: None,
                },
                offline,
            })
        };
        let run = crate::context::ContextRun {
            code: &req.code,
            env: &req.env,
            stdin: &req.stdin,
            deadline,
            tee,
            cancel,
            output_bytes: self.config.limits.output_bytes,
            checkpoint: Some(format!(
                "{}/contexts/{}/state.{}",
                edgerun_protocol::SANDBOX_DIR,
                c.id,
                if c.language == Language::Python { "pickle" } else { "v8" }
            )),
            checkpoint_max: crate::context::checkpoint_max(),
        };
        Ok(self.contexts.run(sid, &c.id, c.language, start, run).await?)
    }

    /// Stops a context's interpreter (`DELETE …/contexts/{ctx}`); false when it had none.
    pub fn stop_context(&self, sid: &str, ctx: &str) -> bool {
        self.contexts.stop(sid, ctx)
    }

    /// The session's contexts that have a live interpreter.
    pub fn live_contexts(&self, sid: &str) -> Vec<String> {
        self.contexts.live_ids(sid)
    }

    /// Stops the contexts without a run for `idle` ([`crate::context::IDLE_STOP`], checked every
    /// minute); their state is in their checkpoints. Answers how many.
    pub fn stop_idle_contexts(&self, idle: Duration) -> usize {
        self.contexts.stop_idle(idle)
    }

    /// Starts a background process ([`crate::process`]) in the session's workspace, which must
    /// hold `req.expect_version`: as the session's user, in its network namespace (always: a
    /// process's ports are reached there), with the run limits, under `bash -c`.
    pub async fn start_process(&self, sid: &str, req: edgerun_protocol::ProcessStart) -> AppResult<edgerun_protocol::ProcessState> {
        let slot_arc = self.slot(sid);
        let mut slot = slot_arc.lock().await;
        holds(&slot, &req.expect_version)?;
        if let Err(why) = &self.network_namespaces {
            return Err(AppError::new(
                ErrorCode::SandboxUnavailable,
                format!("background processes run in the session's network namespace, which this executor cannot make ({why})"),
            ));
        }
        let net = self.netns(sid, &mut slot)?;
        self.touch(sid, &mut slot)?;
        let root = self.root(sid);
        let mut env = self.base_env(&root);
        env.extend(session_env(sid, Language::Bash));
        env.extend(req.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let spawn = Spawn {
            program: self.config.runtimes.bash.clone(),
            args: vec!["-c".into(), req.command.clone()],
            cwd: root.join("ws"),
            env,
            stdin: Vec::new(),
            timeout: Duration::from_secs(req.max_secs),
            limits: self.config.limits,
            identity: slot.identity,
            umask: 0o022,
            kill_mode: self.kill_mode.clone(),
            private: self.private(&root),
            net: Some(net),
            cancel: None,
        };
        self.processes.start(sid, &req.id, &spawn, Duration::from_secs(req.max_secs)).map_err(|e| match e {
            crate::process::StartError::Conflict(m) => AppError::new(ErrorCode::Conflict, m),
            crate::process::StartError::Io(e) => AppError::internal(e),
        })
    }

    /// The session's network namespace, if it has one yet (the port route never makes one).
    pub fn session_netns(&self, sid: &str) -> Option<Arc<sandbox::NetNs>> {
        self.nets.lock().unwrap_or_else(|e| e.into_inner()).get(sid).cloned()
    }

    /// Whether the port route refuses `port`: the executor's own, and those closed to sandboxes.
    pub fn port_refused(&self, port: u16) -> bool {
        self.own_port == Some(port) || self.closed_ports.contains(&port)
    }

    /// The session's background processes.
    pub fn processes(&self) -> &crate::process::Processes {
        &self.processes
    }

    fn base_env(&self, root: &Path) -> Vec<(String, String)> {
        let r = &self.config.runtimes;
        let mut path_dirs: Vec<String> = Vec::new();
        for p in [&r.node, &r.python, &r.go, &r.deno, &r.bash] {
            if let Some(d) = p.parent() {
                let d = d.display().to_string();
                if !d.is_empty() && !path_dirs.contains(&d) {
                    path_dirs.push(d);
                }
            }
        }
        path_dirs.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(String::from));
        let tmp = if self.private_mounts { PathBuf::from("/tmp") } else { root.join("tmp") };
        let mut env = vec![
            ("PATH".to_string(), path_dirs.join(":")),
            ("HOME".to_string(), root.join("home").display().to_string()),
            ("TMPDIR".to_string(), tmp.display().to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ];
        for name in &self.config.pass_env {
            if let Ok(v) = std::env::var(name) {
                env.push((name.clone(), v));
            }
        }
        env
    }

    #[allow(clippy::too_many_arguments)]
    async fn spawn(
        &self,
        step: &Step,
        ws: &Path,
        env: &[(String, String)],
        user_env: &std::collections::BTreeMap<String, String>,
        stdin: &[u8],
        deadline: tokio::time::Instant,
        identity: Option<Identity>,
        private: &Option<sandbox::Private>,
        net: Option<Arc<sandbox::NetNs>>,
        tap: Option<sandbox::Tap>,
        cancel: Option<Arc<tokio::sync::Notify>>,
    ) -> AppResult<sandbox::Outcome> {
        let mut full_env = env.to_vec();
        full_env.extend(step.env.iter().cloned());
        full_env.extend(user_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let timeout = deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_millis(1));
        let spec = Spawn {
            program: step.program.clone(),
            args: step.args.clone(),
            cwd: step.cwd.clone().unwrap_or_else(|| ws.to_path_buf()),
            env: full_env,
            stdin: stdin.to_vec(),
            timeout,
            limits: self.config.limits,
            identity,
            umask: step.umask,
            kill_mode: self.kill_mode.clone(),
            private: private.clone(),
            net,
            cancel,
        };
        match sandbox::run_teed(spec, tap).await {
            Ok(o) => Ok(o),
            Err(e) => Ok(sandbox::Outcome {
                exit_code: 127,
                stderr: format!("could not start {}: {e}", step.program.display()).into_bytes(),
                ..Default::default()
            }),
        }
    }

    /// A full snapshot of the committed version the executor holds (for compaction): every entry
    /// in one tar, read from disk but described by the manifest, which the marker vouches for.
    pub async fn snapshot(&self, sid: &str, expect: Option<String>) -> AppResult<(Delta, fs::File)> {
        let slot_arc = self.slot(sid);
        let slot = slot_arc.lock().await;
        let (Some(version), Some(base)) = (slot.version.clone(), slot.base.clone()) else {
            return Err(AppError::new(ErrorCode::WorkspaceStale, "the executor holds no committed version of this session"));
        };
        if expect.as_ref() != Some(&version) {
            return Err(AppError::new(ErrorCode::WorkspaceStale, format!("executor holds version {version}, caller expected {expect:?}")));
        }
        if !slot.skipped.is_empty() {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "the workspace holds entries the filesystem cannot hold (see the runs' stderr): it is not snapshotted",
            ));
        }
        if slot.held {
            return Err(AppError::new(
                ErrorCode::Conflict,
                "context checkpoints were held back since the last commit: commit them (a run without code) before a snapshot",
            ));
        }
        let ws = self.root(sid).join("ws");
        let mut file = unlinked_file(&self.root(sid).join("snapshot.tar"))?;
        let identity = slot.identity;
        let (mut delta, tar) = tokio::task::spawn_blocking(move || {
            confine::in_dir(identity, &ws.clone(), move || -> std::io::Result<_> {
                let d = workspace::build_delta_to(Path::new("."), None, &base, &mut file)?;
                std::io::Seek::rewind(&mut file)?;
                Ok((d, file))
            })?
        })
        .await
        .map_err(AppError::internal)??;
        delta.version = version;
        Ok((delta, tar))
    }

    /// Applies uploads and deletions to the version the executor holds (see [`workspace::apply_small`]).
    pub async fn apply(&self, sid: &str, req: ApplyRequest, body: Vec<u8>) -> AppResult<()> {
        let slot_arc = self.slot(sid);
        let mut slot = slot_arc.lock().await;
        if slot.version.as_deref() != Some(req.expect_version.as_str()) {
            return Err(AppError::new(
                ErrorCode::WorkspaceStale,
                format!("executor holds version {:?}, caller expected {}", slot.version, req.expect_version),
            ));
        }
        let Some(mut base) = slot.base.take() else {
            return Err(AppError::new(ErrorCode::WorkspaceStale, "the executor holds no manifest for this session"));
        };
        slot.version = None;
        let (ws, stage) = (self.root(sid).join("ws"), self.root(sid).join("stage"));
        let identity = slot.identity;
        let (put, delete) = (req.put.clone(), req.delete.clone());
        let skipped = tokio::task::spawn_blocking(move || {
            confine::in_dir(identity, &ws.clone(), move || workspace::apply_small(Path::new("."), &stage, &put, &body, &delete))
        })
        .await
        .map_err(AppError::internal)???;
        let touched = |k: &str| req.put.iter().any(|e| e.path == k) || req.delete.iter().any(|p| k == p || k.starts_with(&format!("{p}/")));
        slot.skipped.entries.retain(|(e, _)| !touched(&e.path));
        slot.skipped.entries.extend(skipped.entries);
        slot.skipped.entries.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        for p in &req.delete {
            let prefix = format!("{p}/");
            base.entries.retain(|k, _| k != p && !k.starts_with(&prefix));
        }
        for e in req.put {
            base.entries.insert(e.path.clone(), e);
        }
        base.version = req.version.clone();
        slot.base = Some(base);
        slot.version = Some(req.version);
        Ok(())
    }

    /// Replaces a session's workspace with a full snapshot.
    pub async fn inject(&self, sid: &str, req: InjectRequest, mut body: Box<dyn std::io::Read + Send>) -> AppResult<()> {
        let slot_arc = self.slot(sid);
        let mut slot = slot_arc.lock().await;
        self.touch(sid, &mut slot)?;
        slot.version = None;
        slot.base = None;
        let dirs = Dirs::new(&self.root(sid));
        let limits = InjectLimits {
            max_file_bytes: self.config.limits.file_size_bytes.max(100 << 20),
            max_total_bytes: self.config.max_workspace_bytes,
            max_entries: self.config.max_workspace_files,
        };
        let identity = slot.identity;
        let manifest = req.manifest.clone();
        let segments = req.segments.clone();
        slot.skipped = workspace::Skipped::default();
        // A live context or background process works in the workspace directory: it is kept,
        // and its content replaced.
        let in_place = !self.contexts.live_ids(sid).is_empty() || self.processes.any_live(sid);
        let skipped = tokio::task::spawn_blocking(move || -> Result<workspace::Skipped, workspace::SyncError> {
            workspace::recover(&dirs)?;
            // The staging tree is made by the runtime in its session root and handed to the
            // user; everything inside it is written with the user's authority.
            fs::create_dir(&dirs.staging)?;
            if let Some(id) = identity {
                std::os::unix::fs::chown(&dirs.staging, Some(id.uid), Some(id.gid))?;
            }
            let staging = dirs.staging.clone();
            // Built from inside the staging tree (see [`confine::in_dir`]): its location does not
            // count toward the system's path limit.
            let applied = confine::in_dir(identity, &staging.clone(), move || {
                workspace::apply_full_from(Path::new("."), &segments, &mut body, &manifest, limits)
            })?;
            let skipped = match applied {
                Ok(s) => s,
                Err(e) => {
                    let _ = fs::remove_dir_all(&dirs.staging);
                    return Err(e);
                }
            };
            fs::set_permissions(&dirs.staging, fs::Permissions::from_mode(0o700))?;
            if let Some(d) = failpoint_pause("inject-before-swap") {
                std::thread::sleep(d);
            }
            if in_place && dirs.ws.is_dir() {
                workspace::swap_contents(&dirs)?;
            } else {
                workspace::swap_in(&dirs)?;
            }
            Ok(skipped)
        })
        .await
        .map_err(AppError::internal)??;
        if !skipped.is_empty() {
            tracing::info!(sid, skipped = skipped.entries.len(), "entries the filesystem cannot hold were left out of the workspace");
        }
        slot.skipped = skipped;
        slot.held = false;
        let entries = req.manifest.into_iter().map(|e| (e.path.clone(), e)).collect();
        slot.base = Some(Manifest { version: req.version.clone(), scanned_at_ns: workspace::now_ns(), entries });
        slot.version = Some(req.version);
        Ok(())
    }

    /// Removes a session: its processes, its directories, its slot (and with it the descriptor
    /// that kept its network namespace, which the kernel frees once its last process is gone).
    pub async fn delete(&self, sid: &str) -> AppResult<()> {
        let slot_arc = self.slot(sid);
        let mut slot = slot_arc.lock().await;
        self.contexts.stop_session(sid);
        self.processes.stop_session(sid).await;
        self.nets.lock().unwrap_or_else(|e| e.into_inner()).remove(sid);
        if let Some(id) = slot.identity {
            sandbox::kill_uid(id);
            if let sandbox::KillMode::Cgroup(cg) = &self.kill_mode {
                // The child parked for the session's next run goes, and the session's group with it.
                cg.unpark(Some(id.uid));
            }
        }
        let root = self.root(sid);
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        *slot = Slot::default();
        Ok(())
    }
}

/// Puts the entries left out of the workspace back into a scan of it (unchanged, so the delta
/// neither deletes nor carries them: they stay the session's) while their parent directory is
/// still there and nothing took their path; the others are gone with their parent. Answers the
/// ones put back.
fn keep_skipped(m: &mut Manifest, skipped: Vec<(edgerun_protocol::Entry, String)>) -> Vec<(edgerun_protocol::Entry, String)> {
    let mut kept = Vec::new();
    for (e, why) in skipped {
        let parent_kept =
            e.path.rsplit_once('/').is_none_or(|(p, _)| m.entries.get(p).is_some_and(|d| d.kind == edgerun_protocol::EntryKind::Dir));
        if parent_kept && !m.entries.contains_key(&e.path) {
            m.entries.insert(e.path.clone(), e.clone());
            kept.push((e, why));
        }
    }
    kept
}

/// The variables naming the run's session and language (ERA's names too): the session id is
/// the executor's, the language the request's (bash for setup commands). Nothing secret.
fn session_env(sid: &str, lang: Language) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> =
        ["SESSION_ID", "ERA_SESSION_ID", "ERA_SESSION"].iter().map(|k| (k.to_string(), sid.to_string())).collect();
    env.extend(["SESSION_LANGUAGE", "ERA_LANGUAGE"].iter().map(|k| (k.to_string(), lang.as_str().to_string())));
    env
}

/// Removes everything inside `dir` (the caller takes the session user's authority), never
/// following a link.
fn empty_dir(dir: &Path) -> std::io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            fs::remove_dir_all(e.path())?;
        } else {
            fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// Gives freed heap back to the system after a run (output buffers, manifests), so the
/// executor's resident memory stays flat over thousands of runs instead of ratcheting up.
fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Builds (or finds) the machine's read-only Go seed cache for the configured Go and answers
/// where it is.
pub fn seed_go_cache(config: &Config) -> std::io::Result<PathBuf> {
    let go = &config.runtimes.go;
    let dir = lang::go::seed_dir(&config.go_seed_root, go)
        .ok_or_else(|| std::io::Error::other(format!("{} does not tell its version", go.display())))?;
    lang::go::seed(go, &dir, &go_build_env(config))?;
    Ok(dir)
}

/// The environment Go builds get in sessions, as far as it shapes what the compiler produces:
/// the seed cache is built with it, so that sessions' builds find its entries.
fn go_build_env(config: &Config) -> Vec<(String, String)> {
    let mut path: Vec<String> = config.runtimes.go.parent().map(|d| d.display().to_string()).into_iter().collect();
    path.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(String::from));
    vec![
        ("PATH".into(), path.join(":")),
        ("LANG".into(), "C.UTF-8".into()),
        ("GOFLAGS".into(), "-modcacherw".into()),
        ("GOTOOLCHAIN".into(), "local".into()),
        ("GOTELEMETRY".into(), "off".into()),
    ]
}

/// A new file at `path` (in the runtime's session root), unlinked at once: it lives as long as
/// its handle.
fn unlinked_file(path: &Path) -> std::io::Result<fs::File> {
    let _ = fs::remove_file(path);
    let file = fs::File::options().read(true).write(true).create_new(true).mode(0o600).open(path)?;
    fs::remove_file(path)?;
    Ok(file)
}

/// Reads the data file user code left: a regular file of at most [`MAX_DATA_BYTES`], never
/// through a link, never blocking on a FIFO, as the session's user, off the async threads and
/// within 5 s; the file is removed afterwards. `Err` carries the note for the run's stderr.
async fn read_data(path: PathBuf, identity: Option<Identity>) -> Result<Option<serde_json::Value>, String> {
    let read = tokio::task::spawn_blocking(move || {
        as_user(identity, move || {
            let r = confine::read_regular(&path, MAX_DATA_BYTES);
            let _ = fs::remove_file(&path);
            r
        })
    });
    let bytes = match tokio::time::timeout(Duration::from_secs(5), read).await {
        Err(_) => return Err("could not be read within 5 s".into()),
        Ok(Err(e)) => return Err(format!("could not be read ({e})")),
        Ok(Ok(Err(e))) => return Err(format!("could not be read ({e})")),
        Ok(Ok(Ok(Err(confine::ReadRefused::TooLarge(n))))) => return Err(format!("is {n} bytes, over the {MAX_DATA_BYTES}-byte limit")),
        Ok(Ok(Ok(Err(e)))) => return Err(e.to_string()),
        Ok(Ok(Ok(Ok(None)))) => return Ok(None),
        Ok(Ok(Ok(Ok(Some(b))))) => b,
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if v.is_object() => Ok(Some(v)),
        Ok(_) => Err("does not hold a JSON object".into()),
        Err(e) => Err(format!("is not valid JSON ({e})")),
    }
}

/// The answer of a run that could not be prepared because of what user code left in the
/// workspace (a FIFO as `go.mod`, a file where a directory belongs): nothing ran.
fn not_prepared(e: &std::io::Error) -> RunResult {
    RunResult { exit_code: 126, stderr: format!("[edgerun] the run could not be prepared: {e}\n"), ..Default::default() }
}

fn outcome_to_result(o: sandbox::Outcome) -> RunResult {
    RunResult {
        exit_code: o.exit_code,
        signal: o.signal,
        timed_out: o.killed_by == Some(edgerun_protocol::KilledBy::Timeout),
        killed_by: o.killed_by,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        truncated: o.truncated,
        duration_ms: o.duration.as_secs_f64() * 1000.0,
        cpu_ms: o.cpu_ms,
        peak_memory_bytes: o.peak_memory_bytes,
        ..Default::default()
    }
}

/// What the steps of one run cost together: CPU times add up, the memory peak is the largest.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    cpu_ms: Option<f64>,
    peak_memory_bytes: Option<u64>,
}

impl Cost {
    fn add(&mut self, o: &sandbox::Outcome) {
        if let Some(c) = o.cpu_ms {
            self.cpu_ms = Some(self.cpu_ms.unwrap_or(0.0) + c);
        }
        self.peak_memory_bytes = self.peak_memory_bytes.max(o.peak_memory_bytes);
    }

    fn put(self, r: &mut RunResult) {
        r.cpu_ms = self.cpu_ms;
        r.peak_memory_bytes = self.peak_memory_bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_follow_the_contract() {
        assert!(valid_session_id("my-counter_1"));
        assert!(valid_session_id(&"a".repeat(64)));
        assert!(!valid_session_id(&"a".repeat(65)));
        assert!(!valid_session_id(""));
        assert!(!valid_session_id("../etc"));
        assert!(!valid_session_id("a b"));
    }
}
