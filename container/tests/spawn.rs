//! The run's own spawn (`container/src/spawn.rs`) as a run sees it: what each run answer counts
//! (CPU time and peak memory) in every containment mode; in cgroup mode, the child parked ahead
//! in the groups of the session's next run, and the session's group holding its runs and its
//! live contexts under one cap.
mod common;
use edgerun_executor::config::KillSetting;
use edgerun_protocol::{ContextRef, Language, RunRequest};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Burns about 300 ms of CPU and holds 96 MiB, touched, at once.
const COSTLY: &str = "import time\nb = bytearray(96 * 1024 * 1024)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass\nprint('done')";

async fn counts_its_cost(mode: KillSetting, sid: &str) {
    let f = common::fixture_with(|c| {
        c.kill_mode = mode;
        c.limits.memory_bytes = 512 << 20;
    });
    let r = f.run(sid, Language::Python, COSTLY, |_| {}).await;
    assert_eq!((r.exit_code, r.stdout.as_str()), (0, "done\n"), "{mode:?}: {r:?}");
    let cpu = r.cpu_ms.unwrap_or_else(|| panic!("{mode:?}: no cpu_ms in {r:?}"));
    assert!((280.0..r.duration_ms * 2.0 + 50.0).contains(&cpu), "{mode:?}: cpu {cpu} ms in a run of {} ms", r.duration_ms);
    let peak = r.peak_memory_bytes.unwrap_or_else(|| panic!("{mode:?}: no peak_memory_bytes in {r:?}"));
    assert!((96u64 << 20..512 << 20).contains(&peak), "{mode:?}: peak {peak} bytes");
    // A cheap run is counted as cheap: the counters are the run's own, not the session's.
    let r = f.run(sid, Language::Bash, "echo hi", |_| {}).await;
    assert!(r.cpu_ms.is_some_and(|c| c < 200.0), "{mode:?}: {r:?}");
    assert!(r.peak_memory_bytes.is_some_and(|p| p < 64 << 20), "{mode:?}: {r:?}");
    // A context run counts the interpreter's use during that run, not its life so far.
    let ctx = |code: &str| RunRequest {
        language: Some(Language::Python),
        code: code.into(),
        timeout_secs: 20,
        context: Some(ContextRef { id: "ctx_0000000000000000000000c0".into(), language: Language::Python }),
        ..Default::default()
    };
    let mut req = ctx(COSTLY);
    req.expect_version = f.sessions.version(sid).await;
    let r = f.sessions.run(sid, req).await.expect("run accepted").0.result;
    assert_eq!(r.stdout, "done\n", "{mode:?}: {r:?}");
    let cpu = r.cpu_ms.unwrap_or_else(|| panic!("{mode:?}: no cpu_ms in a context run: {r:?}"));
    assert!(cpu >= 250.0, "{mode:?}: context run cpu {cpu} ms");
    if let Some(peak) = r.peak_memory_bytes {
        assert!(peak >= 96 << 20, "{mode:?}: context run peak {peak}");
    }
    let mut req = ctx("b = None\nx = 1");
    req.expect_version = f.sessions.version(sid).await;
    let r = f.sessions.run(sid, req).await.expect("run accepted").0.result;
    assert!(r.cpu_ms.is_some_and(|c| c < 200.0), "{mode:?}: the next context run counts only itself: {r:?}");
}

/// One test walks the modes in turn: the tag mode makes the executor a subreaper for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_answer_counts_its_cpu_time_and_peak_memory_in_every_mode() {
    if is_root() {
        counts_its_cost(KillSetting::Cgroup, "cost-cgroup").await;
        counts_its_cost(KillSetting::Uid, "cost-uid").await;
    }
    counts_its_cost(KillSetting::Tag, "cost-tag").await;
}

/// The v1 memory path of a process, from /proc/<pid>/cgroup as the run prints it.
fn memory_path(proc_cgroup: &str) -> String {
    proc_cgroup.lines().find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string())).unwrap_or_else(|| {
        // A pure v2 machine: the unified path.
        proc_cgroup.lines().find_map(|l| l.strip_prefix("0::").map(str::to_string)).expect("a cgroup line")
    })
}

/// Where the memory controller's hierarchy is mounted (v1 `memory`, or v2).
fn memory_mount() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let v1 =
        mounts.lines().find(|l| l.contains(" - cgroup ") && l.split(' ').next_back().is_some_and(|o| o.split(',').any(|x| x == "memory")));
    let line = v1.or_else(|| mounts.lines().find(|l| l.contains(" - cgroup2 "))).expect("a memory hierarchy");
    PathBuf::from(line.split(' ').nth(4).unwrap())
}

/// Processes directly in the group at `dir`.
fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs")).map(|t| t.lines().filter_map(|l| l.parse().ok()).collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_and_contexts_of_a_session_live_in_its_group_and_the_next_run_finds_a_child_parked_there() {
    if !is_root() {
        eprintln!("not root: the cgroup mode is not tested here");
        return;
    }
    let f = common::fixture_in(KillSetting::Cgroup);
    assert!(f.sessions.isolation().starts_with("cgroup ("), "{}", f.sessions.isolation());
    let sid = "grouped";
    let r = f.run(sid, Language::Bash, "cat /proc/self/cgroup; id -u", |_| {}).await;
    assert_eq!(r.exit_code, 0, "{r:?}");
    let first = memory_path(&r.stdout);
    let uid: u32 = r.stdout.lines().last().unwrap().parse().unwrap();
    let run_dir = Path::new(&first);
    let session = run_dir.parent().unwrap();
    assert_eq!(session.file_name().unwrap().to_string_lossy(), format!("s{uid}"), "a run's group sits in its session's: {first}");
    let session_dir = memory_mount().join(session.strip_prefix("/").unwrap());
    // The session's cap: twice one run's limits (fixture_in: 256 MiB, 64 processes).
    let limit = ["memory.limit_in_bytes", "memory.max"].iter().find_map(|f| std::fs::read_to_string(session_dir.join(f)).ok()).unwrap();
    assert_eq!(limit.trim(), (512u64 << 20).to_string(), "the session's memory cap");

    // After the run, a child waits parked in a group of the session for the next run.
    let until = Instant::now() + Duration::from_secs(5);
    let parked = loop {
        let groups: Vec<PathBuf> = std::fs::read_dir(&session_dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        if let Some(g) = groups.iter().find(|g| procs(g).len() == 1) {
            break g.clone();
        }
        assert!(Instant::now() < until, "no child parked in {}: {groups:?}", session_dir.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let parked_pid = procs(&parked)[0];
    let r = f.run(sid, Language::Bash, "cat /proc/self/cgroup; echo $$", |_| {}).await;
    let second = memory_path(&r.stdout);
    assert_eq!(Path::new(&second).file_name(), parked.file_name(), "the next run took the parked child's groups");
    assert_eq!(r.stdout.lines().last().unwrap().parse::<i32>().unwrap(), parked_pid, "and the parked child became the run");
    assert_ne!(second, first);
    assert!(!run_dir.strip_prefix("/").map(|p| memory_mount().join(p)).unwrap().exists(), "the first run's group is gone");

    // A live context's interpreter lives in the session's group too, beside its runs.
    let req = RunRequest {
        language: Some(Language::Python),
        code: "print(open('/proc/self/cgroup').read())".into(),
        timeout_secs: 20,
        expect_version: f.sessions.version(sid).await,
        context: Some(ContextRef { id: "ctx_0000000000000000000000c1".into(), language: Language::Python }),
        ..Default::default()
    };
    let r = f.sessions.run(sid, req).await.expect("run accepted").0.result;
    assert_eq!(r.exit_code, 0, "{r:?}");
    let ctx = memory_path(&r.stdout);
    assert_eq!(Path::new(&ctx).parent(), Some(session), "the context's group is in the session's: {ctx}");
    assert!(Path::new(&ctx).file_name().unwrap().to_string_lossy().starts_with("ctx-"), "{ctx}");
    // A plain run beside it leaves it alive, both under the one cap.
    let r = f.run(sid, Language::Bash, "echo plain", |_| {}).await;
    assert_eq!(r.stdout, "plain\n");
    assert_eq!(f.sessions.live_contexts(sid).len(), 1);

    // Deleting the session ends its context and its parked child, and its group goes.
    f.sessions.delete(sid).await.expect("deleted");
    let until = Instant::now() + Duration::from_secs(5);
    while session_dir.exists() {
        assert!(Instant::now() < until, "{} outlived its session", session_dir.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Children parked for a session's next run, and the sessions' groups, go with the executor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_children_and_session_groups_go_with_the_executor() {
    if !is_root() {
        return;
    }
    let f = common::fixture_in(KillSetting::Cgroup);
    let r = f.run("leaves", Language::Bash, "cat /proc/self/cgroup", |_| {}).await;
    let session_dir = memory_mount().join(Path::new(&memory_path(&r.stdout)).parent().unwrap().strip_prefix("/").unwrap());
    let until = Instant::now() + Duration::from_secs(5);
    let pid = loop {
        let found = std::fs::read_dir(&session_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .find_map(|g| procs(&g).first().copied());
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < until, "no parked child");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    drop(f);
    let until = Instant::now() + Duration::from_secs(5);
    // SAFETY: kill with signal 0 only probes.
    while unsafe { libc::kill(pid, 0) } == 0 && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
        assert!(Instant::now() < until, "the parked child {pid} outlived its executor");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!session_dir.exists(), "{} removed", session_dir.display());
}

/// A parked child killed from outside while it waits does not cost the run: a fresh child takes
/// it in the same groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_child_killed_while_it_waits_is_replaced() {
    if !is_root() {
        return;
    }
    let f = common::fixture_in(KillSetting::Cgroup);
    let sid = "killed-parked";
    let r = f.run(sid, Language::Bash, "cat /proc/self/cgroup", |_| {}).await;
    let session_dir = memory_mount().join(Path::new(&memory_path(&r.stdout)).parent().unwrap().strip_prefix("/").unwrap());
    let until = Instant::now() + Duration::from_secs(5);
    let (group, pid) = loop {
        let found = std::fs::read_dir(&session_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .find_map(|g| procs(&g).first().copied().map(|p| (g, p)));
        if let Some(x) = found {
            break x;
        }
        assert!(Instant::now() < until, "no parked child");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // SAFETY: kill(2) on the parked child's pid, read from its group.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let until = Instant::now() + Duration::from_secs(5);
    while !procs(&group).is_empty() {
        assert!(Instant::now() < until, "the killed child left its group");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = f.run(sid, Language::Bash, "cat /proc/self/cgroup; echo ran", |_| {}).await;
    assert_eq!((r.exit_code, r.stdout.lines().last()), (0, Some("ran")), "{r:?}");
    assert_eq!(Path::new(&memory_path(&r.stdout)).file_name(), group.file_name(), "in the parked child's groups");
}
