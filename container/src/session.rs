//! Sessions as the executor holds them: one work root per session id, runs serialized per
//! session, and the version marker that says which committed workspace version is on disk.
//!
//! The marker lives in memory: it is cleared when a run or inject starts and set only when it
//! finishes, so a killed run or a restarted executor never passes a workspace off as current; the
//! Worker then injects the committed version again. On first touch after start-up a session's
//! leftover directories are rolled back and wiped for the same reason.

use crate::cgroup::{self, Cgroups};
use crate::config::{Config, KillSetting};
use crate::error::{AppError, AppResult};
use crate::lang::{self, Ctx, Step};
use crate::sandbox::{self, Identity, Spawn};
use crate::workspace::{self, Dirs, InjectLimits, Manifest, Owner};
use edgerun_protocol::{
    ApplyRequest, Delta, ErrorCode, InjectRequest, Language, RunAnswer, RunRequest, RunResult, DATA_FILE, MAX_DATA_BYTES,
};
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Sandbox uids one executor hands out, from its base.
pub const UID_BLOCK: u32 = 1000;

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
                if is_root { sandbox::KillMode::Uid } else { sandbox::KillMode::Tag }
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

/// Session ids: `[A-Za-z0-9_-]{1,64}`.
pub fn valid_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[derive(Default)]
struct Slot {
    version: Option<String>,
    base: Option<Manifest>,
    identity: Option<Identity>,
    touched: bool,
}

pub struct Sessions {
    pub config: Config,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    next_uid: AtomicU32,
    is_root: bool,
    /// How runs are contained and killed, resolved once from the configuration and the machine.
    kill_mode: sandbox::KillMode,
}

impl Sessions {
    pub fn new(config: Config) -> std::io::Result<Sessions> {
        fs::create_dir_all(&config.work_root)?;
        let shared = config.work_root.join(".shared");
        fs::create_dir_all(shared.join("gocache"))?;
        // SAFETY: geteuid has no preconditions.
        let is_root = unsafe { libc::geteuid() } == 0;
        if is_root {
            // Sandbox users share one group, which may write the shared build cache and nothing else.
            for d in [&shared, &shared.join("gocache")] {
                std::os::unix::fs::chown(d, Some(0), Some(config.sandbox_gid))?;
                fs::set_permissions(d, fs::Permissions::from_mode(0o2775))?;
            }
            fs::set_permissions(&config.work_root, fs::Permissions::from_mode(0o711))?;
            // Runs of a previous executor that died with it (SIGKILL) may still be running.
            let killed = sandbox::kill_uid_range(config.sandbox_uid_base, config.sandbox_uid_base + UID_BLOCK);
            if killed > 0 {
                tracing::warn!(killed, "killed processes left by a previous executor");
            }
        }
        let next_uid = AtomicU32::new(config.sandbox_uid_base);
        // Keep uids stable across restarts: continue after the highest one already handed out.
        if let Ok(rd) = fs::read_dir(&config.work_root) {
            for e in rd.flatten() {
                if let Ok(s) = fs::read_to_string(e.path().join("uid")) {
                    if let Ok(u) = s.trim().parse::<u32>() {
                        next_uid.fetch_max(u + 1, Ordering::SeqCst);
                    }
                }
            }
        }
        let kill_mode = resolve_kill_mode(&config, is_root)?;
        Ok(Sessions { config, slots: Mutex::new(HashMap::new()), next_uid, is_root, kill_mode })
    }

    /// How runs are contained, for logs and `/health`: `cgroup (v2 kill, v1 memory, v1 pids)`, `uid`, `tag`.
    pub fn isolation(&self) -> String {
        match &self.kill_mode {
            sandbox::KillMode::Cgroup(cg) => format!("cgroup ({})", cg.describe()),
            sandbox::KillMode::Uid => "uid".into(),
            sandbox::KillMode::Tag => "tag".into(),
        }
    }

    fn slot(&self, sid: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        self.slots.lock().expect("slots lock").entry(sid.to_string()).or_default().clone()
    }

    fn root(&self, sid: &str) -> PathBuf {
        self.config.work_root.join(sid)
    }

    fn shared(&self) -> PathBuf {
        self.config.work_root.join(".shared")
    }

    /// Brings a session's directories to a known state the first time it is touched.
    fn touch(&self, sid: &str, slot: &mut Slot) -> AppResult<()> {
        let root = self.root(sid);
        fs::create_dir_all(&root)?;
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
                        let u = self.next_uid.fetch_add(1, Ordering::SeqCst);
                        fs::write(&uid_file, u.to_string())?;
                        u
                    }
                };
                slot.identity = Some(Identity { uid, gid: self.config.sandbox_gid });
            }
            slot.touched = true;
        }
        let owner = self.owner(slot);
        for d in ["ws", "home", "tmp"] {
            let p = root.join(d);
            if !p.exists() {
                fs::create_dir_all(&p)?;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o700))?;
                if let Some(o) = owner {
                    std::os::unix::fs::chown(&p, Some(o.uid), Some(o.gid))?;
                }
            }
        }
        Ok(())
    }

    fn owner(&self, slot: &Slot) -> Option<Owner> {
        slot.identity.map(|i| Owner { uid: i.uid, gid: i.gid })
    }

    pub async fn version(&self, sid: &str) -> Option<String> {
        self.slot(sid).lock().await.version.clone()
    }

    /// Runs code (or setup commands) in a session and answers the result plus the workspace delta.
    /// The delta's tar is written to a file under the session root and handed back open at its
    /// start (unlinked, so it goes away with its handle); it is never held in memory whole.
    pub async fn run(&self, sid: &str, req: RunRequest) -> AppResult<(RunAnswer, Option<fs::File>)> {
        let slot_arc = self.slot(sid);
        let mut slot = slot_arc.lock().await;
        if req.expect_version != slot.version {
            return Err(AppError::new(
                ErrorCode::WorkspaceStale,
                format!("executor holds version {:?}, caller expected {:?}", slot.version, req.expect_version),
            ));
        }
        self.touch(sid, &mut slot)?;
        let base = slot.base.take();
        slot.version = None;
        let root = self.root(sid);
        let ws = root.join("ws");
        let result = self.execute(&root, &ws, &req, slot.identity).await?;
        if req.restore_after {
            // The committed version is what stays; the Worker injects it again before the next run.
            return Ok((RunAnswer { result, delta: Delta { base: base.as_ref().map(|b| b.version.clone()), version: String::new(), ..Delta::default() } }, None));
        }
        if let Some(d) = failpoint_pause("run-before-extract") {
            tokio::time::sleep(d).await;
        }
        let ws2 = ws.clone();
        let out_path = root.join("delta.tar");
        let (max_bytes, max_files) = (self.config.max_workspace_bytes, self.config.max_workspace_files);
        let (manifest, built) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let m = workspace::scan(&ws2, base.as_ref())?;
            let total: u64 = m.entries.values().map(|e| e.size).sum();
            if total > max_bytes || m.entries.len() as u64 > max_files {
                return Ok((m, None));
            }
            let mut file = fs::File::options().read(true).write(true).create(true).truncate(true).open(&out_path)?;
            fs::remove_file(&out_path)?;
            let d = workspace::build_delta_to(&ws2, base.as_ref(), &m, &mut file)?;
            std::io::Seek::rewind(&mut file)?;
            Ok((m, Some((d, file))))
        })
        .await
        .map_err(AppError::internal)??;
        let total: u64 = manifest.entries.values().map(|e| e.size).sum();
        let mut result = result;
        // A file that reached the file-size limit means a write was refused (Python, for one,
        // ignores SIGXFSZ and raises instead): the disk limit ended the run.
        if result.killed_by.is_none() && manifest.entries.values().any(|e| e.size >= self.config.limits.file_size_bytes) {
            result.killed_by = Some(edgerun_protocol::KilledBy::Disk);
        }
        let Some((delta, tar)) = built else {
            result.stderr.push_str(&format!(
                "\n[edgerun] the workspace holds {} bytes in {} entries, over the limit of {} bytes in {} entries: this run's changes are not kept\n",
                total,
                manifest.entries.len(),
                self.config.max_workspace_bytes,
                self.config.max_workspace_files
            ));
            result.killed_by = result.killed_by.or(Some(edgerun_protocol::KilledBy::Disk));
            return Ok((RunAnswer { result, delta: Delta { version: String::new(), ..Delta::default() } }, None));
        };
        slot.version = Some(manifest.version.clone());
        slot.base = Some(manifest);
        release_free_memory();
        Ok((RunAnswer { result, delta }, Some(tar)))
    }

    async fn execute(&self, root: &Path, ws: &Path, req: &RunRequest, identity: Option<Identity>) -> AppResult<RunResult> {
        let ctx = Ctx { ws, runtimes: &self.config.runtimes, shared: &self.shared() };
        let data_path = ws.join(DATA_FILE);
        if let Some(data) = &req.data {
            fs::write(&data_path, serde_json::to_vec(data).map_err(AppError::internal)?)?;
            if let Some(i) = identity {
                std::os::unix::fs::chown(&data_path, Some(i.uid), Some(i.gid))?;
            }
        }
        let lang = req.language.unwrap_or(Language::Bash);
        let plugin = lang::plugin(lang);
        let mut env = self.base_env(root);
        env.extend(plugin.env(&ctx));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(req.timeout_secs);
        let mut logs = Vec::new();
        let mut combined = RunResult::default();
        let started = std::time::Instant::now();

        // 1. Installs, each set once.
        let plan = lang::install_steps(&ctx, &req.install)?;
        chown_sandbox_dir(ws, identity)?;
        for s in &plan.skipped {
            logs.push(format!("[{s}] requirements already installed"));
        }
        let mut install_ok = true;
        for step in &plan.steps {
            let out = self.spawn(step, ws, &env, &req.env, b"", deadline, identity).await?;
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
            for m in &plan.markers {
                fs::create_dir_all(m.parent().expect("marker has a parent"))?;
                fs::write(m, b"")?;
            }
            // 2. Setup commands, then the code.
            let mut steps = Vec::new();
            for c in &req.commands {
                steps.push(Step::new(&self.config.runtimes.bash, ["-c".to_string(), c.clone()]));
            }
            if req.commands.is_empty() || !req.code.is_empty() {
                if req.code.is_empty() && req.language.is_none() {
                    // nothing to run
                } else {
                    steps.extend(plugin.steps(&ctx, &req.code)?);
                }
            }
            chown_sandbox_dir(ws, identity)?;
            let mut stdout = String::new();
            let mut stderr = String::new();
            for step in &steps {
                if step.skip_if_exists.as_ref().is_some_and(|p| p.exists()) {
                    continue;
                }
                let out = self.spawn(step, ws, &env, &req.env, req.stdin.as_bytes(), deadline, identity).await?;
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
        combined.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        // 3. Data back.
        if req.data.is_some() {
            match fs::read(&data_path) {
                Ok(bytes) if bytes.len() > MAX_DATA_BYTES => combined.stderr.push_str(&format!(
                    "\n[edgerun] {DATA_FILE} is {} bytes, over the {MAX_DATA_BYTES}-byte limit: the previous data is kept\n",
                    bytes.len()
                )),
                Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                    Ok(v) if v.is_object() => combined.data = Some(v),
                    Ok(_) => combined.stderr.push_str(&format!("\n[edgerun] {DATA_FILE} does not hold a JSON object: the previous data is kept\n")),
                    Err(e) => combined.stderr.push_str(&format!("\n[edgerun] {DATA_FILE} is not valid JSON ({e}): the previous data is kept\n")),
                },
                Err(_) => {}
            }
            let _ = fs::remove_file(&data_path);
        }
        Ok(combined)
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
        let mut env = vec![
            ("PATH".to_string(), path_dirs.join(":")),
            ("HOME".to_string(), root.join("home").display().to_string()),
            ("TMPDIR".to_string(), root.join("tmp").display().to_string()),
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
        };
        match sandbox::run(spec).await {
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
        let ws = self.root(sid).join("ws");
        let out_path = self.root(sid).join("snapshot.tar");
        let (mut delta, tar) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let mut file = fs::File::options().read(true).write(true).create(true).truncate(true).open(&out_path)?;
            fs::remove_file(&out_path)?;
            let d = workspace::build_delta_to(&ws, None, &base, &mut file)?;
            std::io::Seek::rewind(&mut file)?;
            Ok((d, file))
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
            return Err(AppError::new(ErrorCode::WorkspaceStale, format!("executor holds version {:?}, caller expected {}", slot.version, req.expect_version)));
        }
        let Some(mut base) = slot.base.take() else {
            return Err(AppError::new(ErrorCode::WorkspaceStale, "the executor holds no manifest for this session"));
        };
        slot.version = None;
        let ws = self.root(sid).join("ws");
        let owner = self.owner(&slot);
        let (put, delete) = (req.put.clone(), req.delete.clone());
        tokio::task::spawn_blocking(move || workspace::apply_small(&ws, &put, &body, &delete, owner)).await.map_err(AppError::internal)??;
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
        let owner = self.owner(&slot);
        let manifest = req.manifest.clone();
        let segments = req.segments.clone();
        tokio::task::spawn_blocking(move || -> Result<(), workspace::SyncError> {
            workspace::recover(&dirs)?;
            let applied = workspace::apply_full_from(&dirs.staging, &segments, &mut body, &manifest, limits, owner);
            if let Err(e) = applied {
                let _ = fs::remove_dir_all(&dirs.staging);
                return Err(e);
            }
            fs::set_permissions(&dirs.staging, fs::Permissions::from_mode(0o700))?;
            if let Some(d) = failpoint_pause("inject-before-swap") {
                std::thread::sleep(d);
            }
            workspace::swap_in(&dirs)?;
            Ok(())
        })
        .await
        .map_err(AppError::internal)??;
        let entries = req.manifest.into_iter().map(|e| (e.path.clone(), e)).collect();
        slot.base = Some(Manifest { version: req.version.clone(), scanned_at_ns: workspace::now_ns(), entries });
        slot.version = Some(req.version);
        Ok(())
    }

    /// Removes a session: its processes, its directories, its slot.
    pub async fn delete(&self, sid: &str) -> AppResult<()> {
        let slot_arc = self.slot(sid);
        let mut slot = slot_arc.lock().await;
        if let Some(id) = slot.identity {
            sandbox::kill_uid(id);
        }
        let root = self.root(sid);
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        *slot = Slot::default();
        Ok(())
    }
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

/// Hands the runtime's directory (code files, Go module) to the sandbox user, who builds there.
fn chown_sandbox_dir(ws: &Path, identity: Option<Identity>) -> std::io::Result<()> {
    let Some(id) = identity else { return Ok(()) };
    fn walk(p: &Path, id: Identity) -> std::io::Result<()> {
        std::os::unix::fs::lchown(p, Some(id.uid), Some(id.gid))?;
        if fs::symlink_metadata(p)?.is_dir() {
            for e in fs::read_dir(p)? {
                walk(&e?.path(), id)?;
            }
        }
        Ok(())
    }
    let dir = ws.join(edgerun_protocol::SANDBOX_DIR);
    if dir.exists() {
        walk(&dir, id)?;
    }
    Ok(())
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
        ..Default::default()
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
