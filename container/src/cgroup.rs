//! Cgroups for runs: exact memory and process limits, and one write that kills a whole run.
//!
//! Where the executor may create cgroups (root in a container with a delegated or private cgroup
//! tree, or a root-run development machine), each run gets a group of its own in every hierarchy
//! that helps: the unified (v2) one for `cgroup.kill` and, where its controllers are there, for
//! `memory.max` and `pids.max`; v1 `memory` and `pids` hierarchies otherwise (hybrid machines
//! bind those controllers to v1). The child joins its groups before exec, before it can fork, so
//! nothing it starts — `setsid`, double forks, daemons — leaves them. Joining is slow (see
//! [`crate::spawn`]), so a child is forked and joins the next run's groups ahead of time, after
//! each run of a session ([`Cgroups::start`]): the run that comes next finds it parked there.
//!
//! Each session has a group of its own above its runs' ([`Cgroups::create`] with the session's
//! uid): it caps what all the session's processes together hold — its runs, its live contexts,
//! and any other long-lived process placed there — at [`SESSION_SHARE`] times one run's limits,
//! and each run or context has its own group with its own limits inside it.
//!
//! A run's limit is named from the groups' own event counters: `oom_kill` (memory) and the
//! `pids` controller's `max` (a fork refused at the process limit). Memory is the cgroup's
//! charge, page cache included, and never an address-space limit, so V8 and Go run normally.
//!
//! Layout: `<the executor's own group>/edgerun-<name>/s<uid>/<run tag>`, per hierarchy; `<name>` is
//! derived from the work root, so several executors on one machine keep apart, and groups left by
//! an executor that died are emptied and removed when the next one starts.
use edgerun_protocol::KilledBy;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A session's processes together hold at most this many times one run's memory and processes.
pub const SESSION_SHARE: u64 = 2;

/// At most this many children wait parked at once (one per recently active session).
const PARKED_MAX: usize = 4;

/// One hierarchy the runs' groups are made in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hierarchy {
    /// `.../edgerun-<name>`: the parent of every run group of this executor.
    base: PathBuf,
    v2: bool,
    memory: bool,
    pids: bool,
}

impl Hierarchy {
    /// Makes the base group; in v2 its children get the memory and pids controllers it uses.
    fn make_base(&self) -> io::Result<()> {
        fs::create_dir_all(&self.base)?;
        let wanted: Vec<&str> = [(self.memory, "memory"), (self.pids, "pids")].into_iter().filter(|(on, _)| *on).map(|(_, c)| c).collect();
        if self.v2 {
            enable_v2(&self.base, &wanted, false)?;
        }
        Ok(())
    }

    /// Removes the empty bases of other executors on this machine that ended without removing
    /// theirs (killed, or stopped without cleanup). A base in use holds run groups and cannot be
    /// removed; an idle executor whose base goes makes it again at its next run.
    fn sweep_unused(&self) {
        let Some(parent) = self.base.parent() else { return };
        let Ok(rd) = fs::read_dir(parent) else { return };
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("edgerun-") && name != "edgerun-init" && e.path() != self.base {
                let _ = fs::remove_dir(e.path());
            }
        }
    }
}

/// Where cgroup hierarchies are mounted and which group this process is in, per hierarchy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// The directory of this process's own v2 group, if a v2 hierarchy is mounted.
    pub v2: Option<PathBuf>,
    /// The directory of this process's own v1 `memory` group, if that controller is mounted on v1.
    pub v1_memory: Option<PathBuf>,
    /// The directory of this process's own v1 `pids` group, if that controller is mounted on v1.
    pub v1_pids: Option<PathBuf>,
}

/// Finds this process's groups from the texts of `/proc/self/mountinfo` and `/proc/self/cgroup`.
pub fn placement(mountinfo: &str, proc_cgroup: &str) -> Placement {
    // (hierarchy: None for v2, or the v1 controller) → path of our group inside it
    let mut v2_path = None;
    let mut v1_paths: Vec<(String, String)> = Vec::new();
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        if id == "0" && ctrls.is_empty() {
            v2_path = Some(path.to_string());
        } else {
            for c in ctrls.split(',') {
                v1_paths.push((c.to_string(), path.to_string()));
            }
        }
    }
    let mut out = Placement::default();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 5 || right.len() < 3 {
            continue;
        }
        let (root, mountpoint) = (left[3], Path::new(left[4]));
        let dir_of = |path: &str| -> Option<PathBuf> {
            // The mount shows the hierarchy from `root` down: our group must lie inside it.
            let rel = if root == "/" { path } else { path.strip_prefix(root).filter(|r| r.is_empty() || r.starts_with('/'))? };
            Some(mountpoint.join(rel.trim_start_matches('/')))
        };
        match right[0] {
            "cgroup2" if out.v2.is_none() => out.v2 = v2_path.as_deref().and_then(dir_of),
            "cgroup" => {
                let opts: Vec<&str> = right[2].split(',').collect();
                for (ctrl, slot) in [("memory", &mut out.v1_memory), ("pids", &mut out.v1_pids)] {
                    if slot.is_none() && opts.contains(&ctrl) {
                        *slot = v1_paths.iter().find(|(c, _)| c == ctrl).and_then(|(_, p)| dir_of(p));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// A run that starts within this long of its session's last run's end comes "back to back".
const BACK_TO_BACK: Duration = Duration::from_millis(30);

/// The cgroups this executor makes its runs' groups in. Dropping it removes its (empty) bases.
#[derive(Debug)]
pub struct Cgroups {
    hierarchies: Vec<Hierarchy>,
    parked: Mutex<Parking>,
    /// Signalled whenever a parked child is ready (or failed to be).
    parked_changed: Condvar,
}

/// Children forked ahead and waiting in the groups of their session's next run.
#[derive(Debug, Default)]
struct Parking {
    /// Ready children, oldest first.
    ready: Vec<Parked>,
    /// Sessions for which a child is being forked and joined right now.
    filling: Vec<Option<u32>>,
    /// When each session's last run ended (a handful: one per recently active session).
    ended: Vec<(Option<u32>, Instant)>,
}

#[derive(Debug)]
struct Parked {
    session: Option<u32>,
    tag: String,
    /// Declared before `group`: dropped first, the child is killed and reaped before its
    /// groups are removed.
    child: crate::spawn::Ready,
    group: RunGroup,
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value)
}

/// The number after `key ` in a flat-keyed cgroup file (`memory.events`, `pids.events`, …).
fn counter(path: &Path, key: &str) -> u64 {
    let Ok(text) = fs::read_to_string(path) else { return 0 };
    text.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' '))).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn pids_in(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs")).map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect()).unwrap_or_default()
}

/// Kills every process of the group at `dir` and waits (up to 2 s) until none is left.
fn empty_group(dir: &Path, v2: bool) {
    let killed_at_once = v2 && write(&dir.join("cgroup.kill"), "1").is_ok();
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let pids = pids_in(dir);
        if pids.is_empty() || Instant::now() > until {
            return;
        }
        if !killed_at_once {
            for pid in pids {
                // SAFETY: kill(2) on a pid listed in the group; harmless if it is already gone.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Removes a group directory; it may take a moment to become removable after its processes die.
fn remove_group(dir: &Path) {
    for _ in 0..50 {
        match fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => std::thread::sleep(Duration::from_millis(2)),
            _ => return,
        }
    }
}

/// Makes sure `controllers` are enabled for the children of the v2 group `dir`. A group that
/// holds processes cannot enable controllers for children (v2's no-internal-process rule): when
/// `dir` is the root of this container's own cgroup namespace, its processes move to a leaf
/// `edgerun-init` group first, as container inits do; elsewhere they are left alone.
fn enable_v2(dir: &Path, controllers: &[&str], may_evacuate: bool) -> io::Result<()> {
    let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let missing: Vec<&str> = controllers.iter().copied().filter(|c| !enabled.split_whitespace().any(|e| e == *c)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = missing.iter().map(|c| format!("+{c}")).collect::<Vec<_>>().join(" ");
    match write(&dir.join("cgroup.subtree_control"), &line) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) && may_evacuate => {
            let init = dir.join("edgerun-init");
            fs::create_dir_all(&init)?;
            for pid in pids_in(dir) {
                let _ = write(&init.join("cgroup.procs"), &pid.to_string());
            }
            write(&dir.join("cgroup.subtree_control"), &line)
        }
        r => r,
    }
}

impl Cgroups {
    /// Sets up this executor's groups, or says why cgroups cannot be used here. Usable means: a
    /// memory and a pids controller in some hierarchy where this process may create groups.
    pub fn detect(name: &str) -> Result<Cgroups, String> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
        let own = fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
        let at = placement(&mountinfo, &own);
        let ns_root = own.lines().any(|l| l == "0::/");
        let dir_name = format!("edgerun-{name}");
        let mut hierarchies = Vec::new();
        let mut errors = Vec::new();
        if let Some(own_dir) = &at.v2 {
            let available = fs::read_to_string(own_dir.join("cgroup.controllers")).unwrap_or_default();
            let wanted: Vec<&str> = ["memory", "pids"].into_iter().filter(|c| available.split_whitespace().any(|a| a == *c)).collect();
            // The hierarchy's real root has no cgroup.kill and no no-internal-process rule.
            let real_root = !own_dir.join("cgroup.kill").exists();
            let h =
                Hierarchy { base: own_dir.join(&dir_name), v2: true, memory: wanted.contains(&"memory"), pids: wanted.contains(&"pids") };
            match enable_v2(own_dir, &wanted, ns_root && !real_root).and_then(|()| h.make_base()) {
                Ok(()) if h.base.join("cgroup.kill").exists() => hierarchies.push(h),
                Ok(()) => errors.push("v2: no cgroup.kill (kernel older than 5.14)".to_string()),
                Err(e) => errors.push(format!("v2 at {}: {e}", own_dir.display())),
            }
        }
        // v1 for whichever of memory and pids v2 does not provide.
        for (ctrl, dir) in [("memory", &at.v1_memory), ("pids", &at.v1_pids)] {
            let memory = ctrl == "memory";
            let Some(dir) = dir else { continue };
            if hierarchies.iter().any(|h: &Hierarchy| if memory { h.memory } else { h.pids }) {
                continue;
            }
            let h = Hierarchy { base: dir.join(&dir_name), v2: false, memory, pids: !memory };
            match h.make_base() {
                Ok(()) => hierarchies.push(h),
                Err(e) => errors.push(format!("v1 {ctrl} at {}: {e}", dir.display())),
            }
        }
        let cg = Cgroups { hierarchies, parked: Mutex::new(Parking::default()), parked_changed: Condvar::new() };
        if !cg.hierarchies.iter().any(|h| h.memory) || !cg.hierarchies.iter().any(|h| h.pids) {
            let why = if errors.is_empty() { "no memory and pids controllers are mounted".to_string() } else { errors.join("; ") };
            return Err(why);
        }
        // Groups of runs whose executor died with them: their processes die now.
        for h in &cg.hierarchies {
            h.sweep_unused();
            remove_tree(&h.base, h.v2, false);
        }
        Ok(cg)
    }

    /// A short description for logs and `/health`, e.g. `v2 kill, v1 memory, v1 pids`.
    pub fn describe(&self) -> String {
        self.hierarchies
            .iter()
            .map(|h| {
                let what: Vec<&str> =
                    [(h.v2, "kill"), (h.memory, "memory"), (h.pids, "pids")].into_iter().filter(|(on, _)| *on).map(|(_, w)| w).collect();
                format!("{} {}", if h.v2 { "v2" } else { "v1" }, what.join("+"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Makes the groups of one run (or of a live context, or any long-lived process of the
    /// session) with its limits, inside the session's group when `session` (its uid) is given;
    /// a child joins them with [`RunGroup::join`]. This is the way to put a long-lived process
    /// of a session under the session's cap: its own limits, and the session's total above.
    pub fn create(&self, session: Option<u32>, tag: &str, memory_bytes: u64, max_processes: u64) -> io::Result<RunGroup> {
        let group = self.create_unlimited(session, tag, memory_bytes, max_processes)?;
        group.limit(memory_bytes, max_processes)?;
        Ok(group)
    }

    /// The session's group in `h` (made, with the session's cap, when missing), or the base.
    fn parent(&self, h: &Hierarchy, session: Option<u32>, memory_bytes: u64, max_processes: u64) -> io::Result<PathBuf> {
        let Some(uid) = session else { return Ok(h.base.clone()) };
        let dir = h.base.join(format!("s{uid}"));
        if dir.is_dir() {
            return Ok(dir);
        }
        match fs::create_dir(&dir) {
            // Another executor swept our base as unused (see `sweep_unused`): make it again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                h.make_base()?;
                fs::create_dir(&dir)?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(dir),
            r => r?,
        }
        let wanted: Vec<&str> = [(h.memory, "memory"), (h.pids, "pids")].into_iter().filter(|(on, _)| *on).map(|(_, c)| c).collect();
        if h.v2 {
            enable_v2(&dir, &wanted, false)?;
        }
        limit_dir(&dir, h, memory_bytes.saturating_mul(SESSION_SHARE), max_processes.saturating_mul(SESSION_SHARE))?;
        Ok(dir)
    }

    /// The groups of one run without limits of their own yet (a parked child waits in them).
    fn create_unlimited(&self, session: Option<u32>, tag: &str, memory_bytes: u64, max_processes: u64) -> io::Result<RunGroup> {
        let mut group = RunGroup { dirs: Vec::new(), procs: Vec::new(), session: None, cpu_base_usec: 0 };
        for h in &self.hierarchies {
            let mut made = None;
            for _ in 0..3 {
                let dir = self.parent(h, session, memory_bytes, max_processes)?.join(tag);
                match fs::create_dir(&dir) {
                    // The session's group was removed as empty meanwhile: make it again.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    r => {
                        r?;
                        made = Some(dir);
                        break;
                    }
                }
            }
            let dir = made.ok_or_else(|| io::Error::other("the session's group kept disappearing"))?;
            group.dirs.push((dir.clone(), h.clone()));
            let procs = fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs"))?;
            group.procs.push(procs.into());
        }
        group.session = session.map(|_| group.dirs.iter().filter_map(|(d, _)| d.parent().map(Path::to_path_buf)).collect());
        Ok(group)
    }

    /// Starts a run's process in the run's own groups, inside its session's, and returns them
    /// with it: a child parked for this session takes the run when there is one (no cgroup
    /// migration then delays the run), else one is forked and joins now. The caller parks a
    /// child for the session's next run ([`Cgroups::ended`]) once this run's processes are gone;
    /// a session whose runs come back to back gets it now, while this one runs.
    pub fn start(
        self: &Arc<Self>,
        session: Option<u32>,
        memory_bytes: u64,
        max_processes: u64,
        exec: &mut crate::spawn::Exec,
        tag_var: &str,
    ) -> io::Result<(RunGroup, crate::spawn::Child)> {
        let parked = self.take_parked(session);
        let was_parked = parked.is_some();
        let back_to_back = {
            let p = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            p.ended.iter().any(|(s, at)| *s == session && at.elapsed() < BACK_TO_BACK)
        };
        let (group, ready, tag) = match parked {
            Some(p) => {
                p.group.limit(memory_bytes, max_processes)?;
                (p.group, p.child, p.tag)
            }
            None => {
                let tag = run_tag();
                let group = self.create(session, &tag, memory_bytes, max_processes)?;
                let ready = crate::spawn::Ready::fork(&group.join_fds(), true)?;
                (group, ready, tag)
            }
        };
        let mut group = group;
        group.cpu_base_usec = group.cpu_usec().unwrap_or(0);
        exec.env.push((tag_var.to_string(), tag));
        let child = match ready.start(exec) {
            // A parked child that died while it waited (killed from outside): a fresh one, in
            // the same groups, takes the run.
            Err(e) if was_parked && matches!(e.raw_os_error(), Some(libc::EPIPE) | Some(libc::ECONNRESET)) => {
                crate::spawn::Ready::fork(&group.join_fds(), true).and_then(|r| r.start(exec))
            }
            r => r,
        };
        if back_to_back {
            // The next run may well come before this one's end would have parked its child.
            self.park(session, memory_bytes, max_processes, false);
        }
        Ok((group, child?))
    }

    /// Takes the child parked for `session`, waiting a little for one being parked right now
    /// (it is nearer to ready than a fresh one would be).
    fn take_parked(&self, session: Option<u32>) -> Option<Parked> {
        let mut p = self.parked.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + Duration::from_millis(50);
        loop {
            if let Some(i) = p.ready.iter().position(|x| x.session == session) {
                return Some(p.ready.remove(i));
            }
            let now = Instant::now();
            if !p.filling.contains(&session) || now >= until {
                return None;
            }
            p = self.parked_changed.wait_timeout(p, until - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Parks a child for `session`'s next run, on a thread of its own (unless one is parked or
    /// being parked); the oldest parked child goes when there are too many.
    ///
    /// `groups_now`: the child's groups are made before this returns (so that the session's
    /// group, which goes with its last member, outlives the run that ends now), else with the
    /// child on its thread.
    fn park(self: &Arc<Self>, session: Option<u32>, memory_bytes: u64, max_processes: u64, groups_now: bool) {
        {
            let mut p = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            if p.filling.contains(&session) || p.ready.iter().any(|x| x.session == session) {
                return;
            }
            p.filling.push(session);
        }
        let tag = run_tag();
        let make = {
            let (cg, tag) = (self.clone(), tag.clone());
            move || cg.create_unlimited(session, &tag, memory_bytes, max_processes)
        };
        let made_now = groups_now.then(make.clone());
        let cg = self.clone();
        let parked = std::thread::Builder::new().name("park".into()).spawn(move || {
            let made = made_now.unwrap_or_else(make).and_then(|group| Ok((crate::spawn::Ready::fork(&group.join_fds(), true)?, group)));
            let evicted = {
                let mut p = cg.parked.lock().unwrap_or_else(|e| e.into_inner());
                p.filling.retain(|s| *s != session);
                match made {
                    Ok((child, group)) => p.ready.push(Parked { session, tag, group, child }),
                    Err(e) => tracing::warn!(error = %e, "could not park a child for the next run"),
                }
                let over = p.ready.len().saturating_sub(PARKED_MAX);
                p.ready.drain(..over).collect::<Vec<_>>()
            };
            cg.parked_changed.notify_all();
            // Killed and removed outside the lock.
            drop(evicted);
        });
        if parked.is_err() {
            self.parked.lock().unwrap_or_else(|e| e.into_inner()).filling.retain(|s| *s != session);
            self.parked_changed.notify_all();
        }
    }

    /// A run of `session` has ended: a child is parked for its next run. Parking while a run
    /// runs slowed it (the parked child's fork and its move into its groups, which takes the
    /// cgroup threadgroup lock for writing after an RCU grace period, compete with the run's
    /// start on two cores): the executor alone after 100 ms pauses measured 6.5–8.2 ms median
    /// overhead parking during the run and 4.1–5.4 ms parking after it, in one sitting. Runs
    /// that come back to back park during the run all the same ([`Cgroups::start`]): after it,
    /// the next run waited for the park (3.9–4.8 ms during, 5.5–6.6 ms after).
    pub fn ended(self: &Arc<Self>, session: Option<u32>, memory_bytes: u64, max_processes: u64) {
        {
            let mut p = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            p.ended.retain(|(s, at)| *s != session && at.elapsed() < BACK_TO_BACK);
            p.ended.push((session, Instant::now()));
        }
        self.park(session, memory_bytes, max_processes, true);
    }

    /// Ends the children parked for `session` (its groups can then go, e.g. when it is deleted).
    pub fn unpark(&self, session: Option<u32>) {
        let gone: Vec<Parked> = {
            let mut p = self.parked.lock().unwrap_or_else(|e| e.into_inner());
            let (gone, kept) = std::mem::take(&mut p.ready).into_iter().partition(|x| x.session == session);
            p.ready = kept;
            gone
        };
        drop(gone);
        if let Some(uid) = session {
            for h in &self.hierarchies {
                let _ = fs::remove_dir(h.base.join(format!("s{uid}")));
            }
        }
    }
}

/// Writes a group's limits in hierarchy `h`.
fn limit_dir(dir: &Path, h: &Hierarchy, memory_bytes: u64, max_processes: u64) -> io::Result<()> {
    if h.memory && h.v2 {
        write(&dir.join("memory.max"), &memory_bytes.to_string())?;
        let _ = write(&dir.join("memory.swap.max"), "0");
        // An OOM kill takes the whole run, not one process picked from it.
        let _ = write(&dir.join("memory.oom.group"), "1");
    } else if h.memory {
        write(&dir.join("memory.limit_in_bytes"), &memory_bytes.to_string())?;
        let _ = write(&dir.join("memory.memsw.limit_in_bytes"), &memory_bytes.to_string());
    }
    if h.pids {
        write(&dir.join("pids.max"), &max_processes.to_string())?;
    }
    Ok(())
}

/// Kills the processes of every group below `dir` (deepest first) and removes those groups,
/// and `dir` itself when `remove_self`.
fn remove_tree(dir: &Path, v2: bool, remove_self: bool) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            remove_tree(&e.path(), v2, true);
        }
    }
    if remove_self {
        empty_group(dir, v2);
        remove_group(dir);
    }
}

/// A fresh random run tag (16 hex digits).
pub fn run_tag() -> String {
    let mut b = [0u8; 8];
    // SAFETY: getrandom(2) into an 8-byte stack buffer.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        drop(std::mem::take(&mut self.parked.get_mut().unwrap_or_else(|e| e.into_inner()).ready));
        for h in &self.hierarchies {
            remove_tree(&h.base, h.v2, false);
            let _ = fs::remove_dir(&h.base);
        }
    }
}

/// The groups of one run. Dropping it kills whatever is left in them and removes them.
#[derive(Debug)]
pub struct RunGroup {
    dirs: Vec<(PathBuf, Hierarchy)>,
    /// `cgroup.procs` of each group, opened (close-on-exec) by the executor so that the child can
    /// join after it dropped privileges: the kernel checks the opener's credentials.
    procs: Vec<OwnedFd>,
    /// The session's groups above these, removed with the last group inside them.
    session: Option<Vec<PathBuf>>,
    /// The v2 group's CPU time when the run started (what a parked child used before).
    cpu_base_usec: u64,
}

impl RunGroup {
    /// The file descriptors the child writes `0` (itself) into, between fork and exec.
    pub fn join_fds(&self) -> Vec<i32> {
        self.procs.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// Called in the child between fork and exec: moves it into every group of the run.
    /// Only async-signal-safe calls (write(2)).
    pub fn join(fds: &[i32]) -> io::Result<()> {
        for &fd in fds {
            // SAFETY: write(2) of a 1-byte static buffer to an fd the parent opened.
            if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Sets the run's memory and process limits on its groups.
    fn limit(&self, memory_bytes: u64, max_processes: u64) -> io::Result<()> {
        for (dir, h) in &self.dirs {
            limit_dir(dir, h, memory_bytes, max_processes)?;
            if h.memory && !h.v2 {
                // The peak starts at the run (not at a parked child's own pages).
                let _ = write(&dir.join("memory.max_usage_in_bytes"), "0");
            }
        }
        Ok(())
    }

    /// CPU time used in the group so far, in microseconds, from the v2 group's `cpu.stat`
    /// (present in every v2 group, with or without the cpu controller).
    fn cpu_usec(&self) -> Option<u64> {
        let (dir, _) = self.dirs.iter().find(|(_, h)| h.v2)?;
        let text = fs::read_to_string(dir.join("cpu.stat")).ok()?;
        text.lines().find_map(|l| l.strip_prefix("usage_usec ")).and_then(|v| v.trim().parse().ok())
    }

    /// Starts counting a new stretch of use in the groups (a context's next run): the CPU time
    /// so far becomes the base, and the v1 memory peak starts again from the current charge.
    /// Answers whether the peak could be reset (v2's `memory.peak` keeps the group's lifetime peak).
    pub fn restart_count(&mut self) -> bool {
        self.cpu_base_usec = self.cpu_usec().unwrap_or(0);
        let mut reset = false;
        for (dir, h) in &self.dirs {
            if h.memory && !h.v2 {
                reset |= write(&dir.join("memory.max_usage_in_bytes"), "0").is_ok();
            }
        }
        reset
    }

    /// What the run used: CPU time (ms) since it started, and the peak memory charge (bytes) of
    /// its groups, each when the kernel keeps it (`cpu.stat`; v2 `memory.peak`, v1
    /// `memory.max_usage_in_bytes`).
    pub fn usage(&self) -> (Option<f64>, Option<u64>) {
        let cpu = self.cpu_usec().map(|u| u.saturating_sub(self.cpu_base_usec) as f64 / 1000.0);
        let peak = self.dirs.iter().filter(|(_, h)| h.memory).find_map(|(dir, h)| {
            let file = if h.v2 { "memory.peak" } else { "memory.max_usage_in_bytes" };
            fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()
        });
        (cpu, peak)
    }

    /// Which limit the run hit, if any: an OOM kill in the group, or a fork refused at the
    /// process limit.
    pub fn tripped(&self) -> Option<KilledBy> {
        for (dir, h) in &self.dirs {
            if h.memory {
                let file = if h.v2 { "memory.events" } else { "memory.oom_control" };
                if counter(&dir.join(file), "oom_kill") > 0 {
                    return Some(KilledBy::Memory);
                }
            }
        }
        for (dir, h) in &self.dirs {
            if h.pids && counter(&dir.join("pids.events"), "max") > 0 {
                return Some(KilledBy::Processes);
            }
        }
        None
    }

    /// How many processes of the run are alive (zombies not counted).
    pub fn alive(&self) -> usize {
        self.dirs.first().map(|(dir, _)| pids_in(dir).len()).unwrap_or(0)
    }

    /// Kills every process of the run, waiting until none is left.
    pub fn kill(&self) {
        // v2 first: one write kills everything; the v1 groups then hold nothing.
        let mut dirs: Vec<&(PathBuf, Hierarchy)> = self.dirs.iter().collect();
        dirs.sort_by_key(|(_, h)| !h.v2);
        for (dir, h) in dirs {
            empty_group(dir, h.v2);
        }
    }
}

impl Drop for RunGroup {
    fn drop(&mut self) {
        self.kill();
        self.procs.clear();
        for (dir, _) in &self.dirs {
            remove_group(dir);
        }
        // The session's group goes with its last member (it is made again at the next run);
        // one that still holds a run, a context or a parked child stays.
        for dir in self.session.iter().flatten() {
            let _ = fs::remove_dir(dir);
        }
    }
}

/// A stable short name for an executor's groups, from its work root.
pub fn name_for(work_root: &Path) -> String {
    let h = blake3::hash(work_root.as_os_str().as_bytes());
    h.to_hex()[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";

    #[test]
    fn hybrid_machine_uses_v2_for_kill_and_v1_for_limits() {
        let own = "8:pids:/\n4:memory:/process_api/867c\n1:cpu,cpuacct:/\n0::/\n";
        let p = placement(HYBRID_MOUNTS, own);
        assert_eq!(p.v2.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
        assert_eq!(p.v1_memory.as_deref(), Some(Path::new("/sys/fs/cgroup/memory/process_api/867c")));
        assert_eq!(p.v1_pids.as_deref(), Some(Path::new("/sys/fs/cgroup/pids")));
    }

    #[test]
    fn pure_v2_container_with_its_own_namespace() {
        let mounts = "1200 1100 0:40 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate";
        let p = placement(mounts, "0::/\n");
        assert_eq!(p, Placement { v2: Some("/sys/fs/cgroup".into()), ..Default::default() });
    }

    #[test]
    fn a_mount_that_shows_part_of_the_hierarchy_is_resolved_relative_to_its_root() {
        // A container without a cgroup namespace: the mount shows /docker/abc, /proc says the full path.
        let mounts = "50 40 0:40 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n\
                      51 40 0:41 /docker/abc /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids";
        let p = placement(mounts, "3:pids:/docker/abc/sub\n0::/docker/abc\n");
        assert_eq!(p.v2.as_deref(), Some(Path::new("/sys/fs/cgroup")));
        assert_eq!(p.v1_pids.as_deref(), Some(Path::new("/sys/fs/cgroup/pids/sub")));
        // A group outside what the mount shows cannot be reached through it.
        let p = placement(mounts, "0::/other\n3:pids:/docker/abcdef\n");
        assert_eq!(p, Placement::default());
    }

    #[test]
    fn no_cgroups_mounted() {
        assert_eq!(placement("22 1 0:21 / /proc rw - proc proc rw", "0::/\n"), Placement::default());
    }

    /// An executor killed mid-run leaves its run's groups and processes; the next one to start
    /// with the same work root kills those processes and removes the groups.
    #[test]
    fn groups_left_by_a_dead_executor_are_emptied_at_start() {
        use std::os::unix::process::{CommandExt, ExitStatusExt};
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("not root: cgroups are not tested here");
            return;
        }
        let name = format!("unit-{}", std::process::id());
        let cg = Cgroups::detect(&name).expect("root-run machines can make cgroups");
        let group = cg.create(Some(4242), "stale", 64 << 20, 16).expect("group");
        let dirs: Vec<PathBuf> = group.dirs.iter().map(|(d, _)| d.clone()).collect();
        let fds = group.join_fds();
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("600");
        // SAFETY: join only calls write(2).
        unsafe { cmd.pre_exec(move || RunGroup::join(&fds)) };
        let mut child = cmd.spawn().expect("sleep starts");
        assert_eq!(group.alive(), 1, "the child is in the run's group");
        // The executor dies: nothing is cleaned up.
        std::mem::forget(group);
        std::mem::forget(cg);
        let next = Cgroups::detect(&name).expect("cgroups again");
        assert_eq!(child.wait().expect("reaped").signal(), Some(libc::SIGKILL));
        for d in dirs {
            assert!(!d.exists(), "{} removed", d.display());
        }
        let bases: Vec<PathBuf> = next.hierarchies.iter().map(|h| h.base.clone()).collect();
        drop(next);
        for b in bases {
            assert!(!b.exists(), "{} removed with the executor", b.display());
        }
    }

    #[test]
    fn counters_are_read_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("memory.events");
        fs::write(&f, "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n").unwrap();
        assert_eq!(counter(&f, "oom_kill"), 1);
        assert_eq!(counter(&f, "max"), 12);
        assert_eq!(counter(&f, "oom"), 1);
        assert_eq!(counter(&dir.path().join("missing"), "max"), 0);
    }
}
