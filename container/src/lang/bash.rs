//! Bash: the code is read from the runtime's code directory by a one-line `bash -c` wrapper and
//! run with `eval`, so `$0` and bash's error messages say `main.sh` (not a host path), the
//! positional parameters are empty and the standard input is the program's. There is no installer.
use super::{write_code, Ctx, Plugin, Step};
use edgerun_protocol::Language;

/// `bash -c` text: the file named by `$1` is read, the parameters cleared, then it runs.
const WRAPPER: &str = r#"eval "set --;$(< "$1")""#;

/// A step running the script at `file` as bash under the name `name` (`$0`, error messages).
pub fn script_step(bash: &std::path::Path, name: &str, file: &std::path::Path) -> Step {
    Step::new(bash, ["-c".to_string(), WRAPPER.into(), name.into(), file.display().to_string()])
}

pub(super) struct Bash;

impl Plugin for Bash {
    fn language(&self) -> Language {
        Language::Bash
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let file = write_code(ctx, "main.sh", code)?;
        Ok(vec![script_step(&ctx.runtimes.bash, "main.sh", &file)])
    }
}
