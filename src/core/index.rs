//! The file index of a session: which pack (R2 object) and byte range holds each file's current
//! content. A delta from the executor becomes rows to upsert and paths to delete; a cold inject
//! reads the packs that still hold live content, oldest first.
use edgerun_protocol::{Delta, Entry, EntryKind, SANDBOX_DIR};
use std::collections::{BTreeMap, BTreeSet};

/// One row of the file index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileRow {
    pub entry: Entry,
    /// Key of the pack holding the content (files only; empty otherwise).
    pub pack: String,
    /// Offset of the content inside the pack.
    pub offset: u64,
}

/// R2 key of a run's delta pack, chosen by the Worker: the session's prefix, the sequence number,
/// the (checked, `core::answer::version_problem`) version and a nonce of 128 random bits, so
/// that a key cannot be guessed by whoever reaches the bucket without the Worker (wrangler's
/// local R2 public route serves any object by key).
pub fn pack_key(sid: &str, seq: i64, version: &str, nonce: &str) -> String {
    format!("packs/{sid}/{seq:010}-{version}-{nonce}")
}

/// R2 key of an uploaded file, stored as its raw bytes (the nonce: 128 random bits).
pub fn upload_key(sid: &str, seq: i64, nonce: &str) -> String {
    format!("packs/{sid}/{seq:010}-upload-{nonce}")
}

pub fn is_upload_key(key: &str) -> bool {
    key.rsplit('/').next().is_some_and(|name| name.contains("-upload-"))
}

/// Parent directories of a path, outermost first (`a/b/c` → `a`, `a/b`).
pub fn parents(path: &str) -> Vec<&str> {
    path.match_indices('/').map(|(i, _)| &path[..i]).collect()
}

/// Rows for every entry a delta carries, pointing into the pack stored under `pack_key`.
pub fn rows_from_delta(delta: &Delta, pack_key: &str) -> Vec<FileRow> {
    delta
        .entries
        .iter()
        .map(|pe| FileRow {
            entry: pe.entry.clone(),
            pack: if pe.entry.kind == EntryKind::File { pack_key.to_string() } else { String::new() },
            offset: pe.offset,
        })
        .collect()
}

/// Packs that hold live content, in the order they must be applied (their sequence numbers).
pub fn packs_to_read(rows: &[FileRow], pack_seq: &BTreeMap<String, i64>) -> Vec<String> {
    let live: BTreeSet<&str> = rows.iter().filter(|r| !r.pack.is_empty()).map(|r| r.pack.as_str()).collect();
    let mut keys: Vec<(&i64, &String)> = pack_seq.iter().filter(|(k, _)| live.contains(k.as_str())).map(|(k, s)| (s, k)).collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k.clone()).collect()
}

/// Whether a path is shown by the files API (`.sandbox/` is the runtime's).
pub fn is_listed(path: &str) -> bool {
    path != SANDBOX_DIR && !path.starts_with(".sandbox/")
}

/// Files the files API lists: regular files and symlinks outside `.sandbox/`, sorted by path.
pub fn listed_files(rows: &[FileRow]) -> Vec<&FileRow> {
    let mut v: Vec<&FileRow> = rows.iter().filter(|r| r.entry.kind != EntryKind::Dir && is_listed(&r.entry.path)).collect();
    v.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgerun_protocol::PackEntry;

    fn entry(path: &str, kind: EntryKind, size: u64) -> Entry {
        Entry { path: path.into(), kind, mode: 0o644, mtime_ns: 1, size, hash: format!("h{path}"), target: None }
    }

    #[test]
    fn deltas_become_rows_that_point_into_their_pack() {
        let d = Delta {
            base: None,
            version: "v1".into(),
            entries: vec![
                PackEntry { entry: entry("dir", EntryKind::Dir, 0), offset: 0 },
                PackEntry { entry: entry("dir/a", EntryKind::File, 3), offset: 1024 },
            ],
            deleted: vec!["old".into()],
            tar_len: 3072,
        };
        let rows = rows_from_delta(&d, "packs/s/1");
        assert_eq!(rows[0].pack, "");
        assert_eq!(rows[1].pack, "packs/s/1");
        assert_eq!(rows[1].offset, 1024);
        assert!(rows.iter().all(|r| r.entry.path != "old"), "deleted paths get no rows");
    }

    #[test]
    fn only_live_packs_are_read_oldest_first() {
        let rows = vec![
            FileRow { entry: entry("a", EntryKind::File, 1), pack: "p3".into(), offset: 0 },
            FileRow { entry: entry("b", EntryKind::File, 1), pack: "p1".into(), offset: 0 },
            FileRow { entry: entry("d", EntryKind::Dir, 0), pack: "".into(), offset: 0 },
        ];
        let seq: BTreeMap<String, i64> = [("p1".to_string(), 1), ("p2".to_string(), 2), ("p3".to_string(), 3)].into();
        assert_eq!(packs_to_read(&rows, &seq), vec!["p1".to_string(), "p3".to_string()]);
    }

    #[test]
    fn keys_and_parents() {
        assert!(is_upload_key(&upload_key("s", 3, "ab")));
        assert!(!is_upload_key(&pack_key("s", 3, "0123abcd", "ff00")));
        assert!(!is_upload_key(&pack_key("sess-upload-x", 3, "0123abcd", "ff00")), "a session id cannot fake an upload");
        assert!(pack_key("s", 3, "v", "n1-compact").ends_with("-compact"));
        assert_eq!(parents("a/b/c.txt"), vec!["a", "a/b"]);
        assert!(parents("c.txt").is_empty());
    }

    #[test]
    fn the_runtime_directory_is_never_listed() {
        let rows = vec![
            FileRow { entry: entry("z.txt", EntryKind::File, 1), pack: "p".into(), offset: 0 },
            FileRow { entry: entry(".sandbox/go/bin/x", EntryKind::File, 1), pack: "p".into(), offset: 0 },
            FileRow { entry: entry("a.txt", EntryKind::File, 1), pack: "p".into(), offset: 0 },
            FileRow { entry: entry("dir", EntryKind::Dir, 0), pack: "".into(), offset: 0 },
        ];
        let listed: Vec<&str> = listed_files(&rows).iter().map(|r| r.entry.path.as_str()).collect();
        assert_eq!(listed, vec!["a.txt", "z.txt"]);
    }
}
