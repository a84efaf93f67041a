//! Session ids and workspace paths as the public API accepts them.
use super::error::{ApiError, ApiResult};
use edgerun_protocol::{DATA_FILE, SANDBOX_DIR};

/// `[A-Za-z0-9_-]{1,64}`.
pub fn check_session_id(id: &str) -> ApiResult<()> {
    let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(format!("invalid session id {:?}: use 1 to 64 of A-Z a-z 0-9 _ -", truncate(id, 80))))
    }
}

/// A generated id: `sess_` and 128 random bits in hex.
pub fn session_id_from_bytes(bytes: [u8; 16]) -> String {
    let mut s = String::from("sess_");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Why a workspace-relative path is malformed, if it is: empty, over 4096 bytes, absolute, NUL
/// or backslash, an empty, `.` or `..` segment, a segment over 255 bytes (no Linux filesystem
/// holds such a name). Shared by the files API and the checks of the executor's answers
/// (`core::answer`).
pub fn rel_path_problem(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        return Some("empty");
    }
    if p.len() > MAX_PATH_BYTES {
        return Some("longer than 4096 bytes");
    }
    if p.starts_with('/') {
        return Some("absolute");
    }
    if p.contains('\0') || p.contains('\\') {
        return Some("NUL or backslash");
    }
    if p.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Some("empty, '.' or '..' segment");
    }
    if p.split('/').any(|s| s.len() > MAX_NAME_BYTES) {
        return Some("a name (path segment) longer than 255 bytes");
    }
    None
}

/// Longest workspace path.
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest name of one file or directory (Linux's `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;
/// Longest path the files API stores: the sandbox holds the workspace under a directory of its
/// own, and the whole must stay within Linux's `PATH_MAX` (4096), so a stored file can always be
/// written out.
pub const MAX_STORED_PATH_BYTES: usize = 3072;

/// A workspace path from the files API: relative, `/`-separated, no empty/`.`/`..` segments, no
/// NUL or backslash, not the data file, not under `.sandbox/`.
pub fn check_file_path(p: &str) -> ApiResult<()> {
    let bad = |why: &str| Err(ApiError::bad(format!("invalid file path {:?}: {why}", truncate(p, 200))));
    if let Some(why) = rel_path_problem(p) {
        return bad(why);
    }
    if p.len() > MAX_STORED_PATH_BYTES {
        return bad("longer than 3072 bytes");
    }
    if p == DATA_FILE {
        return bad("the session data file is managed through `data`");
    }
    if p == SANDBOX_DIR || p.starts_with(&format!("{SANDBOX_DIR}/")) {
        return bad(".sandbox/ belongs to the runtime");
    }
    Ok(())
}

/// The first `n` characters of `s`.
pub fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids() {
        assert!(check_session_id("demo").is_ok());
        assert!(check_session_id("A_b-9").is_ok());
        for bad in ["", "a/b", "a b", "é", &"x".repeat(65)] {
            assert_eq!(check_session_id(bad).unwrap_err().status(), 400, "{bad}");
        }
        let id = session_id_from_bytes([0xab; 16]);
        assert_eq!(id.len(), 5 + 32);
        assert!(check_session_id(&id).is_ok());
    }

    #[test]
    fn file_paths() {
        for ok in ["a.txt", "data/a.txt", "node_modules/x/index.js", "ü/ñ.txt", ".hidden"] {
            assert!(check_file_path(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\\b", "a\0b", ".session_data.json", ".sandbox", ".sandbox/x"] {
            assert!(check_file_path(bad).is_err(), "{bad:?}");
        }
        assert!(check_file_path("x/.sandbox/y").is_ok());
        // Names a filesystem cannot hold are refused before anything is stored.
        assert!(check_file_path(&"n".repeat(255)).is_ok());
        assert_eq!(check_file_path(&"n".repeat(256)).unwrap_err().status(), 400);
        assert!(check_file_path(&format!("a/{}/b", "é".repeat(128))).is_err(), "255 is counted in bytes, not characters");
        let deep = vec!["d".repeat(200); 16].join("/");
        assert!(deep.len() > MAX_STORED_PATH_BYTES && check_file_path(&deep).is_err());
        assert!(check_file_path(&vec!["d".repeat(200); 15].join("/")).is_ok());
    }
}
