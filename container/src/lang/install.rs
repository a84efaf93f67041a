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

/// Whether the set behind marker `m` is installed (looked up as the session's user).
fn installed(ctx: &Ctx, m: &std::path::Path) -> bool {
    crate::confine::as_user(ctx.identity, || std::fs::symlink_metadata(m).is_ok_and(|md| md.is_file())).unwrap_or(false)
}

/// Plans the installs of `install`: one step per installer with packages, unless that set's marker
/// is there (looked up as the session's user). Fails only when the Go module cannot be made.
///
/// `offline` (a session without internet): the installers still reach their registries, but run
/// no code of the packages they fetch, which would have the machine's network: npm with
/// `--ignore-scripts`, pip with `--only-binary :all:` (no `setup.py` builds). Such sets are
/// marked apart from the same sets installed online.
pub fn install_steps(ctx: &Ctx, install: &Install, offline: bool) -> std::io::Result<InstallPlan> {
    let mut plan = InstallPlan::default();
    let ws = ctx.ws.display().to_string();
    let mut add = |name: &str, pkgs: &[String], step: Step| {
        let m = marker(ctx, name, pkgs);
        if installed(ctx, &m) {
            plan.skipped.push(name.to_string());
        } else {
            plan.steps.push(step);
            plan.markers.push(m);
        }
    };
    if !install.pip.is_empty() || !install.pip_requirements.is_empty() {
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
        if offline {
            args.extend(["--only-binary".to_string(), ":all:".to_string()]);
        }
        args.extend(install.pip.iter().cloned());
        let mut asked = install.pip.clone();
        if offline {
            asked.push("--only-binary :all:".into());
        }
        if !install.pip_requirements.is_empty() {
            // The text goes to the runtime's code directory (user code cannot plant a name there).
            let file = super::write_code(ctx, "requirements.txt", &install.pip_requirements)?;
            args.extend(["-r".to_string(), file.display().to_string()]);
            asked.push(format!("requirements.txt:\n{}", install.pip_requirements));
        }
        add("pip", &asked, Step::new(&ctx.runtimes.python, args));
    }
    if !install.npm.is_empty() || !install.npm_package_json.is_empty() {
        let mut args = vec![ctx.runtimes.npm_cli.display().to_string()];
        args.extend(["install", "--no-audit", "--no-fund", "--no-update-notifier", "--prefix", &ws].map(String::from));
        if offline {
            args.push("--ignore-scripts".into());
        }
        args.extend(install.npm.iter().cloned());
        let mut asked = install.npm.clone();
        if offline {
            asked.push("--ignore-scripts".into());
        }
        if !install.npm_package_json.is_empty() {
            asked.push(format!("package.json:\n{}", install.npm_package_json));
        }
        if !install.npm_package_json.is_empty() && !installed(ctx, &marker(ctx, "npm", &asked)) {
            // npm reads the workspace's package.json: written as the session's user, a fresh file
            // in place of whatever held the name.
            let (path, text) = (ctx.ws.join("package.json"), install.npm_package_json.clone());
            crate::confine::as_user(ctx.identity, move || crate::confine::replace_file(&path, text.as_bytes(), 0o644).map(drop))??;
        }
        add("npm", &asked, Step::new(&ctx.runtimes.node, args));
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
