//! Installers: pip into `.deps/pip` (on `PYTHONPATH`), npm into the workspace's `node_modules`, Go
//! modules into `.deps/go` (the session's `GOMODCACHE`). Each set of packages is keyed by a hash
//! of what was asked; a marker under `.sandbox/installed/` makes asking again cost nothing. All of
//! it lands in the workspace, so it persists with it.
use super::{Ctx, Step};
use edgerun_protocol::Install;
use std::path::PathBuf;

pub(super) const PIP_DIR: &str = ".deps/pip";
pub(super) const GO_MOD_DIR: &str = ".deps/go";

/// Steps to run and the markers to write once they all succeed.
#[derive(Debug, Default)]
pub struct InstallPlan {
    /// Installer processes to run, in order (pip, npm, go), for the sets not installed yet.
    pub steps: Vec<Step>,
    /// Marker files under `.sandbox/installed/` to write once every step succeeded, so that the
    /// same sets are skipped next time.
    pub markers: Vec<PathBuf>,
    /// Installers skipped because the same set is already installed.
    pub skipped: Vec<String>,
}

fn marker(ctx: &Ctx, installer: &str, pkgs: &[String]) -> PathBuf {
    let mut sorted = pkgs.to_vec();
    sorted.sort();
    sorted.dedup();
    let hash = blake3::hash(sorted.join("\n").as_bytes()).to_hex();
    ctx.ws.join(".sandbox/installed").join(format!("{installer}-{}", &hash[..24]))
}

/// Refuses package specs that could be read as installer options.
pub fn check_specs(pkgs: &[String]) -> Result<(), String> {
    for p in pkgs {
        if p.is_empty() || p.starts_with('-') || p.len() > 256 || p.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!("invalid package name {p:?}"));
        }
    }
    Ok(())
}

/// Plans the installs of `install`: one step per installer with packages, unless that set's marker
/// is there (looked up as the session's user). Fails only when the Go module cannot be made.
pub fn install_steps(ctx: &Ctx, install: &Install) -> std::io::Result<InstallPlan> {
    let mut plan = InstallPlan::default();
    let ws = ctx.ws.display().to_string();
    let mut add = |name: &str, pkgs: &[String], step: Step| {
        let m = marker(ctx, name, pkgs);
        let installed =
            crate::confine::as_user(ctx.identity, || std::fs::symlink_metadata(&m).is_ok_and(|md| md.is_file())).unwrap_or(false);
        if installed {
            plan.skipped.push(name.to_string());
        } else {
            plan.steps.push(step);
            plan.markers.push(m);
        }
    };
    if !install.pip.is_empty() {
        let mut args = vec![
            "-m",
            "pip",
            "install",
            "--target",
            PIP_DIR,
            "--upgrade",
            "--disable-pip-version-check",
            "--no-input",
            "--no-warn-script-location",
            "--progress-bar",
            "off",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(install.pip.iter().cloned());
        add("pip", &install.pip, Step::new(&ctx.runtimes.python, args));
    }
    if !install.npm.is_empty() {
        let mut args = vec![ctx.runtimes.npm_cli.display().to_string()];
        args.extend(["install", "--no-audit", "--no-fund", "--no-update-notifier", "--prefix", &ws].map(String::from));
        args.extend(install.npm.iter().cloned());
        add("npm", &install.npm, Step::new(&ctx.runtimes.node, args));
    }
    if !install.go.is_empty() {
        let dir = super::go::module_dir(ctx)?;
        let mut args = vec!["get".to_string()];
        args.extend(install.go.iter().cloned());
        let mut step = Step::new(&ctx.runtimes.go, args);
        step.cwd = Some(dir);
        add("go", &install.go, step);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_that_look_like_options_are_refused() {
        assert!(check_specs(&["requests==2.31".into(), "lodash@4".into()]).is_ok());
        assert!(check_specs(&["--index-url=http://x".into()]).is_err());
        assert!(check_specs(&["a b".into()]).is_err());
        assert!(check_specs(&["".into()]).is_err());
    }
}
