//! Node (JavaScript): the code is read by a small bootstrap (`node -e`, [`BOOT`]) from the
//! runtime's code directory and run as if it were `main.js` in the workspace: CommonJS or an ES
//! module by Node's own detection, `require` and `import` resolving from the workspace (and its
//! `node_modules`), a user file of any name never shadowed, the standard input the program's,
//! and stack traces naming `main.js`, never a host path.
use super::{write_code, Ctx, Plugin, Step};
use edgerun_protocol::Language;

/// The bootstrap passed with `-e` (shared with TypeScript); see the file for what it does.
pub(super) const BOOT: &str = include_str!("node_main.js");

pub(super) struct Node;

impl Plugin for Node {
    fn language(&self) -> Language {
        Language::Node
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let file = write_code(ctx, "main.js", code)?;
        Ok(vec![Step::new(
            &ctx.runtimes.node,
            ["--input-type=commonjs".to_string(), "-e".into(), BOOT.into(), "--".into(), file.display().to_string(), "main.js".into()],
        )])
    }
}
