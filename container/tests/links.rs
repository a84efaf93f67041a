//! Property tests: random trees of directories, files and links — chains, links through links,
//! links out, absolute links — thrown at persist (scan, delta, restore) and at inject. Whatever
//! the tree, nothing outside the workspace changes, and every name of a restored or injected
//! tree that the kernel can resolve resolves inside it.
mod common;
use common::tree_picture;
use edgerun_executor::workspace::{self, check_link, InjectLimits};
use edgerun_protocol::{Entry, EntryKind, Segment};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const LIMITS: InjectLimits = InjectLimits { max_file_bytes: 1 << 20, max_total_bytes: 1 << 24, max_entries: 1000 };

#[derive(Debug, Clone)]
enum Node {
    Dir,
    File(Vec<u8>),
    Link(String),
}

fn path() -> impl Strategy<Value = String> {
    // Mostly shallow, so that links meet each other often.
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_string),
        1 => prop::collection::vec(prop::sample::select(vec!["a", "b", "c"]), 2..4).prop_map(|v| v.join("/")),
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(vec!["..", ".", "a", "b", "outside"]), 1..5).prop_map(|v| v.join("/")),
        2 => Just(".".to_string()),
        1 => Just("..".to_string()),
        1 => Just("b".to_string()),
        1 => Just("/etc".to_string()),
        1 => Just("../outside/f".to_string()),
        2 => Just("a/../outside".to_string()),
        1 => Just("b/a/../../outside".to_string()),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    prop_oneof![Just(Node::Dir), prop::collection::vec(any::<u8>(), 0..32).prop_map(Node::File), target().prop_map(Node::Link)]
}

/// A few links that other links can pass through (to the workspace itself, to each other),
/// then anything.
fn tree() -> impl Strategy<Value = Vec<(String, Node)>> {
    let hub = (prop::sample::select(vec!["a", "b", "c"]), prop::sample::select(vec![".", "b", "c", "a/b", ".."]))
        .prop_map(|(p, t)| (p.to_string(), Node::Link(t.to_string())));
    (prop::collection::vec(hub, 0..3), prop::collection::vec((path(), node()), 1..12)).prop_map(|(mut hubs, rest)| {
        hubs.extend(rest);
        hubs
    })
}

/// A scratch layout: `<tmp>/ws` (the workspace) and `<tmp>/outside` (what must never change).
fn layout() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let (ws, outside) = (tmp.path().join("ws"), tmp.path().join("outside"));
    fs::create_dir_all(outside.join("d")).unwrap();
    fs::write(outside.join("f"), "outside").unwrap();
    fs::create_dir(&ws).unwrap();
    (tmp, ws, outside)
}

/// Makes the tree on disk the way user code could, creating nothing through a link.
fn materialize(ws: &Path, tree: &[(String, Node)]) {
    for (p, n) in tree {
        let full = ws.join(p);
        let mut cur = ws.to_path_buf();
        let parents: Vec<&str> = p.split('/').collect();
        let mut ok = true;
        for comp in &parents[..parents.len() - 1] {
            cur.push(comp);
            match fs::symlink_metadata(&cur) {
                Ok(md) if md.is_dir() => {}
                Ok(_) => ok = false,
                Err(_) => ok = fs::create_dir(&cur).is_ok(),
            }
            if !ok {
                break;
            }
        }
        if !ok || fs::symlink_metadata(&full).is_ok() {
            continue;
        }
        let _ = match n {
            Node::Dir => fs::create_dir(&full),
            Node::File(c) => fs::write(&full, c),
            Node::Link(t) => std::os::unix::fs::symlink(t, &full),
        };
    }
}

/// Every name under `root` that resolves at all resolves inside `root`.
fn resolves_inside(root: &Path) -> Result<(), String> {
    let canon_root = root.canonicalize().unwrap();
    for name in tree_picture(root).keys() {
        if let Ok(real) = name.canonicalize() {
            if !real.starts_with(&canon_root) {
                return Err(format!("{} resolves to {}", name.display(), real.display()));
            }
        }
    }
    Ok(())
}

fn manifest_of(tree: &[(String, Node)]) -> (Vec<Entry>, Vec<u8>) {
    let mut by_path: BTreeMap<String, Entry> = BTreeMap::new();
    let mut tar = tar::Builder::new(Vec::new());
    for (p, n) in tree {
        if by_path.contains_key(p) {
            continue; // the first entry at a path wins, as on disk
        }
        // Parents the tree left out come as directories, so that most manifests are whole.
        let mut parent = String::new();
        for comp in p.split('/').collect::<Vec<_>>().split_last().map(|(_, ps)| ps.to_vec()).unwrap_or_default() {
            parent = if parent.is_empty() { comp.to_string() } else { format!("{parent}/{comp}") };
            by_path.entry(parent.clone()).or_insert_with(|| Entry {
                path: parent.clone(),
                kind: EntryKind::Dir,
                mode: 0o755,
                mtime_ns: 0,
                size: 0,
                hash: String::new(),
                target: None,
            });
        }
        let (kind, size, hash, target) = match n {
            Node::Dir => (EntryKind::Dir, 0, String::new(), None),
            Node::File(c) => (EntryKind::File, c.len() as u64, blake3::hash(c).to_hex().to_string(), None),
            Node::Link(t) => (EntryKind::Symlink, 0, blake3::hash(t.as_bytes()).to_hex().to_string(), Some(t.clone())),
        };
        if let Node::File(c) = n {
            let mut h = tar::Header::new_gnu();
            h.set_size(c.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, p, c.as_slice()).unwrap();
        }
        by_path.insert(
            p.clone(),
            Entry { path: p.clone(), kind, mode: if kind == EntryKind::Dir { 0o755 } else { 0o644 }, mtime_ns: 0, size, hash, target },
        );
    }
    (by_path.into_values().collect(), tar.into_inner().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Persist: what a scan keeps holds only links that resolve inside without passing through
    /// another, and a restore of it touches nothing outside and resolves inside.
    #[test]
    fn persist_keeps_only_links_that_resolve_inside(tree in tree()) {
        persist_property(&tree)?;
    }

    /// Inject: any manifest is either refused or applied inside; nothing outside changes.
    #[test]
    fn hostile_injects_change_nothing_outside(tree in tree()) {
        inject_property(&tree)?;
    }
}

fn persist_property(tree: &[(String, Node)]) -> Result<(), TestCaseError> {
    let (tmp, ws, outside) = layout();
    materialize(&ws, tree);
    let before = tree_picture(&outside);
    let (m, _unkept) = workspace::scan_report(&ws, None).unwrap();
    for e in m.entries.values().filter(|e| e.kind == EntryKind::Symlink) {
        let kinds = |p: &str| m.entries.get(p).map(|e| e.kind);
        prop_assert!(check_link(&e.path, e.target.as_deref().unwrap(), kinds).is_ok(), "{} kept", e.path);
    }
    let (delta, tar) = workspace::build_delta(&ws, None, &m).unwrap();
    let manifest: Vec<Entry> = delta.entries.iter().map(|p| p.entry.clone()).collect();
    let staging = tmp.path().join("restore");
    let segments = if tar.is_empty() { vec![] } else { vec![Segment::Tar { len: tar.len() as u64 }] };
    workspace::apply_full(&staging, &segments, &tar, &manifest, LIMITS).unwrap();
    prop_assert_eq!(tree_picture(&outside), before);
    prop_assert_eq!(resolves_inside(&staging), Ok(()));
    prop_assert_eq!(workspace::scan(&staging, None).unwrap().entries.len(), m.entries.len());
    Ok(())
}

fn inject_property(tree: &[(String, Node)]) -> Result<(), TestCaseError> {
    let (tmp, _ws, outside) = layout();
    let before = tree_picture(&outside);
    let (manifest, tar) = manifest_of(tree);
    let staging = tmp.path().join("ws.new");
    let segments = vec![Segment::Tar { len: tar.len() as u64 }];
    let applied = workspace::apply_full(&staging, &segments, &tar, &manifest, LIMITS);
    prop_assert_eq!(tree_picture(&outside), before);
    if applied.is_ok() {
        prop_assert_eq!(resolves_inside(&staging), Ok(()));
    }
    Ok(())
}

/// The chain the review found, as a fixed case of both properties.
#[test]
fn the_reviewed_chain_is_refused() {
    let tree = vec![("a".to_string(), Node::Link(".".into())), ("b".to_string(), Node::Link("a/../outside/f".into()))];
    inject_property(&tree).unwrap();
    persist_property(&tree).unwrap();
    let (tmp, ws, outside) = layout();
    materialize(&ws, &tree);
    let (m, unkept) = workspace::scan_report(&ws, None).unwrap();
    assert!(m.entries.contains_key("a") && !m.entries.contains_key("b"), "{:?}", m.entries.keys());
    assert_eq!(unkept.count, 1);
    let before = tree_picture(&outside);
    let (manifest, tar) = manifest_of(&tree);
    let r = workspace::apply_full(&tmp.path().join("ws.new"), &[Segment::Tar { len: tar.len() as u64 }], &tar, &manifest, LIMITS);
    assert!(matches!(r, Err(workspace::SyncError::Refused(_))), "{r:?}");
    assert_eq!(tree_picture(&outside), before);
}
