//! Serving a router to the network with the limits a public service needs: the one
//! piece of code behind `alpes serve` and `alpes tracking`.
//!
//! [`serve`] accepts connections itself (rather than through `axum::serve`) so that it
//! can bound them and time them out, and drives each with hyper's HTTP/1.1 server:
//! - **connections**: at most [`HttpSettings::max_connections`] at once; beyond that
//!   the listener stops accepting (new clients wait in the kernel's backlog) until one
//!   closes. Back-pressure, not unbounded file descriptors and memory.
//! - **idle and header timeouts** ([`Watchdog`]): a connection with no request in
//!   progress is closed after the idle timeout; once the first byte of a request has
//!   arrived, its whole head must arrive within the header timeout (slowloris).
//!   hyper's own `header_read_timeout` starts when the connection begins *waiting* for
//!   a head, so it would close a keep-alive connection after the header timeout; a
//!   separate idle timeout needs the clock to restart at the first byte.
//! - **graceful shutdown**: on the signal the listener closes, idle connections close,
//!   and requests in flight finish (their connections close after the answer).
//!
//! And on every request ([`protect`]), outermost first:
//! - metrics and trace context (`observability::http::observe`): each answer counted
//!   and timed by route, the caller's `traceparent` continued;
//! - protective headers: `X-Content-Type-Options: nosniff`, `Cache-Control: no-store`,
//!   and an `x-request-id` (the client's only if it is a short token of safe
//!   characters: it ends up in logs and answers);
//! - CORS, only for the configured origins (off by default);
//! - a rate limit per client (429 with `Retry-After`);
//! - a cap on requests in progress (503 with `Retry-After` at once: shedding load);
//! - a deadline for the request body (408) and for the whole request (503).
//!
//! Every refusal is an [`ApiError`] problem, like every other error of both services.

use api::ApiError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::Service;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The limits and protections of an HTTP server.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Time for a request's head to arrive, from its first byte.
    pub header_timeout: Duration,
    /// Time for a request's body to arrive, from the end of its head.
    pub body_timeout: Duration,
    /// How long a connection with no request in progress stays open.
    pub idle_timeout: Duration,
    /// Time for the whole request, from the end of its head to the answer.
    pub request_timeout: Duration,
    /// Connections open at once.
    pub max_connections: u32,
    /// Requests in progress at once; beyond it, a 503 at once.
    pub max_requests: usize,
    /// Requests per second per client (and as many in a burst); `None`: no limit.
    pub rate_limit: Option<NonZeroU32>,
    /// Origins allowed by CORS (`*`: any); empty: no CORS headers at all.
    pub cors_origins: Vec<String>,
}

impl Default for HttpSettings {
    /// Production defaults: generous for real clients (a `min_position` query waits
    /// up to the consistency timeout, 5 s by default, well within the request
    /// timeout), short for clients that only hold connections.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_requests: 256,
            rate_limit: None,
            cors_origins: Vec::new(),
        }
    }
}

/// Requests per second per client when nothing is configured, on Postgres (a
/// production deployment). The embedded mode (one machine, usually one user) has none.
pub const DEFAULT_POSTGRES_RATE_LIMIT: u32 = 1000;

/// Serves `router` on `listener` with `settings`' limits until `shutdown` resolves;
/// then stops accepting, lets the requests in flight finish, and returns once every
/// connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &HttpSettings,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let app = protect(router, settings)?;
    let timeouts = Timeouts {
        idle: settings.idle_timeout,
        header: settings.header_timeout,
    };
    let max_connections = settings.max_connections.max(1);
    let connections = Arc::new(Semaphore::new(max_connections as usize));
    // Every connection watches this; dropped with this future (a test's crash) it
    // also tells them to stop.
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => permit?,
        };
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let connection = serve_connection(stream, peer, app.clone(), timeouts, stopping.clone());
                tokio::spawn(async move {
                    connection.await;
                    drop(permit);
                });
            }
            // The client gave up before we accepted it: nothing to do.
            Err(error) if is_connection_error(&error) => {}
            // Out of file descriptors, most likely: wait for some to be released
            // rather than spin.
            Err(error) => {
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection gives its permit back when it closes.
    let _all_closed = connections.acquire_many(max_connections).await?;
    Ok(())
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    idle: Duration,
    header: Duration,
}

/// Drives one connection until the client closes it, a timeout cuts it, or the
/// server stops (then the request in progress, if any, is answered first).
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    mut stopping: watch::Receiver<bool>,
) {
    // Answers are small and written whole: send them at once.
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Watchdog::new(stream, activity.clone(), timeouts));
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        // The peer address, for the rate limit (and any handler that asks).
        request.extensions_mut().insert(ConnectInfo(peer));
        let busy = Busy::start(activity.clone());
        let answer = app.clone().call(request);
        async move {
            let answer = answer.await;
            drop(busy);
            answer
        }
    });
    let connection = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
    tokio::pin!(connection);
    let stop = async {
        // The sender gone (the server future dropped) also means stop.
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let finished = tokio::select! {
        outcome = connection.as_mut() => Some(outcome),
        () = stop => None,
    };
    let outcome = match finished {
        Some(outcome) => outcome,
        None => {
            // Closes an idle connection now, or this one after its answer.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = outcome {
        tracing::debug!(%peer, %error, "connection closed");
    }
}

/// What the requests of one connection tell its [`Watchdog`].
#[derive(Debug, Default)]
struct Activity {
    /// Requests of this connection being handled (HTTP/1.1: at most one).
    in_flight: AtomicUsize,
    /// Requests answered so far: a change starts a new idle period.
    answered: AtomicU64,
    /// The connection's task, waiting to read while a request was handled: woken
    /// when the request ends, so that the idle deadline is armed (hyper would
    /// otherwise only read again once the client sends something).
    reader: Mutex<Option<Waker>>,
}

/// Marks a request in progress while it lives.
struct Busy(Arc<Activity>);

impl Busy {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.answered.fetch_add(1, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        let reader = self.0.reader.lock().ok().and_then(|mut reader| reader.take());
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

/// The connection's socket, failing a read that waits past the connection's
/// deadline: the idle timeout while no request is in progress and none has begun,
/// the header timeout from the first byte of a request until it is handled. While a
/// request is handled the body and request deadlines of [`protect`] apply instead.
/// hyper reads whenever it waits for the client, so a failed read closes the
/// connection exactly when the client is the one holding it up.
struct Watchdog {
    stream: TcpStream,
    activity: Arc<Activity>,
    timeouts: Timeouts,
    deadline: Pin<Box<Sleep>>,
    /// The idle period being timed, by the number of answers before it.
    idle_since_answer: Option<u64>,
    /// Whether a request's first bytes have arrived in this idle period.
    head_started: bool,
}

impl Watchdog {
    fn new(stream: TcpStream, activity: Arc<Activity>, timeouts: Timeouts) -> Self {
        Self {
            stream,
            activity,
            timeouts,
            deadline: Box::pin(tokio::time::sleep(timeouts.idle)),
            idle_since_answer: None,
            head_started: false,
        }
    }
}

impl AsyncRead for Watchdog {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.activity.in_flight.load(Ordering::Acquire) > 0 {
            this.idle_since_answer = None;
            let read = Pin::new(&mut this.stream).poll_read(cx, buf);
            if read.is_pending() {
                if let Ok(mut reader) = this.activity.reader.lock() {
                    *reader = Some(cx.waker().clone());
                }
            }
            return read;
        }
        let answered = this.activity.answered.load(Ordering::Acquire);
        if this.idle_since_answer != Some(answered) {
            // A new idle period: the connection is new, or a request was answered.
            this.idle_since_answer = Some(answered);
            this.head_started = false;
            this.deadline.as_mut().reset(Instant::now() + this.timeouts.idle);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && !this.head_started {
                    this.head_started = true;
                    this.deadline
                        .as_mut()
                        .reset(Instant::now() + this.timeouts.header);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                ready!(this.deadline.as_mut().poll(cx));
                let what = if this.head_started {
                    "the request head did not arrive within the header timeout"
                } else {
                    "the connection stayed idle past the idle timeout"
                };
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)))
            }
        }
    }
}

impl AsyncWrite for Watchdog {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// `router` with the per-request protections of this module.
pub fn protect(router: Router, settings: &HttpSettings) -> anyhow::Result<Router> {
    let limits = Arc::new(Limits {
        rate: settings.rate_limit.map(RateLimits::new),
        requests: Arc::new(Semaphore::new(settings.max_requests.max(1))),
        body_timeout: settings.body_timeout,
        request_timeout: settings.request_timeout,
    });
    let mut router = router.layer(middleware::from_fn_with_state(limits, guard));
    if let Some(cors) = cors(&settings.cors_origins)? {
        // Outside the limits, so that their refusals carry CORS headers too (a
        // browser shows a script a 429 only then).
        router = router.layer(cors);
    }
    Ok(router
        .layer(middleware::from_fn(defaults))
        // Outermost: every answer is counted and timed, this module's refusals too.
        .layer(middleware::from_fn(observability::http::observe)))
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Protective headers and the request id, on every answer, refusals included. The one
/// place that sets and echoes the request id: outermost, so that it covers the refusals
/// of [`guard`] and CORS too; the routers behind it only read it (the api's logs).
async fn defaults(mut request: Request, next: Next) -> Response {
    // A client's id is kept only when it is a short token that cannot inject
    // anything into logs, headers or a page showing it; otherwise it gets a new one.
    let request_id = match request.headers().get(&REQUEST_ID) {
        Some(id) if is_safe_request_id(id.as_bytes()) => id.clone(),
        _ => {
            let id = HeaderValue::try_from(uuid::Uuid::new_v4().to_string())
                .expect("a UUID is a valid header value");
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID, request_id);
    // Browsers must not guess a type other than the one declared (a JSON answer
    // rendered as HTML).
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Answers change with every write; no cache may keep one (nor its data).
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// 1 to 64 characters of `[A-Za-z0-9._-]`.
fn is_safe_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

/// The CORS layer for `origins`, or none when the list is empty.
fn cors(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        let origins = origins
            .iter()
            .map(|origin| {
                HeaderValue::try_from(origin.trim())
                    .map_err(|_| anyhow::anyhow!("'{origin}' is not a valid CORS origin"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(origins)
    };
    let headers = |names: &[&'static str]| {
        names
            .iter()
            .copied()
            .map(HeaderName::from_static)
            .collect::<Vec<_>>()
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers(headers(&[
                "content-type",
                "if-match",
                "idempotency-key",
                "prefer",
                "traceparent",
                "authorization",
                "x-request-id",
            ]))
            .expose_headers(headers(&["etag", "location", "retry-after", "x-request-id"]))
            .max_age(Duration::from_secs(3600)),
    ))
}

/// What [`guard`] enforces.
struct Limits {
    rate: Option<RateLimits>,
    requests: Arc<Semaphore>,
    body_timeout: Duration,
    request_timeout: Duration,
}

/// Who a rate limit counts requests of. The peer's IP address for now; an
/// authenticated client's token will be a better key once there is one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ClientKey {
    Peer(IpAddr),
}

impl ClientKey {
    fn of(request: &Request) -> Self {
        let ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(peer)| peer.ip());
        ClientKey::Peer(ip)
    }
}

/// A GCRA rate limiter per client (`governor`), with its memory bounded: a task
/// forgets clients that have been quiet for a while.
struct RateLimits {
    limiter: Arc<DefaultKeyedRateLimiter<ClientKey>>,
}

impl RateLimits {
    fn new(per_second: NonZeroU32) -> Self {
        let limiter = Arc::new(RateLimiter::keyed(Quota::per_second(per_second)));
        let weak = Arc::downgrade(&limiter);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                // Ends with the server.
                let Some(limiter) = weak.upgrade() else { break };
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        });
        Self { limiter }
    }

    /// `Err(seconds to wait)` when the client is over its limit.
    fn check(&self, key: &ClientKey) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            // Retry-After is in whole seconds: round up, and never say 0.
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }
}

/// The rate limit, the cap on requests in progress, and the body and request
/// deadlines.
async fn guard(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    if let Some(rate) = &limits.rate {
        if let Err(retry_after_secs) = rate.check(&ClientKey::of(&request)) {
            return ApiError::TooManyRequests { retry_after_secs }.into_response();
        }
    }
    // Refused at once when full: a queue would only make every client wait longer
    // and hold their connections meanwhile.
    let Ok(_permit) = limits.requests.clone().try_acquire_owned() else {
        return ApiError::Overloaded.into_response();
    };
    let body_timed_out = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(limits.body_timeout)),
            timed_out: body_timed_out.clone(),
        })
    });
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        // Whatever the handler made of its failed read (a 400), the client was too slow.
        Ok(_) if body_timed_out.load(Ordering::Acquire) => {
            let mut response = ApiError::RequestTimeout {
                limit: limits.body_timeout,
            }
            .into_response();
            // The rest of the body may still come: the connection cannot be reused.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        Ok(response) => response,
        Err(_) => ApiError::HandlerTimeout {
            limit: limits.request_timeout,
        }
        .into_response(),
    }
}

/// A request body that fails when it has not been read whole by its deadline.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
}

#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        ready!(this.deadline.as_mut().poll(cx));
        this.timed_out.store(true, Ordering::Release);
        Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    /// A request in flight when the shutdown comes is answered, and `serve` returns
    /// once its connection has closed; the listener takes no new connection meanwhile.
    #[tokio::test]
    async fn a_request_in_flight_is_answered_before_the_server_stops() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (arrived_tx, arrived_rx) = tokio::sync::oneshot::channel::<()>();
        let arrived = Arc::new(Mutex::new(Some(arrived_tx)));
        let router = Router::new().route(
            "/slow",
            get(move || {
                let arrived = arrived.lock().unwrap().take();
                async move {
                    if let Some(arrived) = arrived {
                        let _ = arrived.send(());
                    }
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }
            }),
        );
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = stop_rx.await;
            };
            serve(listener, router, &HttpSettings::default(), shutdown).await
        });
        let client = reqwest::Client::new();
        let request = tokio::spawn(client.get(format!("http://{address}/slow")).send());
        arrived_rx.await.expect("the request reached the handler");
        stop_tx.send(()).unwrap();

        let answer = request.await.unwrap().expect("the request in flight is answered");
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.unwrap(), "done");
        let stopped = tokio::time::timeout(Duration::from_secs(5), server).await;
        assert!(
            matches!(stopped, Ok(Ok(Ok(())))),
            "serve returns once the connection has closed: {stopped:?}"
        );
        assert!(
            TcpStream::connect(address).await.is_err(),
            "a stopped server accepts no connection"
        );
    }

    #[test]
    fn only_short_tokens_of_safe_characters_are_kept_as_request_ids() {
        assert!(is_safe_request_id(b"7f1c-9a2b.trace_01"));
        assert!(is_safe_request_id(&[b'a'; 64]));
        assert!(!is_safe_request_id(&[b'a'; 65]));
        assert!(!is_safe_request_id(b""));
        assert!(!is_safe_request_id(b"<script>evil</script>"));
        assert!(!is_safe_request_id(b"a b"));
    }

    #[test]
    fn cors_origins_must_be_header_values() {
        assert!(cors(&[]).unwrap().is_none());
        assert!(cors(&["https://app.example.com".into()]).unwrap().is_some());
        assert!(cors(&["*".into()]).unwrap().is_some());
        assert!(cors(&["https://bad\norigin".into()]).is_err());
    }
}
