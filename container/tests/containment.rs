//! Attacks from user code on the executor itself, each of which once worked: links and FIFOs
//! planted where the executor writes or reads, chains of links through persist and inject,
//! secrets and other sessions read through /proc, /tmp and /dev/shm; bytes hidden outside the
//! workspace's count; uids reused; descriptors inherited. Each test reproduces the attack and
//! checks that it now does no harm. They need root (sandbox uids, private mounts), as in CI.
mod common;
use common::{fixture, fixture_with, is_root, tree_picture, Fixture};
use edgerun_executor::config::UID_BLOCK;
use edgerun_executor::session::Sessions;
use edgerun_protocol::{ApplyRequest, Entry, EntryKind, ErrorCode, InjectRequest, KilledBy, Language, RunRequest, RunResult, Segment};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A root-owned directory beside the sessions, with a root-only file and a world-readable one.
fn victims(f: &Fixture) -> PathBuf {
    let dir = f.dir.path().join("victim");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("root-only.json"), r#"{"secret": "root-only-secret"}"#).unwrap();
    fs::set_permissions(dir.join("root-only.json"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(dir.join("public.txt"), "public").unwrap();
    fs::create_dir(dir.join("sub")).unwrap();
    dir
}

async fn run_req(f: &Fixture, sid: &str, lang: Language, code: &str, tweak: impl FnOnce(&mut RunRequest)) -> (RunResult, Vec<Entry>) {
    let mut req = RunRequest {
        language: Some(lang),
        code: code.to_string(),
        timeout_secs: 20,
        expect_version: f.sessions.version(sid).await,
        ..Default::default()
    };
    tweak(&mut req);
    let (answer, _tar) = f.sessions.run(sid, req).await.expect("run accepted");
    (answer.result, answer.delta.entries.into_iter().map(|p| p.entry).collect())
}

async fn bash(f: &Fixture, sid: &str, code: &str) -> RunResult {
    f.run(sid, Language::Bash, code, |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_planted_where_the_executor_writes_lead_nowhere() {
    if !is_root() {
        return;
    }
    let f = fixture();
    let v = victims(&f);
    let before = tree_picture(&v);
    let sid = "plant";
    let vs = v.display();
    // Every name the executor used to write as root: the data file, Go's files, the install
    // markers, an upload's temporary name and its target; and the code directory itself.
    let plant = format!(
        "mkdir -p .sandbox/go/mod && ln -s {vs}/public.txt .sandbox/go/mod/main.go && ln -s {vs}/sub .sandbox/installed \
         && ln -s {vs}/root-only.json .session_data.json && ln -s {vs}/public.txt up.sh && ln -s {vs}/public.txt .edgerun-tmp-up.sh \
         && (ln -s {vs}/public.txt ../code/main.py 2>&1 || true) && (echo x > ../code/x || true) 2>&1"
    );
    let r = bash(&f, sid, &plant).await;
    assert_eq!(r.exit_code, 0, "{r:?}");
    assert_eq!(r.stdout.matches("Permission denied").count(), 2, "the code directory is not the user's: {}", r.stdout);

    // The data file: written through the link before, then read back as the session's data.
    let (r, _) = run_req(
        &f,
        sid,
        Language::Python,
        "import json\nd = json.load(open('.session_data.json'))\nd['n'] += 1\njson.dump(d, open('.session_data.json', 'w'))",
        |q| q.data = Some(serde_json::json!({"n": 1})),
    )
    .await;
    assert_eq!(r.data, Some(serde_json::json!({"n": 2})), "{r:?}");
    // Go: main.go was a link to a root file.
    let r = f.run(sid, Language::Go, "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"built\") }", |_| {}).await;
    assert_eq!(r.stdout, "built\n", "{r:?}");
    // An upload (mode 4755) whose name and whose old temporary name are links to root files.
    let content = b"#!/bin/sh\nid -u\n";
    let entry = Entry { mode: 0o4755, mtime_ns: 1_700_000_000_000_000_000, ..common::file_entry("up.sh", content) };
    let version = f.sessions.version(sid).await.unwrap();
    let req = ApplyRequest { expect_version: version, version: "after-upload".into(), put: vec![entry], delete: vec![] };
    f.sessions.apply(sid, req, content.to_vec()).await.expect("apply");
    let ws = f.dir.path().join(sid).join("ws");
    let up = fs::symlink_metadata(ws.join("up.sh")).unwrap();
    assert!(up.is_file(), "the upload replaced the link, not its target");
    assert_ne!(up.uid(), 0, "the uploaded file belongs to the session's user");
    assert!(
        fs::symlink_metadata(ws.join(".edgerun-tmp-up.sh")).unwrap().file_type().is_symlink(),
        "a user file named like an old temporary is left alone"
    );
    // The upload runs as the session's user, whatever its mode says.
    let r = bash(&f, sid, "./up.sh").await;
    assert_ne!(r.stdout.trim(), "0", "{r:?}");
    assert_eq!(tree_picture(&v), before, "nothing outside the workspace changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_file_is_read_as_a_bounded_regular_file() {
    if !is_root() {
        return;
    }
    let f = fixture();
    let v = victims(&f);
    let sid = "data";
    let data = || Some(serde_json::json!({"n": 1}));
    // A link to a root-only JSON file left in its place: not read.
    let link = format!("import os\nos.remove('.session_data.json')\nos.symlink('{}/root-only.json', '.session_data.json')", v.display());
    let (r, _) = run_req(&f, sid, Language::Python, &link, |q| q.data = data()).await;
    assert_eq!(r.data, None);
    assert!(r.stderr.contains("symbolic link") && !r.stderr.contains("root-only-secret"), "{}", r.stderr);
    // A FIFO: the run answers, twice, and the executor keeps serving.
    for _ in 0..2 {
        let started = Instant::now();
        let (r, _) =
            run_req(&f, sid, Language::Python, "import os\nos.remove('.session_data.json')\nos.mkfifo('.session_data.json')", |q| {
                q.data = data()
            })
            .await;
        assert!(started.elapsed() < Duration::from_secs(10), "a FIFO as the data file does not hang the run");
        assert!(r.stderr.contains("FIFO"), "{}", r.stderr);
    }
    // Oversize, and a directory in its place.
    let (r, _) = run_req(&f, sid, Language::Python, "open('.session_data.json', 'w').write('{\"a\": \"' + 'x' * 200000 + '\"}')", |q| {
        q.data = data()
    })
    .await;
    assert!(r.stderr.contains("over the"), "{}", r.stderr);
    let (r, _) = run_req(&f, sid, Language::Python, "import os\nos.remove('.session_data.json')\nos.mkdir('.session_data.json')", |q| {
        q.data = data()
    })
    .await;
    assert_eq!(r.data, None);
    let (r, _) = run_req(&f, sid, Language::Python, "print('still here')", |q| q.data = data()).await;
    assert!(r.stderr.contains("could not be written"), "a directory at the data file's name is reported: {}", r.stderr);
    let (r, _) =
        run_req(&f, sid, Language::Python, "import shutil\nshutil.rmtree('.session_data.json', ignore_errors=True)\nprint('ok')", |_| {})
            .await;
    assert_eq!(r.stdout, "ok\n");
    let (r, _) =
        run_req(&f, sid, Language::Python, "import json\nprint(json.load(open('.session_data.json'))['n'])", |q| q.data = data()).await;
    assert_eq!(r.stdout, "1\n", "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_chains_are_not_persisted_and_hostile_injects_change_nothing() {
    let f = fixture();
    let sid = "chains";
    let (r, entries) = run_req(
        &f,
        sid,
        Language::Bash,
        "mkdir d sub && echo hi > sub/t && ln -s . a && ln -s a/a/../.. b && ln -s ../x c && ln -s d/.. e && ln -s sub f && ln -s a/sub g",
        |_| {},
    )
    .await;
    let kept: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    for p in ["a", "d", "e", "f", "sub", "sub/t"] {
        assert!(kept.contains(&p), "{p} is kept: {kept:?}");
    }
    for p in ["b", "c", "g"] {
        assert!(!kept.contains(&p), "{p} is not kept: {kept:?}");
        assert!(r.stderr.contains(&format!("[edgerun]   {p}: symlink")), "{p} is reported: {}", r.stderr);
    }
    let ws = f.dir.path().join(sid).join("ws");
    let before = tree_picture(&ws);
    let v = victims(&f);
    let outside = tree_picture(&v);
    let link = |p: &str, t: &str| Entry {
        path: p.into(),
        kind: EntryKind::Symlink,
        mode: 0o777,
        mtime_ns: 0,
        size: 0,
        hash: String::new(),
        target: Some(t.into()),
    };
    let dir =
        |p: &str| Entry { path: p.into(), kind: EntryKind::Dir, mode: 0o755, mtime_ns: 0, size: 0, hash: String::new(), target: None };
    let hostile: Vec<(&str, Vec<Entry>)> = vec![
        ("a link out", vec![link("l", "..")]),
        ("a chain through a link", vec![link("a", "."), link("b", "a/..")]),
        ("a directory through a link", vec![link("d", "../../victim"), dir("d/x")]),
        ("a link inside a link", vec![dir("real"), link("d", "real"), link("d/l", "x")]),
        ("a path twice", vec![dir("x"), link("x", "y")]),
        ("a target on a directory", vec![Entry { target: Some("..".into()), ..dir("t") }]),
    ];
    for (what, manifest) in hostile {
        let req = InjectRequest { version: format!("hostile-{what}"), manifest, segments: Vec::<Segment>::new() };
        let e = f.sessions.inject(sid, req, Box::new(std::io::empty())).await.expect_err(what);
        assert_eq!(e.code, ErrorCode::BadRequest, "{what}: {}", e.message);
        assert_eq!(tree_picture(&ws), before, "{what} changed the workspace");
        assert_eq!(tree_picture(&v), outside, "{what} changed something outside");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_see_no_other_process_and_no_secret() {
    if !is_root() {
        return;
    }
    let f = fixture();
    let mark = format!("secret-mark-{}", std::process::id());
    // A root process with the mark in its command line and environment, as wrangler had.
    let mut holder = std::process::Command::new("sh").args(["-c", "sleep 60; :"]).arg(&mark).env("EDGERUN_SECRET", &mark).spawn().unwrap();
    // Another session's setup command, running while we look.
    let other = f.sessions.run("busy", RunRequest { commands: vec![format!("sleep 4 # {mark}")], timeout_secs: 20, ..Default::default() });
    let look = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let code = format!(
            "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\nfound = []\nfor p in pids:\n  for f in ('cmdline', 'environ'):\n    try:\n      if b'{mark}' in open(f'/proc/{{p}}/{{f}}', 'rb').read(): found.append((p, f))\n    except OSError: pass\nuids = {{os.stat(f'/proc/{{p}}').st_uid for p in pids if os.path.exists(f'/proc/{{p}}')}}\nprint(found, uids == {{os.getuid()}}, os.path.exists('/proc/1'))"
        );
        f.run("snoop", Language::Python, &code, |_| {}).await
    };
    let (busy, r) = tokio::join!(other, look);
    // In tag mode the holder is a descendant of the executor (this process) that no run has in
    // flight: the end of the busy run's sweep may have taken it already, after the look.
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(busy.expect("setup runs").0.result.exit_code, 0);
    assert_eq!(r.stdout, "[] True False\n", "only the run's own processes are visible: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmp_and_shm_are_the_sessions_own_and_go_with_it() {
    if !is_root() {
        return;
    }
    let f = fixture();
    let mark = format!("edgerun-private-{}", std::process::id());
    let r =
        bash(&f, "owner", &format!("echo a > /tmp/{mark} && echo b > /dev/shm/{mark} && echo c > /var/tmp/{mark}.v && echo $TMPDIR")).await;
    assert_eq!(r.stdout, "/tmp\n", "{r:?}");
    for d in ["/tmp", "/dev/shm", "/var/tmp"] {
        assert!(
            !Path::new(d).join(&mark).exists() && !Path::new(d).join(format!("{mark}.v")).exists(),
            "the machine's {d} holds nothing of the session"
        );
    }
    let r = bash(&f, "owner", &format!("cat /tmp/{mark} /dev/shm/{mark}")).await;
    assert_eq!(r.stdout, "a\nb\n", "the session keeps its /tmp from run to run");
    let work = f.dir.path().display();
    let r = bash(&f, "other", &format!("ls /tmp /dev/shm; ls {work} 2>&1; ls {work}/owner 2>&1; true")).await;
    assert!(!r.stdout.contains(&mark), "{r:?}");
    assert_eq!(r.stdout.matches("Permission denied").count(), 2, "neither the work root nor a session root is listable: {r:?}");
    f.sessions.delete("owner").await.unwrap();
    assert!(!f.dir.path().join("owner").exists(), "the session's /tmp and /dev/shm went with it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_tmp_and_odd_names_count_against_the_session_limit() {
    let f = fixture_with(|c| {
        c.max_workspace_bytes = 20 << 20;
        c.max_workspace_files = 500;
    });
    let sid = "hoard";
    let r = bash(&f, sid, "echo kept > kept.txt").await;
    assert_eq!(r.killed_by, None);
    let r = bash(&f, sid, "head -c 30000000 /dev/zero > $HOME/big && echo lost > lost.txt").await;
    assert_eq!(r.killed_by, Some(KilledBy::Disk), "{r:?}");
    assert!(r.stderr.contains("$HOME, /tmp and /dev/shm"), "{}", r.stderr);
    let r = bash(&f, sid, "ls -A $HOME").await;
    assert!(!r.stdout.contains("big"), "$HOME was emptied: {r:?}");
    let r = bash(&f, sid, "cd /tmp && for i in $(seq 600); do : > f$i; done").await;
    assert_eq!(r.killed_by, Some(KilledBy::Disk), "files in /tmp count: {r:?}");
    // A name that is not UTF-8 cannot be kept, but its bytes count.
    let r = bash(&f, sid, "head -c 1000 /dev/zero > $'\\xff\\xfe' && : > 'back\\slash'").await;
    assert_eq!(r.killed_by, None);
    assert!(r.stderr.contains("not UTF-8") && r.stderr.contains("back\\slash: the name holds a backslash"), "{}", r.stderr);
    let r = bash(&f, sid, "head -c 25000000 /dev/zero > $'\\xff\\xfd'").await;
    assert_eq!(r.killed_by, Some(KilledBy::Disk), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uids_are_never_reused_and_their_range_is_bounded() {
    if !is_root() {
        return;
    }
    let f = fixture();
    let first = bash(&f, "first", "id -u").await.stdout;
    f.sessions.delete("first").await.unwrap();
    let config = f.sessions.config.clone();
    drop(f.sessions);
    // An executor restarted on the same work root.
    let again = Sessions::new(config.clone()).unwrap();
    let req = || RunRequest { language: Some(Language::Bash), code: "id -u".into(), timeout_secs: 10, ..Default::default() };
    let second = again.run("second", req()).await.unwrap().0.result.stdout;
    assert!(second.trim().parse::<u32>().unwrap() > first.trim().parse::<u32>().unwrap(), "{first} then {second}");
    drop(again);
    fs::write(config.work_root.join(".uid-next"), (config.sandbox_uid_base + UID_BLOCK).to_string()).unwrap();
    let full = Sessions::new(config).unwrap();
    let e = full.run("third", req()).await.expect_err("no uid left");
    assert_eq!(e.code, ErrorCode::SandboxUnavailable);
    assert!(e.message.contains("never reused"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_code_inherits_no_stray_descriptor() {
    let f = fixture();
    let stray = f.dir.path().join("stray");
    fs::write(&stray, "executor's").unwrap();
    let c = std::ffi::CString::new(stray.to_str().unwrap()).unwrap();
    // SAFETY: open(2) without O_CLOEXEC on purpose: a descriptor a careless library might leave.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY) };
    assert!(fd > 2);
    let r = f
        .run(
            "fds",
            Language::Python,
            "import os\nprint(sorted(os.readlink('/proc/self/fd/' + d) for d in os.listdir('/proc/self/fd') if int(d) > 2))",
            |_| {},
        )
        .await;
    // SAFETY: closing the descriptor opened above.
    unsafe { libc::close(fd) };
    assert!(!r.stdout.contains("stray"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_build_caches_are_the_sessions_own_and_start_from_a_read_only_seed() {
    if !is_root() {
        return;
    }
    let f = fixture();
    let until = Instant::now() + Duration::from_secs(240);
    let seed = loop {
        if let Some(s) = f.sessions.go_seed() {
            break s.to_path_buf();
        }
        assert!(Instant::now() < until, "the Go seed cache is built in the background");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let seed_before = tree_picture(&seed);
    let hello = "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hi\") }";
    assert_eq!(f.run("go-a", Language::Go, hello, |_| {}).await.stdout, "hi\n");
    // Session A plants an entry in its cache and tries to change a seeded one.
    let r = bash(&f, "go-a", "f=$(find $GOCACHE -type f -links +1 | head -n 1); test -n \"$f\" && echo seeded; (echo x >> \"$f\") 2>&1; mkdir -p $GOCACHE/ff && echo planted > $GOCACHE/ff/planted-by-a-d").await;
    assert!(r.stdout.starts_with("seeded\n") && r.stdout.contains("Permission denied"), "{r:?}");
    assert_eq!(f.run("go-b", Language::Go, hello, |_| {}).await.stdout, "hi\n");
    let b = bash(&f, "go-b", "echo $GOCACHE; ls $GOCACHE/ff 2>/dev/null | grep -c planted; true").await;
    assert!(b.stdout.ends_with("/go-b/gocache\n0\n"), "another session's cache is its own: {b:?}");
    assert_eq!(tree_picture(&seed), seed_before, "the seed is unchanged");
}
