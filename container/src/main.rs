//! Executor entry point: read the configuration, serve until SIGTERM/SIGINT.
use edgerun_executor::{app, config::Config, session::Sessions};
use std::sync::Arc;

fn main() {
    // Few malloc arenas and a bounded blocking pool keep the executor's memory flat under load
    // (every blocking thread would otherwise grow an arena of its own).
    // SAFETY: mallopt is called once, before any other thread exists.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().max_blocking_threads(32).build().expect("the tokio runtime starts");
    runtime.block_on(serve());
}

async fn serve() {
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
    if std::env::args().nth(1).as_deref() == Some("seed-go-cache") {
        // For images: build the read-only Go seed cache at build time, not at a session's start.
        match edgerun_executor::session::seed_go_cache(&config) {
            Ok(dir) => println!("Go seed cache at {}", dir.display()),
            Err(e) => {
                eprintln!("edgerun-executor: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if config.secret.is_none() && std::env::var("EDGERUN_ALLOW_NO_SECRET").as_deref() != Ok("1") {
        // Anything that reaches the port — user code beside the executor, first of all — could
        // run code as any session: without a secret the executor does not serve.
        eprintln!(
            "edgerun-executor: EDGERUN_SECRET is not set; refusing to serve an open API (EDGERUN_ALLOW_NO_SECRET=1 allows it for tests)"
        );
        std::process::exit(2);
    }
    let listen = config.listen.clone();
    let context_idle = config.context_idle;
    let mut sessions = match Sessions::new(config) {
        Ok(s) => s,
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
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let firewall = sessions.close_to_sandboxes(port);
    let sessions = Arc::new(sessions);
    {
        // Contexts without a run for `context_idle` (10 minutes unless configured) are stopped,
        // checked every minute or more often when the idle time is shorter.
        let sessions = Arc::downgrade(&sessions);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(context_idle.min(std::time::Duration::from_secs(60)));
            loop {
                every.tick().await;
                let Some(s) = sessions.upgrade() else { return };
                let stopped = tokio::task::spawn_blocking(move || s.stop_idle_contexts(context_idle)).await.unwrap_or(0);
                if stopped > 0 {
                    tracing::info!(stopped, "idle contexts stopped");
                }
            }
        });
    }
    tracing::info!(isolation = %sessions.isolation(), network = %sessions.network(), "runs contained");
    // One line on stdout so that whoever started us knows where we listen.
    println!("edgerun-executor listening on http://{addr}");
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    };
    // No Nagle: a streamed answer (a port's, a run's records) goes out chunk by chunk, and a small
    // chunk held for the ACK of the one before waits out the Worker's delayed ACK (40 ms).
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(listener, app(sessions)).with_graceful_shutdown(shutdown).await;
    if let Some(f) = firewall {
        f.open();
    }
    if let Err(e) = served {
        eprintln!("edgerun-executor: {e}");
        std::process::exit(1);
    }
}
