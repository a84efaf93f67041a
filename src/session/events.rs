//! A streamed answer: Server-Sent Events written into a `TransformStream` whose readable side is
//! the response body, while the run goes on in a task of its own.
//!
//! Writes are queued without waiting for the client: everything a run streams is bounded by its
//! output caps, and a client that reads slowly (or went away) must not slow the run. Once the
//! client is gone, writes are dropped; the run still ends, is committed, and its answer is there
//! by its run id. A keep-alive comment goes out every [`KEEP_ALIVE_MS`] until the stream closes.
use crate::core::error::{ApiError, ApiResult};
use crate::core::sse::{self, Form, Out, Utf8Chunks};
use edgerun_protocol::ErrorCode;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// Longest silence on a stream (the `SSE_KEEP_ALIVE_MS` var may shorten it, for tests).
pub(crate) const KEEP_ALIVE_MS: u64 = 15_000;

pub(crate) struct Events {
    form: Form,
    writer: web_sys::WritableStreamDefaultWriter,
    open: Cell<bool>,
    stdout: RefCell<Utf8Chunks>,
    stderr: RefCell<Utf8Chunks>,
}

impl Events {
    /// A new stream and the body that reads it; the keep-alive ticker starts with it.
    pub(crate) fn open(form: Form, keep_alive_ms: u64) -> ApiResult<(Rc<Events>, web_sys::ReadableStream)> {
        let js_err = |e: JsValue| ApiError::new(ErrorCode::Internal, format!("event stream: {e:?}"));
        let pipe = web_sys::TransformStream::new().map_err(js_err)?;
        let writer = pipe.writable().get_writer().map_err(js_err)?;
        let events = Rc::new(Events {
            form,
            writer,
            open: Cell::new(true),
            stdout: RefCell::new(Utf8Chunks::default()),
            stderr: RefCell::new(Utf8Chunks::default()),
        });
        let ticker = events.clone();
        spawn_local(async move {
            loop {
                worker::Delay::from(std::time::Duration::from_millis(keep_alive_ms)).await;
                if !ticker.open.get() {
                    break;
                }
                ticker.send(sse::KEEP_ALIVE);
            }
        });
        Ok((events, pipe.readable()))
    }

    pub(crate) fn form(&self) -> Form {
        self.form
    }

    /// Queues `text`; a write the client can no longer take closes the stream for later ones.
    pub(crate) fn send(self: &Rc<Self>, text: &str) {
        if !self.open.get() || text.is_empty() {
            return;
        }
        let chunk = js_sys::Uint8Array::from(text.as_bytes());
        let written = JsFuture::from(self.writer.write_with_chunk(&chunk));
        let this = self.clone();
        spawn_local(async move {
            if written.await.is_err() {
                this.open.set(false);
            }
        });
    }

    /// Output bytes as events, cut on character boundaries.
    pub(crate) fn output(self: &Rc<Self>, out: Out, bytes: &[u8]) {
        let text = match out {
            Out::Stdout => self.stdout.borrow_mut().push(bytes),
            Out::Stderr => self.stderr.borrow_mut().push(bytes),
        };
        if !text.is_empty() {
            self.send(&sse::output(self.form, out, &text));
        }
    }

    /// Ends the stream with the answer (or the error) of the run.
    pub(crate) async fn finish(self: &Rc<Self>, outcome: Result<serde_json::Value, ApiError>) {
        for (out, cutter) in [(Out::Stdout, &self.stdout), (Out::Stderr, &self.stderr)] {
            let rest = cutter.borrow_mut().finish();
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
        if self.open.replace(false) {
            let _ = JsFuture::from(self.writer.close()).await;
        }
    }
}
