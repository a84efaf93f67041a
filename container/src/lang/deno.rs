//! Deno: all permissions inside the sandbox. Its cache (`DENO_DIR`, under the session's home) is
//! not persisted: it changes on every run, so keeping it would turn every run into a write.
//! Packages that must persist go through npm setup into `node_modules`, which Deno resolves.
//!
//! The code is run from the runtime's code directory with an import map whose one scope maps
//! that directory onto the workspace for the modules in it: the entry itself is resolved outside
//! the scope (so it is the run's code), every relative import of it lands in the workspace (so
//! `./main.ts` is the user's file). The standard input stays the program's. Deno names modules
//! by absolute URL only, so its stack traces show where the run sees the code directory: the
//! fixed `/run/edgerun/code` under private mounts (root), its path under the work root without.
use super::{write_code, Ctx, Plugin, Step};
use edgerun_protocol::Language;

pub(super) struct Deno;

/// `file://` URL of a directory, with a trailing slash, its bytes percent-encoded where URLs need it.
fn dir_url(p: &std::path::Path) -> String {
    let mut s = String::from("file://");
    for b in p.display().to_string().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    if !s.ends_with('/') {
        s.push('/');
    }
    s
}

impl Plugin for Deno {
    fn language(&self) -> Language {
        Language::Deno
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let file = write_code(ctx, "main.ts", code)?;
        let (code_url, ws_url) = (dir_url(ctx.code_seen), dir_url(ctx.ws));
        let map = serde_json::json!({ "scopes": { code_url.clone(): { code_url: ws_url } } });
        let map_file = write_code(ctx, "import-map.json", &map.to_string())?;
        let mut step = Step::new(
            &ctx.runtimes.deno,
            [
                "run".to_string(),
                "-A".into(),
                "--no-prompt".into(),
                format!("--import-map={}", map_file.display()),
                file.display().to_string(),
            ],
        );
        // Deno colours its errors even into a pipe; the run's stderr is read as text (a request's
        // `env` can set it back).
        step.env.push(("NO_COLOR".into(), "1".into()));
        Ok(vec![step])
    }
}
