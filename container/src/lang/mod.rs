//! Language plugins: one module per language behind [`Plugin`], and the installers.
//!
//! A plugin decides where the code is written (always in the session's code directory, which the
//! runtime owns and user code cannot write, beside the workspace: never in the workspace, where
//! it would shadow or be replaced by a user file), how it is run as if it were the workspace's
//! `main.<ext>` (relative imports resolve from the workspace, tracebacks name `main.<ext>`, the
//! standard input stays the program's), which steps run it
//! (Go compiles first, keyed by a hash so a repeated program is not compiled again) and which
//! environment it needs. Adding a language is one module and one line in [`plugin`].

mod bash;
mod deno;
pub mod go;
mod install;
mod node;
mod python;
mod typescript;

pub use bash::script_step as bash_script_step;
pub use install::{install_steps, InstallPlan};

use crate::config::Runtimes;
use crate::sandbox::Identity;
use edgerun_protocol::Language;
use std::io;
use std::path::{Path, PathBuf};

/// Where a run happens and what it may use.
pub struct Ctx<'a> {
    /// The session's workspace (the process's current directory).
    pub ws: &'a Path,
    /// Interpreter and tool paths the steps start.
    pub runtimes: &'a Runtimes,
    /// The session's Go build cache (never persisted, counted with the session's files).
    pub gocache: &'a Path,
    /// Where the run's code files go: the runtime's directory, not writable by user code.
    pub code: &'a Path,
    /// The same directory as the run's processes see it (a fixed path under private mounts).
    pub code_seen: &'a Path,
    /// The session's user, whose authority every file operation inside the workspace takes.
    pub identity: Option<Identity>,
}

/// One process to start.
#[derive(Debug, Clone)]
pub struct Step {
    /// Executable to start: a runtime from [`Runtimes`] or a built Go binary.
    pub program: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Variables this step adds, after the language's environment and before the request's `env`
    /// (which overrides them).
    pub env: Vec<(String, String)>,
    /// Working directory when not the workspace.
    pub cwd: Option<PathBuf>,
    /// The umask the step runs with.
    pub umask: u32,
}

impl Step {
    /// A step running `program` with `args` in the workspace: no extra environment, umask `022`.
    pub fn new(program: impl Into<PathBuf>, args: impl IntoIterator<Item = impl Into<String>>) -> Step {
        Step { program: program.into(), args: args.into_iter().map(Into::into).collect(), env: Vec::new(), cwd: None, umask: 0o022 }
    }
}

/// A language: how its code is written out and run. Plugins are stateless unit structs; [`plugin`]
/// picks the one for a [`Language`].
pub trait Plugin: Send + Sync {
    /// The language this plugin runs.
    fn language(&self) -> Language;
    /// Writes the code where it runs from and returns the steps that run it, in order.
    fn steps(&self, ctx: &Ctx, code: &str) -> io::Result<Vec<Step>>;
    /// Environment every process of this language needs (module paths, caches).
    fn env(&self, ctx: &Ctx) -> Vec<(String, String)> {
        base_env(ctx)
    }
}

/// Environment shared by all languages: where each installer put its packages.
pub fn base_env(ctx: &Ctx) -> Vec<(String, String)> {
    let ws = ctx.ws.display();
    vec![
        ("PYTHONPATH".into(), format!("{ws}:{ws}/{}", install::PIP_DIR)),
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ("PYTHONUNBUFFERED".into(), "1".into()),
        ("NODE_PATH".into(), format!("{ws}/node_modules")),
        ("DENO_NO_UPDATE_CHECK".into(), "1".into()),
        ("GOMODCACHE".into(), format!("{ws}/{}", install::GO_MOD_DIR)),
        ("GOPATH".into(), format!("{ws}/.sandbox/gopath")),
        ("GOCACHE".into(), ctx.gocache.display().to_string()),
        ("GOFLAGS".into(), "-modcacherw".into()),
        ("GOTOOLCHAIN".into(), "local".into()),
        ("GOTELEMETRY".into(), "off".into()),
    ]
}

/// Writes `code` to `<code dir>/<name>`, a fresh file readable by the session's user only, and
/// returns its absolute path as the run sees it ([`Ctx::code_seen`]). The directory is the
/// runtime's (user code cannot plant a name in it), and the old file is unlinked rather than opened.
pub fn write_code(ctx: &Ctx, name: &str, code: &str) -> io::Result<PathBuf> {
    let path = ctx.code.join(name);
    let file = crate::confine::replace_file(&path, code.as_bytes(), 0o600)?;
    if let Some(id) = ctx.identity {
        std::os::unix::fs::fchown(&file, Some(id.uid), Some(id.gid))?;
    }
    Ok(ctx.code_seen.join(name))
}

/// The plugin for a language.
pub fn plugin(lang: Language) -> &'static dyn Plugin {
    match lang {
        Language::Python => &python::Python,
        Language::Node => &node::Node,
        Language::Typescript => &typescript::TypeScript,
        Language::Go => &go::Go,
        Language::Deno => &deno::Deno,
        Language::Bash => &bash::Bash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_its_plugin() {
        for l in Language::ALL {
            assert_eq!(plugin(l).language(), l);
        }
    }
}
