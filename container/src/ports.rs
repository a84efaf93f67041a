//! The port route: an HTTP request for `…/ports/{port}/<path>` goes to whatever listens on
//! `127.0.0.1:{port}` inside the session's network namespace, and its answer comes back, bodies
//! streamed both ways.
//!
//! The socket is made inside that namespace and nowhere else: a thread of its own enters it
//! (`setns`), makes the socket and connects, and ends; a socket belongs for its whole life to the
//! namespace it was made in, so the executor's threads never leave the machine's namespace. A
//! session that has no namespace yet has nothing listening; the executor's own port and the
//! ports closed to sandboxes are refused whatever namespace they would be in, and the machine's
//! loopback is never dialled. What the caller sends is filtered: hop-by-hop headers, the
//! executor's secret and every `x-edgerun-*` header stay here.
use crate::sandbox::NetNs;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Lowest port the route reaches (below it: the privileged ones, which sessions cannot bind).
pub const MIN_PORT: u16 = 1024;
/// How long a connect may take before the port counts as closed.
pub const CONNECT_WAIT: Duration = Duration::from_secs(1);
/// The header carrying the request's path and query as the client sent them.
pub const TARGET_HEADER: &str = edgerun_protocol::PORT_TARGET_HEADER;
/// The header carrying the prefix the app is served under (`/api/sessions/{id}/ports/{port}`).
pub const PREFIX_HEADER: &str = edgerun_protocol::PORT_PREFIX_HEADER;

/// Headers that are about one connection, never forwarded.
const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

/// Whether a request asks to become a WebSocket (`upgrade: websocket`).
pub fn is_websocket(headers: &HeaderMap) -> bool {
    headers.get_all("upgrade").iter().any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("websocket"))))
}

/// Connects to `127.0.0.1:port` inside `net`, within [`CONNECT_WAIT`].
pub async fn connect(net: &NetNs, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let ns = net.dup_fd()?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("port-connect".into()).spawn(move || {
        let made = (|| {
            // SAFETY: setns(2) on this thread alone, with a descriptor of a network namespace
            // we own; the thread ends right after, so it never runs anything else inside.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let s = std::net::TcpStream::connect_timeout(&(std::net::Ipv4Addr::LOCALHOST, port).into(), CONNECT_WAIT)?;
            s.set_nonblocking(true)?;
            s.set_nodelay(true)?;
            Ok(s)
        })();
        let _ = tx.send(made);
    })?;
    let s = rx.await.map_err(|_| std::io::Error::other("the connecting thread ended without an answer"))??;
    tokio::net::TcpStream::from_std(s)
}

/// The request's target (path and query), checked: a path from the client, starting with `/`.
pub fn target(headers: &HeaderMap) -> Result<String, String> {
    let t = headers.get(TARGET_HEADER).and_then(|v| v.to_str().ok()).ok_or("no target path")?;
    if !t.starts_with('/') || t.len() > 16 * 1024 || t.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err("the target path must start with `/` and hold no spaces or control characters".into());
    }
    Ok(t.to_string())
}

/// The headers the app gets: the caller's, but for hop-by-hop ones, the executor's own
/// (`x-edgerun-*`) and `host`, which names the app's own address; `x-forwarded-prefix` says
/// where the app is served.
pub fn forwarded_headers(from: &HeaderMap, port: u16) -> HeaderMap {
    let mut out = HeaderMap::new();
    let listed: Vec<String> = from
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for (k, v) in from {
        let name = k.as_str();
        if HOP_BY_HOP.contains(&name) || name == "host" || name.starts_with("x-edgerun-") || listed.iter().any(|l| l == name) {
            continue;
        }
        out.append(k.clone(), v.clone());
    }
    if let Ok(h) = HeaderValue::from_str(&format!("127.0.0.1:{port}")) {
        out.insert(axum::http::header::HOST, h);
    }
    if let Some(p) = from.get(PREFIX_HEADER) {
        out.insert(HeaderName::from_static("x-forwarded-prefix"), p.clone());
    }
    if is_websocket(from) {
        // The one upgrade passed on: to a WebSocket, whose bytes are then copied both ways.
        out.insert(axum::http::header::CONNECTION, HeaderValue::from_static("upgrade"));
        out.insert(axum::http::header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    out
}

/// Sends `req` over `stream` (HTTP/1.1) and answers the app's response, its body streamed.
/// With `upgrade` (the caller's side of a WebSocket request), an app that switches protocols
/// gets its connection joined to the caller's: the bytes are copied both ways until either ends.
pub async fn send(
    stream: tokio::net::TcpStream,
    req: Request<Body>,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<Response<Body>, String> {
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut resp = sender.send_request(req).await.map_err(|e| format!("the app's answer: {e}"))?;
    if let (Some(caller), axum::http::StatusCode::SWITCHING_PROTOCOLS) = (upgrade, resp.status()) {
        let app = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            if let (Ok(caller), Ok(app)) = (caller.await, app.await) {
                let (mut a, mut b) = (hyper_util::rt::TokioIo::new(caller), hyper_util::rt::TokioIo::new(app));
                let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
            }
        });
        let (parts, _) = resp.into_parts();
        return Ok(Response::from_parts(parts, Body::empty()));
    }
    let (mut parts, body) = resp.into_parts();
    for h in HOP_BY_HOP {
        parts.headers.remove(h);
    }
    Ok(Response::from_parts(parts, Body::new(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_gets_no_hop_by_hop_or_executor_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-edgerun-secret", HeaderValue::from_static("s3cret"));
        h.insert("x-edgerun-target", HeaderValue::from_static("/a"));
        h.insert("x-edgerun-prefix", HeaderValue::from_static("/api/sessions/s/ports/8000"));
        h.insert("connection", HeaderValue::from_static("keep-alive, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("host", HeaderValue::from_static("edgerun.example"));
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        let out = forwarded_headers(&h, 8000);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(out["host"], "127.0.0.1:8000");
        assert_eq!(out["content-type"], "text/plain");
        assert_eq!(out["x-forwarded-prefix"], "/api/sessions/s/ports/8000");
    }

    #[test]
    fn targets_are_paths() {
        let with = |t: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(TARGET_HEADER, HeaderValue::from_static(t));
            target(&h)
        };
        assert_eq!(with("/a/b?c=d").unwrap(), "/a/b?c=d");
        assert!(with("http://127.0.0.1:9/").is_err());
        assert!(with("a").is_err());
        assert!(with("/a b").is_err());
        assert!(target(&HeaderMap::new()).is_err());
    }
}
