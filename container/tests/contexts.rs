//! Live interpreter contexts in the executor: state kept from run to run, final values, exits
//! and interrupts that keep the interpreter, and contexts surviving plain runs in every
//! containment mode. One test per mode runs in its own process state (the tag mode makes the
//! executor a subreaper), so the modes are walked in one test, one after the other.
mod common;
use edgerun_executor::config::KillSetting;
use edgerun_protocol::{ContextRef, KilledBy, Language, RunRequest, RunResult};
use std::time::{Duration, Instant};

const PY: &str = "ctx_00000000000000000000000a";
const JS: &str = "ctx_00000000000000000000000b";

async fn in_ctx(f: &common::Fixture, sid: &str, ctx: &str, lang: Language, code: &str, timeout: u64) -> RunResult {
    let req = RunRequest {
        language: Some(lang),
        code: code.into(),
        timeout_secs: timeout,
        expect_version: f.sessions.version(sid).await,
        context: Some(ContextRef { id: ctx.into(), language: lang }),
        ..Default::default()
    };
    f.sessions.run(sid, req).await.expect("run accepted").0.result
}

async fn walk(mode: KillSetting) {
    let f = common::fixture_with(|c| c.kill_mode = mode);
    let sid = "ctx-session";
    let r = in_ctx(&f, sid, PY, Language::Python, "import json\nx = 41\ndef inc(v):\n    return v + 1\nprint('hi')", 10).await;
    assert_eq!((r.exit_code, r.stdout.as_str(), r.result.as_deref()), (0, "hi\n", None), "{r:?}");
    let r = in_ctx(&f, sid, PY, Language::Python, "x = inc(x)\njson.dumps({'x': x})", 10).await;
    assert_eq!(r.result.as_deref(), Some("'{\"x\": 42}'"), "variables, imports and functions stay: {r:?}");

    // A plain run between two context runs leaves the context alive.
    let plain = f.run(sid, Language::Bash, "echo plain; sleep 0.2 &", |_| {}).await;
    assert_eq!(plain.stdout, "plain\n");
    assert_eq!(f.sessions.live_contexts(sid), vec![PY.to_string()], "{mode:?}: the context outlived the plain run");
    let r = in_ctx(&f, sid, PY, Language::Python, "x", 10).await;
    assert_eq!(r.result.as_deref(), Some("42"), "{mode:?}: state after a plain run: {r:?}");

    // sys.exit ends the run, not the interpreter; env is the run's only.
    let r = in_ctx(&f, sid, PY, Language::Python, "import os, sys\nprint(os.environ.get('ONLY'))\nsys.exit(3)", 10).await;
    assert_eq!(r.exit_code, 3, "{r:?}");
    let r = in_ctx(&f, sid, PY, Language::Python, "import os\nprint(os.environ.get('ONLY'), x)", 10).await;
    assert_eq!(r.stdout, "None 42\n", "{r:?}");

    // A timeout interrupts; the state survives.
    let t = Instant::now();
    let r = in_ctx(&f, sid, PY, Language::Python, "import time\ny = 1\nwhile True: time.sleep(0.01)", 1).await;
    assert_eq!((r.killed_by, r.timed_out, r.signal.as_deref()), (Some(KilledBy::Timeout), true, Some("SIGINT")), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(r.stderr.contains("KeyboardInterrupt"), "{}", r.stderr);
    let r = in_ctx(&f, sid, PY, Language::Python, "x + y", 10).await;
    assert_eq!(r.result.as_deref(), Some("43"), "{r:?}");

    // One that ignores SIGINT is killed 0.5 s later; the next run starts a new interpreter
    // over the last checkpoint (the state after the last run that ended).
    let r = in_ctx(
        &f,
        sid,
        PY,
        Language::Python,
        "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nz = 1\ntime.sleep(30)",
        1,
    )
    .await;
    assert_eq!((r.killed_by, r.signal.as_deref()), (Some(KilledBy::Timeout), Some("SIGKILL")), "{r:?}");
    let r = in_ctx(&f, sid, PY, Language::Python, "('x' in dir(), 'z' in dir())", 10).await;
    assert_eq!((r.restored, r.result.as_deref()), (Some(true), Some("(True, False)")), "{r:?}");

    // Node: top-level let, const and function declarations stay, the completion value is answered.
    let r = in_ctx(&f, sid, JS, Language::Node, "let a = 1; const b = 2; function add(p, q) { return p + q }\nconsole.log('js')", 10).await;
    assert_eq!((r.exit_code, r.stdout.as_str()), (0, "js\n"), "{r:?}");
    let r = in_ctx(&f, sid, JS, Language::Node, "a = add(a, b); ({ a, list: [1, 2] })", 10).await;
    assert_eq!(r.result.as_deref(), Some("{ a: 3, list: [ 1, 2 ] }"), "{r:?}");
    let r = in_ctx(&f, sid, JS, Language::Node, "process.exit(4)", 10).await;
    assert_eq!(r.exit_code, 4, "{r:?}");
    let r = in_ctx(&f, sid, JS, Language::Node, "Promise.resolve(a * 10)", 10).await;
    assert_eq!(r.result.as_deref(), Some("30"), "promises are awaited: {r:?}");
    let r = in_ctx(&f, sid, JS, Language::Node, "while (true) {}", 1).await;
    assert_eq!((r.killed_by, r.signal.as_deref()), (Some(KilledBy::Timeout), Some("SIGINT")), "{r:?}");
    let r = in_ctx(&f, sid, JS, Language::Node, "a", 10).await;
    assert_eq!(r.result.as_deref(), Some("3"), "{r:?}");

    let plain = f.run(sid, Language::Python, "print('plain')", |_| {}).await;
    assert_eq!(plain.stdout, "plain\n");
    assert_eq!(f.sessions.live_contexts(sid).len(), 2, "{mode:?}: both contexts outlived the plain run");
    f.sessions.delete(sid).await.expect("delete");
    assert!(f.sessions.live_contexts(sid).is_empty());
}

#[tokio::test]
async fn contexts_keep_state_and_survive_plain_runs_in_every_mode() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let modes: &[KillSetting] = if root { &[KillSetting::Auto, KillSetting::Uid, KillSetting::Tag] } else { &[KillSetting::Tag] };
    for m in modes {
        walk(*m).await;
    }
    checkpoints().await;
    held_checkpoints().await;
    typescript().await;
}

/// A TypeScript context: Node's driver with each run's types stripped; declarations stay, the
/// state is checkpointed like Node's, and syntax type stripping cannot erase is an error exit.
async fn typescript() {
    let f = common::fixture();
    let sid = "ts";
    const TS: &str = "ctx_00000000000000000000000c";
    let code =
        "interface P { v: number }\nconst p: P = { v: 20 };\nfunction inc(n: number): number { return n + 1 }\nlet label: string = 'ts'";
    let r = in_ctx(&f, sid, TS, Language::Typescript, code, 20).await;
    assert_eq!((r.exit_code, r.stderr.as_str()), (0, ""), "{r:?}");
    let r = in_ctx(&f, sid, TS, Language::Typescript, "const q = await Promise.resolve(inc(p.v) as number);\n`${label} ${q}`", 20).await;
    assert_eq!(r.result.as_deref(), Some("'ts 21'"), "{r:?}");
    let r = in_ctx(&f, sid, TS, Language::Typescript, "enum E { A }", 20).await;
    assert_eq!(r.exit_code, 1, "{r:?}");
    assert!(r.stderr.contains("enum is not supported in strip-only mode"), "{}", r.stderr);
    assert!(f.sessions.stop_context(sid, TS));
    let r = in_ctx(&f, sid, TS, Language::Typescript, "inc(p.v) + q", 20).await;
    assert_eq!((r.restored, r.result.as_deref()), (Some(true), Some("42")), "{r:?}");
}

/// A context run that changes only its checkpoint can hold it back: an empty delta (no write on
/// the run's way), `held_checkpoints` in the answer, no snapshot from the stale manifest, and a
/// later run without code commits exactly the checkpoint.
async fn held_checkpoints() {
    let f = common::fixture();
    let sid = "held";
    let held = |code: &str, hold: bool| RunRequest {
        language: Some(Language::Python),
        code: code.into(),
        timeout_secs: 20,
        context: (!code.is_empty()).then(|| ContextRef { id: PY.into(), language: Language::Python }),
        hold_checkpoints: hold,
        ..Default::default()
    };
    let run = |req: RunRequest| {
        let f = &f;
        async move {
            let req = RunRequest { expect_version: f.sessions.version(sid).await, ..req };
            f.sessions.run(sid, req).await.expect("run accepted").0
        }
    };
    let first = run(held("x = 1\nopen('a.txt', 'w').write('a')", true)).await;
    assert!(!first.held_checkpoints, "a run with other changes commits its checkpoint with them: {first:?}");
    assert!(first.delta.entries.iter().any(|e| e.entry.path.ends_with("state.pickle")), "{:?}", first.delta);
    let version = f.sessions.version(sid).await;
    let second = run(held("x += 1", true)).await;
    assert!(second.held_checkpoints, "{second:?}");
    assert!(second.delta.entries.is_empty() && second.delta.deleted.is_empty(), "nothing to write: {:?}", second.delta);
    assert_eq!(f.sessions.version(sid).await, version, "the committed version is unchanged");
    let refused = f.sessions.snapshot(sid, version.clone()).await.expect_err("no snapshot from a manifest the disk no longer matches");
    assert_eq!(refused.code, edgerun_protocol::ErrorCode::Conflict, "{}", refused.message);
    let flush = run(RunRequest { language: None, ..held("", false) }).await;
    assert!(!flush.held_checkpoints, "{flush:?}");
    let paths: Vec<&str> = flush.delta.entries.iter().map(|e| e.entry.path.as_str()).collect();
    let dir = format!("{}/{PY}", edgerun_protocol::CHECKPOINTS_DIR);
    assert!(paths.contains(&format!("{dir}/state.pickle").as_str()), "the checkpoint: {flush:?}");
    assert!(paths.iter().all(|p| p.starts_with(&dir)), "only the checkpoint and its directory: {paths:?}");
    assert!(f.sessions.snapshot(sid, f.sessions.version(sid).await).await.is_ok(), "a snapshot once committed");
    let r = run(held("x", true)).await;
    assert_eq!(r.result.result.as_deref(), Some("2"), "{r:?}");
}

/// A context whose interpreter is gone starts over its checkpoint: plain data, functions and
/// classes defined in it, modules by name; what cannot be pickled is named; a corrupt
/// checkpoint gives a fresh interpreter and the reason.
async fn checkpoints() {
    let f = common::fixture();
    let sid = "ckpt";
    let code = "import json, socket\nclass P:\n    def __init__(self, v): self.v = v\ndef twice(v):\n    return 2 * v\ndata = {'k': [1, 2, 3]}\np = P(5)\ngen = (i for i in range(3))\nsock = socket.socket()";
    let r = in_ctx(&f, sid, PY, Language::Python, code, 20).await;
    assert_eq!(r.exit_code, 0, "{r:?}");
    assert_eq!(r.lost, vec!["gen".to_string(), "sock".to_string()], "what the checkpoint cannot hold is named: {r:?}");
    let file = f.dir.path().join(sid).join("ws/.sandbox/contexts").join(PY).join("state.pickle");
    assert!(file.is_file(), "the checkpoint is in the workspace");
    assert!(f.sessions.stop_context(sid, PY));
    let r = in_ctx(&f, sid, PY, Language::Python, "(twice(p.v), json.dumps(data), 'gen' in dir())", 20).await;
    assert_eq!(r.restored, Some(true), "{r:?}");
    assert_eq!(r.lost, vec!["gen".to_string(), "sock".to_string()], "{r:?}");
    assert_eq!(r.result.as_deref(), Some("(10, '{\"k\": [1, 2, 3]}', False)"), "{r:?}");
    let r = in_ctx(&f, sid, PY, Language::Python, "p.v", 20).await;
    assert_eq!((r.restored, r.result.as_deref()), (None, Some("5")), "a live context restores nothing: {r:?}");
    // A checkpoint over the limit is not written; the answer names the largest variables.
    std::env::set_var("EDGERUN_CHECKPOINT_MB", "1");
    let r = in_ctx(&f, sid, PY, Language::Python, "big = b'x' * (3 << 20)", 20).await;
    std::env::remove_var("EDGERUN_CHECKPOINT_MB");
    assert!(r.stderr.contains("not checkpointed") && r.stderr.contains("big ("), "{}", r.stderr);
    // Node: values v8.serialize carries, functions re-created from their source.
    let js = "let n = 5; const o = { a: [1, 2] }; function dbl(v) { return v * 2 }\nconst half = (v) => v / 2; const sock = new (require('node:net').Socket)()";
    let r = in_ctx(&f, sid, JS, Language::Node, js, 20).await;
    assert_eq!((r.exit_code, r.lost.clone()), (0, vec!["sock".to_string()]), "{r:?}");
    assert!(f.sessions.stop_context(sid, JS));
    let r = in_ctx(&f, sid, JS, Language::Node, "dbl(n) + half(o.a.length)", 20).await;
    assert_eq!((r.restored, r.result.as_deref(), r.lost.clone()), (Some(true), Some("11"), vec!["sock".to_string()]), "{r:?}");

    // An inject (a restarted sandbox's, a non-persistent reset's) keeps the directory a live
    // context works in, and replaces what is inside it.
    let r = in_ctx(&f, sid, PY, Language::Python, "import os\nino = os.stat('.').st_ino\nopen('old.txt', 'w').write('old')", 20).await;
    assert_eq!(r.exit_code, 0, "{r:?}");
    let manifest = vec![common::file_entry("new.txt", b"fresh")];
    let req = edgerun_protocol::InjectRequest {
        version: "injected".into(),
        manifest,
        segments: vec![edgerun_protocol::Segment::Raw { path: "new.txt".into(), len: 5 }],
    };
    f.sessions.inject(sid, req, Box::new(std::io::Cursor::new(b"fresh".to_vec()))).await.expect("inject");
    let r =
        in_ctx(&f, sid, PY, Language::Python, "(os.stat('.').st_ino == ino, open('new.txt').read(), os.path.exists('old.txt'), p.v)", 20)
            .await;
    assert_eq!(r.result.as_deref(), Some("(True, 'fresh', False, 5)"), "{r:?}");

    // An idle context is stopped; its next run starts over its checkpoint.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(f.sessions.stop_idle_contexts(Duration::from_millis(200)), 2, "both idle contexts stopped");
    assert!(f.sessions.live_contexts(sid).is_empty());
    let r = in_ctx(&f, sid, PY, Language::Python, "p.v", 20).await;
    assert_eq!((r.restored, r.result.as_deref()), (Some(true), Some("5")), "{r:?}");

    // A corrupt checkpoint: a fresh interpreter, the reason, never a failed run.
    std::fs::write(&file, b"not a pickle").unwrap();
    assert!(f.sessions.stop_context(sid, PY));
    let r = in_ctx(&f, sid, PY, Language::Python, "'data' in dir()", 20).await;
    assert_eq!((r.exit_code, r.restored, r.result.as_deref()), (0, Some(false), Some("False")), "{r:?}");
    assert!(r.restore_error.as_deref().is_some_and(|e| e.contains("could not be read")), "{r:?}");
}
