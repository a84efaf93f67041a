//! The executor's HTTP API in-process: the shared secret guards every route but /health, and bad
//! input gets the JSON error shape.
mod common;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use edgerun_executor::{app, config::Config, session::Sessions};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

fn router(secret: Option<&str>) -> (tempfile::TempDir, axum::Router) {
    common::load_tool_env();
    let dir = tempfile::tempdir_in(common::work_parent()).unwrap();
    let mut config = Config::for_root(dir.path());
    config.secret = secret.map(String::from);
    (dir, app(Arc::new(Sessions::new(config).unwrap())))
}

async fn send(r: &axum::Router, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = r.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn the_secret_is_required_except_for_health() {
    let (_d, r) = router(Some("s3cret"));
    let (st, body) = send(&r, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!((st, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    for secret in [None, Some("wrong"), Some("s3cre"), Some("s3cret2")] {
        let mut req = Request::get("/v1/sessions/abc");
        if let Some(s) = secret {
            req = req.header(edgerun_protocol::SECRET_HEADER, s);
        }
        let (st, body) = send(&r, req.body(Body::empty()).unwrap()).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{secret:?}");
        assert_eq!(body["code"], "unauthorized");
    }
    let req = Request::get("/v1/sessions/abc").header(edgerun_protocol::SECRET_HEADER, "s3cret").body(Body::empty()).unwrap();
    let (st, body) = send(&r, req).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["version"], serde_json::Value::Null);
}

#[tokio::test]
async fn bad_requests_get_the_error_shape() {
    let (_d, r) = router(None);
    let cases = [
        (Request::post("/v1/sessions/abc/run").body(Body::from("{nope")).unwrap(), StatusCode::BAD_REQUEST),
        (Request::post("/v1/sessions/a..b/run").body(Body::from("{}")).unwrap(), StatusCode::BAD_REQUEST),
        (Request::post("/v1/sessions/abc/run").body(Body::from(r#"{"code":"1","timeout_secs":0}"#)).unwrap(), StatusCode::BAD_REQUEST),
        (
            Request::post("/v1/sessions/abc/run").body(Body::from(r#"{"code":"1","install":{"pip":["--evil"]}}"#)).unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (Request::post("/v1/sessions/abc/inject").body(Body::from("xx")).unwrap(), StatusCode::BAD_REQUEST),
        (Request::get("/nope").body(Body::empty()).unwrap(), StatusCode::NOT_FOUND),
    ];
    for (req, want) in cases {
        let uri = req.uri().clone();
        let (st, body) = send(&r, req).await;
        assert_eq!(st, want, "{uri}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{uri}: {body}");
        assert!(body["code"].is_string());
    }
}

#[tokio::test]
async fn a_run_against_a_stale_version_is_refused_before_anything_runs() {
    let (_d, r) = router(None);
    let req = Request::post("/v1/sessions/abc/run")
        .body(Body::from(r#"{"language":"bash","code":"touch ran","expect_version":"v-that-is-not-here"}"#))
        .unwrap();
    let (st, body) = send(&r, req).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(body["code"], "workspace_stale");
}
