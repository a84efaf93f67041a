//! Live interpreter contexts: one long-lived Python or Node process per (session, context id),
//! started in the sandbox like a run's process ([`sandbox::spawn_resident`]: the session's uid,
//! groups of its own, private mounts, the session's network namespace without internet, the
//! run limits) and driven by a runtime-owned driver script (`lang/python_context.py`,
//! `lang/node_context.js`) passed with `-c`/`-e`, so that it is on no import path.
//!
//! # The protocol
//!
//! Frames are a `u32` big-endian length and that much JSON. The executor writes requests to the
//! interpreter's standard input (`{"op": "run", "n", "code", "env", "stdin", "nonce"}`); the
//! driver answers on its descriptor 3, a pipe of its own (`{"ready": true}` once at start, then
//! one reply per run: `{"exit_code", "result"?, "outputs", "interrupted"?}`). The user's output
//! is the process's real stdout and stderr, read by two pumps for the whole life of the
//! context: they hand a run's chunks to that run's sink (its answer, and the stream of a
//! streamed run) up to the output cap, and drop what comes between runs. After a run the driver
//! writes the run's end marker (`\x1e<nonce>\x1e`, the nonce random per run) on both streams
//! before it replies, so the executor knows when it has all the run's output, child processes'
//! included, without a second channel per stream.
//!
//! Replies come from the same process as the user's code, so they are exactly as trustworthy as
//! that code: they shape only that run's answer, are size-bounded, and a malformed one ends the
//! context. Timeouts and cancels interrupt first (SIGINT: the driver raises `KeyboardInterrupt`
//! or breaks the script, and the context survives) and kill the interpreter when it has not
//! answered 0.5 s later; the next run then starts a fresh one.
use crate::sandbox::{self, Resident, Spawn};
use edgerun_protocol::{KilledBy, Language, RichOutput, RunResult};
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Notify};

/// The Python driver, passed with `python -P -c`.
pub const PYTHON_DRIVER: &str = include_str!("lang/python_context.py");
/// The Node driver, passed with `node -e`.
pub const NODE_DRIVER: &str = include_str!("lang/node_context.js");

/// Largest reply frame (a run's figures travel in it as base64).
const MAX_REPLY_BYTES: usize = 64 << 20;
/// How long an interrupted run has to answer before its interpreter is killed.
const INTERRUPT_GRACE: Duration = Duration::from_millis(500);
/// How long a new interpreter has to say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest checkpoint written: `EDGERUN_CHECKPOINT_MB` (default 64 MiB); a larger state is not
/// checkpointed and the previous checkpoint stays. It counts toward the workspace limit.
pub fn checkpoint_max() -> u64 {
    std::env::var("EDGERUN_CHECKPOINT_MB").ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(64) << 20
}

/// A context without a run for this long is stopped.
pub const IDLE_STOP: Duration = Duration::from_secs(600);

/// What the interpreter process of a context is started with (the caller builds it as it
/// builds a run's first step: environment, limits, identity, mounts, namespace).
pub struct Start {
    /// The spawn of the interpreter with its driver.
    pub spawn: Spawn,
    /// Whether it runs without internet (in the session's network namespace): a run with the
    /// other setting restarts the context.
    pub offline: bool,
}

/// One run in a context.
pub struct ContextRun<'a> {
    /// The code.
    pub code: &'a str,
    /// Variables set for this run only.
    pub env: &'a std::collections::BTreeMap<String, String>,
    /// The run's standard input (Python: `sys.stdin`).
    pub stdin: &'a str,
    /// When the run times out.
    pub deadline: tokio::time::Instant,
    /// Where output goes as it comes, besides the answer.
    pub tee: Option<sandbox::Chunks>,
    /// Notified by `POST …/cancel`.
    pub cancel: Arc<Notify>,
    /// The output cap per stream.
    pub output_bytes: usize,
    /// Where the context's state is checkpointed after the run and restored from when a new
    /// interpreter starts (workspace-relative).
    pub checkpoint: Option<String>,
    /// Largest checkpoint written.
    pub checkpoint_max: u64,
}

/// The checkpoint part of a run's reply.
#[derive(serde::Deserialize, Default)]
struct CheckpointReply {
    written: bool,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    largest: Vec<(String, u64)>,
    #[serde(default)]
    lost: Vec<String>,
}

/// The reply to a restore.
#[derive(serde::Deserialize, Default)]
struct RestoreReply {
    restored: Option<bool>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    lost: Vec<String>,
}

/// The executor's live contexts, keyed by (session id, context id).
#[derive(Default)]
pub struct Contexts {
    live: Mutex<HashMap<(String, String), Live>>,
}

/// One live interpreter.
struct Live {
    resident: Resident,
    requests: tokio::process::ChildStdin,
    replies: mpsc::UnboundedReceiver<Vec<u8>>,
    capture: Arc<Mutex<Capture>>,
    marked: Arc<Notify>,
    language: Language,
    offline: bool,
    runs: u64,
    last_used: Instant,
}

/// The run whose output the pumps hand on, if one is under way.
#[derive(Default)]
struct Capture {
    active: Option<Active>,
}

struct Active {
    marker: Vec<u8>,
    cap: usize,
    out: [Vec<u8>; 2],
    /// Bytes held back because they may be the start of the marker.
    carry: [Vec<u8>; 2],
    done: [bool; 2],
    over: bool,
    tee: Option<sandbox::Chunks>,
}

impl Active {
    fn push(&mut self, i: usize, bytes: &[u8]) {
        if self.done[i] {
            return;
        }
        let mut buf = std::mem::take(&mut self.carry[i]);
        buf.extend_from_slice(bytes);
        let (deliver, done) = match find(&buf, &self.marker) {
            Some(at) => (at, true),
            None => {
                // Keep the longest tail that is a prefix of the marker.
                let keep = (1..self.marker.len()).rev().find(|&k| buf.len() >= k && buf.ends_with(&self.marker[..k])).unwrap_or(0);
                (buf.len() - keep, false)
            }
        };
        let room = self.cap.saturating_sub(self.out[i].len());
        let take = deliver.min(room);
        if take > 0 {
            self.out[i].extend_from_slice(&buf[..take]);
            if let Some(t) = &self.tee {
                let stream = if i == 0 { sandbox::Chunk::Stdout } else { sandbox::Chunk::Stderr };
                let _ = t.send((stream, buf[..take].to_vec()));
            }
        }
        if deliver > room {
            self.over = true;
        }
        if done {
            self.done[i] = true;
        } else {
            self.carry[i] = buf[deliver..].to_vec();
        }
    }
}

/// Longest `result` text answered (longer ones are cut, marked with `…`).
const MAX_RESULT_BYTES: usize = 1 << 20;

/// `text` cut to at most `max` bytes on a character boundary, with `…` when it was cut.
fn cut(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// A request frame: `u32` big-endian length, then the JSON.
fn framed(req: &serde_json::Value) -> Vec<u8> {
    let body = serde_json::to_vec(req).expect("requests serialize");
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn random_hex() -> String {
    let mut b = [0u8; 12];
    // SAFETY: getrandom(2) into a stack buffer of that size.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn pump(mut r: impl tokio::io::AsyncRead + Unpin, i: usize, capture: Arc<Mutex<Capture>>, marked: Arc<Notify>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut c = capture.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(a) = c.active.as_mut() {
                    let was = a.done[i];
                    a.push(i, &buf[..n]);
                    if a.done[i] != was || a.over {
                        marked.notify_one();
                    }
                }
            }
        }
    }
    marked.notify_one();
}

/// Reads reply frames off the interpreter's descriptor 3 (a thread: the pipe is blocking);
/// the channel closes at its end or at a frame over [`MAX_REPLY_BYTES`].
fn read_replies(mut pipe: std::fs::File, to: mpsc::UnboundedSender<Vec<u8>>) {
    std::thread::spawn(move || loop {
        let mut head = [0u8; 4];
        if pipe.read_exact(&mut head).is_err() {
            return;
        }
        let n = u32::from_be_bytes(head) as usize;
        if n > MAX_REPLY_BYTES {
            return;
        }
        let mut body = vec![0u8; n];
        if pipe.read_exact(&mut body).is_err() || to.send(body).is_err() {
            return;
        }
    });
}

/// The reply of a run, as the driver sends it.
#[derive(serde::Deserialize, Default)]
struct Reply {
    exit_code: i32,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    outputs: Vec<RichOutput>,
    #[serde(default)]
    interrupted: bool,
    #[serde(default)]
    checkpoint: Option<CheckpointReply>,
}

impl Live {
    async fn start(start: Start, language: Language) -> std::io::Result<Live> {
        let mut resident = sandbox::spawn_resident(&start.spawn)?;
        let requests = resident.child.stdin.take().expect("piped");
        let stdout = resident.child.stdout.take().expect("piped");
        let stderr = resident.child.stderr.take().expect("piped");
        let capture = Arc::new(Mutex::new(Capture::default()));
        let marked = Arc::new(Notify::new());
        tokio::spawn(pump(stdout, 0, capture.clone(), marked.clone()));
        tokio::spawn(pump(stderr, 1, capture.clone(), marked.clone()));
        let (tx, mut replies) = mpsc::unbounded_channel();
        read_replies(resident.replies.take().expect("made with the process"), tx);
        match tokio::time::timeout(START_TIMEOUT, replies.recv()).await {
            Ok(Some(frame)) if serde_json::from_slice::<serde_json::Value>(&frame).is_ok_and(|v| v["ready"] == true) => {}
            _ => {
                let status = tokio::time::timeout(Duration::from_secs(1), resident.child.wait()).await;
                return Err(std::io::Error::other(format!("the {language} context's interpreter did not start ({status:?})")));
            }
        }
        Ok(Live { resident, requests, replies, capture, marked, language, offline: start.offline, runs: 0, last_used: Instant::now() })
    }

    /// Loads the checkpoint at `path` into the new interpreter (inside the sandbox, as the
    /// session's user: the executor never reads it); `None` when there is none or the
    /// interpreter did not answer in time.
    async fn restore(&mut self, path: &str, deadline: tokio::time::Instant) -> Option<RestoreReply> {
        let req = serde_json::json!({"op": "restore", "checkpoint": path});
        self.requests.write_all(&framed(&req)).await.ok()?;
        let reply = tokio::time::timeout_at(deadline, self.replies.recv()).await.ok()??;
        match serde_json::from_slice::<RestoreReply>(&reply) {
            Ok(r) if r.restored.is_some() => Some(r),
            Ok(_) => None,
            Err(e) => Some(RestoreReply {
                restored: Some(false),
                reason: Some(format!("the restore's answer was malformed: {e}")),
                lost: Vec::new(),
            }),
        }
    }

    /// Runs one request; answers the result and whether the interpreter lives on.
    async fn run(&mut self, run: ContextRun<'_>) -> (RunResult, bool) {
        let started = Instant::now();
        let mark = self.resident.usage_mark();
        self.runs += 1;
        self.last_used = Instant::now();
        let nonce = random_hex();
        let marker = format!("\x1e{nonce}\x1e").into_bytes();
        *self.capture.lock().unwrap_or_else(|e| e.into_inner()) = Capture {
            active: Some(Active {
                marker,
                cap: run.output_bytes,
                out: Default::default(),
                carry: Default::default(),
                done: [false; 2],
                over: false,
                tee: run.tee.clone(),
            }),
        };
        let req = serde_json::json!({
            "op": "run", "n": self.runs, "code": run.code, "env": run.env, "stdin": run.stdin, "nonce": nonce,
            "checkpoint": run.checkpoint, "checkpoint_max": run.checkpoint_max,
        });
        let frame = framed(&req);
        let mut killed_by = None;
        let mut alive = true;
        let reply: Option<Vec<u8>> = if self.requests.write_all(&frame).await.is_err() {
            None
        } else {
            let mut interrupted_at: Option<tokio::time::Instant> = None;
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                let grace = interrupted_at.map(|t| t + INTERRUPT_GRACE);
                tokio::select! {
                    r = self.replies.recv() => break r,
                    _ = tokio::time::sleep_until(run.deadline), if interrupted_at.is_none() => {
                        killed_by = Some(KilledBy::Timeout);
                        self.resident.interrupt();
                        interrupted_at = Some(tokio::time::Instant::now());
                    }
                    _ = run.cancel.notified(), if interrupted_at.is_none() => {
                        killed_by = Some(KilledBy::Cancelled);
                        self.resident.interrupt();
                        interrupted_at = Some(tokio::time::Instant::now());
                    }
                    _ = tokio::time::sleep_until(grace.unwrap_or_else(tokio::time::Instant::now)), if grace.is_some() => break None,
                    _ = tick.tick() => {
                        let over = self.capture.lock().unwrap_or_else(|e| e.into_inner()).active.as_ref().is_some_and(|a| a.over);
                        let limit = if over { Some(KilledBy::Output) } else { self.resident.tripped() };
                        if limit.is_some() {
                            killed_by = limit;
                            break None;
                        }
                    }
                }
            }
        };
        let parsed = reply.as_deref().and_then(|r| serde_json::from_slice::<Reply>(r).ok());
        if parsed.is_some() {
            // All of the run's output is in once both markers were read (a process the run left
            // holding the pipes cannot make the answer wait more than a second).
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                loop {
                    let done =
                        self.capture.lock().unwrap_or_else(|e| e.into_inner()).active.as_ref().is_none_or(|a| a.done == [true, true]);
                    if done {
                        break;
                    }
                    self.marked.notified().await;
                }
            })
            .await;
        } else {
            alive = false;
            self.resident.kill();
            let _ = tokio::time::timeout(Duration::from_secs(1), self.resident.child.wait()).await;
            // The pumps read to the pipes' end (the interpreter is gone).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let active = self.capture.lock().unwrap_or_else(|e| e.into_inner()).active.take();
        let (stdout, mut stderr, truncated) = match active {
            Some(mut a) => {
                for i in 0..2 {
                    if !a.done[i] {
                        let rest = std::mem::take(&mut a.carry[i]);
                        let room = a.cap.saturating_sub(a.out[i].len());
                        a.out[i].extend_from_slice(&rest[..rest.len().min(room)]);
                    }
                }
                let [o, e] = a.out;
                (String::from_utf8_lossy(&o).into_owned(), String::from_utf8_lossy(&e).into_owned(), a.over)
            }
            None => (String::new(), String::new(), false),
        };
        let mut result = RunResult { truncated, ..Default::default() };
        match parsed {
            Some(r) => {
                result.exit_code = r.exit_code;
                match r.checkpoint {
                    Some(c) if c.written => result.lost = c.lost,
                    Some(c) => {
                        result.lost = c.lost;
                        let largest: Vec<String> =
                            c.largest.iter().take(5).map(|(k, n)| format!("{} ({n} bytes)", cut(k.clone(), 80))).collect();
                        stderr.push_str(&format!(
                            "\n[edgerun] the context's state was not checkpointed ({}){}; the previous checkpoint stays\n",
                            cut(c.reason.unwrap_or_default(), 400),
                            if largest.is_empty() { String::new() } else { format!("; the largest variables: {}", largest.join(", ")) }
                        ));
                    }
                    None => {}
                }
                result.result = r.result.map(|t| cut(t, MAX_RESULT_BYTES));
                // Rich outputs within the bounds the Worker checks: 64 of them, 16 MiB in all.
                let mut room = MAX_RESULT_BYTES * 16;
                for o in r.outputs.into_iter().take(64) {
                    if o.data.len() > room || o.mime.is_empty() || o.mime.len() > 128 || !o.mime.bytes().all(|b| b.is_ascii_graphic()) {
                        stderr.push_str(&format!(
                            "\n[edgerun] a rich output ({}) was left out: over the bounds of an answer\n",
                            o.mime.chars().take(40).collect::<String>()
                        ));
                        continue;
                    }
                    room -= o.data.len();
                    result.outputs.push(o);
                }
                if r.interrupted {
                    result.signal = Some("SIGINT".into());
                    result.exit_code = 130;
                    // An interrupt nobody sent (the user's own `raise KeyboardInterrupt`) is an error exit.
                    if killed_by.is_none() {
                        result.signal = None;
                        result.exit_code = 1;
                    }
                } else if killed_by.is_some() {
                    // The run ended just as it was interrupted: it is answered as it ended.
                    killed_by = None;
                }
            }
            None => {
                result.exit_code = 128 + libc::SIGKILL;
                result.signal = Some("SIGKILL".into());
                if killed_by.is_none() {
                    stderr.push_str(&format!(
                        "\n[edgerun] the {} context's interpreter ended during the run; the next run starts a fresh one\n",
                        self.language
                    ));
                } else {
                    stderr.push_str(&format!(
                        "\n[edgerun] the {} context's interpreter was killed; the next run starts a fresh one\n",
                        self.language
                    ));
                }
            }
        }
        result.lost.sort();
        result.timed_out = killed_by == Some(KilledBy::Timeout);
        result.killed_by = killed_by;
        result.stdout = stdout;
        result.stderr = stderr;
        result.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        (result.cpu_ms, result.peak_memory_bytes) = self.resident.usage_since(&mark);
        self.last_used = Instant::now();
        (result, alive)
    }
}

impl Contexts {
    /// Runs in the context `(sid, ctx)`, starting its interpreter with `start` when it has none
    /// (or its last one died, or the session's network setting changed).
    pub async fn run(
        &self,
        sid: &str,
        ctx: &str,
        language: Language,
        start: impl FnOnce() -> std::io::Result<Start>,
        run: ContextRun<'_>,
    ) -> std::io::Result<RunResult> {
        let key = (sid.to_string(), ctx.to_string());
        let taken = self.live.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        let start = start()?;
        let mut note = None;
        let usable =
            |l: &mut Live| l.language == language && l.offline == start.offline && l.resident.child.try_wait().ok().flatten().is_none();
        let live = match taken.map(|mut l| (usable(&mut l), l)) {
            Some((true, l)) => Some(l),
            Some((false, l)) => {
                if l.offline != start.offline {
                    note =
                        Some("[edgerun] the context was restarted: the session's network setting changed since it started\n".to_string());
                }
                drop(l);
                None
            }
            None => None,
        };
        let mut restored = None;
        let mut live = match live {
            Some(l) => l,
            None => match Live::start(start, language).await {
                Ok(mut l) => {
                    if let Some(path) = &run.checkpoint {
                        restored = l.restore(path, run.deadline).await;
                    }
                    l
                }
                Err(e) => {
                    return Ok(RunResult { exit_code: 127, stderr: format!("[edgerun] {e}\n"), ..Default::default() });
                }
            },
        };
        let (mut result, alive) = live.run(run).await;
        if let Some(r) = restored {
            result.restored = r.restored;
            result.restore_error = r.reason.map(|t| cut(t, 2000));
            let mut lost = r.lost;
            lost.extend(std::mem::take(&mut result.lost));
            lost.sort();
            lost.dedup();
            result.lost = lost;
        }
        if let Some(n) = note {
            result.stderr = format!("{n}{}", result.stderr);
        }
        if alive {
            self.live.lock().unwrap_or_else(|e| e.into_inner()).insert(key, live);
        }
        Ok(result)
    }

    /// Stops one context's interpreter; false when it had none.
    pub fn stop(&self, sid: &str, ctx: &str) -> bool {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).remove(&(sid.to_string(), ctx.to_string())).is_some()
    }

    /// Stops every context of a session (its deletion).
    pub fn stop_session(&self, sid: &str) -> usize {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let before = live.len();
        live.retain(|(s, _), _| s != sid);
        before - live.len()
    }

    /// The live contexts of a session, by id.
    pub fn live_ids(&self, sid: &str) -> Vec<String> {
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<String> = live.keys().filter(|(s, _)| s == sid).map(|(_, c)| c.clone()).collect();
        ids.sort();
        ids
    }

    /// Stops the contexts without a run for [`IDLE_STOP`]; answers how many.
    pub fn stop_idle(&self, idle: Duration) -> usize {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let before = live.len();
        live.retain(|_, l| l.last_used.elapsed() < idle);
        before - live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(marker: &str, cap: usize) -> Active {
        Active {
            marker: marker.as_bytes().to_vec(),
            cap,
            out: Default::default(),
            carry: Default::default(),
            done: [false; 2],
            over: false,
            tee: None,
        }
    }

    #[test]
    fn the_end_marker_is_found_across_chunks_and_never_delivered() {
        let mut a = active("\x1eabc\x1e", 100);
        a.push(0, b"hello \x1ea");
        assert_eq!(a.out[0], b"hello ");
        assert!(!a.done[0]);
        a.push(0, b"bc\x1eafter");
        assert_eq!(a.out[0], b"hello ");
        assert!(a.done[0], "the marker ends the run's stream");
        a.push(0, b"more");
        assert_eq!(a.out[0], b"hello ", "nothing after the marker belongs to the run");
        let mut b = active("\x1eabc\x1e", 100);
        b.push(1, b"\x1eab not it");
        assert_eq!(b.out[1], b"\x1eab not it", "a prefix that does not go on is output");
    }

    #[test]
    fn output_past_the_cap_is_cut_and_flagged() {
        let mut a = active("\x1ez\x1e", 4);
        a.push(0, b"123456");
        assert_eq!(a.out[0], b"1234");
        assert!(a.over);
    }
}
