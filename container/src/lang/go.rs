//! Go: the program is built in the session's module (`.sandbox/go/mod`) against the modules that
//! setup installed, into `.sandbox/go/bin/<hash>` keyed by the code and `go.mod`/`go.sum`, so
//! running the same program again starts the binary without compiling.
use super::{Ctx, Plugin, Step};
use edgerun_protocol::Language;
use std::fs;

pub struct Go;

/// The session's Go module directory, created on first use.
pub fn module_dir(ctx: &Ctx) -> std::io::Result<std::path::PathBuf> {
    let dir = ctx.ws.join(".sandbox/go/mod");
    fs::create_dir_all(&dir)?;
    let gomod = dir.join("go.mod");
    if !gomod.exists() {
        fs::write(&gomod, "module session\n\ngo 1.21\n")?;
    }
    Ok(dir)
}

impl Plugin for Go {
    fn language(&self) -> Language {
        Language::Go
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let dir = module_dir(ctx)?;
        let mut h = blake3::Hasher::new();
        h.update(code.as_bytes());
        h.update(&fs::read(dir.join("go.mod")).unwrap_or_default());
        h.update(&fs::read(dir.join("go.sum")).unwrap_or_default());
        let bin = ctx.ws.join(".sandbox/go/bin").join(&h.finalize().to_hex()[..24]);
        if !bin.exists() {
            // Written only when it is built, so a repeated run leaves the workspace untouched.
            fs::write(dir.join("main.go"), code)?;
        }
        let mut build = Step::new(&ctx.runtimes.go, ["build".to_string(), "-o".into(), bin.display().to_string(), ".".into()]);
        build.skip_if_exists = Some(bin.clone());
        build.umask = 0o002;
        build.cwd = Some(dir);
        Ok(vec![build, Step::new(&bin, Vec::<String>::new())])
    }
}
