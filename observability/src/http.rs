//! The HTTP side (axum): [`observe`] counts and times every request by its route's
//! template and hands each a [`TraceContext`]; [`name_route`] tells it the template.
//!
//! Two pieces because they see different things: the outermost layer sees every
//! answer (the server's own 429, 408 and 503 too) but runs before routing, so it
//! cannot know the route; a route layer knows it (`MatchedPath`) and leaves it on the
//! answer for the outer one to read.

use crate::metrics::{HTTP_REQUESTS, HTTP_REQUEST_DURATION};
use crate::trace_context::{TraceContext, TRACEPARENT};
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// The template of the route that answered (`/campaigns/{id}`), left on the response.
#[derive(Debug, Clone)]
struct RouteTemplate(String);

/// The label of requests no route matched: their paths are the client's to choose, so
/// they must not become labels (each path a new series).
const UNMATCHED: &str = "unmatched";

/// Outermost middleware: continues the caller's trace (`traceparent`) or starts one,
/// leaves it in the request's extensions (handlers and the request's log span read
/// it), then counts the answer in [`HTTP_REQUESTS`] and times it in
/// [`HTTP_REQUEST_DURATION`].
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let parent = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|value| value.to_str().ok());
    let trace = TraceContext::continued(parent);
    request.extensions_mut().insert(trace);
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or(UNMATCHED, |route| route.0.as_str())
        .to_owned();
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// Route layer (`Router::route_layer`): leaves the matched route's template on the
/// answer for [`observe`].
pub async fn name_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| RouteTemplate(path.as_str().to_owned()));
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// The request's trace context ([`observe`] put it there), or a new trace for a router
/// served without it (tests).
pub fn trace_of(request: &Request) -> TraceContext {
    request
        .extensions()
        .get::<TraceContext>()
        .copied()
        .unwrap_or_else(TraceContext::start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::{middleware, Router};
    use tower::ServiceExt;

    #[tokio::test]
    async fn the_trace_reaches_the_handler_continued_from_the_callers() {
        let app = Router::new()
            .route(
                "/items/{id}",
                get(|request: Request| async move { trace_of(&request).to_string() }),
            )
            .route_layer(middleware::from_fn(name_route))
            .layer(middleware::from_fn(observe));
        let request = Request::get("/items/7")
            .header(
                TRACEPARENT,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(
            response.extensions().get::<RouteTemplate>().unwrap().0,
            "/items/{id}"
        );
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        let trace = TraceContext::parse(std::str::from_utf8(&body).unwrap()).unwrap();
        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }
}
