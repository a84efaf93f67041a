//! Helpers for the executor's real-process tests: a fresh work root per test, the runtimes the
//! bootstrap resolved (`.state/env`), and a run helper.
#![allow(dead_code)]
use edgerun_executor::config::Config;
use edgerun_executor::session::Sessions;
use edgerun_protocol::{Install, Language, RunRequest, RunResult};
use std::sync::Once;

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

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub sessions: Sessions,
}

pub fn fixture() -> Fixture {
    fixture_with(|_| {})
}

pub fn fixture_with(tweak: impl FnOnce(&mut Config)) -> Fixture {
    load_tool_env();
    let dir = tempfile::Builder::new().prefix("edgerun-exec-").tempdir_in("/tmp").expect("tempdir");
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
