//! Executor benchmark: `cargo bench -p edgerun-executor` (from `npm run bench` too).
//!
//! Measures, side by side in one run:
//! - warm-run overhead: a hello-world through the executor's API (in-process router) against
//!   spawning the same interpreter on the same file directly, alternating A/B;
//! - restoring 1,000 files / 20 MB into an empty work root (one inject);
//! - extracting the delta of one changed file in a 10,000-file workspace;
//! - the executor binary's idle RSS;
//! - in cgroup mode, what making and removing one run's groups costs (part of the warm overhead).
//!
//! Prints a table and, with `--json`, one JSON object on the last line.
use axum::body::Body;
use axum::http::Request;
use edgerun_executor::cgroup::{self, Cgroups};
use edgerun_executor::workspace::{self, Manifest};
use edgerun_executor::{app, config::Config, session::Sessions};
use edgerun_protocol::{frame, split_frame, InjectRequest, RunAnswer, Segment};
use http_body_util::BodyExt;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

fn load_tool_env() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../.state/env");
    let Ok(text) = fs::read_to_string(path) else { return };
    for line in text.lines() {
        let Some((k, v)) = line.strip_prefix("export ").and_then(|r| r.split_once('=')) else { continue };
        if k.starts_with("EDGERUN_") && std::env::var_os(k).is_none() {
            // SAFETY: single-threaded at this point, before the runtime starts.
            unsafe { std::env::set_var(k, v.trim_matches('"')) };
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median, p90 and the sample count of a set of milliseconds.
fn stats(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    json!({"median": q(0.5), "p90": q(0.9), "min": v[0], "max": v[v.len() - 1], "n": v.len()})
}

async fn call(router: &axum::Router, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let req = Request::post(path).body(Body::from(body)).expect("request");
    let resp = router.clone().oneshot(req).await.expect("router answers");
    let status = resp.status().as_u16();
    (status, resp.into_body().collect().await.expect("body").to_bytes().to_vec())
}

fn make_tree(root: &Path, files: usize, size: usize) {
    for i in 0..files {
        let dir = root.join(format!("d{}", i % 50));
        fs::create_dir_all(&dir).expect("mkdir");
        let content: Vec<u8> = (0..size).map(|j| ((i * 31 + j) % 251) as u8).collect();
        fs::write(dir.join(format!("f{i}.bin")), content).expect("write");
    }
}

async fn warm_overhead(router: &axum::Router, work_root: &Path, python: &Path, iterations: usize) -> serde_json::Value {
    let sid = "bench-warm";
    let code = "print('hello')";
    let mut version: Option<String> = None;
    let mut through = Vec::new();
    let mut raw = Vec::new();
    let script = work_root.join("raw-hello.py");
    fs::write(&script, code).expect("script");
    for i in 0..iterations + 5 {
        // A: through the executor
        let body = serde_json::to_vec(&json!({"language": "python", "code": code, "expect_version": version})).expect("json");
        let t = Instant::now();
        let (status, bytes) = call(router, &format!("/v1/sessions/{sid}/run"), body).await;
        let took = t.elapsed();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
        let (answer, _): (RunAnswer, &[u8]) = split_frame(&bytes).expect("framed");
        assert_eq!(answer.result.stdout, "hello\n");
        version = Some(answer.delta.version);
        // B: the same interpreter on the same code, directly
        let t = Instant::now();
        let out = tokio::process::Command::new(python).arg(&script).output().await.expect("python runs");
        let took_raw = t.elapsed();
        assert_eq!(out.stdout, b"hello\n");
        if i >= 5 {
            through.push(ms(took));
            raw.push(ms(took_raw));
        }
    }
    let diffs: Vec<f64> = through.iter().zip(&raw).map(|(a, b)| a - b).collect();
    json!({"through_executor_ms": stats(through), "raw_spawn_ms": stats(raw), "overhead_ms": stats(diffs), "goal_overhead_median_ms": 5.0})
}

/// `files` files of 1–4 KiB in 100 directories.
fn make_small_tree(root: &Path, files: usize) {
    for i in 0..files {
        let dir = root.join(format!("d{}", i % 100));
        fs::create_dir_all(&dir).expect("mkdir");
        let size = 1024 + (i * 7919) % 3072;
        let content: Vec<u8> = (0..size).map(|j| ((i * 31 + j) % 251) as u8).collect();
        fs::write(dir.join(format!("f{i}.txt")), content).expect("write");
    }
}

async fn restore(router: &axum::Router, src: &Path, rounds: usize) -> serde_json::Value {
    let m = workspace::scan(src, None).expect("scan");
    let (delta, tar) = workspace::build_delta(src, None, &m).expect("delta");
    let manifest = delta.entries.iter().map(|e| e.entry.clone()).collect::<Vec<_>>();
    let files = manifest.iter().filter(|e| e.kind == edgerun_protocol::EntryKind::File).count();
    let bytes: u64 = manifest.iter().map(|e| e.size).sum();
    let req = InjectRequest { version: m.version.clone(), manifest, segments: vec![Segment::Tar { len: tar.len() as u64 }] };
    let body = frame(&req, &tar);
    let mut times = Vec::new();
    for i in 0..rounds {
        let t = Instant::now();
        let (status, out) = call(router, &format!("/v1/sessions/bench-restore-{i}/inject"), body.clone()).await;
        times.push(ms(t.elapsed()));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    }
    json!({"files": files, "bytes": bytes, "restore_ms": stats(times), "goal_ms": 1000.0})
}

fn extract_delta(root: &Path, rounds: usize) -> serde_json::Value {
    let mut base: Manifest = workspace::scan(root, None).expect("scan");
    // Let the files age past the mtime trust window, as a real workspace between runs would.
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    for e in base.entries.values() {
        if e.kind == edgerun_protocol::EntryKind::File {
            fs::File::options().write(true).open(root.join(&e.path)).and_then(|f| f.set_modified(old)).expect("age");
        }
    }
    base = workspace::scan(root, None).expect("scan");
    let files = base.entries.values().filter(|e| e.kind == edgerun_protocol::EntryKind::File).count();
    let mut times = Vec::new();
    for i in 0..rounds {
        fs::write(root.join("d7/f7.bin"), format!("changed {i}")).expect("change");
        let t = Instant::now();
        let m = workspace::scan(root, Some(&base)).expect("scan");
        let (delta, _tar) = workspace::build_delta(root, Some(&base), &m).expect("delta");
        times.push(ms(t.elapsed()));
        assert_eq!(delta.entries.iter().filter(|e| e.entry.kind == edgerun_protocol::EntryKind::File).count(), 1);
        base = m;
    }
    json!({"files": files, "extract_ms": stats(times), "goal_ms": 50.0})
}

fn idle_rss_kib(bin: &Path, parent: &Path) -> Option<u64> {
    let dir = tempfile::tempdir_in(parent).ok()?;
    let mut child = std::process::Command::new(bin)
        .env("EDGERUN_LISTEN", "127.0.0.1:0")
        .env("EDGERUN_WORK_ROOT", dir.path())
        .env("EDGERUN_SECRET", "bench-only-secret")
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(500));
    let status = fs::read_to_string(format!("/proc/{}/status", child.id())).ok();
    let _ = child.kill();
    let _ = child.wait();
    status?.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn release_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = std::process::Command::new("cargo")
        .args(["build", "-q", "--release", "-p", "edgerun-executor", "--bin", "edgerun-executor"])
        .current_dir(&root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the release executor failed");
    root.join("target/release/edgerun-executor")
}

/// Making and removing one run's groups (no process in them), where cgroups can be used.
fn cgroup_cost(root: &Path, rounds: usize) -> Option<serde_json::Value> {
    let cg = Cgroups::detect(&cgroup::name_for(root)).ok()?;
    let mut took = Vec::new();
    for i in 0..rounds {
        let t = Instant::now();
        let group = cg.create(None, &format!("bench{i}"), 256 << 20, 64).expect("group");
        drop(group);
        took.push(ms(t.elapsed()));
    }
    Some(stats(took))
}

fn main() {
    load_tool_env();
    let json_out = std::env::args().any(|a| a == "--json");
    let quick = std::env::args().any(|a| a == "--quick");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // Not under /tmp or /var/tmp, which runs get privately when the executor is root.
    // SAFETY: geteuid has no preconditions.
    let parent = if unsafe { libc::geteuid() } == 0 { std::path::PathBuf::from("/var/lib/edgerun-bench") } else { std::env::temp_dir() };
    std::fs::create_dir_all(&parent).expect("bench work parent");
    let work = tempfile::Builder::new().prefix("edgerun-bench-").tempdir_in(&parent).expect("tempdir");
    std::fs::set_permissions(work.path(), std::os::unix::fs::PermissionsExt::from_mode(0o711)).expect("traversable");
    let config = Config::for_root(&work.path().join("root"));
    let python = config.runtimes.python.clone();
    let sessions = Arc::new(Sessions::new(config).expect("sessions"));
    let isolation = sessions.isolation();
    eprintln!("[bench] runs contained by: {isolation}");
    let router = app(sessions);

    eprintln!("[bench] warm-run overhead (python hello world, through the executor vs direct spawn)…");
    let warm = rt.block_on(warm_overhead(&router, work.path(), &python, if quick { 30 } else { 60 }));
    eprintln!("[bench] restore of 1,000 files / 20 MB…");
    let src = work.path().join("restore-src");
    make_tree(&src, 1000, 20 * 1024);
    let restored = rt.block_on(restore(&router, &src, if quick { 3 } else { 7 }));
    eprintln!("[bench] restore of 10,000 small files (1–4 KiB)…");
    let small = work.path().join("restore-small");
    make_small_tree(&small, 10_000);
    let restored_small = rt.block_on(restore(&router, &small, if quick { 3 } else { 7 }));
    eprintln!("[bench] delta of one changed file in 10,000 files…");
    let big = work.path().join("extract-src");
    make_tree(&big, 10_000, 64);
    let extract = extract_delta(&big, if quick { 10 } else { 30 });
    eprintln!("[bench] idle RSS of the release executor…");
    let rss = idle_rss_kib(&release_binary(), &parent);
    let groups = cgroup_cost(&work.path().join("cg"), if quick { 30 } else { 100 });

    let verdict = |ok: bool| if ok { "pass" } else { "MISS" };
    let w = warm["overhead_ms"]["median"].as_f64().unwrap_or(f64::NAN);
    let r = restored["restore_ms"]["median"].as_f64().unwrap_or(f64::NAN);
    let e = extract["extract_ms"]["median"].as_f64().unwrap_or(f64::NAN);
    let rss_mib = rss.map(|k| k as f64 / 1024.0);
    println!("| figure | median | goal | |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| warm run overhead over raw spawn (n={}) | {w:.2} ms (executor {:.2} ms, raw {:.2} ms) | ≤ 5 ms | {} |",
        warm["overhead_ms"]["n"],
        warm["through_executor_ms"]["median"].as_f64().unwrap_or(f64::NAN),
        warm["raw_spawn_ms"]["median"].as_f64().unwrap_or(f64::NAN),
        verdict(w <= 5.0)
    );
    println!(
        "| restore {} files / {:.1} MB (n={}) | {r:.1} ms | ≤ 1000 ms | {} |",
        restored["files"],
        restored["bytes"].as_f64().unwrap_or(0.0) / 1e6,
        restored["restore_ms"]["n"],
        verdict(r <= 1000.0)
    );
    let rs = restored_small["restore_ms"]["median"].as_f64().unwrap_or(f64::NAN);
    println!(
        "| restore {} small files / {:.1} MB (n={}) | {rs:.1} ms | ≤ 1000 ms | {} |",
        restored_small["files"],
        restored_small["bytes"].as_f64().unwrap_or(0.0) / 1e6,
        restored_small["restore_ms"]["n"],
        verdict(rs <= 1000.0)
    );
    println!(
        "| delta of 1 changed file in {} files (n={}) | {e:.1} ms | ≤ 50 ms | {} |",
        extract["files"],
        extract["extract_ms"]["n"],
        verdict(e <= 50.0)
    );
    if let Some(g) = &groups {
        println!(
            "| cgroups: make + remove one run's groups (n={}) | {:.2} ms | (inside the warm overhead) | |",
            g["n"],
            g["median"].as_f64().unwrap_or(f64::NAN)
        );
    }
    match rss_mib {
        Some(m) => println!("| executor idle RSS | {m:.1} MiB | ≤ 15 MiB | {} |", verdict(m <= 15.0)),
        None => println!("| executor idle RSS | not measured | ≤ 15 MiB | MISS |"),
    }
    if json_out {
        println!(
            "{}",
            json!({"isolation": isolation, "warm": warm, "restore": restored, "restore_small": restored_small, "extract": extract, "idle_rss_kib": rss, "cgroup_ms": groups})
        );
    }
}
