//! Answer shapes of the public API, built from executor results and stored rows.
use super::api::{JsonObject, Limit, PluginAnswer, RunResponse};
use edgerun_protocol::{go_duration, RunResult};

/// Appends a notice to stderr (setup failed, data kept, …).
pub fn with_notice(mut r: RunResult, notice: Option<&str>) -> RunResult {
    if let Some(n) = notice {
        if !r.stderr.is_empty() && !r.stderr.ends_with('\n') {
            r.stderr.push('\n');
        }
        r.stderr.push_str(n);
        r.stderr.push('\n');
    }
    r
}

/// The seed-compatible plugin answer.
pub fn plugin_answer(r: &RunResult, run_id: &str) -> PluginAnswer {
    let mut logs: Vec<String> = r.logs.clone();
    logs.extend(r.stderr.lines().map(str::to_string));
    let success = r.exit_code == 0 && r.killed_by.is_none();
    let error = (!success).then(|| {
        let why = match r.killed_by {
            Some(k) => format!("killed by the {} limit", Limit::from(k).as_str()),
            None if r.install_failed => "dependency install failed".to_string(),
            None => format!("exited with code {}", r.exit_code),
        };
        let detail = r.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        if detail.is_empty() {
            why
        } else {
            format!("{why}: {detail}")
        }
    });
    PluginAnswer {
        success,
        output: r.stdout.clone(),
        logs,
        exit_code: r.exit_code,
        signal: r.signal.clone(),
        timed_out: r.timed_out,
        killed_by: r.killed_by.map(Limit::from),
        truncated: r.truncated,
        duration_ms: r.duration_ms,
        cpu_ms: r.cpu_ms,
        peak_memory_bytes: r.peak_memory_bytes,
        error,
        run_id: run_id.to_string(),
        context: None,
        result: r.result.clone(),
        outputs: outputs(r),
        restored: r.restored,
        restore_error: r.restore_error.clone(),
        lost: r.lost.clone(),
    }
}

/// The ERA-compatible run answer; `session_id` is absent for one-shot runs.
pub fn run_answer(r: &RunResult, session_id: Option<&str>, data: &JsonObject, run_id: &str) -> RunResponse {
    let mut stderr = r.stderr.clone();
    if !r.logs.is_empty() && (r.install_failed || r.exit_code != 0) {
        stderr = format!("{}\n{}", r.logs.join("\n"), stderr);
    }
    RunResponse {
        exit_code: r.exit_code,
        signal: r.signal.clone(),
        killed_by: r.killed_by.map(Limit::from),
        stdout: r.stdout.clone(),
        stderr,
        timed_out: r.timed_out,
        duration: go_duration(r.duration_ms),
        duration_ms: r.duration_ms,
        cpu_ms: r.cpu_ms,
        peak_memory_bytes: r.peak_memory_bytes,
        data: data.clone(),
        truncated: r.truncated,
        session_id: session_id.map(String::from),
        run_id: run_id.to_string(),
        context: None,
        result: r.result.clone(),
        outputs: outputs(r),
        restored: r.restored,
        restore_error: r.restore_error.clone(),
        lost: r.lost.clone(),
    }
}

/// A context run's rich outputs, as the API shows them.
fn outputs(r: &RunResult) -> Vec<super::api::RichOutput> {
    r.outputs.iter().map(|o| super::api::RichOutput { mime: o.mime.clone(), data: o.data.clone() }).collect()
}

/// Cuts `text` into parts of at most `max` bytes, each ending on a character boundary (a run's
/// stored answer can be larger than one row holds).
pub fn split_text(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max.max(4));
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (part, tail) = rest.split_at(end);
        parts.push(part);
        rest = tail;
    }
    parts
}

/// Keeps the last `max` bytes of a log, on a character boundary.
pub fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

/// A content type guessed from a file name.
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "txt" | "md" | "log" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "csv" => "text/csv; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" | "cjs" => "text/javascript; charset=utf-8",
        "ts" | "py" | "go" | "sh" | "rs" | "toml" | "yaml" | "yml" => "text/plain; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "xml" => "application/xml",
        "xhtml" => "application/xhtml+xml",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgerun_protocol::KilledBy;
    use serde_json::{json, Value};

    fn result(exit: i32) -> RunResult {
        RunResult { exit_code: exit, stdout: "out\n".into(), stderr: "boom\n".into(), duration_ms: 15.31525, ..Default::default() }
    }

    #[test]
    fn plugin_answers_follow_the_seed() {
        let answer = |r: &RunResult| serde_json::to_value(plugin_answer(r, "run_1")).unwrap();
        let ok = answer(&RunResult { stderr: String::new(), ..result(0) });
        assert_eq!(ok["success"], true);
        assert_eq!(ok["output"], "out\n");
        assert_eq!(ok["logs"], json!([]));
        assert!(ok.get("error").is_none());
        let failed = answer(&result(2));
        assert_eq!(failed["success"], false);
        assert_eq!(failed["error"], "exited with code 2: boom");
        assert_eq!(failed["logs"], json!(["boom"]));
        let killed = answer(&RunResult { killed_by: Some(KilledBy::Timeout), timed_out: true, exit_code: 137, ..result(137) });
        assert_eq!(killed["killed_by"], "timeout");
        assert!(killed["error"].as_str().unwrap().starts_with("killed by the timeout limit"));
    }

    #[test]
    fn run_answers_follow_era() {
        let data = json!({"n": 1}).as_object().cloned().unwrap();
        let v = serde_json::to_value(run_answer(&result(0), Some("s1"), &data, "run_1")).unwrap();
        assert_eq!(v["duration"], "15.31525ms");
        assert_eq!(v["session_id"], "s1");
        assert_eq!(v["data"]["n"], 1);
        let one_shot: Value = serde_json::to_value(run_answer(&result(0), None, &JsonObject::new(), "run_1")).unwrap();
        assert!(one_shot.get("session_id").is_none());
    }

    #[test]
    fn tails_and_types() {
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("ééé", 3), "é");
        assert_eq!(content_type("a/b.CSV"), "text/csv; charset=utf-8");
        assert_eq!(content_type("noext"), "application/octet-stream");
        let text = "aé€😀".repeat(1000);
        for max in [4, 5, 7, 1000] {
            let parts = split_text(&text, max);
            assert!(parts.iter().all(|p| p.len() <= max.max(4) && !p.is_empty()), "{max}");
            assert_eq!(parts.concat(), text);
        }
        assert!(split_text("", 10).is_empty());
        let r = with_notice(result(0), Some("setup failed"));
        assert_eq!(r.stderr, "boom\nsetup failed\n");
    }
}
