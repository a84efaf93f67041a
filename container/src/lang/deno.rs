//! Deno: all permissions inside the sandbox; its cache (including `npm:` imports) lives in the workspace.
use super::{write_code, Ctx, Plugin, Step};
use edgerun_protocol::Language;

pub struct Deno;

impl Plugin for Deno {
    fn language(&self) -> Language {
        Language::Deno
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let file = write_code(ctx, "main.ts", code)?;
        Ok(vec![Step::new(&ctx.runtimes.deno, ["run".to_string(), "-A".into(), "--no-prompt".into(), file.display().to_string()])])
    }
}
