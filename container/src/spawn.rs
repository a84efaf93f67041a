//! Starting a run's process: our own fork and exec, so that the child can be made *before* the
//! run arrives and wait, already inside its cgroups, for the program it is to become.
//!
//! Moving a process into a cgroup (a `cgroup.procs` write) takes the kernel's cgroup
//! threadgroup lock for writing, whose writer first waits for an RCU grace period: on a busy
//! machine that is milliseconds, and it is paid again whenever the lock sat unused for a grace
//! period (so sparse traffic pays it on every run). `clone3(CLONE_INTO_CGROUP)` avoids the move
//! only in a v2 hierarchy; machines that bind memory and pids to v1 (hybrid ones, like ours)
//! must still move the child. So the move is taken off the critical path instead, in every
//! hierarchy alike: a [`Ready`] child is forked and joins its groups ahead of time, then blocks
//! on its control socket. When the run comes, the parent writes the [`Plan`] (program, argv,
//! environment, and the steps between fork and exec) into a shared mapping the child inherited,
//! sends one byte (and the session's network namespace, if any, as a descriptor), and the child
//! enters the plan's steps and execs. The same path, forked on demand, starts every run in the
//! other containment modes, so one spawn is tested in all of them.
//!
//! Between fork and exec the child runs in a copy of a multi-threaded process: it calls only
//! async-signal-safe functions (plain system calls) and never allocates; every string and array
//! it reads was laid out by the parent in the shared mapping. A failure before exec is sent back
//! as a stage and an errno, and [`Ready::start`] returns it as an error, as `Command::spawn` does.
//!
//! Waiting uses a pidfd (Linux ≥ 5.3), readable once the child exits; the status and the
//! resource usage of the child come from one `wait4`.

use std::ffi::{c_char, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

/// Who a run's process becomes: its uid and gid (the sandbox's `Identity`;
/// this module depends on no other of the executor's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    /// The uid.
    pub uid: u32,
    /// The gid.
    pub gid: u32,
}

/// The limits a run's process sets on itself before exec (the sandbox's
/// `Limits` as far as rlimits carry them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimits {
    /// The run's memory: a data-size backstop of 1.5 times it where no cgroup limits memory.
    pub memory_bytes: u64,
    /// The run's processes: `RLIMIT_NPROC` 16 above it where no cgroup limits processes.
    pub max_processes: u64,
    /// `RLIMIT_FSIZE`.
    pub file_size_bytes: u64,
    /// `RLIMIT_NOFILE`.
    pub open_files: u64,
}

/// Where a child failed before exec; sent back as one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Stage {
    /// Writing itself into a group's `cgroup.procs`.
    Groups = 1,
    /// Entering the session's network namespace.
    Setns,
    /// Unsharing the mount namespace.
    Unshare,
    /// Making the mounts private.
    MountsPrivate,
    /// Binding a private directory.
    Bind,
    /// Mounting `/proc`.
    Proc,
    /// Setting an rlimit.
    Rlimit,
    /// Dropping supplementary groups.
    Setgroups,
    /// Switching the gid.
    Setgid,
    /// Switching the uid.
    Setuid,
    /// Entering the working directory.
    Chdir,
    /// The exec itself.
    Exec,
    /// Receiving the plan.
    Plan,
}

impl Stage {
    fn from_u8(b: u8) -> Option<Stage> {
        use Stage::*;
        [Groups, Setns, Unshare, MountsPrivate, Bind, Proc, Rlimit, Setgroups, Setgid, Setuid, Chdir, Exec, Plan]
            .into_iter()
            .find(|s| *s as u8 == b)
    }

    /// What the child was doing, as an error message says it.
    pub(crate) fn what(self) -> &'static str {
        match self {
            Stage::Groups => "joining the run's cgroups",
            Stage::Setns => "setns(CLONE_NEWNET)",
            Stage::Unshare => "unshare(CLONE_NEWNS)",
            Stage::MountsPrivate => "making mounts private",
            Stage::Bind => "binding a private directory",
            Stage::Proc => "mounting /proc",
            Stage::Rlimit => "setrlimit",
            Stage::Setgroups => "setgroups",
            Stage::Setgid => "setresgid",
            Stage::Setuid => "setresuid",
            Stage::Chdir => "chdir to the working directory",
            Stage::Exec => "exec",
            Stage::Plan => "receiving the plan",
        }
    }
}

/// A failure in the child before exec: where, and the errno.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fail {
    pub stage: Stage,
    pub errno: i32,
}

impl Fail {
    /// The last OS error, at `stage` (reads errno: no allocation).
    fn now(stage: Stage) -> Fail {
        Fail { stage, errno: io::Error::last_os_error().raw_os_error().unwrap_or(0) }
    }

    /// As an `io::Error` (in the parent: this allocates).
    pub(crate) fn into_io(self) -> io::Error {
        let e = io::Error::from_raw_os_error(self.errno);
        io::Error::new(e.kind(), format!("{}: {e}", self.stage.what()))
    }
}

fn ok(rc: libc::c_int, stage: Stage) -> Result<(), Fail> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Fail::now(stage))
    }
}

/// The steps a child takes between fork and exec, over raw pointers to memory the child can
/// read (the shared mapping of a [`Ready`] child, or the parent's copy after a plain fork).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    /// NUL-terminated working directory.
    pub cwd: *const c_char,
    /// (source, mount point) pairs, NUL-terminated strings each.
    pub binds: *const [*const c_char; 2],
    /// How many pairs `binds` holds.
    pub nbinds: usize,
    /// The network namespace to enter, or -1.
    pub net_fd: RawFd,
    /// Who to become, if anyone.
    pub identity: Option<Ids>,
    /// The file-creation mask.
    pub umask: u32,
    /// The run's limits (the rlimits).
    pub limits: Rlimits,
    /// Whether the child is in cgroups that limit memory and processes (then the rlimit
    /// backstops of the other modes are not set).
    pub in_cgroups: bool,
}

fn rlimit(res: libc::__rlimit_resource_t, v: u64) -> Result<(), Fail> {
    let lim = libc::rlimit { rlim_cur: v, rlim_max: v };
    // SAFETY: setrlimit with a pointer to a stack value.
    ok(unsafe { libc::setrlimit(res, &lim) }, Stage::Rlimit)
}

impl Steps {
    /// Runs the steps in the child. Order matters: the session's network namespace and the
    /// private mounts while still root; limits; every descriptor beyond stdio marked
    /// close-on-exec; then the uid switch (groups, gid, uid — all three ids, so none can be
    /// regained), and only then the working directory, resolved with the user's authority.
    ///
    /// # Safety
    /// Every pointer must point to a NUL-terminated string (or `nbinds` pairs of them) that stays
    /// valid; only async-signal-safe calls are made, so this may run between fork and exec.
    pub(crate) unsafe fn enter(&self) -> Result<(), Fail> {
        // SAFETY: plain system calls on the strings the caller vouches for.
        unsafe {
            if self.net_fd >= 0 {
                ok(libc::setns(self.net_fd, libc::CLONE_NEWNET), Stage::Setns)?;
            }
            if self.nbinds > 0 {
                ok(libc::unshare(libc::CLONE_NEWNS), Stage::Unshare)?;
                let none = c"none".as_ptr();
                ok(
                    libc::mount(none, c"/".as_ptr(), std::ptr::null(), libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()),
                    Stage::MountsPrivate,
                )?;
                for i in 0..self.nbinds {
                    let [src, dst] = *self.binds.add(i);
                    ok(libc::mount(src, dst, std::ptr::null(), libc::MS_BIND, std::ptr::null()), Stage::Bind)?;
                }
                let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                ok(
                    libc::mount(c"proc".as_ptr(), c"/proc".as_ptr(), c"proc".as_ptr(), flags, c"hidepid=invisible".as_ptr().cast()),
                    Stage::Proc,
                )?;
            }
            libc::setsid();
            libc::umask(self.umask);
        }
        if !self.in_cgroups {
            // A per-process backstop above the watched limit, so that the watcher names the limit.
            rlimit(libc::RLIMIT_DATA, self.limits.memory_bytes.saturating_mul(3) / 2)?;
            // Above the watched limit, so that a fork bomb crosses it and is named, not just slowed.
            rlimit(libc::RLIMIT_NPROC, self.limits.max_processes + 16)?;
        }
        rlimit(libc::RLIMIT_FSIZE, self.limits.file_size_bytes)?;
        rlimit(libc::RLIMIT_NOFILE, self.limits.open_files)?;
        rlimit(libc::RLIMIT_CORE, 0)?;
        // SAFETY: as above.
        unsafe {
            // Whatever the executor inherited or opened stays out of user code (Linux ≥ 5.11).
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
            if let Some(id) = self.identity {
                ok(libc::setgroups(0, std::ptr::null()), Stage::Setgroups)?;
                ok(libc::setresgid(id.gid, id.gid, id.gid), Stage::Setgid)?;
                ok(libc::setresuid(id.uid, id.uid, id.uid), Stage::Setuid)?;
            }
            ok(libc::chdir(self.cwd), Stage::Chdir)?;
        }
        Ok(())
    }
}

/// What a run's process becomes: a program, its arguments and whole environment, and the steps.
#[derive(Debug, Clone)]
pub struct Exec {
    /// The program; one without a `/` is looked up in the `PATH` of `env`.
    pub program: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// The whole environment.
    pub env: Vec<(String, String)>,
    /// Working directory, entered after the uid switch.
    pub cwd: PathBuf,
    /// (source, mount point) pairs for the private mounts; empty for none.
    pub binds: Vec<(PathBuf, PathBuf)>,
    /// The network namespace to enter (a descriptor the parent holds), if any.
    pub net_fd: Option<RawFd>,
    /// Who to become.
    pub identity: Option<Ids>,
    /// File-creation mask.
    pub umask: u32,
    /// The run's limits.
    pub limits: Rlimits,
}

/// What the child reads first in the shared mapping.
#[derive(Debug, Clone, Copy)]
struct Plan {
    program: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    steps: Steps,
}

/// A shared anonymous mapping the parent lays the plan out in; the child, forked after it was
/// mapped, sees the same bytes at the same address.
#[derive(Debug)]
struct Arena {
    base: *mut u8,
    len: usize,
    used: usize,
}

// SAFETY: the mapping is owned by this value alone in the parent; moving it to another thread
// moves that ownership.
unsafe impl Send for Arena {}

/// The mapping's size: the plan, argv and environment of a run (Linux's own limit on them,
/// `ARG_MAX`, is 2 MiB by default; a bigger plan is refused with E2BIG, as exec would).
const ARENA_BYTES: usize = 2 << 20;

impl Arena {
    fn new() -> io::Result<Arena> {
        // SAFETY: a fresh anonymous mapping; checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), ARENA_BYTES, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0)
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Arena { base: p.cast(), len: ARENA_BYTES, used: std::mem::size_of::<Plan>() })
    }

    fn take(&mut self, size: usize, align: usize) -> io::Result<*mut u8> {
        let at = self.used.next_multiple_of(align);
        if at + size > self.len {
            return Err(io::Error::from_raw_os_error(libc::E2BIG));
        }
        self.used = at + size;
        // SAFETY: `at + size` lies inside the mapping.
        Ok(unsafe { self.base.add(at) })
    }

    fn string(&mut self, b: &[u8]) -> io::Result<*const c_char> {
        if b.contains(&0) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in an argument, a path or the environment"));
        }
        let p = self.take(b.len() + 1, 1)?;
        // SAFETY: `p` has room for the bytes and the NUL.
        unsafe {
            std::ptr::copy_nonoverlapping(b.as_ptr(), p, b.len());
            *p.add(b.len()) = 0;
        }
        Ok(p.cast())
    }

    fn array<T: Copy>(&mut self, items: &[T]) -> io::Result<*const T> {
        let p = self.take(std::mem::size_of_val(items), std::mem::align_of::<T>())?.cast::<T>();
        // SAFETY: `p` is aligned for T with room for the items.
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), p, items.len()) };
        Ok(p)
    }

    /// Lays `exec` out and writes its plan at the start of the mapping.
    fn lay_out(&mut self, exec: &Exec) -> io::Result<()> {
        let program = resolve(&exec.program, &exec.env);
        let program = self.string(program.as_os_str().as_bytes())?;
        let mut argv = vec![program];
        for a in &exec.args {
            argv.push(self.string(a.as_bytes())?);
        }
        argv.push(std::ptr::null());
        let mut envp = Vec::with_capacity(exec.env.len() + 1);
        for (k, v) in &exec.env {
            let mut kv = Vec::with_capacity(k.len() + v.len() + 1);
            kv.extend_from_slice(k.as_bytes());
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            envp.push(self.string(&kv)?);
        }
        envp.push(std::ptr::null());
        let mut binds = Vec::new();
        for (src, dst) in &exec.binds {
            binds.push([self.string(src.as_os_str().as_bytes())?, self.string(dst.as_os_str().as_bytes())?]);
        }
        let plan = Plan {
            program,
            argv: self.array(&argv)?,
            envp: self.array(&envp)?,
            steps: Steps {
                cwd: self.string(exec.cwd.as_os_str().as_bytes())?,
                binds: self.array(&binds)?,
                nbinds: binds.len(),
                net_fd: -1,
                identity: exec.identity,
                umask: exec.umask,
                limits: exec.limits,
                in_cgroups: false,
            },
        };
        // SAFETY: the mapping starts page-aligned, with room for the plan reserved in `new`.
        unsafe { std::ptr::write(self.base.cast::<Plan>(), plan) };
        Ok(())
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// `program` itself if it names a path, else the first executable of that name in `env`'s
/// `PATH` (as `Command` does with a cleared environment), else `program` (exec then fails).
fn resolve(program: &Path, env: &[(String, String)]) -> PathBuf {
    if program.as_os_str().as_bytes().contains(&b'/') {
        return program.to_path_buf();
    }
    let path = env.iter().rev().find(|(k, _)| k == "PATH").map(|(_, v)| v.as_str()).unwrap_or("/usr/bin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let p = Path::new(dir).join(program);
        if let Ok(c) = CString::new(p.as_os_str().as_bytes()) {
            // SAFETY: access(2) on a C string.
            if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
                return p;
            }
        }
    }
    program.to_path_buf()
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 into a two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just made and are owned here alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Reads a child's report on the control socket: `None` at end of file (it exec'd, or exited),
/// `Some(Fail)` when it sent one; `Ok(Some(..))` with stage 0 bytes never happens.
fn read_report(ctl: RawFd) -> io::Result<Option<Fail>> {
    let mut buf = [0u8; 5];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: read(2) into the rest of a stack buffer.
        let n = unsafe { libc::read(ctl, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        got += n as usize;
    }
    match got {
        0 => Ok(None),
        5 => {
            let stage = Stage::from_u8(buf[0]).unwrap_or(Stage::Plan);
            Ok(Some(Fail { stage, errno: i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]) }))
        }
        _ => Err(io::Error::other("a short report from a starting child")),
    }
}

/// In the child: sends a report on the control socket `ctl` and ends. Async-signal-safe.
fn report_and_exit(ctl: RawFd, fail: Fail) -> ! {
    let e = fail.errno.to_le_bytes();
    let buf = [fail.stage as u8, e[0], e[1], e[2], e[3]];
    // SAFETY: write(2) of a stack buffer to our control socket, then _exit.
    unsafe {
        libc::write(ctl, buf.as_ptr().cast(), buf.len());
        libc::_exit(127)
    }
}

/// The byte a [`Ready`] child sends once it is in its groups.
const READY: u8 = b'r';

/// A forked child, already in its groups, waiting for its [`Exec`]. Dropping it unused ends
/// the child (it reads the end of its control socket and exits; it is killed and reaped).
#[derive(Debug)]
pub struct Ready {
    pid: i32,
    pidfd: Option<OwnedFd>,
    ctl: OwnedFd,
    arena: Arena,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    in_cgroups: bool,
}

impl Ready {
    /// Forks a child that writes itself into each of `join_fds` (`cgroup.procs` files opened by
    /// this process) and then waits; returns once it is in them. `in_cgroups`: those groups
    /// limit memory and processes.
    pub fn fork(join_fds: &[RawFd], in_cgroups: bool) -> io::Result<Ready> {
        let arena = Arena::new()?;
        let (in_r, in_w) = pipe()?;
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let mut sv = [0i32; 2];
        // SAFETY: socketpair into a two-element array.
        if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just made and are owned here alone.
        let (ctl, ctl_child) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
        // Everything the child uses is laid out before the fork: it must not allocate.
        let joins: [RawFd; 8] = {
            let mut a = [-1; 8];
            if join_fds.len() > a.len() {
                return Err(io::Error::other("more cgroup hierarchies than a child joins"));
            }
            a[..join_fds.len()].copy_from_slice(join_fds);
            a
        };
        let child_fds = [in_r.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd(), ctl_child.as_raw_fd()];
        let arena_base = arena.base;
        // SAFETY: fork in a multi-threaded process; the child branch below calls only
        // async-signal-safe functions and never returns (it execs or `_exit`s).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            // SAFETY: the child; see `park`.
            unsafe { park(child_fds, joins, arena_base) }
        }
        drop((in_r, out_w, err_w, ctl_child));
        // SAFETY: pidfd_open on our own, unreaped child.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = if pidfd < 0 {
            let e = io::Error::last_os_error();
            // SAFETY: kill and reap our child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
            return Err(e);
        } else {
            // SAFETY: a descriptor just returned to us.
            unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) }
        };
        let ready = Ready { pid, pidfd: Some(pidfd), ctl, arena, stdin: Some(in_w), stdout: Some(out_r), stderr: Some(err_r), in_cgroups };
        let mut b = [0u8; 1];
        // SAFETY: read(2) of one byte into a stack buffer.
        let n = unsafe { libc::read(ready.ctl.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        if n == 1 && b[0] == READY {
            return Ok(ready);
        }
        if n == 1 {
            // The first byte of a failure report: the rest follows.
            let mut rest = [0u8; 4];
            // SAFETY: read(2) into a stack buffer.
            let m = unsafe { libc::read(ready.ctl.as_raw_fd(), rest.as_mut_ptr().cast(), 4) };
            if m == 4 {
                let stage = Stage::from_u8(b[0]).unwrap_or(Stage::Groups);
                return Err(Fail { stage, errno: i32::from_le_bytes(rest) }.into_io());
            }
        }
        Err(io::Error::other("a starting child ended before it was ready"))
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Hands the child `exec`: it takes the steps and execs. Returns once it exec'd, or the
    /// error that stopped it (the child is then reaped).
    pub fn start(mut self, exec: &Exec) -> io::Result<Child> {
        self.arena.lay_out(exec)?;
        // SAFETY: the plan was just written at the start of the mapping.
        unsafe { (*self.arena.base.cast::<Plan>()).steps.in_cgroups = self.in_cgroups };
        send(self.ctl.as_raw_fd(), exec.net_fd)?;
        let report = read_report(self.ctl.as_raw_fd())?;
        let (stdin, stdout, stderr) = (self.stdin.take(), self.stdout.take(), self.stderr.take());
        let mut child = Child { pid: self.pid, pidfd: self.pidfd.take(), status: None, rusage: None, stdin, stdout, stderr };
        // The child is the caller's now: this value must not kill it.
        self.pid = 0;
        if let Some(fail) = report {
            child.reap_blocking();
            return Err(fail.into_io());
        }
        Ok(child)
    }
}

/// Sends the "go" byte, with `net_fd` attached as SCM_RIGHTS when given.
fn send(ctl: RawFd, net_fd: Option<RawFd>) -> io::Result<()> {
    let byte = [1u8];
    let mut iov = libc::iovec { iov_base: byte.as_ptr() as *mut _, iov_len: 1 };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    // SAFETY: a zeroed msghdr filled with pointers to live stack and heap buffers.
    let rc = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = net_fd {
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = space;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        }
        libc::sendmsg(ctl, &msg, libc::MSG_NOSIGNAL)
    };
    if rc != 1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The child of [`Ready::fork`]: joins its groups; stdio onto 0–2, control socket onto 3,
/// nothing else open; says it is ready, waits for the plan, takes its steps and execs.
///
/// # Safety
/// Only between fork and exec, in the child, with descriptors and a mapping made before the fork.
unsafe fn park(fds: [RawFd; 4], joins: [RawFd; 8], arena: *mut u8) -> ! {
    // SAFETY: plain system calls on descriptors inherited from the parent; no allocation.
    unsafe {
        // Into the groups first, through the descriptors as the parent numbered them (before
        // anything is moved onto those numbers).
        for fd in joins.iter().copied().filter(|fd| *fd >= 0) {
            if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                report_and_exit(fds[3], Fail::now(Stage::Groups));
            }
        }
        // Move the four descriptors above any number they will be put at, then into place.
        let mut high = [0; 4];
        for (h, fd) in high.iter_mut().zip(fds) {
            *h = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 16);
            if *h < 0 {
                libc::_exit(126);
            }
        }
        for (i, h) in high.iter().take(3).enumerate() {
            if libc::dup2(*h, i as i32) < 0 {
                libc::_exit(126);
            }
        }
        if libc::dup3(high[3], 3, libc::O_CLOEXEC) < 0 {
            libc::_exit(126);
        }
        // Nothing of the executor's stays open in a child that may wait a long time: not the
        // pipes of other runs (their readers would never see the end), not its sockets.
        libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
        // A child whose executor died does not wait for ever: the executor's end of the control
        // socket closes with it, and the wait below reads the end. (Not PR_SET_PDEATHSIG: it
        // fires when the *thread* that forked exits, and a parking thread ends at once.)
        libc::write(3, [READY].as_ptr().cast(), 1);
        // Wait for the go byte and, maybe, the network namespace.
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
        let mut cbuf = [0u64; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf);
        let n = loop {
            let n = libc::recvmsg(3, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            break n;
        };
        if n == 0 {
            // The parent dropped us unused.
            libc::_exit(0);
        }
        if n != 1 {
            report_and_exit(3, Fail::now(Stage::Plan));
        }
        let plan = *arena.cast::<Plan>();
        let mut steps = plan.steps;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if !cmsg.is_null() && (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
            steps.net_fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
        }
        if let Err(f) = steps.enter() {
            report_and_exit(3, f);
        }
        // The executor ignores SIGPIPE and its threads block some signals: user code starts
        // with the defaults (ignored dispositions and the mask survive exec).
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(plan.program, plan.argv, plan.envp);
        report_and_exit(3, Fail::now(Stage::Exec))
    }
}

impl Drop for Ready {
    fn drop(&mut self) {
        if self.pid > 0 {
            // SAFETY: kill and reap our own unstarted child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

/// What a run's main process used: its CPU time and peak resident size, with those of the
/// children it waited for (the kernel's `wait4` accounting).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User plus system CPU time, in milliseconds.
    pub cpu_ms: f64,
    /// The largest resident set of the process or of one waited-for descendant, in bytes.
    pub max_rss_bytes: u64,
}

/// A started run's main process: its pipes, and a pidfd to wait on. Dropped before it was
/// waited for, it is killed and reaped.
#[derive(Debug)]
pub struct Child {
    pid: i32,
    pidfd: Option<OwnedFd>,
    status: Option<ExitStatus>,
    rusage: Option<Usage>,
    /// Write end of its standard input.
    pub stdin: Option<OwnedFd>,
    /// Read end of its standard output.
    pub stdout: Option<OwnedFd>,
    /// Read end of its standard error.
    pub stderr: Option<OwnedFd>,
}

impl Child {
    /// Its pid, also its process group's (it called `setsid`).
    pub fn id(&self) -> i32 {
        self.pid
    }

    /// What it used, once it was waited for.
    pub fn usage(&self) -> Option<Usage> {
        self.rusage
    }

    /// Reaps it if it exited: `Some(status)` then.
    fn try_reap(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let mut status = 0;
        // SAFETY: a zeroed rusage filled by wait4 on our own child, without blocking.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 with pointers to stack values.
        let r = unsafe { libc::wait4(self.pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == 0 {
            return Ok(None);
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ECHILD) {
                // Reaped by someone else (a tag-mode sweep that met it): its status is lost.
                let s = ExitStatus::from_raw(libc::SIGKILL);
                self.status = Some(s);
                return Ok(Some(s));
            }
            return Err(e);
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
        self.rusage = Some(Usage { cpu_ms: tv(ru.ru_utime) + tv(ru.ru_stime), max_rss_bytes: (ru.ru_maxrss.max(0) as u64) * 1024 });
        let s = ExitStatus::from_raw(status);
        self.status = Some(s);
        self.pidfd = None;
        Ok(Some(s))
    }

    /// Waits for it to exit and reaps it.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(s) = self.try_reap()? {
            return Ok(s);
        }
        let fd = self.pidfd.as_ref().map(|f| f.try_clone()).transpose()?.ok_or_else(|| io::Error::other("no pidfd"))?;
        // SAFETY: `fd` is an owned pidfd, moved into the AsyncFd, which it outlives in no way.
        let fd = unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.map_err(io::Error::from)?;
        loop {
            let mut guard = fd.readable().await?;
            if let Some(s) = self.try_reap()? {
                return Ok(s);
            }
            guard.clear_ready();
        }
    }

    /// Kills it (SIGKILL), unless it was reaped.
    pub fn kill(&self) {
        if self.status.is_none() {
            // SAFETY: kill(2) on our unreaped child.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
    }

    fn reap_blocking(&mut self) {
        while self.status.is_none() {
            match self.try_reap() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_none() {
            self.kill();
            let pid = self.pid;
            // Killed: it ends at once, but not necessarily before this returns.
            std::thread::spawn(move || {
                // SAFETY: waitpid on our own killed child.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn exec(program: &str, args: &[&str]) -> Exec {
        Exec {
            program: program.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into()), ("ONLY".into(), "this".into())],
            cwd: std::env::temp_dir(),
            binds: Vec::new(),
            net_fd: None,
            identity: None,
            umask: 0o022,
            limits: Rlimits { memory_bytes: 2 << 30, max_processes: 512, file_size_bytes: 1 << 30, open_files: 4096 },
        }
    }

    fn read_all(fd: OwnedFd) -> String {
        let mut s = String::new();
        std::fs::File::from(fd).read_to_string(&mut s).unwrap();
        s
    }

    #[tokio::test]
    async fn a_child_runs_its_program_with_only_the_given_environment() {
        let ready = Ready::fork(&[], false).unwrap();
        let mut child = ready.start(&exec("sh", &["-c", "echo $ONLY; env | wc -l; echo err >&2; exit 3"])).unwrap();
        drop(child.stdin.take());
        let out = read_all(child.stdout.take().unwrap());
        let err = read_all(child.stderr.take().unwrap());
        let status = child.wait().await.unwrap();
        assert_eq!(status.code(), Some(3));
        // ONLY, PATH, and the PWD sh sets itself.
        assert_eq!(out.lines().collect::<Vec<_>>(), ["this", "3"]);
        assert_eq!(err, "err\n");
        assert!(child.usage().is_some(), "wait4 gave its usage");
    }

    #[tokio::test]
    async fn a_failure_before_exec_is_an_error_naming_the_step() {
        let e = Ready::fork(&[], false).unwrap().start(&exec("/no/such/program", &[])).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().starts_with("exec: "), "{e}");
        let mut bad_dir = exec("/bin/true", &[]);
        bad_dir.cwd = "/no/such/dir".into();
        let e = Ready::fork(&[], false).unwrap().start(&bad_dir).unwrap_err();
        assert!(e.to_string().starts_with("chdir to the working directory: "), "{e}");
    }

    #[tokio::test]
    async fn a_child_holds_none_of_the_parents_descriptors() {
        let (_keep_r, keep_w) = pipe().unwrap();
        // Not close-on-exec: a plain fork and exec would hand it on.
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(keep_w.as_raw_fd(), libc::F_SETFD, 0) };
        let ready = Ready::fork(&[], false).unwrap();
        let mut child = ready.start(&exec("sh", &["-c", "ls /proc/self/fd"])).unwrap();
        let out = read_all(child.stdout.take().unwrap());
        child.wait().await.unwrap();
        let fds: Vec<&str> = out.lines().collect();
        // 0–2, and the descriptor `ls` opened to read the directory.
        assert_eq!(fds.len(), 4, "{fds:?}");
        assert!(!fds.contains(&keep_w.as_raw_fd().to_string().as_str()));
    }

    #[test]
    fn an_unused_child_ends_with_its_value() {
        let ready = Ready::fork(&[], false).unwrap();
        let pid = ready.pid();
        drop(ready);
        // SAFETY: kill with signal 0 only probes.
        assert_eq!(unsafe { libc::kill(pid, 0) }, -1, "the child is gone");
    }

    #[test]
    fn a_group_the_child_cannot_join_is_an_error_of_the_fork() {
        // A descriptor the child cannot write to stands for a `cgroup.procs` it may not enter.
        let ro = std::fs::File::open("/dev/null").unwrap();
        let e = Ready::fork(&[ro.as_raw_fd()], true).unwrap_err();
        assert!(e.to_string().starts_with("joining the run's cgroups: "), "{e}");
    }

    #[test]
    fn a_plan_too_big_is_refused() {
        let mut e = exec("/bin/true", &[]);
        e.args = vec!["x".repeat(ARENA_BYTES)];
        let err = Ready::fork(&[], false).unwrap().start(&e).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::E2BIG));
    }
}
