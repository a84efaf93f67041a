//! The public routes, parsed from method and path. Unknown paths are 404, known paths with the
//! wrong method 405; ids and file paths are validated here.
use super::error::{ApiError, ApiResult};
use super::ids::{check_file_path, check_session_id};
use edgerun_protocol::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    OpenApi,
    /// The playground page and its two assets (static, open like `/health`).
    Playground(Asset),
    /// The MCP endpoint: edgerun's tools at `/mcp`, ERA's at `/mcp/v1`.
    Mcp(super::mcp::Flavor),
    Plugin,
    CreateSession,
    ListSessions,
    DeleteAllSessions,
    GetSession(String),
    PatchSession(String),
    DeleteSession(String),
    GetCode(String),
    PutCode(String),
    Run(String),
    /// ERA's streamed run.
    StreamRun(String),
    Cancel(String),
    Runs(String),
    GetRun(String, String),
    Setup(String),
    GetSetup(String),
    Duplicate(String),
    ListFiles(String),
    GetFile(String, String),
    PutFile(String, String),
    DeleteFile(String, String),
    Execute,
    CreateContext(String),
    ListContexts(String),
    DeleteContext(String, String),
    StartProcess(String),
    ListProcesses(String),
    GetProcess(String, String),
    DeleteProcess(String, String),
    ProcessLogs(String, String),
    ProcessInput(String, String),
    /// Any method on `…/ports/{port}/<path>`: the session's app on that port; the path is the
    /// rest of the URL's path as sent (still percent-encoded), `/` at least.
    Port(String, u16, String),
    /// `POST …/ports/{port}/url`: a signed, expiring address of the port.
    PortUrl(String, u16),
}

/// A file of the playground.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    Page,
    Script,
    Style,
}

/// Decodes `%XX` escapes once; the result must be UTF-8.
pub fn percent_decode(s: &str) -> ApiResult<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(v) => {
                    out.push(v);
                    i += 3;
                }
                None => return Err(ApiError::bad("malformed percent-escape in the path")),
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad("the path is not UTF-8 once decoded"))
}

/// Encodes everything but unreserved characters, for passing a value in a query string.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `run_` and 24 lower-case hex digits.
pub fn is_run_id(s: &str) -> bool {
    s.strip_prefix("run_").is_some_and(|h| h.len() == 24 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// A port of the port route: decimal, 1024 to 65535 (the ones below are privileged: no session
/// process listens there).
pub fn parse_port(raw: &str) -> ApiResult<u16> {
    let bad = || ApiError::bad(format!("invalid port {:?}: ports are 1024 to 65535", super::ids::truncate(raw, 20)));
    if raw.is_empty() || raw.len() > 5 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match raw.parse::<u32>() {
        Ok(p) if (1024..=65535).contains(&p) => Ok(p as u16),
        _ => Err(bad()),
    }
}

fn wrong_method(allowed: &str) -> ApiError {
    ApiError::new(ErrorCode::MethodNotAllowed, format!("method not allowed here; use {allowed}"))
}

/// `method` is the upper-case HTTP method, `path` the raw (still percent-encoded) URL path.
pub fn parse(method: &str, path: &str) -> ApiResult<Route> {
    let m = method;
    match path {
        "/health" => return if m == "GET" { Ok(Route::Health) } else { Err(wrong_method("GET")) },
        "/openapi.json" => return if m == "GET" { Ok(Route::OpenApi) } else { Err(wrong_method("GET")) },
        "/" => {
            return match m {
                "POST" => Ok(Route::Plugin),
                "GET" => Ok(Route::Playground(Asset::Page)),
                _ => Err(wrong_method("POST /?session=<id>, or GET for the playground")),
            }
        }
        "/playground.js" => return if m == "GET" { Ok(Route::Playground(Asset::Script)) } else { Err(wrong_method("GET")) },
        "/playground.css" => return if m == "GET" { Ok(Route::Playground(Asset::Style)) } else { Err(wrong_method("GET")) },
        "/api/execute" => return if m == "POST" { Ok(Route::Execute) } else { Err(wrong_method("POST")) },
        // No server-initiated stream (GET) and no MCP session to end (DELETE): 405, as the
        // Streamable HTTP transport allows.
        "/mcp" => return if m == "POST" { Ok(Route::Mcp(super::mcp::Flavor::Edgerun)) } else { Err(wrong_method("POST")) },
        "/mcp/v1" => return if m == "POST" { Ok(Route::Mcp(super::mcp::Flavor::Era)) } else { Err(wrong_method("POST")) },
        "/api/sessions" | "/api/sessions/" => {
            return match m {
                "POST" => Ok(Route::CreateSession),
                "GET" => Ok(Route::ListSessions),
                // Only the exact path deletes everything: a client that built `/api/sessions/<id>`
                // with an empty id must not.
                "DELETE" if path == "/api/sessions" => Ok(Route::DeleteAllSessions),
                "DELETE" => Err(ApiError::bad(
                    "no session id after /api/sessions/ (DELETE /api/sessions, without the slash, deletes every session)",
                )),
                _ => Err(wrong_method("GET, POST or DELETE")),
            };
        }
        _ => {}
    }
    let Some(rest) = path.strip_prefix("/api/sessions/") else {
        return Err(ApiError::not_found(format!("no route for {path}")));
    };
    let (raw_id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let id = percent_decode(raw_id)?;
    check_session_id(&id)?;
    let route = match (tail, m) {
        ("", "GET") => Route::GetSession(id),
        ("", "PATCH") => Route::PatchSession(id),
        ("", "DELETE") => Route::DeleteSession(id),
        ("", _) => return Err(wrong_method("GET, PATCH or DELETE")),
        ("code", "GET") => Route::GetCode(id),
        ("code", "PUT") => Route::PutCode(id),
        ("code", _) => return Err(wrong_method("GET or PUT")),
        ("run", "POST") => Route::Run(id),
        ("stream", "POST") => Route::StreamRun(id),
        ("cancel", "POST") => Route::Cancel(id),
        ("runs", "GET") => Route::Runs(id),
        ("setup", "POST") => Route::Setup(id),
        ("setup", "GET") => Route::GetSetup(id),
        ("duplicate", "POST") => Route::Duplicate(id),
        ("setup", _) => return Err(wrong_method("GET or POST")),
        ("run" | "stream" | "cancel" | "duplicate", _) => return Err(wrong_method("POST")),
        ("runs", _) => return Err(wrong_method("GET")),
        (t, m) if t.starts_with("runs/") => {
            let run_id = percent_decode(&t["runs/".len()..])?;
            if !is_run_id(&run_id) {
                return Err(ApiError::bad(format!(
                    "invalid run id {:?}: run ids are `run_` and 24 hex digits",
                    super::ids::truncate(&run_id, 80)
                )));
            }
            match m {
                "GET" => Route::GetRun(id, run_id),
                _ => return Err(wrong_method("GET")),
            }
        }
        ("contexts", "POST") => Route::CreateContext(id),
        ("contexts", "GET") => Route::ListContexts(id),
        ("contexts", _) => return Err(wrong_method("GET or POST")),
        (t, m) if t.starts_with("contexts/") => {
            let ctx = percent_decode(&t["contexts/".len()..])?;
            if !edgerun_protocol::valid_context_id(&ctx) {
                return Err(ApiError::bad(format!(
                    "invalid context id {:?}: context ids are `ctx_` and 24 hex digits",
                    super::ids::truncate(&ctx, 80)
                )));
            }
            match m {
                "DELETE" => Route::DeleteContext(id, ctx),
                _ => return Err(wrong_method("DELETE")),
            }
        }
        ("processes", "POST") => Route::StartProcess(id),
        ("processes", "GET") => Route::ListProcesses(id),
        ("processes", _) => return Err(wrong_method("GET or POST")),
        (t, m) if t.starts_with("processes/") => {
            let rest = &t["processes/".len()..];
            let (raw, sub) = rest.split_once('/').unwrap_or((rest, ""));
            let proc = percent_decode(raw)?;
            if !edgerun_protocol::valid_process_id(&proc) {
                return Err(ApiError::bad(format!(
                    "invalid process id {:?}: process ids are `proc_` and 24 hex digits",
                    super::ids::truncate(&proc, 80)
                )));
            }
            match (sub, m) {
                ("", "GET") => Route::GetProcess(id, proc),
                ("", "DELETE") => Route::DeleteProcess(id, proc),
                ("", _) => return Err(wrong_method("GET or DELETE")),
                ("logs", "GET") => Route::ProcessLogs(id, proc),
                ("logs", _) => return Err(wrong_method("GET")),
                ("stdin", "POST") => Route::ProcessInput(id, proc),
                ("stdin", _) => return Err(wrong_method("POST")),
                _ => return Err(ApiError::not_found(format!("no route for {path}"))),
            }
        }
        (t, _) if t == "ports" || t.starts_with("ports/") => {
            let rest = t.strip_prefix("ports").unwrap_or("").trim_start_matches('/');
            let (raw, sub) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let port = parse_port(raw)?;
            if sub == "/url" && m == "POST" {
                Route::PortUrl(id, port)
            } else {
                Route::Port(id, port, sub.to_string())
            }
        }
        ("files" | "files/", "GET") => Route::ListFiles(id),
        ("files" | "files/", _) => return Err(wrong_method("GET")),
        (t, _) if t.starts_with("files/") => {
            let file = percent_decode(&t["files/".len()..])?;
            check_file_path(&file)?;
            match m {
                "GET" => Route::GetFile(id, file),
                "PUT" => Route::PutFile(id, file),
                "DELETE" => Route::DeleteFile(id, file),
                _ => return Err(wrong_method("GET, PUT or DELETE")),
            }
        }
        _ => return Err(ApiError::not_found(format!("no route for {path}"))),
    };
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        assert_eq!(parse("GET", "/health").unwrap(), Route::Health);
        assert_eq!(parse("GET", "/openapi.json").unwrap(), Route::OpenApi);
        assert_eq!(parse("POST", "/").unwrap(), Route::Plugin);
        assert_eq!(parse("GET", "/api/sessions").unwrap(), Route::ListSessions);
        assert_eq!(parse("POST", "/api/sessions").unwrap(), Route::CreateSession);
        assert_eq!(parse("GET", "/api/sessions/abc").unwrap(), Route::GetSession("abc".into()));
        assert_eq!(parse("PATCH", "/api/sessions/abc").unwrap(), Route::PatchSession("abc".into()));
        assert_eq!(parse("DELETE", "/api/sessions").unwrap(), Route::DeleteAllSessions);
        assert_eq!(parse("DELETE", "/api/sessions/").unwrap_err().status(), 400, "an empty id deletes nothing");
        assert_eq!(parse("PUT", "/api/sessions/abc/code").unwrap(), Route::PutCode("abc".into()));
        assert_eq!(parse("GET", "/api/sessions/abc/code").unwrap(), Route::GetCode("abc".into()));
        assert_eq!(parse("POST", "/api/sessions/abc/code").unwrap_err().status(), 405);
        let run = "run_0123456789abcdef01234567";
        assert_eq!(parse("GET", &format!("/api/sessions/abc/runs/{run}")).unwrap(), Route::GetRun("abc".into(), run.into()));
        assert_eq!(parse("DELETE", &format!("/api/sessions/abc/runs/{run}")).unwrap_err().status(), 405);
        for bad in ["run_x", "run_0123456789ABCDEF01234567", "0123456789abcdef01234567", "run_0123456789abcdef012345678"] {
            assert_eq!(parse("GET", &format!("/api/sessions/abc/runs/{bad}")).unwrap_err().status(), 400, "{bad}");
        }
        assert_eq!(parse("POST", "/api/sessions/abc/run").unwrap(), Route::Run("abc".into()));
        assert_eq!(parse("GET", "/api/sessions/abc/files/").unwrap(), Route::ListFiles("abc".into()));
        assert_eq!(
            parse("PUT", "/api/sessions/abc/files/data/r%C3%A9sum%C3%A9.txt").unwrap(),
            Route::PutFile("abc".into(), "data/résumé.txt".into())
        );
        assert_eq!(parse("GET", "/api/sessions/abc/files/a%2Fb").unwrap(), Route::GetFile("abc".into(), "a/b".into()));
    }

    #[test]
    fn context_routes_parse() {
        let ctx = "ctx_0123456789abcdef01234567";
        assert_eq!(parse("POST", "/api/sessions/abc/contexts").unwrap(), Route::CreateContext("abc".into()));
        assert_eq!(parse("GET", "/api/sessions/abc/contexts").unwrap(), Route::ListContexts("abc".into()));
        assert_eq!(parse("DELETE", &format!("/api/sessions/abc/contexts/{ctx}")).unwrap(), Route::DeleteContext("abc".into(), ctx.into()));
        assert_eq!(parse("PUT", "/api/sessions/abc/contexts").unwrap_err().status(), 405);
        assert_eq!(parse("GET", &format!("/api/sessions/abc/contexts/{ctx}")).unwrap_err().status(), 405);
        for bad in ["ctx_x", "ctx_0123456789ABCDEF01234567", "0123456789abcdef01234567", "ctx_0123456789abcdef01234567/x"] {
            assert_eq!(parse("DELETE", &format!("/api/sessions/abc/contexts/{bad}")).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn process_routes_parse() {
        let p = "proc_0123456789abcdef01234567";
        let at = |m: &str, tail: &str| parse(m, &format!("/api/sessions/abc/processes{tail}"));
        assert_eq!(at("POST", "").unwrap(), Route::StartProcess("abc".into()));
        assert_eq!(at("GET", "").unwrap(), Route::ListProcesses("abc".into()));
        assert_eq!(at("GET", &format!("/{p}")).unwrap(), Route::GetProcess("abc".into(), p.into()));
        assert_eq!(at("DELETE", &format!("/{p}")).unwrap(), Route::DeleteProcess("abc".into(), p.into()));
        assert_eq!(at("GET", &format!("/{p}/logs")).unwrap(), Route::ProcessLogs("abc".into(), p.into()));
        assert_eq!(at("POST", &format!("/{p}/stdin")).unwrap(), Route::ProcessInput("abc".into(), p.into()));
        assert_eq!(at("PUT", "").unwrap_err().status(), 405);
        assert_eq!(at("POST", &format!("/{p}")).unwrap_err().status(), 405);
        assert_eq!(at("POST", &format!("/{p}/logs")).unwrap_err().status(), 405);
        assert_eq!(at("GET", &format!("/{p}/stdin")).unwrap_err().status(), 405);
        assert_eq!(at("GET", &format!("/{p}/nope")).unwrap_err().status(), 404);
        for bad in ["proc_x", "proc_0123456789ABCDEF01234567", "ctx_0123456789abcdef01234567", "..%2F"] {
            assert_eq!(at("GET", &format!("/{bad}")).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn port_routes_parse() {
        let at = |m: &str, tail: &str| parse(m, &format!("/api/sessions/abc/ports{tail}"));
        assert_eq!(at("GET", "/8000/").unwrap(), Route::Port("abc".into(), 8000, "/".into()));
        assert_eq!(at("GET", "/8000").unwrap(), Route::Port("abc".into(), 8000, "/".into()));
        assert_eq!(at("POST", "/8000/api/x%20y").unwrap(), Route::Port("abc".into(), 8000, "/api/x%20y".into()));
        assert_eq!(at("PROPFIND", "/65535/a/b/").unwrap(), Route::Port("abc".into(), 65535, "/a/b/".into()));
        assert_eq!(at("POST", "/8000/url").unwrap(), Route::PortUrl("abc".into(), 8000));
        assert_eq!(at("GET", "/8000/url").unwrap(), Route::Port("abc".into(), 8000, "/url".into()), "the app's own /url otherwise");
        for bad in ["", "/", "/80/", "/1023/", "/65536/", "/08x/", "/-1/", "/8000.0/", "/123456/"] {
            assert_eq!(at("GET", bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn bad_routes_are_refused_with_the_right_status() {
        let st = |m: &str, p: &str| parse(m, p).unwrap_err().status();
        assert_eq!(st("GET", "/nope"), 404);
        assert_eq!(st("GET", "/api/sessions/abc/nope"), 404);
        assert_eq!(st("PUT", "/api/sessions/abc"), 405);
        assert_eq!(st("GET", "/api/sessions/abc/run"), 405);
        assert_eq!(st("POST", "/health"), 405);
        assert_eq!(st("POST", "/openapi.json"), 405);
        assert_eq!(st("PROPFIND", "/api/sessions/abc"), 405);
        assert_eq!(st("FOO", "/api/sessions"), 405);
        assert_eq!(st("GET", "/openapi.yaml"), 404);
        assert_eq!(st("GET", "/api/sessions/a%20b"), 400);
        assert_eq!(st("GET", "/api/sessions/abc/files/..%2Fx"), 400);
        assert_eq!(st("GET", "/api/sessions/abc/files/a%00b"), 400);
        assert_eq!(st("GET", "/api/sessions/abc/files/%ZZ"), 400);
        assert_eq!(st("GET", "/api/sessions/abc/files/%FF"), 400);
        assert_eq!(st("PUT", "/api/sessions/abc/files/.sandbox/x"), 400);
        assert_eq!(st("PUT", "/api/sessions/abc/files/.session_data.json"), 400);
    }

    #[test]
    fn encoding_round_trips() {
        for s in ["a b/c", "résumé", "100%", "a+b&c=d"] {
            assert_eq!(percent_decode(&percent_encode(s)).unwrap(), s);
        }
    }
}
