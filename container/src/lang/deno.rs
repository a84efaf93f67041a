//! Deno: all permissions inside the sandbox. Its cache (`DENO_DIR`, under the session's home) is
//! not persisted: it changes on every run, so keeping it would turn every run into a write.
//! Packages that must persist go through npm setup into `node_modules`, which Deno resolves.
use super::{write_code, Ctx, Plugin, Step};
use edgerun_protocol::Language;

pub(super) struct Deno;

impl Plugin for Deno {
    fn language(&self) -> Language {
        Language::Deno
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let file = write_code(ctx, "main.ts", code)?;
        Ok(vec![Step::new(&ctx.runtimes.deno, ["run".to_string(), "-A".into(), "--no-prompt".into(), file.display().to_string()])])
    }
}
