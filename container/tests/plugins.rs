//! Every language plugin with its real interpreter: output, stderr, exit codes, stdin, env;
//! limits (timeout with escaping children, output cap); one install per installer.
mod common;
use common::fixture;
use edgerun_executor::config::KillSetting;
use edgerun_protocol::{KilledBy, Language};

struct Case {
    lang: Language,
    hello: &'static str,
    stderr_and_exit: &'static str,
    stdin_env: &'static str,
}

const CASES: &[Case] = &[
    Case {
        lang: Language::Python,
        hello: "print('hello')",
        stderr_and_exit: "import sys\nprint('oops', file=sys.stderr)\nsys.exit(3)",
        stdin_env: "import os, sys\nprint(sys.stdin.read().strip() + os.environ['GREETING'])",
    },
    Case {
        lang: Language::Node,
        hello: "console.log('hello')",
        stderr_and_exit: "console.error('oops'); process.exit(3)",
        stdin_env: "const d = require('fs').readFileSync(0, 'utf8').trim(); console.log(d + process.env.GREETING)",
    },
    Case {
        lang: Language::Typescript,
        hello: "const m: string = 'hello'; console.log(m)",
        stderr_and_exit: "console.error('oops' as string); process.exit(3)",
        stdin_env: "import { readFileSync } from 'node:fs';\nconst d: string = readFileSync(0, 'utf8').trim(); console.log(d + process.env.GREETING)",
    },
    Case {
        lang: Language::Deno,
        hello: "const m: string = 'hello'; console.log(m)",
        stderr_and_exit: "console.error('oops'); Deno.exit(3)",
        stdin_env: "const d = (await new Response(Deno.stdin.readable).text()).trim(); console.log(d + Deno.env.get('GREETING'))",
    },
    Case {
        lang: Language::Go,
        hello: "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hello\") }",
        stderr_and_exit: "package main\nimport (\"fmt\"; \"os\")\nfunc main() { fmt.Fprintln(os.Stderr, \"oops\"); os.Exit(3) }",
        stdin_env: "package main\nimport (\"bufio\"; \"fmt\"; \"os\"; \"strings\")\nfunc main() { r := bufio.NewReader(os.Stdin); l, _ := r.ReadString('\\n'); fmt.Println(strings.TrimSpace(l) + os.Getenv(\"GREETING\")) }",
    },
    Case {
        lang: Language::Bash,
        hello: "echo hello",
        stderr_and_exit: "echo oops >&2; exit 3",
        stdin_env: "read line; echo \"$line$GREETING\"",
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_plugin_runs_with_its_real_interpreter() {
    let f = fixture();
    for c in CASES {
        let sid = format!("lang-{}", c.lang);
        let r = f.run(&sid, c.lang, c.hello, |_| {}).await;
        assert_eq!((r.exit_code, r.stdout.as_str()), (0, "hello\n"), "{}: {r:?}", c.lang);
        assert_eq!(r.signal, None);

        let r = f.run(&sid, c.lang, c.stderr_and_exit, |_| {}).await;
        assert_eq!(r.exit_code, 3, "{}: {r:?}", c.lang);
        assert!(r.stderr.contains("oops"), "{}: {r:?}", c.lang);
        assert_eq!(r.killed_by, None);

        let r = f
            .run(&sid, c.lang, c.stdin_env, |q| {
                q.stdin = "from stdin, \n".into();
                q.env.insert("GREETING".into(), "and env".into());
            })
            .await;
        assert_eq!(r.stdout, "from stdin,and env\n", "{}: {r:?}", c.lang);
    }
}

#[tokio::test]
async fn user_code_gets_a_scratch_environment() {
    // SAFETY: test-local variable, set before the run reads it.
    unsafe { std::env::set_var("EDGERUN_TEST_SECRET", "do-not-leak") };
    let f = fixture();
    let r = f.run("env", Language::Bash, "env; id -u", |_| {}).await;
    assert!(!r.stdout.contains("do-not-leak"), "{}", r.stdout);
    assert!(!r.stdout.contains("EDGERUN_"), "{}", r.stdout);
    assert!(r.stdout.contains("HOME="));
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let uid: u32 = r.stdout.lines().last().unwrap().trim().parse().unwrap();
        assert_ne!(uid, 0, "user code must not run as root");
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A fixture forced into one kill mode, with low limits so that a missing limit fails the test.
fn fixture_in(mode: KillSetting) -> common::Fixture {
    common::fixture_in(mode)
}

/// Cgroups are required where the executor runs as root (these machines and the container);
/// without root only the tag mode can be tested.
fn cgroup_fixture() -> Option<common::Fixture> {
    if !is_root() {
        eprintln!("not root: the cgroup mode is not tested here");
        return None;
    }
    let f = fixture_in(KillSetting::Cgroup);
    assert!(f.sessions.isolation().starts_with("cgroup ("), "{}", f.sessions.isolation());
    Some(f)
}

#[tokio::test]
async fn a_timeout_kills_grandchildren_and_setsid_children_in_cgroup_mode() {
    if let Some(f) = cgroup_fixture() {
        common::timeout_kills_everything(f, "timeout-cgroup").await;
    }
}

#[tokio::test]
async fn a_timeout_kills_grandchildren_and_setsid_children_in_uid_mode() {
    let f = fixture_in(KillSetting::Uid);
    let want = if is_root() { "uid, private /tmp /dev/shm /proc" } else { "tag" };
    assert_eq!(f.sessions.isolation(), want);
    common::timeout_kills_everything(f, "timeout-uid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_named_in_cgroup_mode() {
    if let Some(f) = cgroup_fixture() {
        common::limits_are_named(f, "limits-cgroup").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_named_in_uid_mode() {
    if is_root() {
        common::limits_are_named(fixture_in(KillSetting::Uid), "limits-uid").await;
    }
}

#[tokio::test]
async fn output_over_the_cap_kills_the_run_and_keeps_what_came() {
    let f = fixture();
    let r = f.run("cap", Language::Python, "import sys\nwhile True: sys.stdout.write('x' * 65536)", |_| {}).await;
    assert_eq!(r.killed_by, Some(KilledBy::Output));
    assert!(r.truncated);
    assert_eq!(r.stdout.len(), 1 << 20, "exactly the cap is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_installer_installs_into_the_workspace_once() {
    let f = fixture();
    // pip
    let r = f
        .run("pip", Language::Python, "import tabulate, os; print(os.path.relpath(tabulate.__file__))", |q| {
            q.install.pip = vec!["tabulate==0.9.0".into()];
            q.timeout_secs = 120;
        })
        .await;
    assert_eq!(r.exit_code, 0, "{r:?}");
    assert!(r.stdout.starts_with(".deps/pip/tabulate"), "{}", r.stdout);
    let again = f.run("pip", Language::Python, "print(1)", |q| q.install.pip = vec!["tabulate==0.9.0".into()]).await;
    assert!(again.logs.iter().any(|l| l.contains("already installed")), "{:?}", again.logs);
    // npm
    let r = f
        .run(
            "npm",
            Language::Node,
            "const n = require('is-number'); console.log(n(5), require.resolve('is-number').includes('/node_modules/'))",
            |q| {
                q.install.npm = vec!["is-number@7.0.0".into()];
                q.timeout_secs = 120;
            },
        )
        .await;
    assert_eq!((r.exit_code, r.stdout.as_str()), (0, "true true\n"), "{r:?}");
    // go modules, then a program using them; the second run of the same program is not compiled
    let prog = "package main\nimport (\"fmt\"; \"github.com/google/uuid\")\nfunc main() { fmt.Println(len(uuid.NewString())) }";
    let r = f
        .run("gomod", Language::Go, prog, |q| {
            q.install.go = vec!["github.com/google/uuid@v1.6.0".into()];
            q.timeout_secs = 180;
        })
        .await;
    assert_eq!((r.exit_code, r.stdout.as_str()), (0, "36\n"), "{r:?}");
    let cached = f.run("gomod", Language::Go, prog, |_| {}).await;
    assert_eq!(cached.stdout, "36\n", "{cached:?}");
    assert!(cached.duration_ms < r.duration_ms, "second run reuses the built binary ({} vs {} ms)", cached.duration_ms, r.duration_ms);
}

#[tokio::test]
async fn session_data_is_written_before_and_read_back_after_a_run() {
    let f = fixture();
    let r = f
        .run(
            "data",
            Language::Python,
            "import json\nd = json.load(open('.session_data.json'))\nd['n'] += 1\njson.dump(d, open('.session_data.json', 'w'))",
            |q| {
                q.data = Some(serde_json::json!({"n": 1}));
            },
        )
        .await;
    assert_eq!(r.data, Some(serde_json::json!({"n": 2})), "{r:?}");
    let bad = f.run("data", Language::Bash, "echo '{oops' > .session_data.json", |q| q.data = Some(serde_json::json!({"n": 2}))).await;
    assert_eq!(bad.data, None);
    assert!(bad.stderr.contains("not valid JSON"), "{}", bad.stderr);
}

/// The code runs as the workspace's `main.<ext>` without being put there: relative imports
/// resolve from the workspace, a workspace file of the code's own name is the user's, the
/// standard input is the program's, and an error names the code without the work root's path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_runs_as_the_workspaces_main_without_being_there() {
    let f = fixture();
    let work_root = f.dir.path().display().to_string();
    // (language, a run that plants the user's files, a run that imports them and reads stdin, a failing run)
    let cases: [(Language, &str, &str, &str); 6] = [
        (
            Language::Python,
            "open('helper.py','w').write('X = 5\\n'); open('main.py','w').write('M = \"user\"\\n')",
            "import sys, helper, main\nprint(helper.X, main.M, sys.stdin.read())",
            "raise ValueError('bad')",
        ),
        (
            Language::Node,
            "const fs = require('fs'); fs.writeFileSync('index.js', 'exports.x = 5'); fs.writeFileSync('main.js', 'module.exports = \"user\"')",
            "console.log(require('./index.js').x, require('./main.js'), require('fs').readFileSync(0, 'utf8'))",
            "throw new Error('bad')",
        ),
        (
            Language::Typescript,
            "import { mkdirSync, writeFileSync } from 'node:fs';\nmkdirSync('u');\nwriteFileSync('u/x.ts', 'export const x: number = 5;');\nwriteFileSync('main.ts', 'export const m: string = \"user\";');",
            "import { x } from './u/x';\nimport { m } from './main';\nimport { readFileSync } from 'node:fs';\nconsole.log(x, m, readFileSync(0, 'utf8'));",
            "const n: number = 1;\nthrow new Error('bad ' + n);",
        ),
        (
            Language::Deno,
            "Deno.writeTextFileSync('x.ts', 'export const x = 5;'); Deno.writeTextFileSync('main.ts', 'export const m = \"user\";')",
            "import { x } from './x.ts';\nimport { m } from './main.ts';\nconsole.log(x, m, await new Response(Deno.stdin.readable).text());",
            "throw new Error('bad');",
        ),
        (Language::Bash, "echo 'X=5; M=user' > main.sh", "source ./main.sh; echo \"$X $M $(cat)\"", "no_such_command_here"),
        (
            Language::Go,
            "package main\nimport \"os\"\nfunc main() { os.WriteFile(\"main.go\", []byte(\"5 user\"), 0o644) }",
            "package main\nimport (\"fmt\"; \"io\"; \"os\")\nfunc main() { b, _ := os.ReadFile(\"main.go\"); in, _ := io.ReadAll(os.Stdin); fmt.Println(string(b), string(in)) }",
            "package main\nfunc main() { panic(\"bad\") }",
        ),
    ];
    for (lang, plant, import, fail) in cases {
        let sid = format!("main-{lang}");
        let r = f.run(&sid, lang, plant, |_| {}).await;
        assert_eq!(r.exit_code, 0, "{lang}: {r:?}");
        let r = f.run(&sid, lang, import, |q| q.stdin = "in".into()).await;
        assert_eq!(r.stdout, "5 user in\n", "{lang}: {r:?}");
        let r = f.run(&sid, lang, fail, |_| {}).await;
        assert_ne!(r.exit_code, 0, "{lang}: {r:?}");
        assert!(r.stderr.contains("bad") || r.stderr.contains("no_such_command_here"), "{lang}: {r:?}");
        if lang != Language::Deno || f.sessions.isolation().contains("private") {
            assert!(!r.stderr.contains(&work_root), "{lang}: the error shows the work root: {}", r.stderr);
        }
    }
}
