//! Background processes: commands that outlive the request that started them (a dev server, a
//! training job). Each is started like a live context's interpreter ([`sandbox::spawn_resident`]:
//! the session's uid, groups of its own in cgroup mode, private mounts, the session's network
//! namespace, the run limits) with `bash -c`, so the end-of-run kills of every containment mode
//! spare it, and it works in the session's workspace, which an inject then replaces in place.
//!
//! Its standard output and error go to two rings of [`log_ring_bytes`] each (the newest bytes
//! kept, the count of those dropped said) and to whoever follows them; its standard input stays
//! open for `POST …/stdin`. A task per process waits for it: for its exit, its lifetime bound,
//! a limit of its groups or a `DELETE`, whichever comes first, and then kills everything it
//! started, so that nothing of it outlives its end. The executor keeps the states of ended
//! processes (and their logs) until the session goes, the oldest first past [`KEPT_ENDED`].
use crate::sandbox::{self, Spawn};
use edgerun_protocol::{ProcessKilledBy, ProcessLogs, ProcessState, MAX_PROCESSES, RECORD_STDERR, RECORD_STDOUT};
use std::collections::{HashMap, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, watch, Notify};

/// Ended processes whose state and logs are kept per session (the oldest go first).
pub const KEPT_ENDED: usize = 32;
/// Chunks a follower may fall behind before it is told some were skipped.
const FOLLOW_BACKLOG: usize = 1024;
/// How long a write to a process's standard input may wait for the process to read.
const STDIN_WAIT: Duration = Duration::from_secs(5);

/// Bytes kept of each of a process's streams: `EDGERUN_PROCESS_LOG_BYTES`, default 1 MiB.
pub fn log_ring_bytes() -> usize {
    std::env::var("EDGERUN_PROCESS_LOG_BYTES").ok().and_then(|v| v.trim().parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or(1 << 20)
}

/// The newest `cap` bytes of a stream, and how many came before them.
#[derive(Debug)]
struct Ring {
    buf: VecDeque<u8>,
    cap: usize,
    dropped: u64,
}

impl Ring {
    fn new(cap: usize) -> Ring {
        Ring { buf: VecDeque::new(), cap, dropped: 0 }
    }

    fn push(&mut self, bytes: &[u8]) {
        let bytes = if bytes.len() > self.cap {
            self.dropped += (bytes.len() - self.cap) as u64;
            &bytes[bytes.len() - self.cap..]
        } else {
            bytes
        };
        let over = (self.buf.len() + bytes.len()).saturating_sub(self.cap);
        self.buf.drain(..over);
        self.dropped += over as u64;
        self.buf.extend(bytes);
    }

    fn bytes(&self) -> Vec<u8> {
        self.buf.iter().copied().collect()
    }
}

/// One chunk a follower receives: its record tag and bytes.
type Chunk = (u8, Arc<[u8]>);

/// One background process.
struct Proc {
    id: String,
    state: Mutex<ProcessState>,
    /// The rings, and (while the process may still write) the followers' channel: a chunk goes
    /// into both under this lock, so a follower that subscribes under it misses nothing and
    /// sees nothing twice.
    logs: Mutex<(Ring, Ring, Option<broadcast::Sender<Chunk>>)>,
    stdin: tokio::sync::Mutex<Option<tokio::process::ChildStdin>>,
    /// Notified by `DELETE`.
    kill: Notify,
    /// True once the process ended and its output was read.
    ended: watch::Sender<bool>,
}

impl Proc {
    fn snapshot(&self) -> ProcessState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn running(&self) -> bool {
        self.snapshot().status == "running"
    }
}

/// The executor's background processes, by session id.
#[derive(Default)]
pub struct Processes {
    by_session: Mutex<HashMap<String, Vec<Arc<Proc>>>>,
}

/// Why a start was refused.
#[derive(Debug)]
pub enum StartError {
    /// The session holds [`MAX_PROCESSES`] live ones, or the id is taken.
    Conflict(String),
    /// The process could not be started.
    Io(std::io::Error),
}

async fn pump(mut r: impl tokio::io::AsyncRead + Unpin, tag: u8, proc: Arc<Proc>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut logs = proc.logs.lock().unwrap_or_else(|e| e.into_inner());
                let ring = if tag == RECORD_STDOUT { &mut logs.0 } else { &mut logs.1 };
                ring.push(&buf[..n]);
                if let Some(tx) = &logs.2 {
                    // No follower is no error.
                    let _ = tx.send((tag, Arc::from(&buf[..n])));
                }
            }
        }
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => -1,
    }
}

impl Processes {
    /// Starts `spawn` as the background process `id` of `sid`, bounded to `max` of life.
    pub fn start(&self, sid: &str, id: &str, spawn: &Spawn, max: Duration) -> Result<ProcessState, StartError> {
        let mut all = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
        let procs = all.entry(sid.to_string()).or_default();
        if procs.iter().any(|p| p.id == id) {
            return Err(StartError::Conflict(format!("the session already has a process {id}")));
        }
        let live = procs.iter().filter(|p| p.running()).count();
        if live >= MAX_PROCESSES {
            return Err(StartError::Conflict(format!("the session has {live} live processes, the most it may hold: end one first")));
        }
        let mut resident = sandbox::spawn_resident(spawn).map_err(StartError::Io)?;
        // The reply pipe of contexts has no use here: its read end goes, so a write to the
        // process's descriptor 3 fails (EPIPE) rather than filling a pipe nobody reads.
        drop(resident.replies.take());
        let stdout = resident.child.stdout.take().expect("piped");
        let stderr = resident.child.stderr.take().expect("piped");
        let stdin = resident.child.stdin.take();
        let cap = log_ring_bytes();
        let (tx, _) = broadcast::channel(FOLLOW_BACKLOG);
        let state = ProcessState { id: id.to_string(), status: "running".into(), exit_code: None, killed_by: None };
        let proc = Arc::new(Proc {
            id: id.to_string(),
            state: Mutex::new(state.clone()),
            logs: Mutex::new((Ring::new(cap), Ring::new(cap), Some(tx))),
            stdin: tokio::sync::Mutex::new(stdin),
            kill: Notify::new(),
            ended: watch::channel(false).0,
        });
        let pumps = [tokio::spawn(pump(stdout, RECORD_STDOUT, proc.clone())), tokio::spawn(pump(stderr, RECORD_STDERR, proc.clone()))];
        let waited = proc.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            let deadline = tokio::time::sleep(max);
            tokio::pin!(deadline);
            let (status, killed_by) = loop {
                tokio::select! {
                    s = resident.child.wait() => break (s.ok(), None),
                    _ = &mut deadline => break (None, Some(ProcessKilledBy::Timeout)),
                    _ = waited.kill.notified() => break (None, Some(ProcessKilledBy::Deleted)),
                    _ = tick.tick() => {
                        match resident.tripped() {
                            Some(edgerun_protocol::KilledBy::Memory) => break (None, Some(ProcessKilledBy::Memory)),
                            Some(_) => break (None, Some(ProcessKilledBy::Processes)),
                            None => {}
                        }
                    }
                }
            };
            // Its end is the end of everything it started (groups, process group, tag).
            resident.kill();
            let status = match status {
                Some(s) => Some(s),
                None => tokio::time::timeout(Duration::from_secs(2), resident.child.wait()).await.ok().and_then(Result::ok),
            };
            let [out, err] = pumps;
            let _ = tokio::time::timeout(Duration::from_secs(2), async { (out.await, err.await) }).await;
            {
                let mut st = waited.state.lock().unwrap_or_else(|e| e.into_inner());
                st.status = if killed_by.is_some() { "killed" } else { "exited" }.into();
                st.exit_code = Some(status.map(exit_code).unwrap_or(128 + libc::SIGKILL));
                st.killed_by = killed_by;
            }
            *waited.stdin.lock().await = None;
            // Followers read what is left, then their stream ends.
            waited.logs.lock().unwrap_or_else(|e| e.into_inner()).2 = None;
            waited.ended.send_replace(true);
            drop(resident);
        });
        // Ended ones past the bound go, oldest first.
        let ended: Vec<usize> = procs.iter().enumerate().filter(|(_, p)| !p.running()).map(|(i, _)| i).collect();
        for i in ended.iter().take(ended.len().saturating_sub(KEPT_ENDED)).rev() {
            procs.remove(*i);
        }
        procs.push(proc);
        Ok(state)
    }

    fn find(&self, sid: &str, id: &str) -> Option<Arc<Proc>> {
        self.by_session.lock().unwrap_or_else(|e| e.into_inner()).get(sid)?.iter().find(|p| p.id == id).cloned()
    }

    /// The states of the session's processes, in the order they started.
    pub fn list(&self, sid: &str) -> Vec<ProcessState> {
        let all = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
        all.get(sid).map(|ps| ps.iter().map(|p| p.snapshot()).collect()).unwrap_or_default()
    }

    /// Whether the session has a live process.
    pub fn any_live(&self, sid: &str) -> bool {
        let all = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
        all.get(sid).is_some_and(|ps| ps.iter().any(|p| p.running()))
    }

    /// The buffered logs of one process; `None` when the executor has no such process.
    pub fn logs(&self, sid: &str, id: &str) -> Option<ProcessLogs> {
        let p = self.find(sid, id)?;
        let logs = p.logs.lock().unwrap_or_else(|e| e.into_inner());
        Some(ProcessLogs {
            stdout: String::from_utf8_lossy(&logs.0.bytes()).into_owned(),
            stderr: String::from_utf8_lossy(&logs.1.bytes()).into_owned(),
            stdout_dropped: logs.0.dropped,
            stderr_dropped: logs.1.dropped,
            process: p.snapshot(),
        })
    }

    /// Follows one process's output: what the rings hold, then every chunk as it comes, as
    /// (record tag, bytes); the channel ends once the process ended and its output was read, with
    /// its final state. `None` when there is no such process.
    pub fn follow(&self, sid: &str, id: &str) -> Option<(Vec<Chunk>, Option<broadcast::Receiver<Chunk>>, FollowEnd)> {
        let p = self.find(sid, id)?;
        let logs = p.logs.lock().unwrap_or_else(|e| e.into_inner());
        let rx = logs.2.as_ref().map(broadcast::Sender::subscribe);
        let mut first = Vec::new();
        for (tag, ring) in [(RECORD_STDOUT, &logs.0), (RECORD_STDERR, &logs.1)] {
            if !ring.buf.is_empty() {
                first.push((tag, Arc::from(ring.bytes())));
            }
        }
        drop(logs);
        Some((first, rx, FollowEnd(p.clone())))
    }

    /// Writes to one process's standard input (and closes it with `eof`). `Ok(None)`: no such
    /// process; `Err`: its input is closed, or it did not read within [`STDIN_WAIT`].
    pub async fn write_stdin(&self, sid: &str, id: &str, bytes: &[u8], eof: bool) -> Result<Option<ProcessState>, String> {
        let Some(p) = self.find(sid, id) else { return Ok(None) };
        let mut stdin = p.stdin.lock().await;
        let Some(pipe) = stdin.as_mut() else {
            return Err(format!("the standard input of {id} is closed (the process ended, or an earlier write closed it)"));
        };
        if !bytes.is_empty() {
            match tokio::time::timeout(STDIN_WAIT, pipe.write_all(bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(format!("the process does not read its standard input ({e})")),
                Err(_) => return Err(format!("the process did not read its standard input within {} s", STDIN_WAIT.as_secs())),
            }
        }
        if eof {
            *stdin = None;
        }
        Ok(Some(p.snapshot()))
    }

    /// Ends one process and everything it started, and waits (up to 3 s) for its end; `None`
    /// when there is no such process.
    pub async fn stop(&self, sid: &str, id: &str) -> Option<ProcessState> {
        let p = self.find(sid, id)?;
        if p.running() {
            p.kill.notify_one();
            let mut ended = p.ended.subscribe();
            let _ = tokio::time::timeout(Duration::from_secs(3), ended.wait_for(|e| *e)).await;
        }
        Some(p.snapshot())
    }

    /// Ends every process of a session and forgets them (its deletion).
    pub async fn stop_session(&self, sid: &str) {
        let procs = self.by_session.lock().unwrap_or_else(|e| e.into_inner()).remove(sid).unwrap_or_default();
        for p in procs.iter().filter(|p| p.running()) {
            p.kill.notify_one();
        }
        for p in procs {
            let mut ended = p.ended.subscribe();
            let _ = tokio::time::timeout(Duration::from_secs(3), ended.wait_for(|e| *e)).await;
        }
    }
}

/// Waits for a followed process's end and answers its final state.
pub struct FollowEnd(Arc<Proc>);

impl FollowEnd {
    /// The process's state once it ended and its output was read.
    pub async fn wait(self) -> ProcessState {
        let mut ended = self.0.ended.subscribe();
        let _ = ended.wait_for(|e| *e).await;
        self.0.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_bytes_and_counts_the_others() {
        let mut r = Ring::new(4);
        r.push(b"ab");
        r.push(b"cde");
        assert_eq!((r.bytes(), r.dropped), (b"bcde".to_vec(), 1));
        r.push(b"0123456789");
        assert_eq!((r.bytes(), r.dropped), (b"6789".to_vec(), 11));
        r.push(b"");
        assert_eq!(r.bytes(), b"6789");
    }
}
