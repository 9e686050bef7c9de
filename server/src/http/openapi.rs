//! The REST API's contract: an OpenAPI 3.1 document built from the routes themselves (each
//! handler carries its description, and the routers are assembled from those handlers), served
//! at `GET /api/openapi.json` with a browsable page at `/api/docs`. The page's files are compiled
//! into the server; nothing is fetched from elsewhere.

use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config as DocsConfig, SwaggerUi};

use crate::state::AppState;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";
/// Where the browsable page is served.
pub const PAGE_PATH: &str = "/api/docs";

/// The document's frame: what the API is, how callers sign in, and the shared error body. The
/// paths come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "AIS Chatrooms",
        description = "Rooms where people and AI agents talk, and the governed control plane that turns commands into previewed, confirmed task files. Errors answer `{\"error\": {\"code\", \"message\"}}`; the codes are listed in ErrorCode.",
    ),
    components(schemas(domain::ErrorBody, domain::ErrorCode)),
    modifiers(&SignIn),
    security(("bearer" = []), ("session_cookie" = [])),
    tags(
        (name = "rooms", description = "Rooms, their agents, members, messages, live events and auto-dialogue runs."),
        (name = "usage", description = "Tokens and cost summed per day, agent, model or room, as JSON or CSV."),
        (name = "accounts", description = "Signing up and in, personal API tokens, people and roles."),
        (name = "control plane", description = "Spec 001: preview, confirm and watch tasks; operators and admins only."),
        (name = "telegram", description = "The control plane's Telegram channel: linking chats to people; operators and admins only."),
        (name = "operations", description = "Probes and metrics."),
    )
)]
pub struct ApiDoc;

/// The two ways to be signed in: a personal API token, or the browser's session cookie.
struct SignIn;

impl Modify for SignIn {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A personal API token (POST /api/tokens)."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The session cookie a sign-in sets.",
            ))),
        );
    }
}

/// The routes that serve the document and its page. The page uses Swagger UI's base layout
/// (no search bar, whose field and buttons have no names) without deep links (a link inside each
/// operation's button is a control inside a control), and its own stylesheet, which gives the
/// page's colours WCAG AA contrast.
pub fn published(document: Document) -> Router<AppState> {
    let config = DocsConfig::new([DOCUMENT_PATH]).use_base_layout().deep_linking(false);
    let page = Router::from(SwaggerUi::new(PAGE_PATH).url(DOCUMENT_PATH, document).config(config));
    Router::new()
        .route(STYLESHEET_PATH, axum::routing::get(stylesheet))
        .merge(page)
        .layer(axum::middleware::map_response(docs_policy))
}

/// Where the page's own stylesheet is served: Swagger UI's page links it as `index.css`.
pub const STYLESHEET_PATH: &str = "/api/docs/index.css";

async fn stylesheet() -> impl axum::response::IntoResponse {
    ([(http::header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("api_docs.css"))
}

/// The page's own Content-Security-Policy: the app's, but the Swagger UI script sets inline
/// styles as it draws, so styles may be inline here (scripts still come only from this server).
const DOCS_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

async fn docs_policy(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(http::header::CONTENT_SECURITY_POLICY, http::HeaderValue::from_static(DOCS_POLICY));
    response
}
