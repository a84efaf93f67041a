//! TypeScript: Node's own type stripping (no compiler is started), run by the Node bootstrap
//! ([`super::node::BOOT`]) as `main.ts` in the workspace, with a resolve hook
//! (`module.registerHooks`) that finds `.ts` files the way `tsx` does: extensionless imports,
//! `.js` suffixes naming `.ts` files, directory `index.ts`. npm packages and CommonJS interop
//! are Node's own.
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
            [
                "--experimental-strip-types".to_string(),
                "--no-warnings".into(),
                "--input-type=commonjs".into(),
                "-e".into(),
                super::node::BOOT.into(),
                "--".into(),
                file.display().to_string(),
                "main.ts".into(),
                "ts".into(),
            ],
        )])
    }
}
