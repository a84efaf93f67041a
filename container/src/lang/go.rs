//! Go: the program is built in the session's module (`.sandbox/go/mod`) against the modules that
//! setup installed, into `.sandbox/go/bin/<hash>` keyed by the code and `go.mod`/`go.sum`, so
//! running the same program again starts the binary without compiling.
//!
//! Each session has a build cache of its own (`GOCACHE`, the session root's `gocache/`, counted
//! with its files): a cache shared between sessions would let one plant compiled objects that
//! another's build links in. So that a session's first build does not compile the standard
//! library from scratch (about 4 s here), a new session's cache starts as hard links to a seed:
//! a cache of the commonly used standard packages, built once per machine and Go version by
//! root and read-only to everyone ([`seed`], [`link_seed`]).
//!
//! Everything here lies inside the workspace, so it is done as the session's user.
use super::{Ctx, Plugin, Step};
use crate::confine::{as_user, read_regular};
use edgerun_protocol::Language;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The Go plugin: builds the program in the session's module, keyed by its code and module
/// files, and runs the binary.
pub struct Go;

/// Flags of every build, the seed's too (they shape the cache's keys). `-trimpath`: a panic's
/// trace names `session/main.go`, not the host path of the session's module.
const BUILD_FLAGS: [&str; 1] = ["-trimpath"];

/// Largest `go.mod` or `go.sum` read to key a build.
const MAX_MOD_FILE: usize = 16 << 20;

/// The session's Go module directory, created on first use (as the session's user).
pub fn module_dir(ctx: &Ctx) -> io::Result<PathBuf> {
    let dir = ctx.ws.join(".sandbox/go/mod");
    as_user(ctx.identity, || ensure_module(&dir))??;
    Ok(dir)
}

fn ensure_module(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    match crate::confine::create_new(&dir.join("go.mod"), 0o644) {
        Ok(mut f) => io::Write::write_all(&mut f, b"module session\n\ngo 1.21\n"),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn module_file(dir: &Path, name: &str) -> io::Result<Vec<u8>> {
    read_regular(&dir.join(name), MAX_MOD_FILE).map(Option::unwrap_or_default).map_err(|e| io::Error::other(format!("{name} {e}")))
}

impl Plugin for Go {
    fn language(&self) -> Language {
        Language::Go
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let dir = ctx.ws.join(".sandbox/go/mod");
        let bins = ctx.ws.join(".sandbox/go/bin");
        // One look, as the user: whether this program is built already decides both whether
        // main.go is written and whether a build step runs.
        let (bin, built) = as_user(ctx.identity, || -> io::Result<(PathBuf, bool)> {
            ensure_module(&dir)?;
            let mut h = blake3::Hasher::new();
            h.update(BUILD_FLAGS.join(" ").as_bytes());
            h.update(code.as_bytes());
            h.update(&module_file(&dir, "go.mod")?);
            h.update(&module_file(&dir, "go.sum")?);
            let bin = bins.join(&h.finalize().to_hex()[..24]);
            let built = fs::symlink_metadata(&bin).is_ok();
            if !built {
                // Written only when it is built, so a repeated run leaves the workspace untouched.
                crate::confine::replace_file(&dir.join("main.go"), code.as_bytes(), 0o644)?;
            }
            Ok((bin, built))
        })??;
        let run = Step::new(&bin, Vec::<String>::new());
        if built {
            return Ok(vec![run]);
        }
        let mut args = vec!["build".to_string()];
        args.extend(BUILD_FLAGS.map(String::from));
        args.extend(["-o".to_string(), bin.display().to_string(), ".".into()]);
        let mut build = Step::new(&ctx.runtimes.go, args);
        build.cwd = Some(dir);
        Ok(vec![build, run])
    }
}

/// Standard packages most programs import; the seed cache holds them compiled.
const SEED_PROGRAM: &str = "package main\n\nimport (\n\t\"bufio\"\n\t\"bytes\"\n\t\"encoding/json\"\n\t\"errors\"\n\t\"fmt\"\n\t\"io\"\n\t\"math\"\n\t\"math/rand\"\n\t\"os\"\n\t\"regexp\"\n\t\"sort\"\n\t\"strconv\"\n\t\"strings\"\n\t\"sync\"\n\t\"time\"\n)\n\nvar _ = []any{bufio.NewReader, bytes.NewBuffer, json.Marshal, errors.New, io.EOF, math.Pi, rand.Int, os.Exit, regexp.MustCompile, sort.Ints, strconv.Itoa, strings.Split, sync.Mutex{}, time.Now}\n\nfunc main() { fmt.Println() }\n";

/// Where the seed cache for this Go lives under `root` (`go-<version>-trimpath`: built with
/// [`BUILD_FLAGS`]), once it is built.
pub fn seed_dir(root: &Path, go: &Path) -> Option<PathBuf> {
    let mut cmd = std::process::Command::new(go);
    cmd.args(["env", "GOVERSION"]).env("GOTOOLCHAIN", "local").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    // As a run in flight: the tag mode's end-of-run sweep takes every other descendant of the
    // executor, and this runs in the background while runs are served.
    let out = crate::sandbox::reaper::probe_output(&mut cmd).ok()?;
    let version = String::from_utf8(out.stdout).ok()?.trim().to_string();
    let ok = out.status.success() && !version.is_empty() && version.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    ok.then(|| root.join(format!("go-{version}-trimpath")))
}

/// Builds the seed cache at `dir` unless it is there: compiled by root into a private temporary
/// directory with the environment sessions build with (`env`), made read-only, then renamed into
/// place, so a seed is either whole or absent.
pub fn seed(go: &Path, dir: &Path, env: &[(String, String)]) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let parent = dir.parent().ok_or_else(|| io::Error::other("seed directory has no parent"))?;
    fs::create_dir_all(parent)?;
    // One build per machine at a time: every executor waits on the same lock, and the first to
    // hold it builds; the lock dies with its holder, whose half-built directory the next removes.
    let lock = fs::File::create(parent.join(".seed.lock"))?;
    // SAFETY: flock(2) on a descriptor we own; released when it is closed.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if dir.is_dir() {
        return Ok(());
    }
    let tmp = parent.join(".seed-building");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp)?;
    let (module, cache) = (tmp.join("module"), tmp.join("cache"));
    fs::create_dir(&module)?;
    fs::write(module.join("go.mod"), "module seed\n\ngo 1.21\n")?;
    fs::write(module.join("main.go"), SEED_PROGRAM)?;
    let mut build = std::process::Command::new(go);
    build
        .arg("build")
        .args(BUILD_FLAGS)
        .args(["-o", "/dev/null", "."])
        .current_dir(&module)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("HOME", &tmp)
        .env("GOPATH", tmp.join("gopath"))
        .env("GOMODCACHE", tmp.join("gopath/mod"))
        .env("GOCACHE", &cache)
        .env("GOPROXY", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // In flight, as `seed_dir`'s probe: a concurrent run's sweep must not take the build.
    let built = crate::sandbox::reaper::probe_output(&mut build)?;
    if !built.status.success() {
        let _ = fs::remove_dir_all(&tmp);
        return Err(io::Error::other(format!("building the Go seed cache failed: {}", String::from_utf8_lossy(&built.stderr).trim())));
    }
    read_only(&cache)?;
    fs::rename(&cache, dir)?;
    fs::remove_dir_all(&tmp)
}

fn read_only(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            read_only(&e.path())?;
        } else {
            fs::set_permissions(e.path(), fs::Permissions::from_mode(0o444))?;
        }
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o555))
}

/// Fills `cache` — a directory the caller (root) has just made, before any user code could see
/// it — with hard links to the seed's entries (root-owned, read-only), in subdirectories it
/// makes and hands to `owner`. Go adds new entries beside them. Returns how many were linked.
pub fn link_seed(seed: &Path, cache: &Path, owner: Option<crate::sandbox::Identity>) -> io::Result<usize> {
    let mut linked = 0;
    for sub in fs::read_dir(seed)? {
        let sub = sub?;
        if !sub.file_type()?.is_dir() {
            continue; // README, trim.txt: Go writes its own
        }
        let into = cache.join(sub.file_name());
        fs::create_dir(&into)?;
        for f in fs::read_dir(sub.path())? {
            let f = f?;
            if f.file_type()?.is_file() {
                fs::hard_link(f.path(), into.join(f.file_name()))?;
                linked += 1;
            }
        }
        if let Some(id) = owner {
            std::os::unix::fs::chown(&into, Some(id.uid), Some(id.gid))?;
        }
    }
    Ok(linked)
}
