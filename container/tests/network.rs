//! The network of runs: with `allow_internet: false` a session's setup commands and code run in
//! the session's own network namespace (loopback only, one per session, shared by its runs) and
//! fail fast on anything outside it, while installers still reach their registries; with the
//! default they use the machine's network. No test dials a public address: names are only
//! resolved (and fail), and the raw connect goes to TEST-NET-1 (192.0.2.1, RFC 5737), which a
//! machine's network drops or refuses and the namespace refuses at once.
mod common;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{fixture, is_root};
use edgerun_executor::{app, config::Config, session::Sessions};
use edgerun_protocol::{Language, RunRequest};
use http_body_util::BodyExt;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// What a Python probe reports about one attempt: the outcome and how long it took.
#[derive(Debug, serde::Deserialize)]
struct Attempt {
    outcome: String,
    secs: f64,
}

/// Python that tries, in order: a DNS lookup of pypi.org, a TCP connect to pypi.org by name, a
/// raw connect to 192.0.2.1:80, a connect to the host's loopback listener on `port`, and a
/// server of its own on `127.0.0.1:port`; it prints one JSON object of [`Attempt`]s.
fn probe(port: u16) -> String {
    format!(
        r#"
import json, socket, time
def attempt(f):
    t = time.monotonic()
    try:
        f()
        outcome = "ok"
    except OSError as e:
        outcome = type(e).__name__ + ": " + str(e)
    return {{"outcome": outcome, "secs": time.monotonic() - t}}
def connect(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(addr)
    finally:
        s.close()
def own_server():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", {port}))
    srv.listen(1)
    c = socket.create_connection(("127.0.0.1", {port}), timeout=5)
    peer, _ = srv.accept()
    c.sendall(b"hi")
    assert peer.recv(2) == b"hi"
    for s in (c, peer, srv):
        s.close()
print(json.dumps({{
    "dns": attempt(lambda: socket.getaddrinfo("pypi.org", 443)),
    "by_name": attempt(lambda: socket.create_connection(("pypi.org", 443), timeout=10).close()),
    "raw": attempt(lambda: connect(("192.0.2.1", 80))),
    "host_loopback": attempt(lambda: connect(("127.0.0.1", {port}))),
    "own_server": attempt(own_server),
}}))
"#
    )
}

fn attempts(stdout: &str) -> std::collections::HashMap<String, Attempt> {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("probe output {stdout:?}: {e}"))
}

/// `readlink /proc/self/ns/net` of a run of `sid`.
async fn ns_of(f: &common::Fixture, sid: &str, allow_internet: bool) -> String {
    let r = f.run(sid, Language::Bash, "readlink /proc/self/ns/net", |q| q.allow_internet = allow_internet).await;
    assert_eq!(r.exit_code, 0, "{r:?}");
    assert!(r.stdout.starts_with("net:["), "{r:?}");
    r.stdout.trim().to_string()
}

#[tokio::test]
async fn without_internet_only_the_sessions_own_loopback_answers_and_the_rest_fails_fast() {
    if !is_root() {
        return; // no namespaces without root: `health_names_the_mechanism…` checks the refusal
    }
    let f = fixture();
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let started = Instant::now();
    let r = f.run("offline", Language::Python, &probe(port), |q| q.allow_internet = false).await;
    assert_eq!(r.exit_code, 0, "{r:?}");
    let a = attempts(&r.stdout);
    for name in ["dns", "by_name", "raw", "host_loopback"] {
        assert_ne!(a[name].outcome, "ok", "{name} reached something: {a:?}");
        assert!(a[name].secs < 2.0, "{name} failed only after {:.2} s: {a:?}", a[name].secs);
    }
    assert!(a["dns"].outcome.starts_with("gaierror"), "the lookup fails as DNS: {a:?}");
    assert!(a["by_name"].outcome.starts_with("gaierror"), "{a:?}");
    assert!(a["raw"].outcome.contains("Network is unreachable"), "no route leaves the namespace: {a:?}");
    // Nothing listens on the session's loopback: the host's listener is not there.
    assert!(a["host_loopback"].outcome.starts_with("ConnectionRefusedError"), "{a:?}");
    // The same port is free for a server of the session's own, and it answers on loopback.
    assert_eq!(a["own_server"].outcome, "ok", "{a:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "the whole probe took {:?}", started.elapsed());

    // Setup commands run in the namespace too (the Worker sends them as `commands`).
    let cmd = format!(
        "getent hosts pypi.org && echo dns-reached || echo dns-failed; \
         (echo > /dev/tcp/192.0.2.1/80) 2>/dev/null && echo raw-reached || echo raw-failed; \
         (echo > /dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo host-reached || echo host-refused"
    );
    let t = Instant::now();
    let r = f
        .run("offline", Language::Bash, "", |q| {
            q.language = None;
            q.commands = vec![cmd];
            q.allow_internet = false;
        })
        .await;
    assert_eq!(r.stdout, "dns-failed\nraw-failed\nhost-refused\n", "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "setup commands failed fast: {:?}", t.elapsed());
    drop(host);
}

#[tokio::test]
async fn with_internet_runs_keep_the_machines_network() {
    let f = fixture();
    assert!(RunRequest::default().allow_internet, "the default keeps the network");
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    host.set_nonblocking(true).unwrap();
    let r = f.run("online", Language::Python, &probe(port), |_| {}).await;
    assert_eq!(r.exit_code, 0, "{r:?}");
    let a = attempts(&r.stdout);
    assert_eq!(a["host_loopback"].outcome, "ok", "the host's loopback listener answers: {a:?}");
    // The run's connection reached the test's own listener, not one of the run's.
    let (_conn, peer) = host.accept().expect("the run's connection is queued on the test's listener");
    assert!(peer.ip().is_loopback());
    // The port is the test's on the machine's loopback: the run cannot bind it.
    assert!(a["own_server"].outcome.contains("Address already in use"), "{a:?}");
}

#[tokio::test]
async fn runs_of_a_session_share_one_namespace_and_sessions_do_not() {
    if !is_root() {
        return;
    }
    let f = fixture();
    let host = format!("net:[{}]", std::fs::metadata("/proc/self/ns/net").map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap());
    assert_eq!(std::fs::read_link("/proc/self/ns/net").unwrap().to_string_lossy(), host);
    let a1 = ns_of(&f, "a", false).await;
    let a2 = ns_of(&f, "a", false).await;
    let b = ns_of(&f, "b", false).await;
    assert_eq!(a1, a2, "two runs of a session share its namespace");
    assert_ne!(a1, b, "two sessions have namespaces of their own");
    assert_ne!(a1, host, "and neither is the machine's");
    assert_ne!(b, host);
    // The setting applies per run: with internet the same session runs in the machine's.
    assert_eq!(ns_of(&f, "a", true).await, host);
    assert_eq!(ns_of(&f, "a", false).await, a1, "and back in its own namespace after");
    // Setup commands share it as well.
    let r = f
        .run("a", Language::Bash, "", |q| {
            q.language = None;
            q.commands = vec!["readlink /proc/self/ns/net".into()];
            q.allow_internet = false;
        })
        .await;
    assert_eq!(r.stdout.trim(), a1, "{r:?}");
    // A deleted session's namespace goes with it: its next run gets a new one (the kernel may
    // reuse an inode number, so the proof is that the session runs again, offline).
    f.sessions.delete("a").await.unwrap();
    let again = ns_of(&f, "a", false).await;
    assert_ne!(again, host);
    assert_ne!(again, b);
}

#[tokio::test]
async fn installers_reach_the_registry_while_the_code_has_no_network() {
    if !is_root() {
        return;
    }
    let f = fixture();
    let code = "import socket, tabulate\n\
                try:\n    socket.getaddrinfo('pypi.org', 443); print('dns-reached')\n\
                except OSError:\n    print('dns-failed')\n\
                print(tabulate.tabulate([[1, 2]]).splitlines()[1])";
    let r = f
        .run("pip-offline", Language::Python, code, |q| {
            q.install.pip = vec!["tabulate==0.9.0".into()];
            q.allow_internet = false;
            q.timeout_secs = 120;
        })
        .await;
    assert_eq!(r.exit_code, 0, "{r:?}");
    assert!(!r.install_failed, "{r:?}");
    assert_eq!(r.stdout, "dns-failed\n1  2\n", "the package came from the registry, the code had no DNS: {r:?}");
    // npm's registry too, and Go: `go get` fetches through the module proxy, then the build of
    // the code, offline, finds everything it needs in the session's module cache.
    let r = f
        .run("npm-offline", Language::Node, "console.log(require('is-number')(5))", |q| {
            q.install.npm = vec!["is-number@7.0.0".into()];
            q.allow_internet = false;
            q.timeout_secs = 120;
        })
        .await;
    assert_eq!((r.exit_code, r.install_failed, r.stdout.as_str()), (0, false, "true\n"), "{r:?}");
    let prog = "package main\nimport (\"fmt\"; \"net\"; \"github.com/google/uuid\")\nfunc main() { _, err := net.LookupHost(\"pypi.org\"); fmt.Println(len(uuid.NewString()), err != nil) }";
    let r = f
        .run("go-offline", Language::Go, prog, |q| {
            q.install.go = vec!["github.com/google/uuid@v1.6.0".into()];
            q.allow_internet = false;
            q.timeout_secs = 180;
        })
        .await;
    assert_eq!((r.exit_code, r.install_failed, r.stdout.as_str()), (0, false, "36 true\n"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_runs_without_internet() {
    if !is_root() {
        return;
    }
    let f = fixture();
    let cases = [
        (Language::Python, "print('hello')"),
        (Language::Node, "console.log('hello')"),
        (Language::Typescript, "const m: string = 'hello'; console.log(m)"),
        (Language::Deno, "const m: string = 'hello'; console.log(m)"),
        (Language::Go, "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hello\") }"),
        (Language::Bash, "echo hello"),
    ];
    for (lang, code) in cases {
        let r = f.run(&format!("offline-{lang}"), lang, code, |q| q.allow_internet = false).await;
        assert_eq!((r.exit_code, r.stdout.as_str()), (0, "hello\n"), "{lang}: {r:?}");
    }
}

fn router() -> (tempfile::TempDir, axum::Router) {
    common::load_tool_env();
    let dir = tempfile::tempdir_in(common::work_parent()).unwrap();
    let mut config = Config::for_root(dir.path());
    config.secret = Some("s".into());
    (dir, app(Arc::new(Sessions::new(config).unwrap())))
}

async fn send(r: &axum::Router, req: Request<Body>) -> (StatusCode, serde_json::Value, Vec<u8>) {
    let resp = r.clone().oneshot(req).await.unwrap();
    let st = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    (st, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null), bytes)
}

#[tokio::test]
async fn health_names_the_mechanism_and_runs_it_cannot_honour_are_refused() {
    let (_d, r) = router();
    let (st, health, _) = send(&r, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    let network = health["network"].as_str().expect("health names the network mechanism");
    let run = |allow: bool| {
        let body = serde_json::json!({"language": "bash", "code": "echo ran", "allow_internet": allow});
        Request::post("/v1/sessions/net-api/run")
            .header(edgerun_protocol::SECRET_HEADER, "s")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let (st, body, bytes) = send(&r, run(false)).await;
    if is_root() {
        assert!(network.contains("network namespace per session (loopback only)"), "{network}");
        assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    } else {
        assert!(network.contains("runs without internet are refused"), "{network}");
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["code"], "bad_request");
        let msg = body["error"].as_str().unwrap();
        assert!(msg.contains("allow_internet: false") && msg.contains("cannot make") && msg.contains("nothing ran"), "{msg}");
        // Nothing ran and nothing changed: the session still holds no version, and runs with
        // internet are served.
        let state = Request::get("/v1/sessions/net-api").header(edgerun_protocol::SECRET_HEADER, "s").body(Body::empty()).unwrap();
        let (_, state, _) = send(&r, state).await;
        assert_eq!(state["version"], serde_json::Value::Null);
        let (st, _, bytes) = send(&r, run(true)).await;
        assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    }
}
