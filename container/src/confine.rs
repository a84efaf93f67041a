//! Acting inside a workspace with the sandbox user's authority, never root's.
//!
//! A workspace, its scratch directories and everything under them belong to the session's uid,
//! so user code can plant a symlink, a FIFO or a hard link anywhere in them between two requests.
//! The executor runs as root (to switch uids and make cgroups), and a root `open`, `chmod` or
//! `chown` of such a path would land wherever the link points. So every file operation of the
//! executor inside those trees runs through [`as_user`]: on a thread of its own whose filesystem
//! credentials are the sandbox user's (`setfsuid`/`setfsgid`, no supplementary groups). Linux
//! drops the filesystem capabilities (`CAP_DAC_OVERRIDE`, `CAP_CHOWN`, `CAP_FOWNER`, …) from a
//! thread whose fsuid leaves 0, so on that thread a planted link leads only where the user could
//! go anyway. The credentials are per thread (raw system calls, not glibc's process-wide
//! wrappers), and the thread ends with the operation, so no other work ever runs with them.
//!
//! The helpers below add what credentials cannot: reads that refuse anything but a regular file
//! and never block on a FIFO ([`read_regular`]), and files created afresh, never through an
//! existing name ([`create_new`], [`replace_file`]).
use crate::sandbox::Identity;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Runs `f` with `id`'s filesystem authority on a thread of its own, or on this thread when
/// there is no sandbox user (an executor without root, whose runs share its uid).
pub fn as_user<T: Send>(id: Option<Identity>, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    let Some(id) = id else { return Ok(f()) };
    std::thread::scope(|s| {
        let worker = s.spawn(move || {
            become_user(id)?;
            Ok(f())
        });
        match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Runs `f` on a thread of its own whose current directory is `dir` (its own: the thread leaves
/// the process's shared filesystem attributes with `unshare(CLONE_FS)`), with `id`'s
/// filesystem authority when there is a sandbox user. `f` names paths relative to `dir`, so the
/// system's path limit (`PATH_MAX`) counts only what lies below `dir`, not `dir`'s own path.
/// `dir` itself must be a directory of the runtime's (a name user code cannot replace).
pub fn in_dir<T: Send>(id: Option<Identity>, dir: &Path, f: impl FnOnce() -> T + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        let worker = s.spawn(move || {
            // SAFETY: unshare(2) with CLONE_FS only gives this thread its own current directory,
            // root and umask; nothing else in the process changes.
            if unsafe { libc::unshare(libc::CLONE_FS) } != 0 {
                return Err(io::Error::last_os_error());
            }
            if let Some(id) = id {
                become_user(id)?;
            }
            std::env::set_current_dir(dir)?;
            Ok(f())
        });
        match worker.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Switches the calling thread's filesystem identity to `id`, with no supplementary groups,
/// and checks that the kernel took it.
fn become_user(id: Identity) -> io::Result<()> {
    // SAFETY: raw credential system calls with integer arguments; they change this thread only.
    unsafe {
        if libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0 {
            return Err(io::Error::last_os_error());
        }
        libc::syscall(libc::SYS_setfsgid, id.gid);
        libc::syscall(libc::SYS_setfsuid, id.uid);
        // setfs[ug]id answer the previous value; asking to set -1 changes nothing and tells.
        let (uid, gid) = (libc::syscall(libc::SYS_setfsuid, u32::MAX) as u32, libc::syscall(libc::SYS_setfsgid, u32::MAX) as u32);
        if (uid, gid) != (id.uid, id.gid) {
            return Err(io::Error::other(format!("could not take the sandbox user's identity ({}:{})", id.uid, id.gid)));
        }
    }
    Ok(())
}

fn open_flags() -> i32 {
    libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC
}

/// Reads `path` when it is a regular file of at most `max` bytes: never through a symlink
/// (`O_NOFOLLOW`), never blocking on a FIFO or device (`O_NONBLOCK`, then `fstat`), and never more
/// than `max + 1` bytes whatever the file claims. `Ok(None)` when there is nothing at `path`.
pub fn read_regular(path: &Path, max: usize) -> Result<Option<Vec<u8>>, ReadRefused> {
    let file = match fs::File::options().read(true).custom_flags(open_flags()).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(ReadRefused::NotRegular("a symbolic link")),
        Err(e) => return Err(ReadRefused::Io(e)),
    };
    let md = file.metadata().map_err(ReadRefused::Io)?;
    if !md.is_file() {
        let ft = md.file_type();
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        return Err(ReadRefused::NotRegular(what));
    }
    if md.len() > max as u64 {
        return Err(ReadRefused::TooLarge(md.len()));
    }
    let mut out = Vec::with_capacity(md.len() as usize);
    file.take(max as u64 + 1).read_to_end(&mut out).map_err(ReadRefused::Io)?;
    if out.len() > max {
        return Err(ReadRefused::TooLarge(out.len() as u64));
    }
    Ok(Some(out))
}

/// Why [`read_regular`] gave nothing back.
#[derive(Debug)]
pub enum ReadRefused {
    /// Something other than a regular file is there; what it is (`a symbolic link`, `a FIFO`, …).
    NotRegular(&'static str),
    /// The file is over the limit: its size in bytes, as `fstat` told or as far as it was read.
    TooLarge(u64),
    /// The file could not be opened or read.
    Io(io::Error),
}

impl std::fmt::Display for ReadRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadRefused::NotRegular(what) => write!(f, "is {what}, not a regular file"),
            ReadRefused::TooLarge(n) => write!(f, "is {n} bytes, over the limit"),
            ReadRefused::Io(e) => write!(f, "could not be read ({e})"),
        }
    }
}

/// Opens a regular file for reading without following a final symlink and without blocking on a
/// FIFO planted in its place; anything but a regular file is refused.
pub fn open_regular(path: &Path) -> io::Result<fs::File> {
    let file = fs::File::options().read(true).custom_flags(open_flags()).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{} is not a regular file", path.display())));
    }
    Ok(file)
}

/// Creates `path` as a new file with `mode` (`O_EXCL`: an existing name, link or not, fails).
pub fn create_new(path: &Path, mode: u32) -> io::Result<fs::File> {
    fs::File::options().write(true).create_new(true).mode(mode).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path)
}

/// Replaces whatever is at `path` (a file, a link, a FIFO; not a directory) with a new regular
/// file holding `bytes`: the old name is unlinked, never opened.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<fs::File> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut f = create_new(path, mode)?;
    f.write_all(bytes)?;
    Ok(f)
}

/// Bytes and entries under `dir`, links not followed; unreadable parts are skipped. Root-owned
/// files with other names elsewhere (the read-only Go seed cache linked into a session's cache)
/// are not the session's bytes and are not counted.
pub fn usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut bytes, mut entries) = (0u64, 0u64);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for item in rd.flatten() {
            let Ok(md) = item.path().symlink_metadata() else { continue };
            if md.is_file() && md.uid() == 0 && md.nlink() > 1 {
                continue;
            }
            entries += 1;
            if md.is_dir() {
                stack.push(item.path());
            } else {
                bytes += md.len();
            }
        }
    }
    (bytes, entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn nobody() -> Option<Identity> {
        // SAFETY: geteuid has no preconditions.
        (unsafe { libc::geteuid() } == 0).then_some(Identity { uid: 65534, gid: 65534 })
    }

    #[test]
    fn a_user_thread_has_the_users_authority_only() {
        let Some(id) = nobody() else { return };
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("root-only");
        fs::write(&secret, "secret").unwrap();
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let (read, wrote, made) = as_user(Some(id), || {
            let read = fs::read(&secret).map_err(|e| e.kind());
            let wrote = fs::write(&secret, "x").map_err(|e| e.kind());
            let made = fs::write(dir.path().join("mine"), "y").map_err(|e| e.kind());
            (read, wrote, made)
        })
        .unwrap();
        assert_eq!(read, Err(io::ErrorKind::PermissionDenied));
        assert_eq!(wrote, Err(io::ErrorKind::PermissionDenied));
        assert_eq!(made, Ok(()));
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");
        assert_eq!(fs::metadata(dir.path().join("mine")).unwrap().uid(), 65534, "files are created as the user");
        // This thread kept root's authority.
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");
    }

    #[test]
    fn reads_refuse_links_fifos_and_oversize() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        fs::write(p("ok"), "{}").unwrap();
        std::os::unix::fs::symlink("ok", p("link")).unwrap();
        let fifo = std::ffi::CString::new(p("fifo").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        fs::write(p("big"), vec![b'x'; 100]).unwrap();
        assert_eq!(read_regular(&p("ok"), 10).unwrap(), Some(b"{}".to_vec()));
        assert!(read_regular(&p("missing"), 10).unwrap().is_none());
        assert!(matches!(read_regular(&p("link"), 10), Err(ReadRefused::NotRegular(_))));
        assert!(matches!(read_regular(&p("fifo"), 10), Err(ReadRefused::NotRegular("a FIFO"))));
        assert!(matches!(read_regular(&p("big"), 10), Err(ReadRefused::TooLarge(100))));
        assert!(open_regular(&p("fifo")).is_err() && open_regular(&p("link")).is_err());
    }

    #[test]
    fn replace_file_unlinks_a_planted_link_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "keep").unwrap();
        let name = dir.path().join("data");
        std::os::unix::fs::symlink(&target, &name).unwrap();
        replace_file(&name, b"new", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(fs::read_to_string(&name).unwrap(), "new");
        assert!(fs::symlink_metadata(&name).unwrap().is_file());
        assert!(create_new(&name, 0o600).is_err(), "an existing name is never reused");
    }
}
