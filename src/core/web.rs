//! What browsers may do to the API: cross-site requests to an open API, bodies of the wrong type,
//! and downloads that a browser would render on the API's origin.
//!
//! - JSON routes take `content-type: application/json` (the contract says all bodies are JSON):
//!   a body of another type is refused with 415 before it is read, token or not. This also stops
//!   "simple" cross-site requests, which can only send `text/plain`, form or multipart bodies.
//! - While the API is open (no `API_TOKEN`), a request whose `Origin` is not the API's own origin
//!   on a loopback host is refused with 403: a web page the developer visits (a cross-site page,
//!   or one that rebinds its DNS name to 127.0.0.1) cannot drive the API. With a token, a browser
//!   cannot attach it cross-site without a preflight, which the API never grants.
//! - Files are served with `X-Content-Type-Options: nosniff` and `Content-Security-Policy:
//!   sandbox`; anything but plain text, JSON, CSV and raster images is served as an attachment.
//! - A client whose `Accept-Encoding` refuses the identity coding and names no coding the
//!   platform makes (gzip, br) would get the platform's own text 415 instead of our answer: the
//!   answer is marked `content-encoding: identity` so that it goes out as it is.
use super::error::{ApiError, ApiResult};
use edgerun_protocol::ErrorCode;

/// Hosts that count as the developer's own machine.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host == "localhost" || host.ends_with(".localhost") || host == "[::1]" || host == "::1" || host.starts_with("127.")
}

/// `scheme://host[:port]` of a URL, lower-cased, default ports dropped; `None` if it has none.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_string(),
        _ => authority,
    };
    Some(format!("{scheme}://{authority}"))
}

fn host_of(origin: &str) -> &str {
    let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or(origin);
    if authority.starts_with('[') {
        return authority.split_once(']').map(|(h, _)| &authority[..h.len() + 1]).unwrap_or(authority);
    }
    authority.rsplit_once(':').map(|(h, _)| h).unwrap_or(authority)
}

/// The open API's rule for `Origin` (call only when no `API_TOKEN` is set): absent (curl, SDKs,
/// servers), or exactly the request's own origin on a loopback host. Anything else — another
/// site, `null` (sandboxed frames, files), a page on a rebound DNS name — is refused.
pub fn check_origin(origin: Option<&str>, request_url: &str) -> ApiResult<()> {
    let Some(origin) = origin else { return Ok(()) };
    let own = origin_of(request_url);
    let given = origin_of(origin.trim());
    let same = given.is_some() && given == own;
    if same && given.as_deref().map(host_of).is_some_and(is_loopback_host) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Forbidden,
        format!(
            "cross-site request refused: Origin {:?} is not this API's own origin, and the API is open (no API_TOKEN); set API_TOKEN to serve browsers' requests with a token",
            super::ids::truncate(origin, 200)
        ),
    ))
}

/// The rule for a JSON route's body: an empty body needs no type, any other must be declared
/// `application/json` (parameters such as `charset` allowed).
pub fn check_json_type(content_type: Option<&str>, has_body: bool) -> ApiResult<()> {
    if !has_body {
        return Ok(());
    }
    let essence = content_type.unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/json" {
        return Ok(());
    }
    let given = if essence.is_empty() { "none".to_string() } else { format!("{:?}", super::ids::truncate(&essence, 100)) };
    Err(ApiError::new(
        ErrorCode::UnsupportedMediaType,
        format!("this route takes a JSON body sent with `content-type: application/json` (got {given}); with curl: -H 'content-type: application/json'"),
    ))
}

/// Content types a browser may show inline from the API's origin: they run no script.
fn is_inert(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    matches!(essence, "text/plain" | "application/json" | "text/csv" | "image/png" | "image/jpeg" | "image/gif" | "image/webp")
}

/// Headers of a file download: its type, `nosniff`, a sandboxing CSP, and for every type that is
/// not inert, `Content-Disposition: attachment` with the file's name.
pub fn download_headers(path: &str, content_type: &str) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("content-type", content_type.to_string()),
        ("x-content-type-options", "nosniff".to_string()),
        ("content-security-policy", "sandbox".to_string()),
    ];
    if !is_inert(content_type) {
        let name = path.rsplit('/').next().unwrap_or("file");
        let ascii: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
        let encoded = super::route::percent_encode(name);
        h.push(("content-disposition", format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")));
    }
    h
}

/// Whether an `Accept-Encoding` value refuses the identity coding (`identity;q=0`, or `*;q=0`
/// without identity listed) and accepts neither gzip nor br. Elements that do not parse are
/// ignored, as the platform ignores them.
pub fn refuses_every_coding(accept: &str) -> bool {
    let mut listed: Vec<(String, bool)> = Vec::new();
    for element in accept.split(',') {
        let mut parts = element.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if coding.is_empty() {
            continue;
        }
        let mut weight = 1.0_f64;
        for p in parts {
            if let Some(q) = p.trim().strip_prefix("q=") {
                weight = q.trim().parse().unwrap_or(1.0);
            }
        }
        listed.push((coding, weight > 0.0));
    }
    let verdict = |name: &str| listed.iter().find(|(c, _)| c == name).map(|(_, ok)| *ok);
    let any = verdict("*");
    let identity_refused = match verdict("identity") {
        Some(ok) => !ok,
        None => any == Some(false),
    };
    let made = |name: &str| verdict(name).or(any).unwrap_or(false);
    identity_refused && !made("gzip") && !made("br")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_that_refuses_every_coding_is_recognised() {
        for refuses in ["br;q=0, *;q=0", "*;q=0", "identity;q=0", "identity;q=0, deflate", "gzip;q=0, br;q=0, *;q=0", "*;q=0.0"] {
            assert!(refuses_every_coding(refuses), "{refuses}");
        }
        for fine in ["", "gzip", "br, gzip", "identity;q=0, gzip", "*", "*;q=0, identity", "deflate", "*;q=0, br;q=0.5", "nonsense;;"] {
            assert!(!refuses_every_coding(fine), "{fine}");
        }
    }

    #[test]
    fn an_open_api_refuses_other_origins() {
        let url = "http://127.0.0.1:8787/api/sessions";
        check_origin(None, url).unwrap();
        check_origin(Some("http://127.0.0.1:8787"), url).unwrap();
        check_origin(Some("http://localhost:8787"), "http://localhost:8787/x").unwrap();
        for bad in [
            "https://evil.example",
            "http://evil.example:8787",
            "null",
            "",
            "http://127.0.0.1:8788",
            "https://127.0.0.1:8787",
            "http://localhost:8787",
            "file://",
            "http://user@127.0.0.1:8787",
        ] {
            let e = check_origin(Some(bad), url).expect_err(bad);
            assert_eq!(e.status(), 403, "{bad}");
            assert_eq!(e.code, ErrorCode::Forbidden);
        }
        // DNS rebinding: the page's origin is the request's own, but not a loopback host.
        assert!(check_origin(Some("http://rebind.evil.example:8787"), "http://rebind.evil.example:8787/api/execute").is_err());
        // Default ports compare equal.
        check_origin(Some("http://localhost"), "http://localhost:80/x").unwrap();
        check_origin(Some("http://[::1]:8787"), "http://[::1]:8787/").unwrap();
    }

    #[test]
    fn json_routes_take_json_bodies_only() {
        check_json_type(Some("application/json"), true).unwrap();
        check_json_type(Some("Application/JSON; charset=utf-8"), true).unwrap();
        check_json_type(None, false).unwrap();
        check_json_type(Some("text/plain"), false).unwrap();
        for bad in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
            Some(""),
        ] {
            let e = check_json_type(bad, true).expect_err(&format!("{bad:?}"));
            assert_eq!(e.status(), 415);
            assert_eq!(e.code.as_str(), "unsupported_media_type");
            assert!(e.message.contains("application/json"));
        }
    }

    #[test]
    fn active_files_download_as_attachments_in_a_sandbox() {
        for (path, ct) in [
            ("a/page.html", "text/html; charset=utf-8"),
            ("x.svg", "image/svg+xml"),
            ("f.xml", "application/xml"),
            ("s.js", "text/javascript; charset=utf-8"),
            ("d.pdf", "application/pdf"),
            ("blob", "application/octet-stream"),
        ] {
            let h = download_headers(path, ct);
            let get = |k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
            assert_eq!(get("x-content-type-options"), Some("nosniff"));
            assert_eq!(get("content-security-policy"), Some("sandbox"));
            assert!(get("content-disposition").is_some_and(|d| d.starts_with("attachment;")), "{path}");
        }
        let h = download_headers("dir/ré\"sumé.html", "text/html");
        let d = &h.iter().find(|(n, _)| *n == "content-disposition").unwrap().1;
        assert_eq!(d, "attachment; filename=\"r__sum_.html\"; filename*=UTF-8''r%C3%A9%22sum%C3%A9.html");
        for (path, ct) in [("a.txt", "text/plain; charset=utf-8"), ("d.json", "application/json"), ("i.png", "image/png")] {
            let h = download_headers(path, ct);
            assert!(h.iter().all(|(n, _)| *n != "content-disposition"), "{path} is inert");
            assert!(h.iter().any(|(n, v)| *n == "x-content-type-options" && v == "nosniff"));
        }
    }
}
