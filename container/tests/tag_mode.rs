//! The fallback without root and without cgroups: a run's processes are found by its tag and, as
//! the executor is then a child subreaper, as descendants of the executor. Its own test binary,
//! because the subreaper setting belongs to the whole process (one executor, one mode).
mod common;
use edgerun_executor::config::KillSetting;
use edgerun_protocol::Language;

/// One test, so that no other run is in flight in this process: the subreaper sweep leaves
/// descendants alone while another run may own them.
#[tokio::test]
async fn tag_mode_kills_setsid_children_and_scrubbed_orphans() {
    let f = common::fixture_with(|c| c.kill_mode = KillSetting::Tag);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert_eq!(f.sessions.isolation(), if root { "tag, private /tmp /dev/shm /proc" } else { "tag" });
    common::timeout_kills_everything(f, "timeout-tag").await;
    orphans_are_adopted_killed_and_reaped().await;
    // The tag mode names its limits too: the tagged processes (and adopted zombies) are counted.
    common::limits_are_named(common::fixture_in(KillSetting::Tag), "limits-tag").await;
}

/// A daemon whose parent returned at once is adopted by the executor and dies with the run; its
/// zombie is reaped rather than left behind.
async fn orphans_are_adopted_killed_and_reaped() {
    let f = common::fixture_with(|c| c.kill_mode = KillSetting::Tag);
    let mark = format!("sleep {}7", 400 + std::process::id() % 100);
    let r = f.run("adopt", Language::Bash, &format!("(setsid env -i {mark} > /dev/null 2>&1 < /dev/null &); echo ok"), |_| {}).await;
    assert_eq!(r.stdout, "ok\n");
    let ps = std::process::Command::new("ps").args(["-eo", "ppid,stat,args"]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(!ps.lines().any(|l| l.ends_with(&mark)), "{mark} outlived its run:\n{ps}");
    let me = std::process::id().to_string();
    let zombies: Vec<&str> = ps
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(&me) && l.split_whitespace().nth(1).is_some_and(|s| s.starts_with('Z')))
        .collect();
    assert!(zombies.is_empty(), "adopted children left as zombies: {zombies:?}");
}
