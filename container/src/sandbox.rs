//! Running one process tree under limits, and killing all of it.
//!
//! Each run gets its own process group and session, a scratch environment, rlimits (file size,
//! open files, core), captured stdout/stderr with a cap, and a timeout. When the executor runs as
//! root, user code runs as the session's unprivileged uid. How the whole tree is found, limited
//! and killed depends on the [`KillMode`]:
//!
//! - **cgroup** (preferred, automatic where groups can be made): the child joins the run's own
//!   groups before exec ([`crate::cgroup`]); memory and process limits are the kernel's, the
//!   limit hit is read from the groups' event counters, and one write to `cgroup.kill` ends
//!   every process, whatever it did to escape its session or parent.
//! - **uid** (root without usable cgroups): every process of the session's uid is killed with
//!   one `kill(-1, SIGKILL)` issued *as that uid*, which reaches `setsid` and double-forked
//!   children and cannot be outrun by a fork bomb. A watcher samples the uid's processes every
//!   50 ms and ends the run at the process limit or when their resident memory reaches the memory
//!   limit; `RLIMIT_NPROC` and a data-size `RLIMIT_DATA` (never an address-space limit, which
//!   breaks V8 and Go) stay as per-process backstops.
//! - **tag** (no root): every process whose environment carries the run's tag, found in /proc,
//!   plus the process group; a watcher sums the tagged processes' count and resident memory
//!   every 50 ms, with the rlimits as backstops.
//!
//! A run without internet enters its session's [`NetNs`] (a network namespace holding only a
//! loopback interface, made once per session) before it gives up root.

use crate::cgroup::{Cgroups, RunGroup};
use edgerun_protocol::KilledBy;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

/// Per-run resource limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The run's memory: the cgroup's charge where there is one, else the watched resident size
    /// with a data-size `RLIMIT_DATA` backstop; never an address-space limit (V8 and Go reserve a lot).
    pub memory_bytes: u64,
    /// Most processes of a run at once: the cgroup's `pids.max`, else the watched count, with
    /// `RLIMIT_NPROC` 16 above it as a backstop.
    pub max_processes: u64,
    /// Largest file a run may write (`RLIMIT_FSIZE`); reaching it ends the run as `disk`.
    pub file_size_bytes: u64,
    /// Most open descriptors per process (`RLIMIT_NOFILE`); the configuration demands at least 16.
    pub open_files: u64,
    /// Cap on each of stdout and stderr.
    pub output_bytes: usize,
}

impl Limits {
    /// What of them the process sets on itself as rlimits.
    pub fn rlimits(&self) -> crate::spawn::Rlimits {
        crate::spawn::Rlimits {
            memory_bytes: self.memory_bytes,
            max_processes: self.max_processes,
            file_size_bytes: self.file_size_bytes,
            open_files: self.open_files,
        }
    }
}

impl Identity {
    /// As the spawn takes it.
    pub fn ids(self) -> crate::spawn::Ids {
        crate::spawn::Ids { uid: self.uid, gid: self.gid }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 2 << 30, max_processes: 512, file_size_bytes: 1 << 30, open_files: 4096, output_bytes: 1 << 20 }
    }
}

/// A uid/gid pair to run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The session's sandbox uid, its own over the whole life of the work root.
    pub uid: u32,
    /// The sandbox gid, one for every session ([`crate::config::Config::sandbox_gid`]).
    pub gid: u32,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// Executable to start: a runtime from [`crate::config::Runtimes`] or a built Go binary.
    pub program: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Working directory, entered after the uid switch so that it resolves with the user's authority.
    pub cwd: PathBuf,
    /// The whole environment: the executor's own is cleared, and only [`RUN_TAG_VAR`] is added.
    pub env: Vec<(String, String)>,
    /// Bytes written to standard input from a task of its own; stdin is closed after them.
    pub stdin: Vec<u8>,
    /// Wall-clock time before the whole tree is killed and the run ends as `timeout`.
    pub timeout: Duration,
    /// Resource limits of this run.
    pub limits: Limits,
    /// Who the process runs as; `None` keeps the executor's uid (an executor without root).
    pub identity: Option<Identity>,
    /// File-creation mask of the process (`0o022` for plugin steps).
    pub umask: u32,
    /// How the whole tree is found when it must die.
    pub kill_mode: KillMode,
    /// The session's own `/tmp` and `/dev/shm`, mounted for the run in a mount namespace of its
    /// own together with a `/proc` that shows only the user's processes (needs root).
    pub private: Option<Private>,
    /// The network namespace the process runs in; `None` keeps the executor's (the machine's network).
    pub net: Option<Arc<NetNs>>,
    /// Notified to end the run (`POST …/cancel`): the tree is killed and the run ends as
    /// `cancelled`. A notification given while no run waits ends the next one that does.
    pub cancel: Option<Arc<Notify>>,
}

/// A network namespace of its own for a session: a loopback interface, up, and nothing else, so
/// that its processes reach no address outside it (a connect to anything but loopback fails at
/// once with "network is unreachable", and so does DNS, whose servers lie outside) while they
/// still reach one another on `127.0.0.1`. It is held by a descriptor, not by a process or a
/// mount: it lives while this value or a process inside it does, and nothing outlives an
/// executor that dies.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
}

impl NetNs {
    /// Makes a namespace (needs `CAP_SYS_ADMIN`): a thread of its own unshares its network
    /// namespace, keeps a descriptor of it and brings `lo` up inside, then ends, so no thread of
    /// the executor stays in it. Blocks for the kernel's work (about a millisecond here).
    pub fn create() -> std::io::Result<NetNs> {
        std::thread::Builder::new()
            .name("netns".into())
            .spawn(|| -> std::io::Result<NetNs> {
                // SAFETY: unshare and open on this thread only, with a static C string.
                let fd = unsafe {
                    check(libc::unshare(libc::CLONE_NEWNET), "unshare(CLONE_NEWNET)")?;
                    let fd = libc::open(c"/proc/thread-self/ns/net".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    OwnedFd::from_raw_fd(fd)
                };
                loopback_up()?;
                Ok(NetNs { fd })
            })?
            .join()
            .map_err(|_| std::io::Error::other("the thread making a network namespace panicked"))?
    }

    /// A descriptor of the namespace (for `setns`, as the port route's connects do).
    pub fn dup_fd(&self) -> std::io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    /// The namespace's inode, as `readlink /proc/self/ns/net` shows it inside (`net:[<inode>]`).
    pub fn inode(&self) -> std::io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(std::fs::File::from(self.fd.try_clone()?).metadata()?.ino())
    }
}

/// Brings the loopback interface of the calling thread's network namespace up (`SIOCSIFFLAGS`);
/// the kernel then gives it `127.0.0.1/8` and `::1`.
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: a socket used for two ioctls on a zeroed `ifreq` naming "lo", closed by OwnedFd.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let sock = OwnedFd::from_raw_fd(sock);
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, b) in req.ifr_name.iter_mut().zip(b"lo") {
            *d = *b as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(std::io::Error::other(format!("reading the flags of lo: {}", std::io::Error::last_os_error())));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(std::io::Error::other(format!("bringing lo up: {}", std::io::Error::last_os_error())));
        }
    }
    Ok(())
}

/// Whether runs can have a network namespace here: one is made and a child enters it as a run's
/// child would, and sees the loopback interface and no other. `Err` says why not.
pub fn network_namespaces_work() -> std::io::Result<()> {
    let net = Arc::new(NetNs::create()?);
    let prepared = Prepared::new(c"/".into(), Vec::new(), Some(net), None, 0o077, Limits::default(), Vec::new());
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", "grep -q '^ *lo:' /proc/net/dev && ! grep -qv -e '^ *lo:' -e '|' /proc/net/dev"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: `enter` makes only async-signal-safe calls.
    unsafe {
        cmd.pre_exec(move || prepared.enter());
    }
    let out = reaper::probe_output(&mut cmd)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "a probe run in a new network namespace did not see loopback alone ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A session's private directories, each bound over a shared writable directory of the machine
/// (`/tmp`, `/var/tmp`, `/dev/shm`, …) for its runs: (the session's directory, the mount point).
#[derive(Debug, Clone)]
pub struct Private {
    /// (session directory, mount point) pairs, bound in this order.
    pub binds: Vec<(PathBuf, PathBuf)>,
}

/// The machine's directories every user may write, with the session directory that replaces
/// each (`tmp` or `shm` under the session root); those that do not exist here are left out.
pub fn shared_writable_dirs() -> Vec<(&'static str, PathBuf)> {
    [("tmp", "/tmp"), ("tmp", "/var/tmp"), ("shm", "/dev/shm"), ("tmp", "/run/lock")]
        .into_iter()
        .filter(|(_, p)| Path::new(p).is_dir())
        .map(|(d, p)| (d, PathBuf::from(p)))
        .collect()
}

/// What the child does between fork and exec, prepared before the fork (no allocation after it),
/// for children started by `Command` (the probes and the contexts' interpreters).
struct Prepared {
    cwd: CString,
    /// (source, mount point) pairs; empty without private mounts.
    binds: Vec<(CString, CString)>,
    /// Pointers to the strings of `binds`, made before the fork (the child does not allocate).
    bind_ptrs: Vec<[*const std::ffi::c_char; 2]>,
    /// Entered first thing; held here so that its descriptor is open when the child forks.
    net: Option<Arc<NetNs>>,
    identity: Option<Identity>,
    umask: u32,
    limits: Limits,
    group_fds: Vec<i32>,
}

// SAFETY: the raw pointers point into this value's own CStrings, only read, never freed
// before it; moving or sharing it across threads keeps them valid.
unsafe impl Send for Prepared {}
// SAFETY: as above.
unsafe impl Sync for Prepared {}

fn cstring(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| std::io::Error::other(format!("{} holds a NUL byte", p.display())))
}

fn check(rc: libc::c_int, what: &'static str) -> std::io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        let e = std::io::Error::last_os_error();
        Err(std::io::Error::new(e.kind(), format!("{what}: {e}")))
    }
}

impl Prepared {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cwd: CString,
        binds: Vec<(CString, CString)>,
        net: Option<Arc<NetNs>>,
        identity: Option<Identity>,
        umask: u32,
        limits: Limits,
        group_fds: Vec<i32>,
    ) -> Prepared {
        let bind_ptrs = binds.iter().map(|(s, d)| [s.as_ptr(), d.as_ptr()]).collect();
        Prepared { cwd, binds, bind_ptrs, net, identity, umask, limits, group_fds }
    }

    /// Called in the child between fork and exec; only async-signal-safe calls: into the run's
    /// groups first (before anything can fork), then [`crate::spawn::Steps::enter`].
    fn enter(&self) -> std::io::Result<()> {
        RunGroup::join(&self.group_fds)?;
        let steps = crate::spawn::Steps {
            cwd: self.cwd.as_ptr(),
            binds: self.bind_ptrs.as_ptr(),
            nbinds: self.bind_ptrs.len(),
            net_fd: self.net.as_ref().map_or(-1, |n| n.fd.as_raw_fd()),
            identity: self.identity.map(Identity::ids),
            umask: self.umask,
            limits: self.limits.rlimits(),
            in_cgroups: !self.group_fds.is_empty(),
        };
        debug_assert_eq!(self.binds.len(), self.bind_ptrs.len());
        // SAFETY: every pointer points into a CString this value owns, alive while it is.
        unsafe { steps.enter() }.map_err(crate::spawn::Fail::into_io)
    }
}

/// Whether runs can have private mounts here: a child does what a run's child would, on `dir`.
pub fn private_mounts_work(dir: &Path) -> std::io::Result<()> {
    let (tmp, shm) = (dir.join("tmp"), dir.join("shm"));
    std::fs::create_dir_all(&tmp)?;
    std::fs::create_dir_all(&shm)?;
    let mut binds = Vec::new();
    for (sub, at) in shared_writable_dirs() {
        binds.push((cstring(&dir.join(sub))?, cstring(&at)?));
    }
    let prepared = Prepared::new(cstring(dir)?, binds, None, None, 0o077, Limits::default(), Vec::new());
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", "test -r /proc/self/status && : > /tmp/probe && : > /dev/shm/probe"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: `enter` makes only async-signal-safe calls.
    unsafe {
        cmd.pre_exec(move || prepared.enter());
    }
    let out = reaper::probe_output(&mut cmd)?;
    let landed = tmp.join("probe").exists() && shm.join("probe").exists();
    let _ = std::fs::remove_dir_all(dir);
    if out.status.success() && landed {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "a probe run could not use private mounts ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// How every process of a run is found when it must die.
#[derive(Debug, Clone)]
pub enum KillMode {
    /// The run's own cgroups: exact limits and `cgroup.kill`.
    Cgroup(Arc<Cgroups>),
    /// Everything of the session's uid: `kill(-1)` issued as that uid (needs root to switch uids).
    Uid,
    /// Every process whose environment carries the run's tag ([`RUN_TAG_VAR`]), found in /proc —
    /// the fallback without root, where runs share the executor's uid.
    Tag,
}

/// The environment variable carrying a run's tag (not a secret: it only names the run).
pub const RUN_TAG_VAR: &str = "__SANDBOX_RUN";

/// How a process tree ended.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Exit status of the main process: `128 + n` after signal `n`, 137 whenever a limit ended the
    /// run, -1 when the kernel told neither.
    pub exit_code: i32,
    /// Name of the signal that ended the main process (`SIGKILL` whenever a limit ended the run).
    pub signal: Option<String>,
    /// The limit that ended the run, if one did.
    pub killed_by: Option<KilledBy>,
    /// Captured standard output, at most `limits.output_bytes`.
    pub stdout: Vec<u8>,
    /// Captured standard error, at most `limits.output_bytes`; a note instead when a process
    /// outside the run kept the pipes open.
    pub stderr: Vec<u8>,
    /// Whether stdout or stderr went past the cap (the run then ends as `output`).
    pub truncated: bool,
    /// Wall-clock time from before the spawn until the output was collected.
    pub duration: Duration,
    /// CPU time of the run, in ms (see [`Ended::cpu_ms`]).
    pub cpu_ms: Option<f64>,
    /// Peak memory of the run, in bytes (see [`Ended::peak_memory_bytes`]).
    pub peak_memory_bytes: Option<u64>,
}

/// The conventional name of signal `sig` (`SIGKILL`), or `SIG<n>` for one not listed here.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("SIG{sig}"),
    };
    name.to_string()
}

/// How one run's processes are found: its groups, its uid, or its tag.
enum Tree {
    Group(RunGroup),
    Uid(Identity),
    Tag(String),
}

impl Tree {
    /// Kills every process of the run: its process group, then everything the mode can find.
    fn kill(&self, pgid: i32) {
        // SAFETY: kill(2) on a process group id we created; harmless if it is already gone.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        match self {
            Tree::Group(g) => g.kill(),
            Tree::Uid(id) => kill_uid(*id),
            Tree::Tag(tag) => {
                kill_tagged(tag);
                reaper::sweep(pgid);
            }
        }
    }

    /// The run's processes and their resident memory, as the uid and tag modes see them (read
    /// from all of /proc, off the async threads); cgroups count for themselves.
    async fn usage(&self) -> (u64, u64) {
        let read = match self {
            Tree::Uid(id) => {
                let uid = id.uid;
                tokio::task::spawn_blocking(move || usage_of_uid(uid))
            }
            Tree::Tag(tag) => {
                let tag = tag.clone();
                tokio::task::spawn_blocking(move || usage_of_tag(&tag))
            }
            Tree::Group(_) => return (0, 0),
        };
        read.await.unwrap_or((0, 0))
    }

    /// Resolves when the run reaches a watched limit, naming it.
    async fn watch(&self, limits: Limits) -> KilledBy {
        let mut every = tokio::time::interval(Duration::from_millis(50));
        every.tick().await;
        loop {
            every.tick().await;
            match self {
                Tree::Group(g) => {
                    if let Some(limit) = g.tripped() {
                        return limit;
                    }
                }
                Tree::Uid(_) | Tree::Tag(_) => {
                    let (count, rss) = self.usage().await;
                    if count >= limits.max_processes {
                        return KilledBy::Processes;
                    }
                    if rss >= limits.memory_bytes {
                        return KilledBy::Memory;
                    }
                }
            }
        }
    }

    /// After the main process returned: the limit its leftovers hit, if any. Leftovers are
    /// watched a little longer, so that a fork bomb whose parent exited at once is named by its
    /// limit (it reaches it within milliseconds); quiet leftovers such as a daemon cost at most
    /// 100 ms before they are killed.
    async fn leftovers(&self, limits: Limits) -> Option<KilledBy> {
        for _ in 0..10 {
            match self {
                Tree::Group(g) => {
                    if let Some(limit) = g.tripped() {
                        return Some(limit);
                    }
                    if g.alive() == 0 {
                        return None;
                    }
                }
                Tree::Uid(_) | Tree::Tag(_) => {
                    let (count, _) = self.usage().await;
                    if count >= limits.max_processes {
                        return Some(KilledBy::Processes);
                    }
                    if count == 0 {
                        return None;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }
}

/// The tag mode's second net: the executor is a child subreaper ([`reaper::enable`]), so that
/// orphans of its runs — double-forked or `setsid` daemons, even ones that scrubbed their
/// environment — become its children instead of init's. When a run ends and no other run is in
/// flight, every descendant of the executor is one of that run's leftovers and is killed, and the
/// zombies it adopted are reaped (tokio reaps only its own children, by pid).
pub mod reaper {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    static ENABLED: AtomicBool = AtomicBool::new(false);
    /// Main pids of the runs in flight. Spawning and sweeping hold this lock, so a sweep never
    /// meets a child that was just forked, nor reaps one that tokio is waiting for.
    static IN_FLIGHT: Mutex<Vec<i32>> = Mutex::new(Vec::new());

    /// Makes this process a child subreaper (Linux ≥ 3.4).
    pub fn enable() {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0 {
            ENABLED.store(true, Ordering::SeqCst);
        }
    }

    /// Starts a child with `start` and records it as in flight, under the lock (a sweep never
    /// meets a child just forked).
    pub fn spawn(start: impl FnOnce() -> std::io::Result<crate::spawn::Child>) -> std::io::Result<(crate::spawn::Child, InFlight)> {
        let mut live = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        let child = start()?;
        let pid = child.id();
        live.push(pid);
        Ok((child, InFlight(pid)))
    }

    /// Records `pid` as a run in flight until the answer is dropped.
    pub fn in_flight(pid: i32) -> InFlight {
        IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
        InFlight(pid)
    }

    /// Spawns a live context's interpreter under the same lock, recording it as spared (never
    /// in flight: it must not hold back the sweeps of runs, and no sweep may take it).
    pub fn spawn_spared(cmd: &mut tokio::process::Command) -> std::io::Result<tokio::process::Child> {
        let _live = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        let child = cmd.spawn()?;
        // Not reaped before the caller waits for it, so its stat is there (a zombie's too).
        let pid = child.id().unwrap_or(0) as i32;
        if let Some(st) = super::stat_of(pid) {
            super::SPARED.lock().unwrap_or_else(|e| e.into_inner()).push((pid, st.start));
        }
        Ok(child)
    }

    /// Runs a probe (a short command of the executor's own, at its start) to its end as a run in
    /// flight, so that the tag mode's sweep of another run cannot take it meanwhile (executors
    /// started side by side in one process, as the tests start them).
    pub fn probe_output(cmd: &mut std::process::Command) -> std::io::Result<std::process::Output> {
        let child = {
            let mut live = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
            let child = cmd.spawn()?;
            live.push(child.id() as i32);
            child
        };
        let _flight = InFlight(child.id() as i32);
        child.wait_with_output()
    }

    /// Removes a run from the in-flight list when it is dropped (the run's end, or its failure).
    pub struct InFlight(pub i32);

    impl Drop for InFlight {
        fn drop(&mut self) {
            let mut live = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
            live.retain(|p| *p != self.0);
        }
    }

    /// (pid, its [`super::Stat`]) of every process.
    fn processes() -> Vec<(i32, super::Stat)> {
        let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
        dir.flatten()
            .filter_map(|e| {
                let pid: i32 = e.file_name().to_str()?.parse().ok()?;
                Some((pid, super::stat_of(pid)?))
            })
            .collect()
    }

    /// Kills every descendant of this process but the run's main child `main` (its caller kills
    /// and reaps that one), and reaps adopted zombies — only when `main`'s run is the only one in
    /// flight; up to 2 s.
    pub fn sweep(main: i32) {
        if !ENABLED.load(Ordering::SeqCst) {
            return;
        }
        let live = IN_FLIGHT.lock().unwrap_or_else(|e| e.into_inner());
        if live.iter().any(|p| *p != main) {
            return;
        }
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        let until = Instant::now() + Duration::from_secs(2);
        loop {
            let (spared, sids) = super::live_spared();
            // parent → its children, each with whether it is in a spared process's session and
            // whether it is a zombie
            let mut children: HashMap<i32, Vec<(i32, bool, bool)>> = HashMap::new();
            for (pid, st) in processes() {
                children.entry(st.ppid).or_default().push((pid, sids.contains(&st.sid), st.zombie));
            }
            let mut stack = vec![me];
            let mut alive = 0;
            while let Some(p) = stack.pop() {
                for &(c, in_spared, zombie) in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
                    if spared.contains(&c) {
                        // A spared process, and everything it started, is not a leftover.
                        continue;
                    }
                    if in_spared {
                        // Nor is an orphan of one, adopted by this subreaper but still in its
                        // session; once it died it is ours to reap.
                        if zombie && p == me {
                            // SAFETY: waitpid on a zombie child of ours, without blocking.
                            unsafe { libc::waitpid(c, std::ptr::null_mut(), libc::WNOHANG) };
                        }
                        continue;
                    }
                    stack.push(c);
                    if c == main {
                        continue;
                    }
                    if zombie && p == me {
                        // An adopted orphan that died: ours to reap (not tokio's: it is not `main`).
                        // SAFETY: waitpid on a zombie child of ours, without blocking.
                        unsafe { libc::waitpid(c, std::ptr::null_mut(), libc::WNOHANG) };
                    } else if !zombie {
                        // SAFETY: kill(2) on a descendant of this process.
                        unsafe { libc::kill(c, libc::SIGKILL) };
                        alive += 1;
                    }
                }
            }
            if alive == 0 || Instant::now() > until {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// SIGKILLs every process whose initial environment holds `RUN_TAG_VAR=tag`, sweeping until none
/// is left (a process forking during a sweep is caught by the next).
pub fn kill_tagged(tag: &str) {
    let needle = format!("{RUN_TAG_VAR}={tag}\0");
    for _ in 0..20 {
        let mut found = 0;
        let Ok(dir) = std::fs::read_dir("/proc") else { return };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
            let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
            if environ.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                // SAFETY: kill(2) on a pid we just read.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
                found += 1;
            }
        }
        if found == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends SIGKILL to every process of `id.uid`, from a short-lived process running as that uid,
/// until none is left (up to 2 s): the next run must not find the last one's processes.
pub fn kill_uid(id: Identity) {
    let until = Instant::now() + Duration::from_secs(2);
    if spared_of_uid(id.uid) {
        // The session has live contexts or background processes: every other process of the
        // uid is killed one by one (a `kill(-1)` would take them and their children too), until
        // none is left.
        loop {
            let pids = unspared_of_uid(id.uid);
            if pids.is_empty() || Instant::now() > until {
                return;
            }
            for (pid, _) in pids {
                // SAFETY: kill(2) on a pid just read from /proc; harmless if it is gone.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    loop {
        let mut cmd = std::process::Command::new("/bin/true");
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        cmd.gid(id.gid).uid(id.uid);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // Linux excludes the caller from kill(-1): this kills every *other* process of the uid.
                libc::kill(-1, libc::SIGKILL);
                Ok(())
            });
        }
        let _ = cmd.status();
        if usage_of_uid(id.uid).0 == 0 || Instant::now() > until {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The spared processes, each as (pid, start time): live contexts' interpreters and the top
/// processes of background processes ([`spawn_resident`]). The end-of-run kills of plain runs spare
/// them and what they started (the uid mode's kill and watcher, the tag mode's sweep: see
/// [`live_spared`]); cgroup mode needs no list, each of them having groups of its own.
static SPARED: std::sync::Mutex<Vec<(i32, u64)>> = std::sync::Mutex::new(Vec::new());

/// The spared processes still alive, and their sessions (see [`SPARED`]). A pid counts only while
/// its process is the one recorded (the same start time): once a spared process died and was
/// reaped, its pid may be another's, a plain run's for instance, and must spare nothing. Entries
/// whose process is gone are dropped.
fn live_spared() -> (Vec<i32>, std::collections::HashSet<i32>) {
    let mut list = SPARED.lock().unwrap_or_else(|e| e.into_inner());
    let mut sids = std::collections::HashSet::new();
    list.retain(|&(pid, start)| match stat_of(pid) {
        Some(st) if st.start == start => {
            sids.insert(st.sid);
            true
        }
        _ => false,
    });
    (list.iter().map(|&(pid, _)| pid).collect(), sids)
}

/// The uid owning `pid`, from /proc.
fn uid_of(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|r| r.split_whitespace().next()).and_then(|u| u.parse().ok())
}

/// What /proc/<pid>/stat says of a process that the kills and the accounting look at (fields
/// 3, 4, 6, 14–17 and 22 of stat(5)).
#[derive(Debug, Clone, Copy)]
struct Stat {
    zombie: bool,
    ppid: i32,
    /// Its session id.
    sid: i32,
    /// utime + stime + cutime + cstime, in clock ticks: its CPU and its waited-for children's.
    cpu_ticks: u64,
    /// When it started, in clock ticks after boot: with the pid, it names one process.
    start: u64,
}

/// The [`Stat`] of `pid` (zombies included); `None` once it is gone.
fn stat_of(pid: i32) -> Option<Stat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
    let mut rest = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let zombie = rest.next()? == "Z";
    let ppid = rest.next()?.parse().ok()?;
    let sid = rest.nth(1)?.parse().ok()?;
    let mut cpu_ticks = 0u64;
    for field in [rest.nth(7)?, rest.next()?, rest.next()?, rest.next()?] {
        cpu_ticks += field.parse::<u64>().ok()?;
    }
    let start = rest.nth(4)?.parse().ok()?;
    Some(Stat { zombie, ppid, sid, cpu_ticks, start })
}

/// Whether a process belongs to a spared one: it is one, lives in the session of one, or one is
/// among its ancestors.
///
/// Each spared process is started with `setsid` (see [`crate::spawn::Steps::enter`]), so its
/// session is its own, and everything it starts stays in it unless it calls `setsid` itself: no
/// process can join a session it was not born in, so a plain run cannot forge membership. A child
/// of a spared process that makes a session of its own is still spared while its parent chain
/// reaches the spared process; one that does both (`setsid` and a double fork) is not.
/// (`parents`: pid → (parent pid, session id) of the processes looked at; `spared` and `sids`
/// from [`live_spared`].)
fn spared_tree(
    pid: i32,
    parents: &std::collections::HashMap<i32, (i32, i32)>,
    spared: &[i32],
    sids: &std::collections::HashSet<i32>,
) -> bool {
    let mut at = pid;
    // Bounded by the processes looked at: a pid reused in a cycle while /proc was read ends it.
    for _ in 0..=parents.len() {
        if spared.contains(&at) {
            return true;
        }
        match parents.get(&at) {
            Some(&(ppid, sid)) if !sids.contains(&sid) => at = ppid,
            Some(_) => return true,
            None => return false,
        }
    }
    false
}

/// Whether some live context runs as `uid`.
fn spared_of_uid(uid: u32) -> bool {
    live_spared().0.into_iter().any(|p| uid_of(p) == Some(uid))
}

/// Processes of `uid` (zombies included: they hold their slot until reaped) that belong to no
/// spared process ([`spared_tree`]), each with its resident memory in bytes, read from /proc.
fn unspared_of_uid(uid: u32) -> Vec<(i32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut ours = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { continue };
        let mut is_ours = false;
        let mut kib = 0;
        for line in status.lines() {
            if let Some(rest) = line.strip_prefix("Uid:") {
                is_ours = rest.split_whitespace().next().and_then(|u| u.parse::<u32>().ok()) == Some(uid);
            } else if let Some(rest) = line.strip_prefix("VmRSS:") {
                kib = rest.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            }
        }
        if is_ours {
            ours.push((pid, kib * 1024));
        }
    }
    let (spared, sids) = live_spared();
    if spared.is_empty() {
        return ours;
    }
    // A process whose stat cannot be read is gone: it counts as itself, with no parent.
    let parents: std::collections::HashMap<i32, (i32, i32)> =
        ours.iter().filter_map(|&(pid, _)| stat_of(pid).map(|st| (pid, (st.ppid, st.sid)))).collect();
    ours.retain(|&(pid, _)| !spared_tree(pid, &parents, &spared, &sids));
    ours
}

/// Processes of `uid` (zombies included) and their summed resident memory, read from /proc; the
/// spared processes and what they started are not counted ([`unspared_of_uid`]).
pub fn usage_of_uid(uid: u32) -> (u64, u64) {
    let ours = unspared_of_uid(uid);
    (ours.len() as u64, ours.iter().map(|(_, rss)| rss).sum())
}

/// Processes carrying the run's tag in their environment and their summed resident memory: the
/// tag mode's view of a run (a process that scrubbed its environment is not seen). Zombies have
/// no environment left; those the executor adopted as subreaper (orphans of runs, which still
/// hold their slot of the process limit) are counted too.
pub fn usage_of_tag(tag: &str) -> (u64, u64) {
    let needle = format!("{RUN_TAG_VAR}={tag}\0");
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let (mut count, mut rss) = (0u64, 0u64);
    let Ok(dir) = std::fs::read_dir("/proc") else { return (0, 0) };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Some(st) = stat_of(pid) else { continue };
        if st.zombie {
            count += u64::from(st.ppid == me);
            continue;
        }
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        if !environ.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            continue;
        }
        count += 1;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok());
        rss += kib.unwrap_or(0) * 1024;
    }
    (count, rss)
}

/// Kills every process whose uid lies in `[from, to)`; returns how many were signalled.
pub fn kill_uid_range(from: u32, to: u32) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    let mut killed = 0;
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { continue };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        if uid.is_some_and(|u| (from..to).contains(&u)) {
            // SAFETY: kill(2) on a pid we just read; harmless if it is gone.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            killed += 1;
        }
    }
    killed
}

/// Which of a run's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutStream {
    /// The run's standard output.
    Stdout,
    /// The run's standard error.
    Stderr,
}

/// Where a run's output goes as it is read: each stream's chunks in order, never more than the
/// output cap of that stream in all. A buffered answer is one consumer ([`Collect`]); a
/// streaming one can be another, without a change to how runs are started or ended.
pub trait OutputSink: Send + Sync + 'static {
    /// One chunk of `stream`, as it came.
    fn chunk(&self, stream: OutStream, bytes: &[u8]);
}

/// The buffered consumer: keeps every chunk, for an answer given at the end.
#[derive(Debug, Default)]
pub struct Collect {
    out: std::sync::Mutex<(Vec<u8>, Vec<u8>)>,
}

impl OutputSink for Collect {
    fn chunk(&self, stream: OutStream, bytes: &[u8]) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        match stream {
            OutStream::Stdout => out.0.extend_from_slice(bytes),
            OutStream::Stderr => out.1.extend_from_slice(bytes),
        }
    }
}

impl Collect {
    /// Everything collected so far: (stdout, stderr).
    pub fn take(&self) -> (Vec<u8>, Vec<u8>) {
        std::mem::take(&mut *self.out.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Reads one output stream to its end, handing it to `sink` up to `cap` bytes; past the cap it
/// raises `over` (the run is then killed) and keeps draining, so that the writer is not blocked
/// before it dies.
async fn pump<R: tokio::io::AsyncRead + Unpin>(
    mut r: R,
    stream: OutStream,
    cap: usize,
    sink: Arc<dyn OutputSink>,
    over: Arc<AtomicBool>,
    notify: Arc<Notify>,
) {
    let mut sent = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(sent);
                if room > 0 {
                    sink.chunk(stream, &buf[..n.min(room)]);
                    sent += n.min(room);
                }
                if n > room {
                    over.store(true, Ordering::SeqCst);
                    notify.notify_one();
                }
            }
        }
    }
}

/// A few random bits for run tags, from the kernel.
fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    // SAFETY: getrandom(2) into a 4-byte stack buffer.
    unsafe {
        libc::getrandom(b.as_mut_ptr().cast(), 4, 0);
    }
    u32::from_ne_bytes(b)
}

/// What a streamed chunk is: the program's output, or an installer's (a log line of the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Standard output of setup commands and code.
    Stdout,
    /// Standard error of setup commands and code.
    Stderr,
    /// Either stream of an installer.
    Log,
}

/// Output chunks as they come, to whoever streams them (closed when the sender is dropped).
pub type Chunks = tokio::sync::mpsc::UnboundedSender<(Chunk, Vec<u8>)>;

/// Where a step's output is also sent as it comes: `log` for installers.
#[derive(Debug, Clone)]
pub struct Tap {
    /// The stream's channel.
    pub to: Chunks,
    /// Send both streams as [`Chunk::Log`].
    pub log: bool,
}

/// Collects the output for the answer and hands each chunk on as it comes.
struct Tee {
    collect: Arc<Collect>,
    tap: Tap,
}

impl OutputSink for Tee {
    fn chunk(&self, stream: OutStream, bytes: &[u8]) {
        self.collect.chunk(stream, bytes);
        let kind = match (self.tap.log, stream) {
            (true, _) => Chunk::Log,
            (false, OutStream::Stdout) => Chunk::Stdout,
            (false, OutStream::Stderr) => Chunk::Stderr,
        };
        // A reader that went away does not stop the run.
        let _ = self.tap.to.send((kind, bytes.to_vec()));
    }
}

/// Runs `spec` to completion or to a limit, its output collected for the answer.
pub async fn run(spec: Spawn) -> std::io::Result<Outcome> {
    run_teed(spec, None).await
}

/// [`run`], and with `tap` every output chunk is also sent there as it comes.
pub async fn run_teed(spec: Spawn, tap: Option<Tap>) -> std::io::Result<Outcome> {
    let sink = Arc::new(Collect::default());
    let to: Arc<dyn OutputSink> = match tap {
        Some(tap) => Arc::new(Tee { collect: sink.clone(), tap }),
        None => sink.clone(),
    };
    let ended = spawn(spec, to)?.wait().await?;
    let (stdout, stderr) = if ended.output_complete {
        sink.take()
    } else {
        (Vec::new(), b"output could not be collected: a process outside the run holds its pipes".to_vec())
    };
    let Ended { exit_code, signal, killed_by, truncated, duration, cpu_ms, peak_memory_bytes, .. } = ended;
    Ok(Outcome { exit_code, signal, killed_by, stdout, stderr, truncated, duration, cpu_ms, peak_memory_bytes })
}

/// A started run: its main process, how its tree is found, its output pumps.
pub struct Running {
    child: crate::spawn::Child,
    tree: Tree,
    pgid: i32,
    _in_flight: reaper::InFlight,
    started: Instant,
    limits: Limits,
    timeout: Duration,
    pumps: [tokio::task::JoinHandle<()>; 2],
    over: Arc<AtomicBool>,
    notify: Arc<Notify>,
    cancel: Option<Arc<Notify>>,
    /// In cgroup mode, the groups to park a child in for the session's next run once this one
    /// has ended (see [`crate::cgroup::Cgroups::ended`]).
    park_next: Option<(Arc<crate::cgroup::Cgroups>, Option<u32>)>,
}

/// Returns when `cancel` is notified; never without one.
async fn cancelled(cancel: Option<&Arc<Notify>>) {
    match cancel {
        Some(n) => n.notified().await,
        None => std::future::pending().await,
    }
}

/// How a run ended; its output went to the sink.
#[derive(Debug, Clone)]
pub struct Ended {
    /// The exit code (`128 + signal` when killed; a named limit reports SIGKILL).
    pub exit_code: i32,
    /// The signal that ended the main process, if one did.
    pub signal: Option<String>,
    /// The limit that ended the run, if one did.
    pub killed_by: Option<KilledBy>,
    /// An output stream reached its cap.
    pub truncated: bool,
    /// From the spawn to the end.
    pub duration: Duration,
    /// Both output streams were read to their end (false: a process outside the run holds them).
    pub output_complete: bool,
    /// CPU time of the run, in ms: its cgroup's in cgroup mode, else the main process's and
    /// its waited-for children's (`wait4`).
    pub cpu_ms: Option<f64>,
    /// Peak memory of the run, in bytes: its memory cgroup's peak charge in cgroup mode, else
    /// the largest resident set of the main process or a waited-for child.
    pub peak_memory_bytes: Option<u64>,
}

/// Starts `spec` in its own groups, session and mount namespace (and in `spec.net`, given one),
/// as its user; its output goes to `sink` as it comes, and [`Running::wait`] ends it. The process
/// is started by [`crate::spawn`]: in cgroup mode by a child parked in the run's groups ahead of
/// time when there is one, so that no cgroup migration delays the run.
pub fn spawn(spec: Spawn, sink: Arc<dyn OutputSink>) -> std::io::Result<Running> {
    let started = Instant::now();
    let limits = spec.limits;
    let mut exec = crate::spawn::Exec {
        program: spec.program.clone(),
        args: spec.args.clone(),
        env: spec.env.clone(),
        cwd: spec.cwd.clone(),
        binds: spec.private.as_ref().map(|p| p.binds.clone()).unwrap_or_default(),
        net_fd: spec.net.as_ref().map(|n| n.fd.as_raw_fd()),
        identity: spec.identity.map(Identity::ids),
        umask: spec.umask,
        limits: limits.rlimits(),
    };
    let park_next = match (&spec.kill_mode, spec.identity) {
        (KillMode::Cgroup(cg), id) => Some((cg.clone(), id.map(|i| i.uid))),
        _ => None,
    };
    let (tree, (mut child, in_flight)) = match (&spec.kill_mode, spec.identity) {
        (KillMode::Cgroup(cg), id) => {
            // No sweep happens in cgroup mode: the run's groups hold all of it.
            let (group, child) = cg.start(id.map(|i| i.uid), limits.memory_bytes, limits.max_processes, &mut exec, RUN_TAG_VAR)?;
            let in_flight = reaper::in_flight(child.id());
            (Tree::Group(group), (child, in_flight))
        }
        (mode, id) => {
            let tag = crate::cgroup::run_tag();
            exec.env.push((RUN_TAG_VAR.to_string(), tag.clone()));
            let tree = match (mode, id) {
                (KillMode::Uid, Some(id)) => Tree::Uid(id),
                _ => Tree::Tag(tag),
            };
            // Under the reaper's lock: a sweep never meets a child that was just forked.
            (tree, reaper::spawn(|| crate::spawn::Ready::fork(&[], false)?.start(&exec))?)
        }
    };
    let pgid = child.id();
    let over = Arc::new(AtomicBool::new(false));
    let notify = Arc::new(Notify::new());
    let stdout = tokio::net::unix::pipe::Receiver::from_owned_fd(child.stdout.take().expect("piped"))?;
    let stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(child.stderr.take().expect("piped"))?;
    let pumps = [
        tokio::spawn(pump(stdout, OutStream::Stdout, limits.output_bytes, sink.clone(), over.clone(), notify.clone())),
        tokio::spawn(pump(stderr, OutStream::Stderr, limits.output_bytes, sink, over.clone(), notify.clone())),
    ];
    if let Some(stdin) = child.stdin.take() {
        let data = spec.stdin;
        if data.is_empty() {
            drop(stdin);
        } else {
            let mut stdin = tokio::net::unix::pipe::Sender::from_owned_fd(stdin)?;
            tokio::spawn(async move {
                let _ = stdin.write_all(&data).await;
            });
        }
    }
    Ok(Running {
        child,
        tree,
        pgid,
        _in_flight: in_flight,
        started,
        limits,
        timeout: spec.timeout,
        pumps,
        over,
        notify,
        cancel: spec.cancel,
        park_next,
    })
}

impl Running {
    /// Waits for the main process, a watched limit, the timeout or the output cap, whichever
    /// comes first; then kills everything the run left and drains its output (up to 2 s).
    pub async fn wait(mut self) -> std::io::Result<Ended> {
        let (tree, pgid, limits) = (&self.tree, self.pgid, self.limits);
        let mut killed_by = None;
        let status = tokio::select! {
            s = self.child.wait() => s?,
            limit = tree.watch(limits) => { killed_by = Some(limit); tree.kill(pgid); self.child.wait().await? }
            _ = tokio::time::sleep(self.timeout) => { killed_by = Some(KilledBy::Timeout); tree.kill(pgid); self.child.wait().await? }
            _ = self.notify.notified() => { killed_by = Some(KilledBy::Output); tree.kill(pgid); self.child.wait().await? }
            _ = cancelled(self.cancel.as_ref()) => { killed_by = Some(KilledBy::Cancelled); tree.kill(pgid); self.child.wait().await? }
        };
        if killed_by.is_none() {
            killed_by = tree.leftovers(limits).await;
        }
        // The run is over: whatever it left behind (daemons, background jobs) goes with it.
        tree.kill(pgid);
        let [out, err] = self.pumps;
        let output_complete = tokio::time::timeout(Duration::from_secs(2), async { (out.await, err.await) }).await.is_ok();
        let truncated = self.over.load(Ordering::SeqCst);
        if truncated && killed_by.is_none() {
            killed_by = Some(KilledBy::Output);
        }
        let (exit_code, signal) = match (status.code(), status.signal()) {
            (Some(c), _) => (c, None),
            (None, Some(s)) => (128 + s, Some(signal_name(s))),
            _ => (-1, None),
        };
        // A limit that ended the run reports the kill even when the main process exited on its own terms.
        let (exit_code, signal) =
            if killed_by.is_some() { (128 + libc::SIGKILL, Some(signal_name(libc::SIGKILL))) } else { (exit_code, signal) };
        let killed_by = killed_by.or(match signal.as_deref() {
            Some("SIGXFSZ") => Some(KilledBy::Disk),
            _ => None,
        });
        let waited = self.child.usage();
        let (cpu_ms, peak_memory_bytes) = match &self.tree {
            Tree::Group(g) => {
                let (cpu, peak) = g.usage();
                (cpu.or(waited.map(|u| u.cpu_ms)), peak.or(waited.map(|u| u.max_rss_bytes)))
            }
            _ => (waited.map(|u| u.cpu_ms), waited.map(|u| u.max_rss_bytes)),
        };
        if let Some((cg, session)) = &self.park_next {
            cg.ended(*session, limits.memory_bytes, limits.max_processes);
        }
        Ok(Ended { exit_code, signal, killed_by, truncated, duration: self.started.elapsed(), output_complete, cpu_ms, peak_memory_bytes })
    }
}

/// A live context's interpreter: a long-lived process started like a run's (its own groups in
/// cgroup mode, session, mounts, namespace, limits, uid), whose standard input, output and error
/// and reply pipe (its descriptor 3) the caller drives. It is spared by the end-of-run kills of
/// plain runs, and killed (its group, process group and tag) by [`Resident::kill`] or when
/// dropped.
pub struct Resident {
    /// The interpreter; its stdin, stdout and stderr are piped.
    pub child: tokio::process::Child,
    /// Its pid, which is also its process group's id.
    pub pid: i32,
    /// Read end of its reply pipe (descriptor 3 in the interpreter).
    pub replies: Option<std::fs::File>,
    group: Option<RunGroup>,
    tag: String,
}

/// Starts `spec` as a live context's interpreter (see [`Resident`]); `spec.timeout`,
/// `spec.stdin` and `spec.cancel` do not apply (the caller times and feeds each run).
pub fn spawn_resident(spec: &Spawn) -> std::io::Result<Resident> {
    let tag = format!("{:08x}{:08x}", rand_u32(), rand_u32());
    let limits = spec.limits;
    let group = match &spec.kill_mode {
        KillMode::Cgroup(cg) => {
            Some(cg.create(spec.identity.map(|i| i.uid), &format!("ctx-{tag}"), limits.memory_bytes, limits.max_processes)?)
        }
        _ => None,
    };
    let binds = match &spec.private {
        Some(p) => p.binds.iter().map(|(src, at)| Ok((cstring(src)?, cstring(at)?))).collect::<std::io::Result<_>>()?,
        None => Vec::new(),
    };
    let prepared = Prepared::new(
        cstring(&spec.cwd)?,
        binds,
        spec.net.clone(),
        spec.identity,
        spec.umask,
        limits,
        group.as_ref().map(RunGroup::join_fds).unwrap_or_default(),
    );
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 into a two-element array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, "pipe2")?;
    // SAFETY: both descriptors were just made and are owned here alone.
    let (read, write) = unsafe { (std::fs::File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let w = write.as_raw_fd();
    let mut cmd = tokio::process::Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env(RUN_TAG_VAR, &tag)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: `enter` and dup2/fcntl are async-signal-safe; the reply pipe becomes descriptor 3
    // after `enter` marked every inherited descriptor close-on-exec.
    unsafe {
        cmd.pre_exec(move || {
            prepared.enter()?;
            if w == 3 {
                check(libc::fcntl(3, libc::F_SETFD, 0), "fcntl(3)")
            } else {
                check(if libc::dup2(w, 3) == 3 { 0 } else { -1 }, "dup2 of the reply pipe")
            }
        });
    }
    let child = reaper::spawn_spared(&mut cmd)?;
    drop(write);
    let pid = child.id().unwrap_or(0) as i32;
    Ok(Resident { child, pid, replies: Some(read), group, tag })
}

/// What a live context's interpreter had used when one of its runs started.
#[derive(Debug, Clone, Copy)]
pub struct UsageMark {
    /// CPU ticks of the interpreter and its waited-for children (non-cgroup modes).
    ticks: Option<u64>,
    /// Whether the memory peak was reset for this run (else the peak is not the run's).
    peak_reset: bool,
}

/// utime + stime + cutime + cstime of `pid`, in clock ticks ([`Stat::cpu_ticks`]).
fn cpu_ticks(pid: i32) -> Option<u64> {
    stat_of(pid).map(|st| st.cpu_ticks)
}

/// The resident high-water mark of `pid`, in bytes (VmHWM).
fn hwm_bytes(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

impl Resident {
    /// Starts counting one run's use: in cgroup mode from the context's groups, else from the
    /// interpreter's own counters (its resident peak reset through `/proc/<pid>/clear_refs`).
    pub fn usage_mark(&mut self) -> UsageMark {
        if let Some(g) = &mut self.group {
            let peak_reset = g.restart_count();
            return UsageMark { ticks: None, peak_reset };
        }
        let peak_reset = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok();
        UsageMark { ticks: cpu_ticks(self.pid), peak_reset }
    }

    /// What the interpreter used since `mark`: (CPU ms, peak memory bytes), each when known. In
    /// the uid and tag modes, the interpreter itself and the children it waited for.
    pub fn usage_since(&self, mark: &UsageMark) -> (Option<f64>, Option<u64>) {
        if let Some(g) = &self.group {
            let (cpu, peak) = g.usage();
            return (cpu, peak.filter(|_| mark.peak_reset));
        }
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let cpu = mark.ticks.zip(cpu_ticks(self.pid)).map(|(a, b)| b.saturating_sub(a) as f64 * 1000.0 / hz);
        (cpu, hwm_bytes(self.pid).filter(|_| mark.peak_reset))
    }

    /// Sends SIGINT to the interpreter alone (Python raises `KeyboardInterrupt`, Node breaks
    /// the running script): the run is interrupted and the interpreter lives on.
    pub fn interrupt(&self) {
        // SAFETY: kill(2) on our child's pid.
        unsafe { libc::kill(self.pid, libc::SIGINT) };
    }

    /// The limit of its groups that was hit, if one was (cgroup mode).
    pub fn tripped(&self) -> Option<KilledBy> {
        self.group.as_ref().and_then(RunGroup::tripped)
    }

    /// Kills the interpreter and everything it started (its groups, process group and tag);
    /// it is no longer spared.
    pub fn kill(&self) {
        SPARED.lock().unwrap_or_else(|e| e.into_inner()).retain(|&(p, _)| p != self.pid);
        // SAFETY: kill(2) on our child's process group.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        if let Some(g) = &self.group {
            g.kill();
        }
        kill_tagged(&self.tag);
    }
}

impl Drop for Resident {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that notes when each chunk came.
    #[derive(Default)]
    struct Timed(std::sync::Mutex<Vec<(OutStream, Vec<u8>, Instant)>>);

    impl OutputSink for Timed {
        fn chunk(&self, stream: OutStream, bytes: &[u8]) {
            self.0.lock().unwrap().push((stream, bytes.to_vec(), Instant::now()));
        }
    }

    fn shell(script: &str, output_bytes: usize) -> Spawn {
        Spawn {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: std::env::temp_dir(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
            stdin: Vec::new(),
            timeout: Duration::from_secs(20),
            limits: Limits { output_bytes, ..Limits::default() },
            identity: None,
            umask: 0o022,
            kill_mode: KillMode::Tag,
            private: None,
            net: None,
            cancel: None,
        }
    }

    #[test]
    fn a_spared_pid_counts_only_while_its_process_is_the_one_recorded() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        let st = stat_of(pid).unwrap();
        assert_eq!(stat_of(pid).unwrap().start, st.start, "the start time is the process's own");
        // The same pid with another start time is another process (the pid reused).
        SPARED.lock().unwrap().push((pid, st.start + 1));
        assert!(!live_spared().0.contains(&pid), "a reused pid spares nothing");
        assert!(!SPARED.lock().unwrap().contains(&(pid, st.start + 1)), "and its entry is dropped");
        SPARED.lock().unwrap().push((pid, st.start));
        let (live, sids) = live_spared();
        assert!(live.contains(&pid) && sids.contains(&st.sid), "the process recorded is spared, with its session");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!live_spared().0.contains(&pid), "once reaped, it is dropped");
        assert!(!SPARED.lock().unwrap().iter().any(|&(p, _)| p == pid));
    }

    #[tokio::test]
    async fn output_reaches_the_sink_while_the_run_goes_on() {
        let sink = Arc::new(Timed::default());
        let t0 = Instant::now();
        let ended = spawn(shell("echo a; echo e >&2; sleep 1; echo b", 1 << 20), sink.clone()).unwrap().wait().await.unwrap();
        let done = Instant::now();
        assert_eq!((ended.exit_code, ended.killed_by, ended.output_complete), (0, None, true));
        let chunks = sink.0.lock().unwrap().clone();
        let first = chunks.iter().find(|(s, b, _)| *s == OutStream::Stdout && b.starts_with(b"a")).expect("a came");
        assert!(first.2 < t0 + Duration::from_millis(900), "the first line came before the run ended");
        assert!(done.duration_since(first.2) >= Duration::from_millis(500), "and well before the end");
        assert!(chunks.iter().any(|(s, b, _)| *s == OutStream::Stderr && b == b"e\n"));
        let stdout: Vec<u8> = chunks.iter().filter(|(s, ..)| *s == OutStream::Stdout).flat_map(|(_, b, _)| b.clone()).collect();
        assert_eq!(stdout, b"a\nb\n");
    }

    #[tokio::test]
    async fn a_spawn_given_a_namespace_runs_inside_it_with_loopback_only() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(NetNs::create().is_err(), "without root no namespace is made");
            return;
        }
        let net = Arc::new(NetNs::create().unwrap());
        let sink = Arc::new(Collect::default());
        let spec = Spawn { net: Some(net.clone()), ..shell("readlink /proc/self/ns/net; cut -d: -f1 /proc/net/dev | tail -n +3", 1 << 20) };
        let ended = spawn(spec, sink.clone()).unwrap().wait().await.unwrap();
        assert_eq!(ended.exit_code, 0);
        let (out, _) = sink.take();
        let host = std::fs::read_link("/proc/self/ns/net").unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), format!("net:[{}]\n    lo\n", net.inode().unwrap()));
        assert_ne!(host.to_string_lossy(), format!("net:[{}]", net.inode().unwrap()), "not the executor's namespace");
    }

    #[tokio::test]
    async fn the_sink_gets_no_more_than_the_cap() {
        let sink = Arc::new(Collect::default());
        let ended = spawn(shell("while :; do printf 0123456789; done", 1000), sink.clone()).unwrap().wait().await.unwrap();
        assert_eq!(ended.killed_by, Some(KilledBy::Output));
        assert!(ended.truncated);
        assert_eq!(sink.take().0.len(), 1000);
    }
}
