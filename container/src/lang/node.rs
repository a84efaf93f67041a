//! Node (JavaScript): CommonJS or ES modules by detection; `node_modules` of the workspace resolves.
use super::{write_code, Ctx, Plugin, Step};
use edgerun_protocol::Language;

pub(super) struct Node;

impl Plugin for Node {
    fn language(&self) -> Language {
        Language::Node
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let file = write_code(ctx, "main.js", code)?;
        Ok(vec![Step::new(&ctx.runtimes.node, [file.display().to_string()])])
    }
}
