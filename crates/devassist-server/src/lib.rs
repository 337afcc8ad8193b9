//! devassist-server: the axum gateway. `build` turns validated settings into the shared
//! state, `app` mounts every surface on it, `serve` runs it with graceful shutdown. Every
//! request goes through `pipeline` (route → guard → pool → prompt → backend → post-process).

pub mod auth;
pub mod build;
pub mod config;
mod demand;
pub mod endpoints;
pub mod grounding;
pub mod guard;
pub mod limits;
mod listen;
pub mod local;
pub mod model_info;
pub mod pipeline;
pub use devassist_pool as pool;
pub mod router;
pub mod secrets;
pub mod state;
mod status;
pub mod surfaces;
pub mod telemetry;

pub use build::build;
pub use limits::ServerLimits;
pub use state::AppState;

use axum::Router;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The whole HTTP application. The route table lives in each surface's `routes()`.
pub fn app(state: AppState) -> Router {
    app_with(state, None)
}

/// The application, with the server-wide cap on requests in progress when `in_flight` is
/// given (inside the request-id layer, so a refused request is logged with its id).
/// Authentication wraps every route and the fallback, outside the in-flight cap so that
/// refused callers take no place in it (`auth`).
fn app_with(state: AppState, in_flight: Option<guard::in_flight::InFlight>) -> Router {
    let mut routes = Router::new()
        .merge(auth::admin::routes())
        .merge(surfaces::ollama::routes())
        .merge(surfaces::openai::routes())
        .merge(surfaces::anthropic::routes())
        .merge(surfaces::gitlab::routes())
        .merge(surfaces::docs::routes())
        .merge(status::routes())
        .merge(demand::routes());
    if state.telemetry.on_main_listener {
        routes = routes.merge(telemetry::scrape::routes());
    }
    if let Some(limit) = in_flight {
        routes = routes.layer(axum::middleware::from_fn_with_state(
            limit,
            guard::in_flight::layer,
        ));
    }
    // Inside the request id (records carry it), outside the cap (its 503s are counted).
    routes
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.telemetry.clone(),
            telemetry::observe::layer,
        ))
        .layer(axum::middleware::from_fn(guard::request_id::layer))
        .with_state(state)
}

/// Serves `state` on `listener` within `limits` until `shutdown` resolves, then lets
/// in-flight requests finish for at most `grace` before returning.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    limits: ServerLimits,
) -> std::io::Result<()> {
    let stop = CancellationToken::new();
    let gateway = state.0.clone();
    let in_flight = guard::in_flight::InFlight::new(limits.max_in_flight);
    let server = listen::serve_http1(
        listener,
        app_with(state, Some(in_flight)),
        stop.clone(),
        listen::ConnectionLimits {
            max_connections: limits.max_connections,
            body_timeout: limits.body_timeout,
        },
    );
    let deadline = async move {
        shutdown.await;
        tracing::info!(
            grace_s = grace.as_secs_f64(),
            "Shutting down: no new connections"
        );
        stop.cancel();
        tokio::time::sleep(grace).await;
    };
    let result = tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!("Grace period over: closing the remaining connections");
            Ok(())
        }
    };
    // Every backend process the pool started stops with the gateway.
    gateway.pool.shutdown(Duration::from_secs(10)).await;
    result
}
