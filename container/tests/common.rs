//! Helpers for the executor's real-process tests: a fresh work root per test, the runtimes the
//! bootstrap resolved (`.state/env`), and a run helper.
#![allow(dead_code, unreachable_pub)]
use edgerun_executor::config::Config;
use edgerun_executor::session::Sessions;
use edgerun_protocol::{Entry, EntryKind, Install, KilledBy, Language, RunRequest, RunResult};
use std::sync::Once;
use std::time::Instant;

static ENV: Once = Once::new();

/// Loads `.state/env` (written by scripts/bootstrap.sh) into this process's environment.
pub fn load_tool_env() {
    ENV.call_once(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../.state/env");
        let Ok(text) = std::fs::read_to_string(path) else { return };
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("export ") else { continue };
            let Some((k, v)) = rest.split_once('=') else { continue };
            let v = v.trim_matches('"');
            if k.starts_with("EDGERUN_") && std::env::var_os(k).is_none() {
                // SAFETY: called once, before any test thread reads the environment.
                unsafe { std::env::set_var(k, v) };
            }
        }
    });
}

/// Where test work roots go: not under /tmp or /var/tmp, which runs get privately when the
/// executor is root (it refuses a work root there).
pub fn work_parent() -> std::path::PathBuf {
    let p = if is_root() { std::path::PathBuf::from("/var/lib/edgerun-tests") } else { std::env::temp_dir() };
    std::fs::create_dir_all(&p).expect("test work parent");
    p
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub sessions: Sessions,
}

pub fn fixture() -> Fixture {
    fixture_with(|_| {})
}

pub fn fixture_with(tweak: impl FnOnce(&mut Config)) -> Fixture {
    load_tool_env();
    let dir = tempfile::Builder::new().prefix("edgerun-exec-").tempdir_in(work_parent()).expect("tempdir");
    let mut config = Config::for_root(dir.path());
    tweak(&mut config);
    let sessions = Sessions::new(config).expect("sessions");
    Fixture { dir, sessions }
}

impl Fixture {
    /// Runs code in a session that the test drives run after run (tracking the version).
    pub async fn run(&self, sid: &str, lang: Language, code: &str, tweak: impl FnOnce(&mut RunRequest)) -> RunResult {
        let mut req = RunRequest {
            language: Some(lang),
            code: code.to_string(),
            timeout_secs: 30,
            expect_version: self.sessions.version(sid).await,
            install: Install::default(),
            ..Default::default()
        };
        tweak(&mut req);
        let (answer, _tar) = self.sessions.run(sid, req).await.expect("run accepted");
        answer.result
    }
}

/// A run that starts a background child, a `setsid` child, a double-forked grandchild and a
/// double-forked `setsid` grandchild with an emptied environment (no tag to find it by), then
/// times out: the answer comes within a generous bound of the timeout, none of them survives, and
/// the session runs normally afterwards.
pub async fn timeout_kills_everything(f: Fixture, sid: &str) {
    let started = Instant::now();
    let mark = format!("{}", 300 + std::process::id() % 100 + sid.len() as u32);
    let code =
        format!("sleep {mark}0 & setsid sleep {mark}1 & (sleep {mark}2 &) ; (setsid env -i sleep {mark}3 &) ; echo started; sleep 600");
    let r = f.run(sid, Language::Bash, &code, |q| q.timeout_secs = 1).await;
    let took = started.elapsed();
    assert_eq!(r.killed_by, Some(KilledBy::Timeout));
    assert!(r.timed_out);
    assert_eq!(r.signal.as_deref(), Some("SIGKILL"));
    assert_eq!(r.exit_code, 128 + 9);
    assert_eq!(r.stdout, "started\n");
    assert!(took.as_secs_f64() < 4.0, "answer within a generous bound of the 1 s timeout, took {took:?}");
    let ps = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    for s in ["0", "1", "2", "3"].map(|d| format!("sleep {mark}{d}")) {
        assert!(!ps.lines().any(|l| l.trim() == s), "{s} survived the timeout");
    }
    // The session stays usable.
    let r = f.run(sid, Language::Bash, "echo next", |_| {}).await;
    assert_eq!(r.stdout, "next\n");
}

/// Whether the tests run as root (sandbox uids, cgroups, private mounts).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Everything under `dir` as the kernel sees it, links not followed: path → (mode, uid, gid,
/// content or link target). Two equal pictures mean nothing there changed.
pub fn tree_picture(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, (u32, u32, u32, Vec<u8>)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let md = std::fs::symlink_metadata(&d).expect("lstat");
        let content = if md.file_type().is_symlink() {
            std::fs::read_link(&d).unwrap().into_os_string().into_encoded_bytes()
        } else if md.is_file() {
            std::fs::read(&d).unwrap()
        } else {
            Vec::new()
        };
        out.insert(d.clone(), (md.mode(), md.uid(), md.gid(), content));
        if md.is_dir() {
            for e in std::fs::read_dir(&d).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    out
}

/// A fixture in `mode` with low limits (256 MiB, 64 processes), so that a missing limit fails.
pub fn fixture_in(mode: edgerun_executor::config::KillSetting) -> Fixture {
    fixture_with(|c| {
        c.kill_mode = mode;
        c.limits.memory_bytes = 256 << 20;
        c.limits.max_processes = 64;
    })
}

/// A fork bomb and a memory hog are each ended by their own limit, named, well before the
/// timeout; the session runs normally afterwards.
pub async fn limits_are_named(f: Fixture, sid: &str) {
    let started = Instant::now();
    let r = f.run(sid, Language::Bash, ":(){ :|:& };:", |q| q.timeout_secs = 30).await;
    assert_eq!(r.killed_by, Some(KilledBy::Processes), "{r:?}");
    assert_eq!(r.signal.as_deref(), Some("SIGKILL"));
    let r = f.run(sid, Language::Python, "x = []\nwhile True:\n    x.append(bytearray(8 * 1024 * 1024))", |q| q.timeout_secs = 30).await;
    assert_eq!(r.killed_by, Some(KilledBy::Memory), "{r:?}");
    assert!(started.elapsed().as_secs() < 20, "both stopped well before their timeouts: {:?}", started.elapsed());
    // V8 and Go reserve far more address space than the 256 MiB limit: they must still run.
    let r = f.run(sid, Language::Node, "console.log(new Array(1000).fill(1).length)", |_| {}).await;
    assert_eq!((r.exit_code, r.stdout.as_str()), (0, "1000\n"), "{r:?}");
    let r = f.run(sid, Language::Bash, "echo ok", |_| {}).await;
    assert_eq!(r.stdout, "ok\n");
}

/// A manifest entry for a regular file holding `content` (mode 0644).
pub fn file_entry(path: &str, content: &[u8]) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::File,
        mode: 0o644,
        mtime_ns: 1_000_000_000,
        size: content.len() as u64,
        hash: blake3::hash(content).to_hex().to_string(),
        target: None,
    }
}
