//! The HTTP surface: one router per area, merged, with the shared middleware around them.

pub mod accounts;
pub mod bundle_cache;
pub mod client_address;
pub mod error;
pub mod extract;
pub mod health;
pub mod messages;
pub mod metrics;
mod observe;
pub mod openapi;
pub mod protect;
pub mod rooms;
pub mod stream;
pub mod telegram;
pub mod telemetry_anchor;
pub mod usage;

use std::sync::OnceLock;

use app::{shell, App};
use axum::extract::DefaultBodyLimit;
use axum::routing::any;
use axum::Router;
use leptos::nonce::Nonce;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, AxumRouteListing, LeptosRoutes};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::{self, Caller};
use crate::state::AppState;

pub use error::ApiError;

/// The largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The page routes, generated once per process. Generating them renders the app with resource
/// loading suppressed process-wide, so doing it while another router serves a page could leave
/// that page's resources waiting forever.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The whole application as a router, so tests can drive it without a socket.
pub fn app(state: AppState) -> Router {
    let pages = page_routes();
    let leptos_options = state.leptos_options.clone();
    // Pages and server functions see the parts they use, not the composition root.
    let (services, gateway) = (state.services.clone(), state.gateway.clone());
    let secure_cookies = app::forms::SecureCookies(state.config.secure_cookies());
    let telegram_bot = app::telegram::BotEnabled(state.config.telegram.is_some());
    let page_context = move || {
        provide_context(services.clone());
        provide_context(gateway.clone());
        // The nonce the response's Content-Security-Policy names, for the page's own scripts.
        let nonce = use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<Nonce>().cloned());
        if let Some(nonce) = nonce {
            provide_context(nonce);
        }
        provide_context(secure_cookies);
        provide_context(telegram_bot);
    };
    let protection = protect::Protection::new(&state.config);

    // The REST API, described as it is built; other sites' pages may call it only from
    // `CORS_ALLOWED_ORIGINS`.
    let (rest_api, operations, contract) = documented_routes(state.config.gateway_enabled);
    let rest_api = rest_api
        .merge(openapi::published(contract))
        // Unknown API paths answer in JSON, not with the HTML 404 page.
        .route("/api/{*rest}", any(api_not_found))
        .layer(tower::util::option_layer(cors(&state.config)));

    // Everything people and scripts reach knows who is asking; probes and metrics must answer
    // even when the database cannot, so they stay outside.
    let identified = rest_api
        .leptos_routes_with_context(&state, pages, page_context.clone(), move || shell(leptos_options.clone()))
        .fallback(file_and_error_handler_with_context::<AppState, _>(page_context, shell))
        .layer(axum::middleware::from_fn(bundle_cache::cache_policy))
        .layer(axum::middleware::from_fn_with_state(state.services.clone(), auth::identify))
        .layer(auth::session_layer(state.sessions.clone(), state.services.clone(), state.config.secure_cookies()));

    Router::new()
        .merge(operations)
        .merge(identified)
        .layer(axum::middleware::from_fn_with_state(state.config.clone(), client_address::resolve_client))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A request whose answer has not begun in time — its body never came, say — gets 408 and
        // gives its connection back. Live streams answer at once and are not cut.
        .layer(axum::middleware::from_fn_with_state(state.config.request_timeout, answer_in_time))
        // Other hosts, other sites and wrongly encoded bodies are refused before anything else.
        .layer(axum::middleware::from_fn_with_state(protection.clone(), protect::refuse_foreign))
        .layer(axum::middleware::from_fn_with_state(protection, protect::security_headers))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(observe::observe_layers!())
        .with_state(state)
}

/// CORS for the REST API: none unless `CORS_ALLOWED_ORIGINS` lists origins, which then may send
/// credentials (the session cookie) and read the answers.
fn cors(config: &crate::config::Config) -> Option<tower_http::cors::CorsLayer> {
    use http::{header, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};

    if config.cors_allowed_origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> =
        config.cors_allowed_origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::HeaderName::from_static("last-event-id"),
            header::HeaderName::from_static(gateway::SESSION_HEADER),
        ])
        .expose_headers([header::RETRY_AFTER, observe::REQUEST_ID])
        .max_age(std::time::Duration::from_secs(600));
    Some(layer)
}

/// Answers `408 REQUEST_TIMEOUT` when the inner service has not begun its answer within `limit`.
async fn answer_in_time(
    axum::extract::State(limit): axum::extract::State<std::time::Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::TimedOut.into_response(),
    }
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound("endpoint")
}

/// The REST routes, the probes and metrics, and the OpenAPI document that describes them all,
/// built from the same handlers.
fn documented_routes(gateway_enabled: bool) -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (rest, mut contract) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(rooms::router())
        .merge(messages::router())
        .merge(usage::router())
        .merge(accounts::router())
        .merge(control_plane(gateway_enabled))
        .split_for_parts();
    let (operations, operations_contract) =
        OpenApiRouter::new().merge(health::router()).merge(metrics::router()).split_for_parts();
    contract.merge(operations_contract);
    (rest, operations, contract)
}

/// The OpenAPI document of a server with every part turned on, as `GET /api/openapi.json` serves it.
pub fn contract() -> utoipa::openapi::OpenApi {
    documented_routes(true).2
}

/// The control plane's routes (its Telegram channel's included), for operators and admins only,
/// or none when it is turned off.
fn control_plane(gateway_enabled: bool) -> OpenApiRouter<AppState> {
    if !gateway_enabled {
        return OpenApiRouter::new();
    }
    gateway::documented_router::<AppState>()
        .merge(telemetry_anchor::router())
        .merge(telegram::router())
        .route_layer(axum::middleware::from_fn(require_operator))
        // Telegram's deliveries carry the webhook's secret, not a person's credentials.
        .merge(telegram::webhook_router())
}

/// Refuses anyone who may not operate before the gateway sees (and logs) the request, and names
/// the person to the gateway: its sessions and telemetry lines are theirs.
async fn require_operator(
    Caller(actor): Caller,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match actor.require_role(domain::accounts::Role::may_operate, "operators and admins") {
        Ok(person) => {
            request.extensions_mut().insert(gateway::Operator::new(person.id));
            next.run(request).await
        }
        Err(refused) => ApiError::from(refused).into_response(),
    }
}
