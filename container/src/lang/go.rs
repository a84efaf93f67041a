//! Go: the program is built in the session's module (`.sandbox/go/mod`) against the modules that
//! setup installed, into `.sandbox/go/bin/<hash>` keyed by the code and `go.mod`/`go.sum`, so
//! running the same program again starts the binary without compiling.
//!
//! Everything here lies inside the workspace, so it is done as the session's user.
use super::{Ctx, Plugin, Step};
use crate::confine::{as_user, read_regular};
use edgerun_protocol::Language;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub struct Go;

/// Largest `go.mod` or `go.sum` read to key a build.
const MAX_MOD_FILE: usize = 16 << 20;

/// The session's Go module directory, created on first use (as the session's user).
pub fn module_dir(ctx: &Ctx) -> io::Result<PathBuf> {
    let dir = ctx.ws.join(".sandbox/go/mod");
    as_user(ctx.identity, || ensure_module(&dir))??;
    Ok(dir)
}

fn ensure_module(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    match crate::confine::create_new(&dir.join("go.mod"), 0o644) {
        Ok(mut f) => io::Write::write_all(&mut f, b"module session\n\ngo 1.21\n"),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn module_file(dir: &Path, name: &str) -> io::Result<Vec<u8>> {
    read_regular(&dir.join(name), MAX_MOD_FILE).map(Option::unwrap_or_default).map_err(|e| io::Error::other(format!("{name} {e}")))
}

impl Plugin for Go {
    fn language(&self) -> Language {
        Language::Go
    }
    fn steps(&self, ctx: &Ctx, code: &str) -> std::io::Result<Vec<Step>> {
        let dir = ctx.ws.join(".sandbox/go/mod");
        let bins = ctx.ws.join(".sandbox/go/bin");
        let bin = as_user(ctx.identity, || -> io::Result<PathBuf> {
            ensure_module(&dir)?;
            let mut h = blake3::Hasher::new();
            h.update(code.as_bytes());
            h.update(&module_file(&dir, "go.mod")?);
            h.update(&module_file(&dir, "go.sum")?);
            let bin = bins.join(&h.finalize().to_hex()[..24]);
            if fs::symlink_metadata(&bin).is_err() {
                // Written only when it is built, so a repeated run leaves the workspace untouched.
                crate::confine::replace_file(&dir.join("main.go"), code.as_bytes(), 0o644)?;
            }
            Ok(bin)
        })??;
        let mut build = Step::new(&ctx.runtimes.go, ["build".to_string(), "-o".into(), bin.display().to_string(), ".".into()]);
        build.skip_if_exists = Some(bin.clone());
        build.umask = 0o002;
        build.cwd = Some(dir);
        Ok(vec![build, Step::new(&bin, Vec::<String>::new())])
    }
}
