//! Bash: the code is a script run by bash; there is no installer.
use super::{write_code, Ctx, Plugin, Step};
use edgerun_protocol::Language;

pub(super) struct Bash;

impl Plugin for Bash {
    fn language(&self) -> Language {
        Language::Bash
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let file = write_code(ctx, "main.sh", code)?;
        Ok(vec![Step::new(&ctx.runtimes.bash, [file.display().to_string()])])
    }
}
