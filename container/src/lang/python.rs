//! Python: the code is read by a small bootstrap (`python -P -c`, [`BOOT`]) from the runtime's
//! code directory and run as `__main__` named `main.py`, so relative imports and `open()`
//! resolve from the workspace (the current directory, first on `PYTHONPATH`; `-P` puts nothing
//! before it), `import main` finds the user's own file, the standard input stays the program's,
//! and tracebacks say `File "main.py"` rather than a host path.
use super::{write_code, Ctx, Plugin, Step};
use edgerun_protocol::Language;

/// The bootstrap passed with `-c`; see the file for what it does.
const BOOT: &str = include_str!("python_main.py");

pub(super) struct Python;

impl Plugin for Python {
    fn language(&self) -> Language {
        Language::Python
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let file = write_code(ctx, "main.py", code)?;
        Ok(vec![Step::new(&ctx.runtimes.python, ["-P".to_string(), "-c".into(), BOOT.into(), file.display().to_string()])])
    }
}
