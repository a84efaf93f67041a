//! Executor configuration, read from the environment once at start-up and validated.
use crate::sandbox::Limits;
use std::path::{Path, PathBuf};

/// Interpreter and tool paths. They must be readable and executable by the sandbox users.
#[derive(Debug, Clone)]
pub struct Runtimes {
    /// `python3` (`EDGERUN_PYTHON`, else `PATH`, else `/usr/bin/python3`); also runs pip.
    pub python: PathBuf,
    /// `node` (`EDGERUN_NODE`, else `PATH`, else `/usr/local/bin/node`); runs JavaScript, TypeScript and npm.
    pub node: PathBuf,
    /// npm's `npm-cli.js`, run by `node` (`EDGERUN_NPM_CLI`, else in `node`'s installation); empty
    /// when neither tells.
    pub npm_cli: PathBuf,
    /// `deno` (`EDGERUN_DENO`, else `PATH`, else `/usr/local/bin/deno`).
    pub deno: PathBuf,
    /// `go` (`EDGERUN_GO`, else `PATH`, else `/usr/local/go/bin/go`); also builds the Go seed cache.
    pub go: PathBuf,
    /// `bash` (`EDGERUN_BASH`, else `PATH`, else `/bin/bash`); runs bash code and setup commands.
    pub bash: PathBuf,
    /// The directory holding the Python contexts' serializer, cloudpickle (`EDGERUN_PY_CONTEXT_LIB`,
    /// else `/usr/local/lib/edgerun/python`): on no user's `sys.path`, readable by sandbox users.
    pub py_context_lib: PathBuf,
}

/// Everything the executor is configured with, read once by [`Config::from_env`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the API listens on (`EDGERUN_LISTEN`, default `0.0.0.0:8080`).
    pub listen: String,
    /// Directory holding one root per session (`EDGERUN_WORK_ROOT`, default `/var/lib/edgerun`);
    /// it may not lie under a directory runs get privately (`/tmp`, `/dev/shm`, …).
    pub work_root: PathBuf,
    /// Shared secret the Worker sends; `None` leaves the API open (tests only).
    pub secret: Option<String>,
    /// Interpreter and tool paths (see [`Runtimes::from_env`]).
    pub runtimes: Runtimes,
    /// Names of executor environment variables passed to user code (installer settings, never secrets).
    pub pass_env: Vec<String>,
    /// Per-run limits (`EDGERUN_MEMORY_MB`, `EDGERUN_MAX_PROCESSES`, `EDGERUN_FILE_SIZE_MB`,
    /// `EDGERUN_OPEN_FILES`, `EDGERUN_OUTPUT_BYTES`; defaults in [`Limits::default`]).
    pub limits: Limits,
    /// Most bytes a session may hold, workspace and scratch together (`EDGERUN_MAX_WORKSPACE_MB`,
    /// default 1 GiB); over it a run's changes are not kept and an inject is refused.
    pub max_workspace_bytes: u64,
    /// Most entries a session may hold, workspace and scratch together (`EDGERUN_MAX_FILES`,
    /// default 100,000).
    pub max_workspace_files: u64,
    /// First uid for sandbox users (`EDGERUN_SANDBOX_UID_BASE`, else [`uid_base_for`] the work
    /// root); used only when the executor runs as root.
    pub sandbox_uid_base: u32,
    /// The one gid every sandbox user runs with (`EDGERUN_SANDBOX_GID`, default 200,000); used
    /// only when the executor runs as root.
    pub sandbox_gid: u32,
    /// How a run's processes are contained and killed (`EDGERUN_KILL_MODE`).
    pub kill_mode: KillSetting,
    /// Where the machine's read-only Go seed caches live (`EDGERUN_GO_SEED_ROOT`).
    pub go_seed_root: PathBuf,
    /// How long a context may go without a run before its interpreter is stopped
    /// (`EDGERUN_CONTEXT_IDLE_MS`, default [`crate::context::IDLE_STOP`]); a session's container
    /// gets its Worker's idle time here, so its contexts live as long as it does.
    pub context_idle: std::time::Duration,
}

/// `EDGERUN_KILL_MODE`: `auto` (default) takes the strongest mode this machine allows — cgroups
/// where the executor may make them, else the session uid when root, else the run's tag; the
/// other values force one mode (`cgroup` refuses to start without usable cgroups), so that each
/// fallback can be tested on a machine that has the stronger ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillSetting {
    /// The strongest mode the machine allows: cgroups, else the uid (root), else the tag.
    Auto,
    /// Cgroups only: the executor refuses to start without usable ones.
    Cgroup,
    /// The session's uid even where cgroups could be made; the tag mode when not root.
    Uid,
    /// The run's environment tag, the weakest mode (what an executor without root gets anyway).
    Tag,
}

impl KillSetting {
    fn parse(v: &str) -> Result<KillSetting, String> {
        match v {
            "" | "auto" => Ok(KillSetting::Auto),
            "cgroup" => Ok(KillSetting::Cgroup),
            "uid" => Ok(KillSetting::Uid),
            "tag" => Ok(KillSetting::Tag),
            _ => Err(format!("EDGERUN_KILL_MODE must be auto, cgroup, uid or tag, got {v:?}")),
        }
    }
}

/// `EDGERUN_PASS_ENV` when unset: the certificate, proxy and package-registry settings installers
/// need, comma-separated; never secrets.
pub const DEFAULT_PASS_ENV: &str = "SSL_CERT_FILE,SSL_CERT_DIR,NODE_EXTRA_CA_CERTS,PIP_CERT,PIP_INDEX_URL,REQUESTS_CA_BUNDLE,CURL_CA_BUNDLE,HTTP_PROXY,HTTPS_PROXY,NO_PROXY,http_proxy,https_proxy,no_proxy,GOPROXY,GOSUMDB,NPM_CONFIG_REGISTRY";

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn tool(var: &str, name: &str, fallback: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).or_else(|| find_on_path(name)).unwrap_or_else(|| PathBuf::from(fallback))
}

fn num(var: &str, default: u64) -> Result<u64, String> {
    match std::env::var(var) {
        Ok(v) => v.trim().parse().map_err(|_| format!("{var} must be a whole number, got {v:?}")),
        Err(_) => Ok(default),
    }
}

impl Runtimes {
    /// Finds each tool: its `EDGERUN_*` variable, else the first of its name on `PATH`, else where
    /// the image installs it. Nothing is checked here: a missing tool fails the runs that need it.
    pub fn from_env() -> Runtimes {
        let node = tool("EDGERUN_NODE", "node", "/usr/local/bin/node");
        let npm_default = node.parent().and_then(Path::parent).map(|p| p.join("lib/node_modules/npm/bin/npm-cli.js"));
        Runtimes {
            python: tool("EDGERUN_PYTHON", "python3", "/usr/bin/python3"),
            npm_cli: std::env::var_os("EDGERUN_NPM_CLI").map(PathBuf::from).or(npm_default).unwrap_or_default(),
            node,
            deno: tool("EDGERUN_DENO", "deno", "/usr/local/bin/deno"),
            go: tool("EDGERUN_GO", "go", "/usr/local/go/bin/go"),
            bash: tool("EDGERUN_BASH", "bash", "/bin/bash"),
            py_context_lib: std::env::var_os("EDGERUN_PY_CONTEXT_LIB")
                .map_or_else(|| PathBuf::from("/usr/local/lib/edgerun/python"), PathBuf::from),
        }
    }
}

/// Sandbox uids one executor hands out, from its base; never one twice (the session registry's
/// high-water mark).
pub const UID_BLOCK: u32 = 100_000;

/// A block of [`UID_BLOCK`] sandbox uids chosen by the work root, so that several executors on one machine
/// (a dev stack and a test stack) do not hand out the same uids, whose processes they kill.
pub fn uid_base_for(work_root: &Path) -> u32 {
    let h = blake3::hash(work_root.as_os_str().as_encoded_bytes());
    let n = u32::from_le_bytes([h.as_bytes()[0], h.as_bytes()[1], h.as_bytes()[2], h.as_bytes()[3]]);
    100_000 + (n % 20_000) * UID_BLOCK
}

impl Config {
    /// Reads the configuration from the environment and checks it; `Err` says which variable or
    /// limit is wrong (the executor then exits with status 2).
    pub fn from_env() -> Result<Config, String> {
        let d = Limits::default();
        let limits = Limits {
            memory_bytes: num("EDGERUN_MEMORY_MB", d.memory_bytes >> 20)? << 20,
            max_processes: num("EDGERUN_MAX_PROCESSES", d.max_processes)?,
            file_size_bytes: num("EDGERUN_FILE_SIZE_MB", d.file_size_bytes >> 20)? << 20,
            open_files: num("EDGERUN_OPEN_FILES", d.open_files)?,
            output_bytes: num("EDGERUN_OUTPUT_BYTES", d.output_bytes as u64)? as usize,
        };
        if limits.max_processes == 0 || limits.open_files < 16 || limits.output_bytes == 0 {
            return Err("limits must leave room to run: processes ≥ 1, open files ≥ 16, output ≥ 1 byte".into());
        }
        let work_root: PathBuf = std::env::var_os("EDGERUN_WORK_ROOT").map(PathBuf::from).unwrap_or_else(|| "/var/lib/edgerun".into());
        Ok(Config {
            listen: std::env::var("EDGERUN_LISTEN").unwrap_or_else(|_| "0.0.0.0:8080".into()),
            work_root: work_root.clone(),
            secret: std::env::var("EDGERUN_SECRET").ok().filter(|s| !s.is_empty()),
            runtimes: Runtimes::from_env(),
            pass_env: std::env::var("EDGERUN_PASS_ENV")
                .unwrap_or_else(|_| DEFAULT_PASS_ENV.into())
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            limits,
            max_workspace_bytes: num("EDGERUN_MAX_WORKSPACE_MB", 1024)? << 20,
            max_workspace_files: num("EDGERUN_MAX_FILES", 100_000)?,
            sandbox_uid_base: match std::env::var("EDGERUN_SANDBOX_UID_BASE") {
                Ok(_) => num("EDGERUN_SANDBOX_UID_BASE", 0)? as u32,
                Err(_) => uid_base_for(&work_root),
            },
            sandbox_gid: num("EDGERUN_SANDBOX_GID", 200_000)? as u32,
            kill_mode: KillSetting::parse(std::env::var("EDGERUN_KILL_MODE").unwrap_or_default().trim())?,
            go_seed_root: std::env::var_os("EDGERUN_GO_SEED_ROOT").map(PathBuf::from).unwrap_or_else(|| "/var/cache/edgerun".into()),
            context_idle: match num("EDGERUN_CONTEXT_IDLE_MS", crate::context::IDLE_STOP.as_millis() as u64)? {
                0 => return Err("EDGERUN_CONTEXT_IDLE_MS must be at least 1".into()),
                ms => std::time::Duration::from_millis(ms),
            },
        })
    }

    /// A configuration for tests: everything under `root`, runtimes from the environment.
    pub fn for_root(root: &Path) -> Config {
        let mut c = Config::from_env().expect("valid test environment");
        c.work_root = root.to_path_buf();
        c.sandbox_uid_base = uid_base_for(root);
        c.secret = None;
        c
    }
}
