//! Background processes in the executor: they outlive plain and timed-out runs in every
//! containment mode, work in the workspace as the session's user inside its network namespace,
//! take input, keep their output in rings, end with everything they started, and are bounded.
//! The modes are walked one after the other in one test (the tag mode makes the executor a
//! subreaper for the rest of the process).
mod common;
use edgerun_executor::config::KillSetting;
use edgerun_protocol::{KilledBy, Language, ProcessKilledBy, ProcessStart, ProcessState, MAX_PROCESSES};
use std::time::{Duration, Instant};

fn pid(n: u32) -> String {
    format!("proc_{n:024x}")
}

async fn start(f: &common::Fixture, sid: &str, id: &str, command: &str, max_secs: u64) -> ProcessState {
    let req = ProcessStart {
        id: id.into(),
        command: command.into(),
        env: [("GREETING".to_string(), "hi".to_string())].into(),
        max_secs,
        expect_version: f.sessions.version(sid).await,
    };
    f.sessions.start_process(sid, req).await.expect("process started")
}

fn state(f: &common::Fixture, sid: &str, id: &str) -> ProcessState {
    f.sessions.processes().list(sid).into_iter().find(|p| p.id == id).expect("listed")
}

/// Waits up to 5 s for `cond` on the process's stdout.
async fn stdout_until(f: &common::Fixture, sid: &str, id: &str, cond: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let out = f.sessions.processes().logs(sid, id).expect("logs").stdout;
        if cond(&out) || Instant::now() > until {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ended(f: &common::Fixture, sid: &str, id: &str) -> ProcessState {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let s = state(f, sid, id);
        if s.status != "running" || Instant::now() > until {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ps_has(needle: &str) -> bool {
    let ps = std::process::Command::new("ps").args(["-eo", "args"]).output().unwrap();
    String::from_utf8_lossy(&ps.stdout).lines().any(|l| l.trim() == needle)
}

async fn walk(mode: KillSetting) {
    let f = common::fixture_with(|c| c.kill_mode = mode);
    let sid = "proc-session";
    // The workspace exists and holds a version before the process starts.
    let r = f.run(sid, Language::Bash, "echo seed > seed.txt", |q| q.allow_internet = false).await;
    assert_eq!(r.exit_code, 0, "{r:?}");
    let echo = pid(1);
    let cmd = "echo \"$GREETING from $(id -u) in $(readlink /proc/self/ns/net)\"; cat seed.txt; \
               while read -r line; do echo \"got $line\"; echo \"$line\" >> seen.txt; done; echo eof";
    let s = start(&f, sid, &echo, cmd, 600).await;
    assert_eq!((s.status.as_str(), s.exit_code, s.killed_by), ("running", None, None));
    let out = stdout_until(&f, sid, &echo, |o| o.contains("seed")).await;
    // As the session's user, in its network namespace (where runs without internet go).
    let run = f.run(sid, Language::Bash, "echo \"$(id -u) in $(readlink /proc/self/ns/net)\"", |q| q.allow_internet = false).await;
    assert_eq!(out, format!("hi from {}seed\n", run.stdout), "{mode:?}");

    // A process with children: one in its session, one in a session of its own (its parent is
    // the process), one left by a double fork (no longer its child, still in its session), and
    // the one it waits for.
    let mark = 4000 + std::process::id() % 1000;
    let kids = pid(5);
    start(&f, sid, &kids, &format!("sleep {mark}5 & setsid sleep {mark}6 & (sleep {mark}8 &); sleep {mark}7"), 600).await;
    let kid_names = [5, 6, 7, 8].map(|d| format!("sleep {mark}{d}"));
    let until = Instant::now() + Duration::from_secs(3);
    while !kid_names.iter().all(|k| ps_has(k)) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(kid_names.iter().all(|k| ps_has(k)), "{mode:?}: the children started");

    // A plain run that leaves a job behind, and a run that times out, leave it alive, and its
    // children too.
    let r = f.run(sid, Language::Bash, "echo plain; sleep 0.2 &", |_| {}).await;
    assert_eq!(r.stdout, "plain\n");
    assert_eq!(state(&f, sid, &echo).status, "running", "{mode:?}: the process outlived a plain run");
    let r = f.run(sid, Language::Bash, "sleep 30", |q| q.timeout_secs = 1).await;
    assert_eq!(r.killed_by, Some(KilledBy::Timeout));
    assert_eq!(state(&f, sid, &echo).status, "running", "{mode:?}: the process outlived a timed-out run");
    for k in &kid_names {
        assert!(ps_has(k), "{mode:?}: {k}, a child of a background process, outlived the runs");
    }
    assert_eq!(state(&f, sid, &kids).status, "running", "{mode:?}");
    f.sessions.processes().stop(sid, &kids).await.expect("known");
    for k in &kid_names {
        assert!(!ps_has(k), "{mode:?}: {k} outlived its process");
    }

    // Its standard input; what it writes is in the workspace for the next run and its delta.
    let s = f.sessions.processes().write_stdin(sid, &echo, b"one\ntwo\n", false).await.expect("written").expect("known");
    assert_eq!(s.status, "running");
    let out = stdout_until(&f, sid, &echo, |o| o.contains("got two")).await;
    assert!(out.ends_with("got one\ngot two\n"), "{out}");
    let base = f.sessions.version(sid).await;
    let r = f.run(sid, Language::Bash, "cat seen.txt", |_| {}).await;
    assert_eq!(r.stdout, "one\ntwo\n", "{mode:?}");
    assert_ne!(f.sessions.version(sid).await, base, "the process's file made a new version");
    f.sessions.processes().write_stdin(sid, &echo, b"three\n", true).await.expect("written");
    let s = ended(&f, sid, &echo).await;
    assert_eq!((s.status.as_str(), s.exit_code, s.killed_by), ("exited", Some(0), None), "{mode:?}");
    assert!(f.sessions.processes().logs(sid, &echo).unwrap().stdout.ends_with("got three\neof\n"));
    let closed = f.sessions.processes().write_stdin(sid, &echo, b"x", false).await;
    assert!(closed.is_err(), "an ended process takes no input");

    // DELETE ends it and everything it started.
    let tree = pid(2);
    start(&f, sid, &tree, &format!("sleep {mark}1 & (setsid sleep {mark}2 &); sleep {mark}3"), 600).await;
    let until = Instant::now() + Duration::from_secs(3);
    while !(ps_has(&format!("sleep {mark}2")) && ps_has(&format!("sleep {mark}3"))) && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = f.run(sid, Language::Bash, "echo between", |_| {}).await;
    assert_eq!(r.stdout, "between\n");
    assert_eq!(state(&f, sid, &tree).status, "running", "{mode:?}");
    let s = f.sessions.processes().stop(sid, &tree).await.expect("known");
    assert_eq!((s.status.as_str(), s.killed_by), ("killed", Some(ProcessKilledBy::Deleted)), "{mode:?}");
    for d in 1..=3 {
        assert!(!ps_has(&format!("sleep {mark}{d}")), "{mode:?}: sleep {mark}{d} outlived its process");
    }

    // Its lifetime bound, and its own exit code.
    let t = Instant::now();
    let bounded = pid(3);
    start(&f, sid, &bounded, "sleep 60", 1).await;
    let s = ended(&f, sid, &bounded).await;
    assert_eq!((s.status.as_str(), s.killed_by), ("killed", Some(ProcessKilledBy::Timeout)), "{mode:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let failing = pid(4);
    start(&f, sid, &failing, "echo oops >&2; exit 3", 60).await;
    let s = ended(&f, sid, &failing).await;
    assert_eq!((s.status.as_str(), s.exit_code), ("exited", Some(3)));
    assert_eq!(f.sessions.processes().logs(sid, &failing).unwrap().stderr, "oops\n");

    // At most MAX_PROCESSES live ones; an id is never reused.
    for n in 0..MAX_PROCESSES as u32 {
        start(&f, sid, &pid(100 + n), &format!("sleep {mark}9"), 600).await;
    }
    let req = |id: String| ProcessStart { id, command: "true".into(), env: Default::default(), max_secs: 5, expect_version: None };
    let mut over = req(pid(200));
    over.expect_version = f.sessions.version(sid).await;
    let e = f.sessions.start_process(sid, over).await.unwrap_err();
    assert_eq!(e.code, edgerun_protocol::ErrorCode::Conflict, "{}", e.message);
    let mut again = req(echo.clone());
    again.expect_version = f.sessions.version(sid).await;
    assert_eq!(f.sessions.start_process(sid, again).await.unwrap_err().code, edgerun_protocol::ErrorCode::Conflict);
    // A stale caller is told so, and nothing starts.
    let e = f.sessions.start_process(sid, req(pid(201))).await.unwrap_err();
    assert_eq!(e.code, edgerun_protocol::ErrorCode::WorkspaceStale);
    f.sessions.delete(sid).await.expect("delete");
    assert!(f.sessions.processes().list(sid).is_empty());
    assert!(!ps_has(&format!("sleep {mark}9")), "the session's deletion ends its processes");
}

#[tokio::test]
async fn processes_outlive_runs_and_end_with_their_tree_in_every_mode() {
    if !common::is_root() {
        eprintln!("skipped: background processes need network namespaces (root)");
        return;
    }
    for m in [KillSetting::Auto, KillSetting::Uid, KillSetting::Tag] {
        walk(m).await;
    }
}
