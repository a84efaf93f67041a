//! A streamed answer: Server-Sent Events written into `TransformStream`s whose readable sides are
//! response bodies, while the run goes on in a task of its own. One run's events may have several
//! readers (a setup followed by whoever asks to follow it) and none at all.
//!
//! Writes are queued without waiting for the readers: everything a run streams is bounded by its
//! output caps, and a reader that is slow (or went away) must not slow the run. A reader that is
//! gone is dropped; the run still ends, is committed, and its answer is there by its run id. A
//! keep-alive comment goes out every [`KEEP_ALIVE_MS`] while the events are open.
use crate::core::error::{ApiError, ApiResult};
use crate::core::sse::{self, Form, Out, Replay, Utf8Chunks};
use edgerun_protocol::ErrorCode;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// Longest silence on a stream (the `SSE_KEEP_ALIVE_MS` var may shorten it, for tests).
pub(crate) const KEEP_ALIVE_MS: u64 = 15_000;

/// One reader's end.
struct Reader {
    writer: web_sys::WritableStreamDefaultWriter,
    alive: Cell<bool>,
}

impl Reader {
    /// Queues `text` without waiting; a failed write marks the reader gone.
    fn write(self: &Rc<Self>, text: &str) {
        let chunk = js_sys::Uint8Array::from(text.as_bytes());
        let written = JsFuture::from(self.writer.write_with_chunk(&chunk));
        let reader = self.clone();
        spawn_local(async move {
            if written.await.is_err() {
                reader.alive.set(false);
            }
        });
    }
}

pub(crate) struct Events {
    form: Form,
    readers: RefCell<Vec<Rc<Reader>>>,
    open: Cell<bool>,
    cutters: RefCell<[Utf8Chunks; 3]>,
    /// Kept for readers that come later (a setup's followers), when some is.
    replay: RefCell<Option<Replay>>,
}

fn slot(out: Out) -> usize {
    match out {
        Out::Stdout => 0,
        Out::Stderr => 1,
        Out::Log => 2,
    }
}

impl Events {
    /// Events without a reader yet; the keep-alive ticker starts with them.
    pub(crate) fn new(form: Form, keep_alive_ms: u64) -> Rc<Events> {
        Events::with_replay(form, keep_alive_ms, None)
    }

    /// Events that give a reader who comes later the latest `cap` bytes of what was sent first.
    pub(crate) fn replaying(form: Form, keep_alive_ms: u64, cap: usize) -> Rc<Events> {
        Events::with_replay(form, keep_alive_ms, Some(Replay::new(cap)))
    }

    fn with_replay(form: Form, keep_alive_ms: u64, replay: Option<Replay>) -> Rc<Events> {
        let events = Rc::new(Events {
            form,
            readers: RefCell::new(Vec::new()),
            open: Cell::new(true),
            cutters: RefCell::default(),
            replay: RefCell::new(replay),
        });
        let ticker = events.clone();
        spawn_local(async move {
            loop {
                worker::Delay::from(std::time::Duration::from_millis(keep_alive_ms)).await;
                if !ticker.open.get() {
                    break;
                }
                ticker.write(sse::KEEP_ALIVE);
            }
        });
        events
    }

    /// New events and the body of their first reader.
    pub(crate) fn open(form: Form, keep_alive_ms: u64) -> ApiResult<(Rc<Events>, web_sys::ReadableStream)> {
        let events = Events::new(form, keep_alive_ms);
        let body = events.attach()?;
        Ok((events, body))
    }

    /// A new reader, who sees the events from now on (after the replay's, when they keep one).
    pub(crate) fn attach(&self) -> ApiResult<web_sys::ReadableStream> {
        let js_err = |e: JsValue| ApiError::new(ErrorCode::Internal, format!("event stream: {e:?}"));
        let pipe = web_sys::TransformStream::new().map_err(js_err)?;
        let writer = pipe.writable().get_writer().map_err(js_err)?;
        let reader = Rc::new(Reader { writer, alive: Cell::new(true) });
        if let Some(replay) = self.replay.borrow().as_ref() {
            for event in replay.events() {
                reader.write(event);
            }
        }
        self.readers.borrow_mut().push(reader);
        Ok(pipe.readable())
    }

    pub(crate) fn form(&self) -> Form {
        self.form
    }

    /// Queues the event `text` for every reader still there (and keeps it for the replay).
    pub(crate) fn send(&self, text: &str) {
        if !self.open.get() || text.is_empty() {
            return;
        }
        if let Some(replay) = self.replay.borrow_mut().as_mut() {
            replay.keep(text);
        }
        self.write(text);
    }

    /// Queues `text` for every reader still there.
    fn write(&self, text: &str) {
        if !self.open.get() {
            return;
        }
        self.readers.borrow_mut().retain(|r| r.alive.get());
        for r in self.readers.borrow().iter() {
            r.write(text);
        }
    }

    /// Output bytes as events, cut on character boundaries.
    pub(crate) fn output(&self, out: Out, bytes: &[u8]) {
        let text = self.cutters.borrow_mut()[slot(out)].push(bytes);
        if !text.is_empty() {
            self.send(&sse::output(self.form, out, &text));
        }
    }

    /// Ends the events with the answer (or the error), and closes every reader.
    pub(crate) fn finish(&self, outcome: Result<serde_json::Value, ApiError>) {
        for out in [Out::Stdout, Out::Stderr, Out::Log] {
            let rest = self.cutters.borrow_mut()[slot(out)].finish();
            if !rest.is_empty() {
                self.send(&sse::output(self.form, out, &rest));
            }
        }
        match outcome {
            Ok(answer) => self.send(&sse::exit(self.form, &answer)),
            Err(e) => {
                let body: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap_or_default();
                self.send(&sse::error(self.form, &body));
            }
        }
        self.open.set(false);
        // A close completes once its reader has read everything: nothing here waits for readers.
        for r in self.readers.borrow_mut().drain(..) {
            let closed = JsFuture::from(r.writer.close());
            spawn_local(async move {
                let _ = closed.await;
            });
        }
    }
}
