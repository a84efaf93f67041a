//! The port route, the platform-free part: which of a client's request headers reach the app
//! (the API token never does, the app being the session's code, nor do the hop-by-hop headers,
//! the platform's own `cf-*`, the runtime's `x-edgerun-*` or the signed address's cookie), and
//! signed, expiring addresses.
//!
//! # Signed addresses
//!
//! `POST …/ports/{port}/url` answers `…/ports/{port}/.edgerun-token.<exp>.<mac>/`: `exp` the
//! expiry in Unix seconds, `mac` the keyed BLAKE3 hash (a MAC) of the session id, the port and
//! `exp` under a key derived from the deployment secret `PORT_URL_SECRET`. A request carrying a
//! valid, unexpired token in that segment needs no API token; its answer sets a cookie holding
//! the token, scoped to the prefix `/api/sessions/{id}/ports/{port}/` (HttpOnly, SameSite=Lax),
//! so that the app's further requests under the prefix (its assets, its WebSocket) pass without
//! the segment. The token names one session and one port: it is worth nothing for another.
use super::error::{ApiError, ApiResult};
use super::request::parse_object;

/// The path segment that carries a signed address's token: this, then the token.
pub const TOKEN_SEGMENT: &str = ".edgerun-token.";
/// The cookie that carries it after the first request.
pub const COOKIE: &str = "edgerun_port";
/// The longest a signed address may live.
pub const MAX_EXPIRES_IN: u64 = 86_400;
/// How long it lives when the request does not say.
pub const DEFAULT_EXPIRES_IN: u64 = 3600;

fn key(secret: &[u8]) -> [u8; 32] {
    blake3::derive_key("edgerun 2026-12 signed port address v1", secret)
}

fn mac(secret: &[u8], sid: &str, port: u16, exp: u64) -> String {
    blake3::keyed_hash(&key(secret), format!("{sid}\n{port}\n{exp}").as_bytes()).to_hex().to_string()
}

/// A token for (`sid`, `port`) that expires at `exp` (Unix seconds).
pub fn sign(secret: &[u8], sid: &str, port: u16, exp: u64) -> String {
    format!("{exp}.{}", mac(secret, sid, port, exp))
}

/// Whether `token` is valid for (`sid`, `port`) at `now` (Unix seconds): its MAC matches (compared
/// in constant time) and it has not expired.
pub fn verify(secret: &[u8], sid: &str, port: u16, token: &str, now: u64) -> bool {
    let Some((exp, given)) = token.split_once('.') else { return false };
    let Ok(exp) = exp.parse::<u64>() else { return false };
    if exp <= now || given.len() != 64 {
        return false;
    }
    let want = mac(secret, sid, port, exp);
    let diff = want.bytes().zip(given.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b));
    diff == 0
}

/// The token of a path that starts with the token segment, and the rest of the path (`/` at least).
pub fn split_token(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?.strip_prefix(TOKEN_SEGMENT)?;
    match rest.find('/') {
        Some(i) => Some((&rest[..i], &rest[i..])),
        None => Some((rest, "/")),
    }
}

/// The token in a `cookie` header, if it holds ours.
pub fn cookie_token(cookie: &str) -> Option<&str> {
    cookie.split(';').map(str::trim).find_map(|c| c.strip_prefix(COOKIE)?.strip_prefix('='))
}

/// A `cookie` header without ours (`None` when nothing is left).
pub fn without_our_cookie(cookie: &str) -> Option<String> {
    let rest: Vec<&str> = cookie.split(';').map(str::trim).filter(|c| !c.is_empty() && !c.starts_with(&format!("{COOKIE}="))).collect();
    (!rest.is_empty()).then(|| rest.join("; "))
}

/// The `set-cookie` value of a signed address's first request.
pub fn set_cookie(token: &str, sid: &str, port: u16, max_age: u64, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/api/sessions/{sid}/ports/{port}/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

/// `POST …/ports/{port}/url` body: `{"expires_in"?: seconds}` (1 to [`MAX_EXPIRES_IN`]); may be empty.
pub fn parse_url_request(body: &[u8]) -> ApiResult<u64> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DEFAULT_EXPIRES_IN);
    }
    let m = parse_object(body)?;
    match m.get("expires_in") {
        None | Some(serde_json::Value::Null) => Ok(DEFAULT_EXPIRES_IN),
        Some(serde_json::Value::Number(n)) => match n.as_u64() {
            Some(s) if (1..=MAX_EXPIRES_IN).contains(&s) => Ok(s),
            _ => Err(ApiError::bad(format!("`expires_in` must be whole seconds from 1 to {MAX_EXPIRES_IN}, got {n}"))),
        },
        Some(_) => Err(ApiError::invalid_field("`expires_in` must be a number of seconds")),
    }
}

/// Whether a request header of the client goes on to the app.
pub fn forwardable(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    !matches!(
        n.as_str(),
        "authorization"
            | "host"
            | "content-length"
            | "connection"
            | "keep-alive"
            | "proxy-authorization"
            | "proxy-authenticate"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    ) && !n.starts_with("cf-")
        && !n.starts_with("x-edgerun-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_hold_for_their_session_port_and_time_only() {
        let t = sign(b"k", "s1", 8000, 1000);
        assert!(verify(b"k", "s1", 8000, &t, 999));
        assert!(!verify(b"k", "s1", 8000, &t, 1000), "expired at its time");
        assert!(!verify(b"k", "s2", 8000, &t, 999), "another session");
        assert!(!verify(b"k", "s1", 8001, &t, 999), "another port");
        assert!(!verify(b"other", "s1", 8000, &t, 999), "another key");
        let (_, m) = t.split_once('.').unwrap();
        assert!(!verify(b"k", "s1", 8000, &format!("2000.{m}"), 999), "a later expiry is not signed");
        let mut flipped = t.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert!(!verify(b"k", "s1", 8000, std::str::from_utf8(&flipped).unwrap(), 999));
        for bad in ["", "1000", "x.y", "1000.", "1000.abc"] {
            assert!(!verify(b"k", "s1", 8000, bad, 999), "{bad}");
        }
    }

    #[test]
    fn token_segments_and_cookies_parse() {
        assert_eq!(split_token("/.edgerun-token.12.ab/x/y"), Some(("12.ab", "/x/y")));
        assert_eq!(split_token("/.edgerun-token.12.ab"), Some(("12.ab", "/")));
        assert_eq!(split_token("/x/.edgerun-token.12.ab"), None);
        assert_eq!(cookie_token("a=1; edgerun_port=12.ab; b=2"), Some("12.ab"));
        assert_eq!(cookie_token("edgerun_portx=1"), None);
        assert_eq!(without_our_cookie("a=1; edgerun_port=12.ab; b=2").as_deref(), Some("a=1; b=2"));
        assert_eq!(without_our_cookie("edgerun_port=12.ab"), None);
        assert!(
            set_cookie("t", "s", 8000, 60, true).contains("Path=/api/sessions/s/ports/8000/; Max-Age=60; HttpOnly; SameSite=Lax; Secure")
        );
        assert_eq!(parse_url_request(b"").unwrap(), DEFAULT_EXPIRES_IN);
        assert_eq!(parse_url_request(br#"{"expires_in":60}"#).unwrap(), 60);
        assert_eq!(parse_url_request(br#"{"expires_in":86401}"#).unwrap_err().status(), 400);
        assert_eq!(parse_url_request(br#"{"expires_in":0}"#).unwrap_err().status(), 400);
        assert_eq!(parse_url_request(br#"{"expires_in":"1"}"#).unwrap_err().status(), 422);
    }

    #[test]
    fn the_token_and_the_runtimes_headers_stay_behind() {
        for h in
            ["Authorization", "host", "x-edgerun-secret", "X-Edgerun-Target", "cf-connecting-ip", "Transfer-Encoding", "content-length"]
        {
            assert!(!forwardable(h), "{h}");
        }
        for h in ["content-type", "accept", "cookie", "x-requested-with", "user-agent"] {
            assert!(forwardable(h), "{h}");
        }
    }
}
