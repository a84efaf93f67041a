//! Workspace sync: random trees round-trip through extract → pack → inject exactly as the
//! Worker drives it (deltas stored as packs, a cold inject from the live packs), hostile
//! archives are refused with the workspace untouched, and an interrupted inject rolls back.
mod common;
use common::file_entry;
use edgerun_executor::workspace::{self, Dirs, InjectLimits, Manifest};
use edgerun_protocol::{Entry, EntryKind, Segment};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

const LIMITS: InjectLimits = InjectLimits { max_file_bytes: 64 << 20, max_total_bytes: 1 << 30, max_entries: 100_000 };

/// What the Worker keeps: the index (path → entry, pack) and the packs.
#[derive(Default)]
struct Remote {
    index: BTreeMap<String, (Entry, usize)>,
    packs: Vec<Vec<u8>>,
    version: Option<String>,
}

impl Remote {
    fn commit(&mut self, ws: &Path, base: Option<&Manifest>) -> Manifest {
        let m = workspace::scan(ws, base).unwrap();
        let (delta, tar) = workspace::build_delta(ws, base, &m).unwrap();
        self.packs.push(tar);
        let pack = self.packs.len() - 1;
        for d in &delta.deleted {
            self.index.remove(d);
        }
        for pe in delta.entries {
            // the recorded offset must point at the file's bytes in the pack
            if pe.entry.kind == EntryKind::File {
                let bytes = &self.packs[pack][pe.offset as usize..(pe.offset + pe.entry.size) as usize];
                assert_eq!(blake3::hash(bytes).to_hex().to_string(), pe.entry.hash, "index range of {}", pe.entry.path);
            }
            self.index.insert(pe.entry.path.clone(), (pe.entry, pack));
        }
        self.version = Some(delta.version);
        m
    }

    fn restore(&self, session_root: &Path) -> Dirs {
        let dirs = Dirs::new(session_root);
        let mut live: Vec<usize> = self.index.values().filter(|(e, _)| e.kind == EntryKind::File).map(|(_, p)| *p).collect();
        live.sort();
        live.dedup();
        let mut body = Vec::new();
        let mut segments = Vec::new();
        for p in live {
            segments.push(Segment::Tar { len: self.packs[p].len() as u64 });
            body.extend_from_slice(&self.packs[p]);
        }
        let manifest: Vec<Entry> = self.index.values().map(|(e, _)| e.clone()).collect();
        workspace::recover(&dirs).unwrap();
        workspace::apply_full(&dirs.staging, &segments, &body, &manifest, LIMITS).unwrap();
        workspace::swap_in(&dirs).unwrap();
        dirs
    }
}

/// A comparable picture of a tree: kind, mode, mtime, content or link target per path.
type Picture = BTreeMap<String, (EntryKind, u32, i64, Vec<u8>)>;

fn picture(root: &Path) -> Picture {
    let m = workspace::scan(root, None).unwrap();
    m.entries
        .into_values()
        .map(|e| {
            let content = match e.kind {
                EntryKind::File => fs::read(root.join(&e.path)).unwrap(),
                EntryKind::Symlink => e.target.clone().unwrap().into_bytes(),
                EntryKind::Dir => Vec::new(),
            };
            (e.path, (e.kind, e.mode, e.mtime_ns, content))
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    Write { dir: usize, name: usize, size: usize, exec: bool },
    Mkdir { dir: usize, name: usize },
    Link { dir: usize, name: usize, to: usize },
    Delete { pick: usize },
}

const NAMES: &[&str] = &[
    "a.txt",
    "b",
    "ünïcødé.md",
    "data",
    "x y",
    "a-long-name-over-one-hundred-bytes-so-that-tar-needs-its-gnu-extension-for-it-to-fit-0123456789-abcdefghij",
    "node_modules",
    ".hidden",
    "z",
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..6usize, 0..NAMES.len(), prop_oneof![Just(0usize), 1..3000usize, Just(1_100_000usize)], any::<bool>())
            .prop_map(|(dir, name, size, exec)| Op::Write { dir, name, size, exec }),
        2 => (0..6usize, 0..NAMES.len()).prop_map(|(dir, name)| Op::Mkdir { dir, name }),
        1 => (0..6usize, 0..NAMES.len(), 0..50usize).prop_map(|(dir, name, to)| Op::Link { dir, name, to }),
        2 => (0..50usize).prop_map(|pick| Op::Delete { pick }),
    ]
}

fn dirs_of(ws: &Path) -> Vec<std::path::PathBuf> {
    let mut v = vec![ws.to_path_buf()];
    let m = workspace::scan(ws, None).unwrap();
    v.extend(m.entries.values().filter(|e| e.kind == EntryKind::Dir).map(|e| ws.join(&e.path)));
    v
}

fn apply(ws: &Path, op: &Op, salt: u8) {
    let dirs = dirs_of(ws);
    let all: Vec<String> = workspace::scan(ws, None).unwrap().entries.into_keys().collect();
    match *op {
        Op::Write { dir, name, size, exec } => {
            let p = dirs[dir % dirs.len()].join(NAMES[name]);
            if p.is_dir() || p.is_symlink() {
                return;
            }
            let content: Vec<u8> = (0..size).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)).collect();
            fs::write(&p, content).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(if exec { 0o755 } else { 0o644 })).unwrap();
        }
        Op::Mkdir { dir, name } => {
            let p = dirs[dir % dirs.len()].join(NAMES[name]);
            if !p.exists() && !p.is_symlink() {
                fs::create_dir(&p).unwrap();
            }
        }
        Op::Link { dir, name, to } => {
            let d = &dirs[dir % dirs.len()];
            let p = d.join(NAMES[name]);
            if all.is_empty() || p.exists() || p.is_symlink() {
                return;
            }
            let target = &all[to % all.len()];
            let depth = d.strip_prefix(ws).unwrap().components().count();
            let rel = format!("{}{}", "../".repeat(depth), target);
            std::os::unix::fs::symlink(rel, &p).unwrap();
        }
        Op::Delete { pick } => {
            if all.is_empty() {
                return;
            }
            let p = ws.join(&all[pick % all.len()]);
            if p.is_symlink() || p.is_file() {
                fs::remove_file(&p).unwrap();
            } else if p.is_dir() {
                fs::remove_dir_all(&p).unwrap();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn chains_of_deltas_restore_identically(rounds in prop::collection::vec(prop::collection::vec(op(), 1..8), 1..5)) {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path().join("source");
        fs::create_dir(&ws).unwrap();
        let mut remote = Remote::default();
        let mut base: Option<Manifest> = None;
        for (i, ops) in rounds.iter().enumerate() {
            for op in ops {
                apply(&ws, op, i as u8);
            }
            base = Some(remote.commit(&ws, base.as_ref()));
            let restored = remote.restore(&tmp.path().join(format!("copy{i}")));
            prop_assert_eq!(picture(&ws), picture(&restored.ws));
        }
    }
}

#[test]
fn an_unchanged_tree_yields_an_empty_delta() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..50 {
        fs::write(tmp.path().join(format!("f{i}")), format!("{i}")).unwrap();
    }
    let m1 = workspace::scan(tmp.path(), None).unwrap();
    let m2 = workspace::scan(tmp.path(), Some(&m1)).unwrap();
    let (delta, tar) = workspace::build_delta(tmp.path(), Some(&m1), &m2).unwrap();
    assert!(delta.is_empty());
    assert!(tar.is_empty());
    assert_eq!(m1.version, m2.version);
}

#[test]
fn a_same_size_rewrite_within_one_mtime_tick_is_seen() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("f");
    fs::write(&p, "aaaa").unwrap();
    let t = fs::metadata(&p).unwrap().modified().unwrap();
    let m1 = workspace::scan(tmp.path(), None).unwrap();
    fs::write(&p, "bbbb").unwrap();
    fs::File::options().write(true).open(&p).unwrap().set_modified(t).unwrap();
    let m2 = workspace::scan(tmp.path(), Some(&m1)).unwrap();
    assert_eq!(m1.entries["f"].mtime_ns, m2.entries["f"].mtime_ns, "same size, same mtime");
    assert_ne!(m1.entries["f"].hash, m2.entries["f"].hash, "the rewrite must still be detected");
    let (delta, _) = workspace::build_delta(tmp.path(), Some(&m1), &m2).unwrap();
    assert_eq!(delta.entries.len(), 1);
}

#[test]
fn old_files_are_trusted_by_size_and_mtime() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("old");
    fs::write(&p, "content").unwrap();
    fs::File::options().write(true).open(&p).unwrap().set_modified(UNIX_EPOCH + Duration::from_secs(1_000_000)).unwrap();
    let mut m1 = workspace::scan(tmp.path(), None).unwrap();
    // Poison the recorded hash: a trusted file is not read again, so the poison survives.
    m1.entries.get_mut("old").unwrap().hash = "recorded".into();
    let m2 = workspace::scan(tmp.path(), Some(&m1)).unwrap();
    assert_eq!(m2.entries["old"].hash, "recorded");
}

fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    b.into_inner().unwrap()
}

/// A session directory whose workspace holds one file, and the picture of that workspace.
fn workspace_holding(name: &str, content: &str) -> (tempfile::TempDir, Dirs, Picture) {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = Dirs::new(&tmp.path().join("s"));
    fs::create_dir_all(&dirs.ws).unwrap();
    fs::write(dirs.ws.join(name), content).unwrap();
    let before = picture(&dirs.ws);
    (tmp, dirs, before)
}

#[test]
fn hostile_archives_are_refused_and_the_workspace_is_untouched() {
    let (tmp, dirs, before) = workspace_holding("keep.txt", "precious");

    let raw_header = |path: &[u8], kind: u8, link: &[u8], size: u64| {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..path.len()].copy_from_slice(path);
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_cksum();
        h
    };
    let cases: Vec<(&str, Vec<u8>, Vec<Entry>)> = vec![
        (
            "dot-dot path",
            tar_with(|b| {
                b.append(&raw_header(b"../evil", b'0', b"", 1), &b"x"[..]).unwrap();
            }),
            vec![],
        ),
        (
            "absolute path",
            tar_with(|b| {
                b.append(&raw_header(b"/tmp/evil", b'0', b"", 1), &b"x"[..]).unwrap();
            }),
            vec![],
        ),
        (
            "hard link",
            tar_with(|b| {
                b.append(&raw_header(b"h", b'1', b"/etc/passwd", 0), &b""[..]).unwrap();
            }),
            vec![],
        ),
        (
            "device",
            tar_with(|b| {
                b.append(&raw_header(b"dev", b'3', b"", 0), &b""[..]).unwrap();
            }),
            vec![],
        ),
        (
            "fifo",
            tar_with(|b| {
                b.append(&raw_header(b"fifo", b'6', b"", 0), &b""[..]).unwrap();
            }),
            vec![],
        ),
        (
            "escaping symlink in the manifest",
            Vec::new(),
            vec![Entry {
                path: "l".into(),
                kind: EntryKind::Symlink,
                mode: 0o777,
                mtime_ns: 1,
                size: 0,
                hash: String::new(),
                target: Some("../../etc".into()),
            }],
        ),
        ("file missing from the packs", Vec::new(), vec![file_entry("ghost", b"boo")]),
        (
            "content not matching its hash",
            tar_with(|b| {
                let mut h = tar::Header::new_gnu();
                h.set_size(3);
                h.set_mode(0o644);
                h.set_cksum();
                b.append_data(&mut h, "f", &b"bad"[..]).unwrap();
            }),
            vec![file_entry("f", b"good")],
        ),
    ];
    for (what, tar, manifest) in cases {
        let segments = if tar.is_empty() { vec![] } else { vec![Segment::Tar { len: tar.len() as u64 }] };
        let r = workspace::apply_full(&dirs.staging, &segments, &tar, &manifest, LIMITS);
        assert!(matches!(r, Err(workspace::SyncError::Refused(_))), "{what}: {r:?}");
        fs::remove_dir_all(&dirs.staging).ok();
        assert_eq!(picture(&dirs.ws), before, "{what} touched the workspace");
        assert!(!tmp.path().join("evil").exists() && !Path::new("/tmp/evil").exists());
    }
    let big = tar_with(|b| {
        let mut h = tar::Header::new_gnu();
        h.set_size(10);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "big", &[0u8; 10][..]).unwrap();
    });
    let tiny = InjectLimits { max_file_bytes: 5, ..LIMITS };
    let r = workspace::apply_full(&dirs.staging, &[Segment::Tar { len: big.len() as u64 }], &big, &[file_entry("big", &[0u8; 10])], tiny);
    assert!(matches!(r, Err(workspace::SyncError::Refused(_))), "oversize entry: {r:?}");
}

#[test]
fn an_inject_interrupted_half_way_rolls_back_to_the_previous_version() {
    let (_tmp, dirs, before) = workspace_holding("v1.txt", "version one");
    // Crash after staging was half written.
    fs::create_dir_all(&dirs.staging).unwrap();
    fs::write(dirs.staging.join("partial"), "half").unwrap();
    workspace::recover(&dirs).unwrap();
    assert_eq!(picture(&dirs.ws), before);
    assert!(!dirs.staging.exists());
    // Crash between the two renames of the swap: the workspace was moved aside.
    fs::create_dir_all(&dirs.staging).unwrap();
    fs::rename(&dirs.ws, &dirs.old).unwrap();
    workspace::recover(&dirs).unwrap();
    assert_eq!(picture(&dirs.ws), before);
    assert!(!dirs.old.exists() && !dirs.staging.exists());
}

#[test]
fn small_applies_write_whole_files_and_refuse_bad_content() {
    let tmp = tempfile::tempdir().unwrap();
    let (ws, stage) = (&tmp.path().join("ws"), &tmp.path().join("stage"));
    fs::create_dir(ws).unwrap();
    fs::create_dir(stage).unwrap();
    fs::write(ws.join("keep.txt"), "keep").unwrap();
    fs::write(ws.join("gone.txt"), "gone").unwrap();
    let mut e = file_entry("a/b/new.txt", b"hello");
    e.mode = 0o755;
    e.mtime_ns = 1_500_000_000_000_000_000;
    workspace::apply_small(ws, stage, &[e.clone()], b"hello", &["gone.txt".to_string()]).unwrap();
    assert_eq!(fs::read(ws.join("a/b/new.txt")).unwrap(), b"hello");
    let md = fs::metadata(ws.join("a/b/new.txt")).unwrap();
    assert_eq!(md.permissions().mode() & 0o777, 0o755);
    assert_eq!(md.modified().unwrap(), UNIX_EPOCH + Duration::from_nanos(1_500_000_000_000_000_000));
    assert!(!ws.join("gone.txt").exists());
    assert!(ws.join("keep.txt").exists());
    let before = picture(ws);
    for (what, entries, body, delete) in [
        ("hash mismatch", vec![file_entry("x.txt", b"good")], b"bad!".to_vec(), vec![]),
        ("size mismatch", vec![file_entry("x.txt", b"good")], b"go".to_vec(), vec![]),
        ("escaping path", vec![file_entry("../x.txt", b"good")], b"good".to_vec(), vec![]),
        ("escaping delete", vec![], vec![], vec!["../keep.txt".to_string()]),
    ] {
        let r = workspace::apply_small(ws, stage, &entries, &body, &delete);
        assert!(matches!(r, Err(workspace::SyncError::Refused(_))), "{what}: {r:?}");
        assert_eq!(picture(ws), before, "{what} changed the workspace");
    }
}

fn dir_entry(path: &str) -> Entry {
    Entry { path: path.into(), kind: EntryKind::Dir, mode: 0o755, mtime_ns: 1_000_000_000, size: 0, hash: String::new(), target: None }
}

#[test]
fn entries_the_filesystem_cannot_hold_are_skipped_and_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = Dirs::new(tmp.path());
    let staging = &dirs.staging;
    // A name over 255 bytes; a directory whose name is, with a file inside; a path of names of
    // 200 bytes each that only with the staging directory's location reaches PATH_MAX.
    let long = "n".repeat(300);
    let long_dir = "d".repeat(256);
    let seg = "p".repeat(200);
    let deep_dirs: Vec<String> = (1..=20).map(|i| vec![seg.as_str(); i].join("/")).collect();
    let deep_file = format!("{}/{}", deep_dirs.last().unwrap(), "f".repeat(70));
    assert!(deep_file.len() < workspace::MAX_PATH_BYTES, "the API takes the path");
    assert!(staging.as_os_str().len() + 1 + deep_file.len() >= workspace::PATH_MAX_BYTES, "only the prefix makes it too long");
    let mut manifest = vec![
        file_entry("ok.txt", b"fine"),
        file_entry(&long, b"fine"),
        dir_entry(&long_dir),
        file_entry(&format!("{long_dir}/in.txt"), b"fine"),
    ];
    manifest.extend(deep_dirs.iter().map(|d| dir_entry(d)));
    manifest.push(file_entry(&deep_file, b"fine"));
    let files: Vec<&Entry> = manifest.iter().filter(|e| e.kind == EntryKind::File).collect();
    let segments: Vec<Segment> = files.iter().map(|e| Segment::Raw { path: e.path.clone(), len: 4 }).collect();
    let body = b"fine".repeat(files.len());
    let skipped = workspace::apply_full(staging, &segments, &body, &manifest, LIMITS).unwrap();
    let names: Vec<&str> = skipped.entries.iter().map(|(e, _)| e.path.as_str()).collect();
    assert!(names.contains(&long.as_str()) && names.contains(&long_dir.as_str()) && names.contains(&deep_file.as_str()), "{names:?}");
    assert!(names.contains(&format!("{long_dir}/in.txt").as_str()), "what is inside a skipped directory is skipped: {names:?}");
    let why = |p: &str| skipped.entries.iter().find(|(e, _)| e.path == p).unwrap().1.clone();
    assert!(why(&long).contains("a name of 300 bytes"), "{}", why(&long));
    assert!(why(&deep_file).contains("the system takes paths of at most 4095 bytes"), "{}", why(&deep_file));
    let note = skipped.note().unwrap();
    assert!(note.contains("cannot be placed in the workspace and were skipped"), "{note}");
    assert!(!note.contains(&long), "long names are shortened in the note: {note}");
    // Everything else is there; what could not be placed is not.
    assert_eq!(fs::read(staging.join("ok.txt")).unwrap(), b"fine");
    assert!(staging.join(&deep_dirs[0]).is_dir());
    workspace::swap_in(&dirs).unwrap();
    let m = workspace::scan(&dirs.ws, None).unwrap();
    assert!(m.entries.contains_key("ok.txt"));
    assert!(!m.entries.contains_key(&long));

    // An apply of such entries writes the others and names these.
    let stage = tmp.path().join("stage");
    fs::create_dir(&stage).unwrap();
    let put = [file_entry(&"m".repeat(256), b"xx"), file_entry("new.txt", b"yy")];
    let skipped = workspace::apply_small(&dirs.ws, &stage, &put, b"xxyy", std::slice::from_ref(&long)).unwrap();
    assert_eq!(skipped.entries.len(), 1, "{skipped:?}");
    assert_eq!(skipped.entries[0].0.path, "m".repeat(256));
    assert_eq!(fs::read(dirs.ws.join("new.txt")).unwrap(), b"yy");
}

/// Through the executor, the work root does not count toward the path limit (injects, scans and
/// deltas work from inside the tree): a path of 4090 bytes is placed, seen by the run and kept;
/// a name over 255 bytes is skipped, named in every run's stderr, and neither deleted nor carried
/// by the run's delta.
#[tokio::test]
async fn the_executor_places_paths_up_to_the_limit_below_the_workspace_and_skips_what_cannot_be() {
    use edgerun_protocol::{InjectRequest, Language};
    let f = common::fixture();
    let seg = "p".repeat(200);
    let dirs: Vec<String> = (1..=20).map(|i| vec![seg.as_str(); i].join("/")).collect();
    let deep = format!("{}/{}", dirs.last().unwrap(), "f".repeat(4090 - 20 * 201));
    assert_eq!(deep.len(), 4090);
    let long = "n".repeat(300);
    let mut manifest = vec![file_entry("ok.txt", b"fine"), file_entry(&long, b"fine")];
    manifest.extend(dirs.iter().map(|d| dir_entry(d)));
    manifest.push(file_entry(&deep, b"fine"));
    let files: Vec<&Entry> = manifest.iter().filter(|e| e.kind == EntryKind::File).collect();
    let segments: Vec<Segment> = files.iter().map(|e| Segment::Raw { path: e.path.clone(), len: 4 }).collect();
    let body = b"fine".repeat(files.len());
    let sid = "deep-paths";
    let req = InjectRequest { version: "v1".into(), manifest: manifest.clone(), segments };
    f.sessions.inject(sid, req, Box::new(std::io::Cursor::new(body))).await.expect("inject");
    for _ in 0..2 {
        let expect = f.sessions.version(sid).await;
        let run = edgerun_protocol::RunRequest {
            language: Some(Language::Python),
            code: "import os\nprint(len(os.listdir('.')), open('ok.txt').read())".into(),
            timeout_secs: 30,
            expect_version: expect,
            ..Default::default()
        };
        let (answer, _tar) = f.sessions.run(sid, run).await.expect("run");
        assert_eq!(answer.result.stdout, "2 fine\n", "{:?}", answer.result);
        assert!(answer.result.stderr.contains("1 of the session's stored entries cannot be placed"), "{}", answer.result.stderr);
        assert!(answer.result.stderr.contains("a name of 300 bytes"), "{}", answer.result.stderr);
        assert!(answer.delta.deleted.is_empty() && answer.delta.entries.is_empty(), "nothing changed: {:?}", answer.delta);
    }
    let ws = f.dir.path().join(sid).join("ws");
    let m = workspace::scan(&ws, None).unwrap_or_default();
    assert!(!m.entries.contains_key(&long));
    // The deep file is there (read from inside the workspace: its full path is over PATH_MAX).
    let here = std::env::current_dir().unwrap();
    let read = std::thread::spawn(move || {
        // SAFETY: unshare(CLONE_FS) gives this test thread its own current directory only.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_FS) }, 0);
        std::env::set_current_dir(&ws).unwrap();
        fs::read(&deep).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(read, b"fine");
    assert_eq!(std::env::current_dir().unwrap(), here);
}

#[test]
fn a_path_written_by_several_packs_ends_with_the_newest_copy() {
    // The apply writes small files from several threads and large ones itself: whatever the
    // mix, a newer pack's copy of a path must land after an older one's.
    let tmp = tempfile::tempdir().unwrap();
    let staging = tmp.path().join("ws.new");
    let copies: Vec<Vec<u8>> = vec![b"old".to_vec(), vec![7u8; 300 * 1024], b"middle".to_vec(), vec![9u8; 1000], b"newest".to_vec()];
    let mut segments = Vec::new();
    let mut body = Vec::new();
    for (i, content) in copies.iter().enumerate() {
        let tar = tar_with(|b| {
            // Other files in each pack, so the writers have work queued around the path.
            for j in 0..40 {
                let filler = format!("pack {i} file {j}");
                let mut h = tar::Header::new_gnu();
                h.set_size(filler.len() as u64);
                h.set_mode(0o644);
                b.append_data(&mut h, format!("d/p{i}-{j}.txt"), filler.as_bytes()).unwrap();
            }
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, "d/f.bin", content.as_slice()).unwrap();
        });
        segments.push(Segment::Tar { len: tar.len() as u64 });
        body.extend_from_slice(&tar);
    }
    let mut manifest = vec![dir_entry("d"), file_entry("d/f.bin", copies.last().unwrap())];
    for i in 0..copies.len() {
        for j in 0..40 {
            manifest.push(file_entry(&format!("d/p{i}-{j}.txt"), format!("pack {i} file {j}").as_bytes()));
        }
    }
    manifest.sort_by(|a, b| a.path.cmp(&b.path));
    workspace::apply_full(&staging, &segments, &body, &manifest, LIMITS).unwrap();
    assert_eq!(fs::read(staging.join("d/f.bin")).unwrap(), b"newest");
    assert_eq!(fs::read_to_string(staging.join("d/p3-17.txt")).unwrap(), "pack 3 file 17");
    // A manifest naming an older copy is refused: what was written is checked, not assumed.
    let mut stale = manifest.clone();
    let at = stale.iter().position(|e| e.path == "d/f.bin").unwrap();
    stale[at] = file_entry("d/f.bin", &copies[1]);
    let r = workspace::apply_full(&tmp.path().join("other"), &segments, &body, &stale, LIMITS);
    assert!(r.is_err(), "a manifest that does not match the newest copy must be refused");
}
