//! The Model Context Protocol server, its platform-free part: JSON-RPC 2.0 messages, the
//! lifecycle (`initialize`, `ping`), the tool list (generated from typed inputs into
//! `docs/mcp-tools.json`) and the shape of tool results. The tools themselves are the API's own
//! routes (`crate::mcp`), so a tool validates its arguments exactly as the route does.
//!
//! Errors follow the specification: a malformed message or an unknown method is a JSON-RPC
//! error; an unknown tool is a JSON-RPC error (`-32602`); a tool whose arguments are refused, or
//! whose run failed, is a result with `isError: true`.
use serde_json::{json, Map, Value};

/// Protocol versions this server speaks, newest first; a client asking for another gets the newest.
pub const VERSIONS: [&str; 3] = ["2025-06-18", "2025-03-26", "2024-11-05"];

/// The two servers: ours at `/mcp`, and ERA's at `/mcp/v1` for ERA's clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Edgerun,
    Era,
}

impl Flavor {
    fn server_name(self) -> &'static str {
        match self {
            Flavor::Edgerun => "edgerun",
            Flavor::Era => "era-agent-mcp",
        }
    }
}

/// JSON-RPC error codes.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;

/// One message a client sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request: it gets exactly one response with its `id`.
    Request { id: Value, method: String, params: Value },
    /// A notification (no `id`), or a response to a server request: answered 202, no body.
    Notification,
}

/// A JSON-RPC error response.
pub fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// A JSON-RPC success response.
pub fn response(id: &Value, result: Value) -> Value {
    let mut m = Map::new();
    m.insert("jsonrpc".into(), json!("2.0"));
    m.insert("id".into(), id.clone());
    m.insert("result".into(), result);
    Value::Object(m)
}

/// A notification from the server (progress of a tool call).
pub fn progress(token: &Value, progress: u64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": token, "progress": progress, "message": message}})
}

/// Reads one message; what is not one is answered with the error response to send back.
pub fn parse(body: &[u8]) -> Result<Message, Value> {
    let v: Value = serde_json::from_slice(body).map_err(|e| error(&Value::Null, PARSE_ERROR, &format!("not JSON: {e}")))?;
    let Some(m) = v.as_object() else {
        let why = if v.is_array() { "batches are not accepted: send one message per request" } else { "a message is a JSON object" };
        return Err(error(&Value::Null, INVALID_REQUEST, why));
    };
    let id = m.get("id").cloned();
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(error(id.as_ref().unwrap_or(&Value::Null), INVALID_REQUEST, "`jsonrpc` must be \"2.0\""));
    }
    let method = m.get("method").and_then(Value::as_str);
    match (id, method) {
        (Some(id), Some(method)) => {
            if !(id.is_string() || id.is_i64() || id.is_u64()) {
                return Err(error(&Value::Null, INVALID_REQUEST, "`id` must be a string or an integer"));
            }
            let params = m.get("params").cloned().unwrap_or(Value::Null);
            if !(params.is_object() || params.is_null()) {
                return Err(error(&id, INVALID_PARAMS, "`params` must be an object"));
            }
            Ok(Message::Request { id, method: method.to_string(), params })
        }
        (None, Some(_)) => Ok(Message::Notification),
        (Some(_), None) if m.contains_key("result") || m.contains_key("error") => Ok(Message::Notification),
        (id, None) => Err(error(id.as_ref().unwrap_or(&Value::Null), INVALID_REQUEST, "a request needs a `method`")),
    }
}

/// The answer to `initialize`: the client's version when this server speaks it, else the newest.
pub fn initialize(flavor: Flavor, params: &Value, version: &str) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or("");
    let chosen = VERSIONS.iter().find(|v| **v == asked).copied().unwrap_or(VERSIONS[0]);
    let instructions = match flavor {
        Flavor::Edgerun => {
            "Stateful code sessions: create a session, run code in it (files, packages and data stay from one call to the next), \
             read and write its files. Runs of python and node sessions keep their variables between calls where the runtime \
             supports it; each result carries stdout, stderr, the exit code and killed_by."
        }
        Flavor::Era => "ERA Agent tools, served by edgerun: sessions, runs and files.",
    };
    json!({
        "protocolVersion": chosen,
        "capabilities": {"tools": {"listChanged": false}, "resources": {"listChanged": false}},
        "serverInfo": {"name": flavor.server_name(), "version": version},
        "instructions": instructions
    })
}

/// The tool list of a flavor, from the generated document (`{"edgerun": [...], "era": [...]}`).
pub fn tools(doc: &Value, flavor: Flavor) -> Value {
    let key = match flavor {
        Flavor::Edgerun => "edgerun",
        Flavor::Era => "era",
    };
    json!({"tools": doc.get(key).cloned().unwrap_or_else(|| json!([]))})
}

/// A `tools/call`: the tool's name, its arguments, and the progress token the client sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub arguments: Map<String, Value>,
    pub progress: Option<Value>,
}

/// Reads `tools/call` params; an unknown tool (not in `known`) is `INVALID_PARAMS`.
pub fn call(params: &Value, known: &Value) -> Result<Call, (i64, String)> {
    let name = params.get("name").and_then(Value::as_str).ok_or((INVALID_PARAMS, "`name` of the tool is required".to_string()))?;
    let listed = known["tools"].as_array().is_some_and(|t| t.iter().any(|d| d["name"] == name));
    if !listed {
        return Err((INVALID_PARAMS, format!("unknown tool {name:?}")));
    }
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err((INVALID_PARAMS, "`arguments` must be an object".into())),
    };
    let progress = params.get("_meta").and_then(|m| m.get("progressToken")).filter(|t| t.is_string() || t.is_number()).cloned();
    Ok(Call { name: name.to_string(), arguments, progress })
}

/// A tool result of text blocks, with the structured value when there is one.
pub fn tool_result(texts: &[String], structured: Option<Value>, is_error: bool) -> Value {
    let content: Vec<Value> = texts.iter().map(|t| json!({"type": "text", "text": t})).collect();
    let mut r = json!({"content": content, "isError": is_error});
    if let Some(s) = structured.filter(Value::is_object) {
        r["structuredContent"] = s;
    }
    r
}

/// A refused argument or a failed operation, as the tool result the specification asks for.
pub fn tool_error(message: &str) -> Value {
    tool_result(&[message.to_string()], None, true)
}

/// A run answer as tool content: stdout first (ERA's clients read `content[0]`), stderr when
/// there is any, then one line with the exit code, the limit, the duration and the run id. A
/// run that exited non-zero or was ended by a limit is an error result.
pub fn run_result(answer: &Value) -> Value {
    let s = |k: &str| answer.get(k).and_then(Value::as_str).unwrap_or("");
    let stdout = if answer.get("output").is_some() { s("output") } else { s("stdout") };
    let stderr = if answer.get("logs").is_some() {
        answer["logs"].as_array().map(|l| l.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n")).unwrap_or_default()
    } else {
        s("stderr").to_string()
    };
    let exit = answer.get("exit_code").and_then(Value::as_i64).unwrap_or(-1);
    let killed = answer.get("killed_by").cloned().unwrap_or(Value::Null);
    let mut texts = vec![if stdout.is_empty() { "(no output)".to_string() } else { stdout.to_string() }];
    if !stderr.is_empty() {
        texts.push(format!("stderr:\n{stderr}"));
    }
    texts.push(format!(
        "exit_code: {exit}, killed_by: {}, duration_ms: {}, run_id: {}",
        killed.as_str().unwrap_or("null"),
        answer.get("duration_ms").and_then(Value::as_f64).unwrap_or(0.0),
        s("run_id")
    ));
    for key in ["result"] {
        if let Some(v) = answer.get(key).and_then(Value::as_str) {
            texts.insert(1, format!("{key}: {v}"));
        }
    }
    tool_result(&texts, Some(answer.clone()), exit != 0 || !killed.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_requests_notifications_or_errors() {
        let r = parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        assert_eq!(r, Message::Request { id: json!(1), method: "tools/list".into(), params: Value::Null });
        assert_eq!(parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(), Message::Notification);
        assert_eq!(parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap(), Message::Notification, "a response to us");
        let code = |b: &[u8]| parse(b).unwrap_err()["error"]["code"].as_i64().unwrap();
        assert_eq!(code(b"{nope"), PARSE_ERROR);
        assert_eq!(code(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#), INVALID_PARAMS);
        assert_eq!(code(br#"{"jsonrpc":"2.0","id":1}"#), INVALID_REQUEST);
        assert_eq!(parse(br#"{"jsonrpc":"2.0","id":7,"params":{}}"#).unwrap_err()["id"], 7);
    }

    #[test]
    fn initialize_agrees_on_a_version() {
        let v = initialize(Flavor::Edgerun, &json!({"protocolVersion": "2025-03-26"}), "1");
        assert_eq!(v["protocolVersion"], "2025-03-26");
        assert_eq!(initialize(Flavor::Edgerun, &json!({"protocolVersion": "0.1.0"}), "1")["protocolVersion"], VERSIONS[0]);
        assert_eq!(initialize(Flavor::Era, &json!({}), "1")["serverInfo"]["name"], "era-agent-mcp");
        assert_eq!(v["capabilities"]["tools"]["listChanged"], false);
    }

    #[test]
    fn tool_calls_name_a_listed_tool() {
        let known = json!({"tools": [{"name": "run_code"}]});
        let c = call(&json!({"name": "run_code", "arguments": {"code": "1"}, "_meta": {"progressToken": "p1"}}), &known).unwrap();
        assert_eq!((c.name.as_str(), c.arguments["code"].as_str(), c.progress), ("run_code", Some("1"), Some(json!("p1"))));
        assert_eq!(call(&json!({"name": "format_disk"}), &known).unwrap_err().0, INVALID_PARAMS);
        assert_eq!(call(&json!({"name": "run_code", "arguments": [1]}), &known).unwrap_err().0, INVALID_PARAMS);
        assert_eq!(call(&json!({}), &known).unwrap_err().0, INVALID_PARAMS);
        assert!(call(&json!({"name": "run_code"}), &known).unwrap().arguments.is_empty());
    }

    #[test]
    fn run_results_put_stdout_first_and_flag_failures() {
        let ok = run_result(&json!({"stdout": "Value: 42\n", "stderr": "", "exit_code": 0, "killed_by": null, "run_id": "run_1"}));
        assert_eq!(ok["content"][0]["text"], "Value: 42\n");
        assert_eq!(ok["isError"], false);
        assert_eq!(ok["structuredContent"]["run_id"], "run_1");
        let failed = run_result(&json!({"stdout": "", "stderr": "boom", "exit_code": 1, "killed_by": null}));
        assert_eq!(failed["isError"], true);
        assert_eq!(failed["content"][0]["text"], "(no output)");
        assert_eq!(failed["content"][1]["text"], "stderr:\nboom");
        let killed = run_result(&json!({"stdout": "x", "exit_code": 137, "killed_by": "timeout"}));
        assert!(killed["content"].as_array().unwrap().last().unwrap()["text"].as_str().unwrap().contains("killed_by: timeout"));
        let plugin = run_result(&json!({"output": "p\n", "logs": ["l1"], "exit_code": 0, "killed_by": null, "success": true}));
        assert_eq!(plugin["content"][0]["text"], "p\n");
        assert_eq!(plugin["content"][1]["text"], "stderr:\nl1");
    }
}
