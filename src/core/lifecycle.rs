//! The container lifecycle rules, free of the platform so they are tested natively against a
//! fake: start on demand, wait for the executor's health retrying only "not ready" within a
//! bounded budget with backoff (then 503), and let an idle container sleep.
use super::error::{ApiError, ApiResult};
use edgerun_protocol::ErrorCode;

/// What a health probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ready,
    /// Still starting (port not listening yet, connection refused, 5xx): worth another try.
    NotReady(String),
    /// Anything else: retrying would not help.
    Failed(String),
}

/// A sandbox that can be started and probed.
#[allow(async_fn_in_trait)]
pub trait Sandbox {
    fn running(&self) -> bool;
    fn start(&self) -> Result<(), String>;
    /// Stops the sandbox for good (its state is in R2); a no-op when it is not running.
    async fn destroy(&self);
    async fn health(&self) -> Health;
}

/// Waiting between probes.
#[allow(async_fn_in_trait)]
pub trait Sleeper {
    async fn sleep(&self, ms: u64);
}

/// Retry budget for readiness.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub attempts: u32,
    pub first_delay_ms: u64,
    pub max_delay_ms: u64,
    /// After this many "not ready" probes of a sandbox that was already running when we came
    /// (one we did not start), it is taken for gone behind the runtime's back (its executor
    /// killed, nothing listening) and restarted, once.
    pub restart_after: u32,
}

pub const READY_BUDGET: Budget = Budget { attempts: 20, first_delay_ms: 50, max_delay_ms: 1000, restart_after: 8 };

/// What a session's container is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    /// The container's environment: the executor's secret as `EDGERUN_SECRET`, its contexts' idle
    /// time as `EDGERUN_CONTEXT_IDLE_MS`, and the executor settings the deployment set.
    pub env: Vec<(&'static str, String)>,
    /// Whether user code may reach the internet (installs need it).
    pub enable_internet: bool,
}

/// The executor's limits a deployment may set as Worker vars of the same names (`[vars]` in
/// wrangler.toml); each is passed to every session's container when it starts. Whole numbers.
pub const EXECUTOR_LIMITS: [&str; 8] = [
    "EDGERUN_MEMORY_MB",
    "EDGERUN_MAX_PROCESSES",
    "EDGERUN_FILE_SIZE_MB",
    "EDGERUN_OPEN_FILES",
    "EDGERUN_OUTPUT_BYTES",
    "EDGERUN_MAX_WORKSPACE_MB",
    "EDGERUN_MAX_FILES",
    "EDGERUN_CHECKPOINT_MB",
];

/// How long a session's container stays up without a request (`IDLE_TIMEOUT_MS`) when unset.
pub const DEFAULT_IDLE_MS: i64 = 10 * 60 * 1000;

/// The Worker's settings a container start is made from, as read from its env.
#[derive(Debug, Clone, Default)]
pub struct StartSettings {
    /// `EXECUTOR_SECRET` (a secret).
    pub secret: Option<String>,
    /// `SANDBOX_INTERNET`: `false`, `0`, `off` or `no` start containers without internet.
    pub internet: Option<String>,
    /// `IDLE_TIMEOUT_MS`: the container sleeps after this long without a request.
    pub idle_ms: Option<String>,
    /// The [`EXECUTOR_LIMITS`] that are set, with their values.
    pub limits: Vec<(&'static str, String)>,
}

/// The idle time of a session's container: `IDLE_TIMEOUT_MS`, else [`DEFAULT_IDLE_MS`].
pub fn idle_ms(v: Option<&str>) -> ApiResult<i64> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_IDLE_MS),
        Some(v) => v.parse::<i64>().ok().filter(|ms| *ms > 0).ok_or_else(|| {
            ApiError::new(
                ErrorCode::SandboxUnavailable,
                format!("IDLE_TIMEOUT_MS must be a whole number of milliseconds above 0, got {v:?}"),
            )
        }),
    }
}

/// The start options of a session's container. Without a secret none is started: its executor
/// would serve the user code beside it unauthenticated. A limit that is not a whole number is
/// refused here, in words, rather than by an executor that would exit at start.
pub fn startup(s: &StartSettings) -> ApiResult<Startup> {
    let unavailable = |m: String| ApiError::new(ErrorCode::SandboxUnavailable, m);
    let secret = s.secret.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
        unavailable(
            "no EXECUTOR_SECRET is configured, so no sandbox is started (its executor would be open to the code it runs): set it with `wrangler secret put EXECUTOR_SECRET`".into(),
        )
    })?;
    let enable_internet = !matches!(s.internet.as_deref().map(str::trim), Some("false" | "0" | "off" | "no"));
    let mut env = vec![("EDGERUN_SECRET", secret.to_string()), ("EDGERUN_CONTEXT_IDLE_MS", idle_ms(s.idle_ms.as_deref())?.to_string())];
    for (name, value) in &s.limits {
        if !EXECUTOR_LIMITS.contains(name) {
            continue;
        }
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if value.parse::<u64>().is_err() {
            return Err(unavailable(format!("{name} must be a whole number, got {value:?}")));
        }
        env.push((name, value.to_string()));
    }
    Ok(Startup { env, enable_internet })
}

/// Classifies a failed probe by its error text.
pub fn classify(error: &str) -> Health {
    let e = error.to_ascii_lowercase();
    // "connecting to container port": the runtime's proxy reached the container but nothing
    // listens on the port yet (locally: `… through proxy-everything failed: [502]`).
    let starting = [
        "not listening",
        "port not found",
        "connection refused",
        "not running",
        "container is starting",
        "network connection lost",
        "connecting to container port",
    ];
    if starting.iter().any(|s| e.contains(s)) {
        Health::NotReady(error.to_string())
    } else {
        Health::Failed(error.to_string())
    }
}

/// Starts the sandbox if needed and waits until it is healthy. A sandbox that stops while we
/// wait (an idle sleep finishing) is started again; one that was running when we came but never
/// answers is restarted once (see [`Budget::restart_after`]).
pub async fn ensure_ready<S: Sandbox, Z: Sleeper>(sandbox: &S, sleeper: &Z, budget: Budget) -> ApiResult<()> {
    let unavailable = |m: String| ApiError::new(ErrorCode::SandboxUnavailable, m);
    let start = || sandbox.start().map_err(|e| unavailable(format!("the sandbox container did not start: {e}")));
    let mut started = false;
    if !sandbox.running() {
        start()?;
        started = true;
    }
    let mut delay = budget.first_delay_ms;
    let mut last = String::from("no probe made");
    for attempt in 0..budget.attempts {
        match sandbox.health().await {
            Health::Ready => return Ok(()),
            Health::Failed(e) => return Err(unavailable(format!("the sandbox is not healthy: {e}"))),
            Health::NotReady(e) => last = e,
        }
        if attempt + 1 == budget.attempts {
            break;
        }
        if !sandbox.running() {
            start()?;
            started = true;
        } else if !started && attempt + 1 == budget.restart_after {
            sandbox.destroy().await;
            start()?;
            started = true;
        }
        sleeper.sleep(delay).await;
        delay = (delay * 2).min(budget.max_delay_ms);
    }
    Err(unavailable(format!("the sandbox did not become ready after {} probes: {last}", budget.attempts)))
}

/// What the idle alarm should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleAction {
    /// Stop the container: its workspace is committed in R2.
    Sleep,
    /// Look again in this many milliseconds.
    CheckIn(i64),
}

pub fn idle_action(now_ms: f64, last_activity_ms: f64, idle_ms: i64) -> IdleAction {
    let since = (now_ms - last_activity_ms).max(0.0) as i64;
    if since >= idle_ms {
        IdleAction::Sleep
    } else {
        IdleAction::CheckIn(idle_ms - since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(secret: Option<&str>) -> StartSettings {
        StartSettings { secret: secret.map(String::from), ..StartSettings::default() }
    }

    #[test]
    fn containers_start_only_with_a_secret_which_they_get_in_their_environment() {
        for missing in [None, Some(""), Some("  ")] {
            let e = startup(&settings(missing)).unwrap_err();
            assert_eq!(e.status(), 503);
            assert!(e.message.contains("EXECUTOR_SECRET"), "{}", e.message);
        }
        let s = startup(&settings(Some("s3cret"))).unwrap();
        assert_eq!(s.env, vec![("EDGERUN_SECRET", "s3cret".to_string()), ("EDGERUN_CONTEXT_IDLE_MS", DEFAULT_IDLE_MS.to_string())]);
        assert!(s.enable_internet, "installs need the network unless switched off");
        let off = StartSettings { internet: Some("false".into()), ..settings(Some("s")) };
        assert!(!startup(&off).unwrap().enable_internet);
        let on = StartSettings { internet: Some("true".into()), ..settings(Some("s")) };
        assert!(startup(&on).unwrap().enable_internet);
    }

    #[test]
    fn containers_get_the_idle_time_and_the_limits_the_deployment_set() {
        let s = StartSettings {
            idle_ms: Some("30000".into()),
            limits: vec![
                ("EDGERUN_MEMORY_MB", " 256 ".into()),
                ("EDGERUN_MAX_FILES", "".into()),
                ("EDGERUN_SECRET", "not a limit".into()),
                ("EDGERUN_OUTPUT_BYTES", "65536".into()),
            ],
            ..settings(Some("s"))
        };
        let env = startup(&s).unwrap().env;
        assert_eq!(
            env,
            vec![
                ("EDGERUN_SECRET", "s".to_string()),
                ("EDGERUN_CONTEXT_IDLE_MS", "30000".to_string()),
                ("EDGERUN_MEMORY_MB", "256".to_string()),
                ("EDGERUN_OUTPUT_BYTES", "65536".to_string()),
            ],
            "unset limits are left to the executor's defaults; only names of EXECUTOR_LIMITS pass"
        );
        for bad in ["-1", "1.5", "lots"] {
            let s = StartSettings { limits: vec![("EDGERUN_MEMORY_MB", bad.into())], ..settings(Some("s")) };
            let e = startup(&s).unwrap_err();
            assert_eq!(e.status(), 503);
            assert!(e.message.contains("EDGERUN_MEMORY_MB must be a whole number"), "{}", e.message);
        }
        for bad in ["0", "-5", "soon"] {
            let s = StartSettings { idle_ms: Some(bad.into()), ..settings(Some("s")) };
            assert!(startup(&s).unwrap_err().message.contains("IDLE_TIMEOUT_MS"), "{bad}");
        }
        assert_eq!(idle_ms(None).unwrap(), DEFAULT_IDLE_MS);
        assert_eq!(idle_ms(Some(" 1500 ")).unwrap(), 1500);
    }

    #[test]
    fn the_local_proxys_502_before_the_executor_listens_is_not_ready() {
        let e = "the sandbox container did not answer (Error: Connecting to container port through proxy-everything failed: [502] Bad Gateway nothing listens on port 8080 yet\n)";
        assert!(matches!(classify(e), Health::NotReady(_)));
    }
    use std::cell::{Cell, RefCell};
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Drives a future whose awaits are all immediately ready (the fakes never block).
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    struct FakeContainer {
        running: Cell<bool>,
        starts: Cell<u32>,
        destroys: Cell<u32>,
        /// Probes after which the container stops by itself (an idle sleep finishing).
        stops_after: Option<u32>,
        probes: Cell<u32>,
        script: RefCell<Vec<Health>>,
        start_error: Option<String>,
    }

    impl FakeContainer {
        fn new(running: bool, script: Vec<Health>) -> Self {
            FakeContainer {
                running: Cell::new(running),
                starts: Cell::new(0),
                destroys: Cell::new(0),
                stops_after: None,
                probes: Cell::new(0),
                script: RefCell::new(script),
                start_error: None,
            }
        }
    }

    impl Sandbox for FakeContainer {
        fn running(&self) -> bool {
            self.running.get()
        }
        fn start(&self) -> Result<(), String> {
            if let Some(e) = &self.start_error {
                return Err(e.clone());
            }
            self.starts.set(self.starts.get() + 1);
            self.running.set(true);
            Ok(())
        }
        async fn destroy(&self) {
            self.destroys.set(self.destroys.get() + 1);
            self.running.set(false);
        }
        async fn health(&self) -> Health {
            self.probes.set(self.probes.get() + 1);
            if Some(self.probes.get()) == self.stops_after {
                self.running.set(false);
            }
            let mut s = self.script.borrow_mut();
            if s.is_empty() {
                Health::Ready
            } else {
                s.remove(0)
            }
        }
    }

    #[derive(Default)]
    struct FakeClock {
        slept: RefCell<Vec<u64>>,
    }

    impl Sleeper for FakeClock {
        async fn sleep(&self, ms: u64) {
            self.slept.borrow_mut().push(ms);
        }
    }

    const BUDGET: Budget = Budget { attempts: 5, first_delay_ms: 50, max_delay_ms: 300, restart_after: 3 };

    #[test]
    fn a_stopped_container_is_started_once_and_waited_for_with_backoff() {
        let c =
            FakeContainer::new(false, vec![classify("container port not found"), classify("connect: connection refused"), Health::Ready]);
        let clock = FakeClock::default();
        block_on(ensure_ready(&c, &clock, BUDGET)).unwrap();
        assert_eq!(c.starts.get(), 1);
        assert_eq!(c.probes.get(), 3);
        assert_eq!(*clock.slept.borrow(), vec![50, 100]);
    }

    #[test]
    fn a_running_container_is_not_started_again() {
        let c = FakeContainer::new(true, vec![]);
        block_on(ensure_ready(&c, &FakeClock::default(), BUDGET)).unwrap();
        assert_eq!(c.starts.get(), 0);
        assert_eq!(c.probes.get(), 1);
    }

    #[test]
    fn a_container_that_stops_while_waited_for_is_started_again() {
        let mut c = FakeContainer::new(true, vec![Health::NotReady("502".into()), Health::NotReady("502".into())]);
        c.stops_after = Some(1);
        block_on(ensure_ready(&c, &FakeClock::default(), BUDGET)).unwrap();
        assert_eq!(c.starts.get(), 1, "started again once it was seen stopped");
        assert_eq!(c.destroys.get(), 0);
        assert_eq!(c.probes.get(), 3);
    }

    #[test]
    fn a_running_container_that_never_answers_is_restarted_once() {
        let c = FakeContainer::new(true, (0..4).map(|_| classify("connecting to container port failed: [502]")).collect());
        block_on(ensure_ready(&c, &FakeClock::default(), BUDGET)).unwrap();
        assert_eq!((c.destroys.get(), c.starts.get()), (1, 1), "destroyed and started after restart_after probes");
        assert_eq!(c.probes.get(), 5);
        let fresh = FakeContainer::new(false, (0..4).map(|_| Health::NotReady("502".into())).collect());
        block_on(ensure_ready(&fresh, &FakeClock::default(), BUDGET)).unwrap();
        assert_eq!((fresh.destroys.get(), fresh.starts.get()), (0, 1), "a container we started is given the whole budget");
    }

    #[test]
    fn the_budget_ends_in_a_503() {
        let c = FakeContainer::new(false, (0..10).map(|_| Health::NotReady("not listening".into())).collect());
        let clock = FakeClock::default();
        let e = block_on(ensure_ready(&c, &clock, BUDGET)).unwrap_err();
        assert_eq!(e.status(), 503);
        assert_eq!(c.probes.get(), BUDGET.attempts);
        assert_eq!(*clock.slept.borrow(), vec![50, 100, 200, 300], "backoff doubles up to its cap, no sleep after the last probe");
    }

    #[test]
    fn only_not_ready_is_retried() {
        let c = FakeContainer::new(true, vec![classify("the executor answered 401: wrong secret")]);
        let e = block_on(ensure_ready(&c, &FakeClock::default(), BUDGET)).unwrap_err();
        assert_eq!(e.status(), 503);
        assert_eq!(c.probes.get(), 1);
    }

    #[test]
    fn a_container_that_cannot_start_is_a_503_without_probes() {
        let mut c = FakeContainer::new(false, vec![]);
        c.start_error = Some("no capacity".into());
        let e = block_on(ensure_ready(&c, &FakeClock::default(), BUDGET)).unwrap_err();
        assert_eq!(e.status(), 503);
        assert!(e.message.contains("no capacity"));
        assert_eq!(c.probes.get(), 0);
    }

    #[test]
    fn idle_containers_sleep_after_the_idle_period() {
        assert_eq!(idle_action(10_000.0, 0.0, 10_000), IdleAction::Sleep);
        assert_eq!(idle_action(4_000.0, 0.0, 10_000), IdleAction::CheckIn(6_000));
        assert_eq!(idle_action(0.0, 5.0, 10_000), IdleAction::CheckIn(10_000), "clock skew never sleeps early");
    }
}
