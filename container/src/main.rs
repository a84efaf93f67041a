//! Executor entry point: read the configuration, serve until SIGTERM/SIGINT.
use edgerun_executor::{app, config::Config, session::Sessions};
use std::sync::Arc;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("EDGERUN_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("edgerun-executor: {e}");
            std::process::exit(2);
        }
    };
    let listen = config.listen.clone();
    let sessions = match Sessions::new(config) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("edgerun-executor: cannot prepare the work root: {e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("edgerun-executor: cannot listen on {listen}: {e}");
            std::process::exit(2);
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or(listen);
    // One line on stdout so that whoever started us knows where we listen.
    println!("edgerun-executor listening on http://{addr}");
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    };
    if let Err(e) = axum::serve(listener, app(sessions)).with_graceful_shutdown(shutdown).await {
        eprintln!("edgerun-executor: {e}");
        std::process::exit(1);
    }
}
