//! Python: the code runs as a file, with the workspace and the pip target on `PYTHONPATH`.
use super::{write_code, Ctx, Plugin, Step};
use edgerun_protocol::Language;

pub(super) struct Python;

impl Plugin for Python {
    fn language(&self) -> Language {
        Language::Python
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let file = write_code(ctx, "main.py", code)?;
        Ok(vec![Step::new(&ctx.runtimes.python, [file.display().to_string()])])
    }
}
