//! Server-Sent Events of a streamed run, as text: the API's own form (`stdout`, `stderr`, `exit`,
//! `error` events with JSON data) and ERA's (`data: {"type": …}` lines ending with `done`).
//!
//! Output arrives in chunks cut anywhere, even inside a character: [`Utf8Chunks`] holds back an
//! incomplete character until the rest of it arrives, so every event carries whole characters.
use serde_json::{json, Value};

/// Which form a streamed answer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Form {
    /// `event: stdout` / `stderr` with `{"data": …}`, then `event: exit` with the run answer
    /// (or `event: error` with the API's error body).
    Api,
    /// ERA's `POST /api/sessions/{id}/stream`: `{"type": "stdout"|"stderr", "content": …}`, then
    /// `{"type": "done", …the run answer}` (or `{"type": "error", "error", "code"}`).
    Era,
}

/// Which output a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    Stdout,
    Stderr,
    /// An installer's output (it ends in the answer's logs).
    Log,
}

impl Out {
    fn name(self) -> &'static str {
        match self {
            Out::Stdout => "stdout",
            Out::Stderr => "stderr",
            Out::Log => "log",
        }
    }
}

fn event(name: Option<&str>, data: &Value) -> String {
    // JSON text holds no raw newline, so one `data:` line carries it.
    match name {
        Some(n) => format!("event: {n}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// An output chunk as an event.
pub fn output(form: Form, out: Out, text: &str) -> String {
    match form {
        Form::Api => event(Some(out.name()), &json!({ "data": text })),
        Form::Era => event(None, &json!({ "type": out.name(), "content": text })),
    }
}

/// The run's answer as the last event.
pub fn exit(form: Form, answer: &Value) -> String {
    match form {
        Form::Api => event(Some("exit"), answer),
        Form::Era => {
            let mut done = json!({ "type": "done" });
            if let (Some(d), Some(a)) = (done.as_object_mut(), answer.as_object()) {
                for (k, v) in a {
                    d.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            event(None, &done)
        }
    }
}

/// An error (the API's error body) as the last event.
pub fn error(form: Form, body: &Value) -> String {
    match form {
        Form::Api => event(Some("error"), body),
        Form::Era => {
            let mut e = json!({ "type": "error" });
            if let (Some(d), Some(b)) = (e.as_object_mut(), body.as_object()) {
                d.extend(b.clone());
            }
            event(None, &e)
        }
    }
}

/// A comment that keeps idle connections (and proxies) from giving up.
pub const KEEP_ALIVE: &str = ": keep-alive\n\n";

/// The first event of a stream: the run's id, so that a client whose connection drops can fetch
/// the answer later.
pub fn started(form: Form, run_id: &str) -> String {
    match form {
        Form::Api => event(Some("run"), &json!({ "run_id": run_id })),
        Form::Era => event(None, &json!({ "type": "start", "run_id": run_id })),
    }
}

/// Cuts a byte stream into whole UTF-8 text: an incomplete character at the end of a chunk waits
/// for the next; bytes that can never form a character become U+FFFD.
#[derive(Debug, Default)]
pub struct Utf8Chunks {
    pending: Vec<u8>,
}

impl Utf8Chunks {
    /// The text of `bytes` after what was held back, holding back an incomplete last character.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let cut = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        let rest = self.pending.split_off(cut);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        text
    }

    /// Whatever is still held back (an output that ended inside a character).
    pub fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }
}

/// The latest events of a stream kept for readers that come later, at most `cap` bytes of them:
/// whole events only, the oldest dropped first.
#[derive(Debug)]
pub struct Replay {
    events: std::collections::VecDeque<String>,
    bytes: usize,
    cap: usize,
}

impl Replay {
    pub fn new(cap: usize) -> Replay {
        Replay { events: std::collections::VecDeque::new(), bytes: 0, cap }
    }

    /// Keeps one whole event (an event over `cap` on its own is not kept, and empties the rest).
    pub fn keep(&mut self, event: &str) {
        self.events.push_back(event.to_string());
        self.bytes += event.len();
        while self.bytes > self.cap {
            let Some(old) = self.events.pop_front() else { break };
            self.bytes -= old.len();
        }
    }

    /// What a reader that comes now is given first, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(String::as_str)
    }
}

/// Reads Server-Sent Events from text as it arrives: `(event name, data)` of each complete event
/// (`message` when unnamed); comments are skipped.
#[derive(Debug, Default)]
pub struct Parser {
    buf: String,
}

impl Parser {
    pub fn push(&mut self, text: &str) -> Vec<(String, String)> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let block: String = self.buf.drain(..end + 2).collect();
            let mut name = "message".to_string();
            let mut data: Vec<&str> = Vec::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_string();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push(d.strip_prefix(' ').unwrap_or(d));
                }
            }
            if !data.is_empty() {
                out.push((name, data.join("\n")));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_of(ev: &str) -> Value {
        let line = ev.lines().find_map(|l| l.strip_prefix("data: ")).expect("a data line");
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn replay_keeps_the_latest_whole_events_within_its_cap() {
        let mut r = Replay::new(10);
        r.keep("aaaa");
        r.keep("bbbb");
        assert_eq!(r.events().collect::<Vec<_>>(), ["aaaa", "bbbb"]);
        r.keep("cccc");
        assert_eq!(r.events().collect::<Vec<_>>(), ["bbbb", "cccc"], "the oldest goes first");
        r.keep("x".repeat(11).as_str());
        assert_eq!(r.events().count(), 0, "an event over the cap is not kept in part");
        r.keep("dd");
        assert_eq!(r.events().collect::<Vec<_>>(), ["dd"]);
    }

    #[test]
    fn api_events_name_their_kind_and_carry_json() {
        let e = output(Form::Api, Out::Stderr, "line\nnext \"q\"");
        assert!(e.starts_with("event: stderr\ndata: ") && e.ends_with("\n\n"), "{e:?}");
        assert_eq!(e.matches('\n').count(), 3, "one data line, newlines escaped");
        assert_eq!(data_of(&e), json!({"data": "line\nnext \"q\""}));
        let x = exit(Form::Api, &json!({"exit_code": 0}));
        assert!(x.starts_with("event: exit\n"));
        assert_eq!(data_of(&x), json!({"exit_code": 0}));
        assert_eq!(data_of(&error(Form::Api, &json!({"error": "e", "code": "internal"})))["code"], "internal");
        assert_eq!(data_of(&started(Form::Api, "run_1")), json!({"run_id": "run_1"}));
    }

    #[test]
    fn era_events_are_typed_data_lines() {
        let e = output(Form::Era, Out::Stdout, "hi\n");
        assert!(e.starts_with("data: "));
        assert_eq!(data_of(&e), json!({"type": "stdout", "content": "hi\n"}));
        let d = data_of(&exit(Form::Era, &json!({"exit_code": 3, "stdout": "hi\n", "type": "x"})));
        assert_eq!(d["type"], "done", "the answer cannot overwrite the type");
        assert_eq!(d["exit_code"], 3);
        let err = data_of(&error(Form::Era, &json!({"error": "boom", "code": "sandbox_failed"})));
        assert_eq!(err, json!({"type": "error", "error": "boom", "code": "sandbox_failed"}));
    }

    #[test]
    fn chunks_are_cut_on_character_boundaries() {
        let text = "aé€😀z";
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let mut u = Utf8Chunks::default();
            let (a, b) = bytes.split_at(cut);
            let first = u.push(a);
            let second = u.push(b);
            assert_eq!(format!("{first}{second}{}", u.finish()), text, "cut at {cut}");
            assert!(text.starts_with(&first));
        }
        let mut u = Utf8Chunks::default();
        assert_eq!(u.push(&[0xff, b'a']), "\u{fffd}a", "invalid bytes are replaced, not held");
        assert_eq!(u.push(&[0xe2, 0x82]), "");
        assert_eq!(u.finish(), "\u{fffd}", "a stream that ends inside a character");
    }

    #[test]
    fn our_own_events_read_back_across_any_cut() {
        let text = format!(
            "{}{}{}{}",
            started(Form::Api, "run_1"),
            KEEP_ALIVE,
            output(Form::Api, Out::Stdout, "a\n"),
            exit(Form::Api, &json!({"x": 1}))
        );
        for cut in 0..text.len() {
            if !text.is_char_boundary(cut) {
                continue;
            }
            let mut p = Parser::default();
            let mut got = p.push(&text[..cut]);
            got.extend(p.push(&text[cut..]));
            let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["run", "stdout", "exit"], "cut at {cut}");
            assert_eq!(serde_json::from_str::<Value>(&got[1].1).unwrap(), json!({"data": "a\n"}));
        }
    }
}
