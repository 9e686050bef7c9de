//! What keeps other sites from using a visitor's browser against the app:
//!
//! - **Security headers** on every response: a Content-Security-Policy whose script nonce is new
//!   for each response and is the one the page's own scripts carry, `frame-ancestors 'none'`,
//!   `nosniff`, `Referrer-Policy`, `Permissions-Policy` and, when the app is public over https,
//!   `Strict-Transport-Security`.
//! - **Host allowlist** (`ALLOWED_HOSTS`): a request naming another host is refused with 421, so
//!   a site that points its own name at this server (DNS rebinding) reaches nothing. Liveness and
//!   readiness probes are exempt: load balancers and orchestrators address them by IP, and they
//!   answer only a status.
//! - **Cross-site refusal**: a state-changing request (POST, PUT, PATCH, DELETE) that a browser
//!   sends for another site is refused with 403 `CROSS_SITE` before anyone is identified or
//!   anything is logged. The browser's `Sec-Fetch-Site` decides; without it, the `Origin`
//!   header must be the app's own (`PUBLIC_URL`'s, or that of the `Host` asked for). Requests
//!   that carry a bearer token are not affected: a browser never attaches one on its own. Origins
//!   in `CORS_ALLOWED_ORIGINS` may call the REST API.
//! - **Server functions read only their own encoding**: a JSON server function refuses any other
//!   content type with 415, the way the REST API does; form-encoded ones keep taking forms.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain::{ErrorCode, PublicError};
use error_response::ErrorReply;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use leptos::nonce::Nonce;

use crate::config::{origin_of, AllowedHosts, Config};

/// Paths that answer whatever host they are asked under.
const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// Everything the checks need, built once from the configuration.
#[derive(Debug)]
pub struct Protection {
    allowed_hosts: AllowedHosts,
    /// `PUBLIC_URL`'s origin.
    public_origin: String,
    /// `CORS_ALLOWED_ORIGINS`.
    cors_origins: Vec<String>,
    /// The server functions' paths and the content type each reads its arguments in.
    server_fns: HashMap<&'static str, &'static str>,
    /// The policy before and after the nonce.
    csp: (String, String),
    hsts: bool,
}

impl Protection {
    pub fn new(config: &Config) -> Arc<Self> {
        // `cargo leptos watch` reloads pages over a web socket on its own port.
        let reload = if std::env::var_os("LEPTOS_WATCH").is_some() { " ws: wss:" } else { "" };
        let csp = (
            "default-src 'self'; script-src 'self' 'nonce-".to_owned(),
            format!(
                "' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'{reload}; font-src 'self'; object-src 'none'; base-uri 'none'; \
                 form-action 'self'; frame-ancestors 'none'"
            ),
        );
        Arc::new(Self {
            allowed_hosts: config.allowed_hosts.clone(),
            public_origin: config.public_origin(),
            cors_origins: config.cors_allowed_origins.clone(),
            server_fns: app::server_fns::argument_content_types().into_iter().collect(),
            csp,
            hsts: config.secure_cookies(),
        })
    }

    /// The Content-Security-Policy for a response whose scripts carry `nonce`.
    pub fn content_security_policy(&self, nonce: &str) -> String {
        format!("{}{nonce}{}", self.csp.0, self.csp.1)
    }

    /// Whether a request's `Origin` is one the app trusts on `path`: its own, or for the REST
    /// API one of `CORS_ALLOWED_ORIGINS`.
    fn trusts_origin(&self, origin: &str, path: &str, host: Option<&str>) -> bool {
        let Some(origin) = origin_of(origin) else { return false };
        if origin == self.public_origin {
            return true;
        }
        // A page served under the host the browser asked for sends that host's origin.
        let authority = origin.split_once("://").map_or("", |(_, authority)| authority);
        let own_host = host.is_some_and(|host| {
            let host = host.to_ascii_lowercase();
            let host = host.strip_suffix(":80").or_else(|| host.strip_suffix(":443")).unwrap_or(&host);
            authority == host
        });
        own_host || (is_rest_api(path) && self.cors_origins.contains(&origin))
    }
}

/// The REST API: everything under `/api/` but the server functions, which only the app's own
/// pages call.
pub fn is_rest_api(path: &str) -> bool {
    path.starts_with("/api/") && !path.starts_with("/api/fn/")
}

/// Why a request was refused here; answered like every other API error.
#[derive(Debug)]
enum Refusal {
    Host,
    CrossSite,
    MediaType(&'static str),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Host => f.write_str("host not allowed"),
            Refusal::CrossSite => f.write_str("cross-site request"),
            Refusal::MediaType(expected) => write!(f, "content type is not {expected}"),
        }
    }
}

impl PublicError for Refusal {
    fn code(&self) -> ErrorCode {
        match self {
            Refusal::Host => ErrorCode::HostNotAllowed,
            Refusal::CrossSite => ErrorCode::CrossSite,
            Refusal::MediaType(_) => ErrorCode::MalformedJson,
        }
    }

    fn http_status(&self) -> u16 {
        match self {
            Refusal::MediaType(_) => 415,
            other => other.code().http_status(),
        }
    }

    fn public_message(&self) -> String {
        match self {
            Refusal::Host => "This server does not answer for the host this request names.".to_owned(),
            Refusal::CrossSite => "Refused: this request came from another site. Use the app's own pages, or an API \
                                   token for scripts."
                .to_owned(),
            Refusal::MediaType("application/json") => {
                "Send the body as JSON with Content-Type: application/json.".to_owned()
            }
            Refusal::MediaType(expected) => format!("Send the body with Content-Type: {expected}."),
        }
    }
}

/// Sets the security headers on every response, and gives the page being rendered the nonce
/// its scripts must carry (the page context takes it from the request).
pub async fn security_headers(State(protection): State<Arc<Protection>>, mut request: Request, next: Next) -> Response {
    let nonce = Nonce::new();
    request.extensions_mut().insert(nonce.clone());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let csp = protection.content_security_policy(&nonce);
    set_if_absent(headers, header::CONTENT_SECURITY_POLICY, HeaderValue::from_str(&csp).ok());
    set_if_absent(headers, header::X_CONTENT_TYPE_OPTIONS, Some(HeaderValue::from_static("nosniff")));
    set_if_absent(headers, header::X_FRAME_OPTIONS, Some(HeaderValue::from_static("DENY")));
    set_if_absent(headers, header::REFERRER_POLICY, Some(HeaderValue::from_static("same-origin")));
    set_if_absent(
        headers,
        HeaderName::from_static("permissions-policy"),
        Some(HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=(), usb=()")),
    );
    set_if_absent(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        Some(HeaderValue::from_static("same-origin")),
    );
    if protection.hsts {
        set_if_absent(headers, header::STRICT_TRANSPORT_SECURITY, Some(HeaderValue::from_static("max-age=31536000")));
    }
    response
}

fn set_if_absent(headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
    if let Some(value) = value {
        headers.entry(name).or_insert(value);
    }
}

/// Refuses, before anything else sees them, requests for another host, state-changing requests
/// a browser sends for another site, and server-function bodies in the wrong encoding.
pub async fn refuse_foreign(State(protection): State<Arc<Protection>>, request: Request, next: Next) -> Response {
    match check(&protection, &request) {
        Ok(()) => next.run(request).await,
        Err(refusal) => ErrorReply::new(&refusal).into_response(),
    }
}

fn check(protection: &Protection, request: &Request) -> Result<(), Refusal> {
    let path = request.uri().path();
    let headers = request.headers();
    // HTTP/1.1 sends `Host`; HTTP/2 the URI's authority. A request naming no host at all is not
    // a browser's, so it cannot be a rebinding attack.
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|authority| authority.as_str().to_owned()));
    if let Some(host) = &host {
        if !PROBES.contains(&path) && !protection.allowed_hosts.allows(host) {
            return Err(Refusal::Host);
        }
    }

    let unsafe_method = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    if !unsafe_method {
        return Ok(());
    }
    if !has_bearer_token(headers) && !is_from_own_site(protection, headers, path, host.as_deref()) {
        return Err(Refusal::CrossSite);
    }
    if let Some(expected) = protection.server_fns.get(path) {
        if !content_type_is(headers, expected) {
            return Err(Refusal::MediaType(expected));
        }
    }
    Ok(())
}

/// A browser never attaches `Authorization: Bearer` by itself, so such a request is a script's.
fn has_bearer_token(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
}

/// Whether the request was made by the app's own pages (or a trusted origin), or by something
/// that is not a browser acting for another site.
fn is_from_own_site(protection: &Protection, headers: &HeaderMap, path: &str, host: Option<&str>) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok());
    let trusted = || origin.is_some_and(|origin| protection.trusts_origin(origin, path, host));
    match headers.get("sec-fetch-site").map(|value| value.to_str().unwrap_or("")) {
        // The browser itself says where the request comes from: its own pages, or the person
        // (a bookmark, the address bar).
        Some("same-origin") | Some("none") => true,
        // A sibling site under the same domain, or another site: only a trusted origin.
        Some(_) => trusted(),
        // An older browser sends `Origin` with state-changing requests; scripts and tools
        // usually send neither.
        None => origin.is_none() || trusted(),
    }
}

/// Whether the body is declared as `expected` (the media type, parameters ignored).
fn content_type_is(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case(expected))
}

#[cfg(test)]
mod tests {
    use settings::Env;

    use super::*;

    fn protection(vars: &[(&str, &str)]) -> Arc<Protection> {
        let config = Config::from_env(&Env::from_pairs(vars)).unwrap();
        Protection::new(&config)
    }

    fn request(method: Method, path: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    fn verdict(protection: &Protection, method: Method, path: &str, headers: &[(&str, &str)]) -> Option<ErrorCode> {
        check(protection, &request(method, path, headers)).err().map(|refusal| refusal.code())
    }

    #[test]
    fn state_changing_requests_from_other_sites_are_refused() {
        let p = protection(&[("LEPTOS_SITE_ADDR", "127.0.0.1:3000")]);
        let host = ("host", "127.0.0.1:3000");
        let cross = Some(ErrorCode::CrossSite);
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let path = "/api/rooms";
            assert_eq!(verdict(&p, method.clone(), path, &[host, ("sec-fetch-site", "cross-site")]), cross);
            assert_eq!(verdict(&p, method.clone(), path, &[host, ("sec-fetch-site", "same-site")]), cross);
            assert_eq!(verdict(&p, method.clone(), path, &[host, ("sec-fetch-site", "same-origin")]), None);
            assert_eq!(verdict(&p, method.clone(), path, &[host, ("origin", "https://evil.example")]), cross);
            assert_eq!(verdict(&p, method.clone(), path, &[host, ("origin", "null")]), cross);
            assert_eq!(verdict(&p, method.clone(), path, &[host, ("origin", "http://127.0.0.1:3000")]), None);
            assert_eq!(verdict(&p, method.clone(), path, &[host]), None, "a script sends neither header");
            let bearer = ("authorization", "Bearer abc");
            assert_eq!(verdict(&p, method.clone(), path, &[host, bearer, ("sec-fetch-site", "cross-site")]), None);
        }
        // Reading is never refused for where it comes from.
        assert_eq!(verdict(&p, Method::GET, "/api/rooms", &[host, ("sec-fetch-site", "cross-site")]), None);
        // A form posted from another site to a server function is refused too.
        let form = [host, ("origin", "https://evil.example"), ("content-type", "application/x-www-form-urlencoded")];
        assert_eq!(verdict(&p, Method::POST, "/api/fn/rooms/create", &form), cross);
    }

    #[test]
    fn the_public_origin_and_listed_origins_are_trusted() {
        let p = protection(&[
            ("PUBLIC_URL", "https://chat.example.com/"),
            ("ALLOWED_HOSTS", "origin.chat.example.com"),
            ("CORS_ALLOWED_ORIGINS", "https://dash.example.com"),
        ]);
        let host = ("host", "origin.chat.example.com");
        let from = |origin| [host, ("origin", origin), ("sec-fetch-site", "cross-site")];
        assert_eq!(verdict(&p, Method::POST, "/api/rooms", &[host, ("origin", "https://chat.example.com")]), None);
        assert_eq!(verdict(&p, Method::POST, "/api/rooms", &from("https://dash.example.com")), None);
        // Listed origins may call the REST API, not the pages' own server functions.
        let fn_call = [host, ("origin", "https://dash.example.com"), ("content-type", "application/json")];
        assert_eq!(verdict(&p, Method::POST, "/api/fn/rooms/post", &fn_call), Some(ErrorCode::CrossSite));
        assert_eq!(
            verdict(&p, Method::POST, "/api/rooms", &from("https://other.example.com")),
            Some(ErrorCode::CrossSite)
        );
    }

    #[test]
    fn only_allowed_hosts_are_answered_and_probes_always() {
        let p = protection(&[("LEPTOS_SITE_ADDR", "0.0.0.0:3000"), ("PUBLIC_URL", "https://chat.example.com")]);
        for host in
            ["localhost:3000", "127.0.0.1", "[::1]:3000", "0.0.0.0:3000", "chat.example.com", "CHAT.example.com."]
        {
            assert_eq!(verdict(&p, Method::GET, "/", &[("host", host)]), None, "{host}");
        }
        for host in ["evil.example", "chat.example.com.evil.example", "localhost.evil.example:3000", "10.0.0.7:3000"] {
            assert_eq!(verdict(&p, Method::GET, "/", &[("host", host)]), Some(ErrorCode::HostNotAllowed), "{host}");
            assert_eq!(verdict(&p, Method::GET, "/healthz", &[("host", host)]), None);
            assert_eq!(verdict(&p, Method::GET, "/readyz", &[("host", host)]), None);
        }
        let p = protection(&[("ALLOWED_HOSTS", ".example.com, api.internal:8080")]);
        for host in ["example.com", "a.b.example.com:443", "api.internal"] {
            assert_eq!(verdict(&p, Method::GET, "/", &[("host", host)]), None, "{host}");
        }
        // PUBLIC_URL's host (here the default, 127.0.0.1) stays allowed; the rest of the defaults do not.
        assert_eq!(verdict(&p, Method::GET, "/", &[("host", "127.0.0.1:3000")]), None);
        for host in ["badexample.com", "[::1]:3000", "localhost"] {
            assert_eq!(verdict(&p, Method::GET, "/", &[("host", host)]), Some(ErrorCode::HostNotAllowed), "{host}");
        }
        let any = protection(&[("ALLOWED_HOSTS", "*")]);
        assert_eq!(verdict(&any, Method::GET, "/", &[("host", "anything.example")]), None);
    }

    #[test]
    fn json_server_functions_take_only_json_and_form_ones_only_forms() {
        let p = protection(&[]);
        let own = ("sec-fetch-site", "same-origin");
        let json = ("content-type", "application/json");
        let form = ("content-type", "application/x-www-form-urlencoded");
        let text = ("content-type", "text/plain");
        assert_eq!(verdict(&p, Method::POST, "/api/fn/rooms/post", &[own, json]), None);
        assert_eq!(verdict(&p, Method::POST, "/api/fn/rooms/post", &[own, text]), Some(ErrorCode::MalformedJson));
        assert_eq!(verdict(&p, Method::POST, "/api/fn/rooms/post", &[own, form]), Some(ErrorCode::MalformedJson));
        assert_eq!(verdict(&p, Method::POST, "/api/fn/rooms/post", &[own]), Some(ErrorCode::MalformedJson));
        assert_eq!(verdict(&p, Method::POST, "/api/fn/rooms/create", &[own, form]), None);
        assert_eq!(
            verdict(
                &p,
                Method::POST,
                "/api/fn/rooms/create",
                &[own, ("content-type", "application/x-www-form-urlencoded; charset=UTF-8")]
            ),
            None
        );
        assert_eq!(verdict(&p, Method::POST, "/api/fn/rooms/create", &[own, text]), Some(ErrorCode::MalformedJson));
    }

    #[test]
    fn the_policy_carries_the_nonce_and_forbids_framing() {
        let p = protection(&[]);
        let csp = p.content_security_policy("abc123");
        assert!(csp.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
}
