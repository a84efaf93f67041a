//! TypeScript: Node's own type stripping, so no compiler is started.
use super::{write_code, Ctx, Plugin, Step};
use edgerun_protocol::Language;

pub(super) struct TypeScript;

impl Plugin for TypeScript {
    fn language(&self) -> Language {
        Language::Typescript
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let file = write_code(ctx, "main.ts", code)?;
        Ok(vec![Step::new(
            &ctx.runtimes.node,
            ["--experimental-strip-types".to_string(), "--no-warnings".into(), file.display().to_string()],
        )])
    }
}
