//! Browser sessions over real loopback HTTP: the cookie's attributes, a new session id at every
//! sign-in (whoever held the session before), and a cookie that is worth nothing once it has been
//! replaced or signed out — on both databases, since each keeps its own session store.

mod common;

use common::{Db, TestApp};
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::{json, Value};

on_both_databases!(
    the_session_cookie_is_http_only_and_same_site_lax,
    signing_in_over_another_persons_session_gives_a_new_id,
    a_planted_session_id_is_replaced_at_sign_in,
    signing_out_ends_the_session_for_good,
);

const PASSWORD: &str = "correct horse battery";

/// A browser: the app's address and the session cookie it holds, if any.
struct Browser {
    base: String,
    client: Client,
}

impl Browser {
    fn new(base: &str) -> Self {
        Browser { base: base.to_owned(), client: Client::new() }
    }

    async fn send(&self, method: Method, path: &str, cookie: Option<&str>, body: Option<Value>) -> Response {
        let mut request =
            self.client.request(method, format!("{}{path}", self.base)).header("sec-fetch-site", "same-origin");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// Creates an account; returns the whole `Set-Cookie` line.
    async fn sign_up(&self, email: &str, name: &str, cookie: Option<&str>) -> String {
        let body = json!({"email": email, "password": PASSWORD, "name": name});
        let response = self.send(Method::POST, "/api/auth/signup", cookie, Some(body)).await;
        assert_eq!(response.status(), StatusCode::CREATED, "sign-up of {email}");
        set_cookie(&response)
    }

    async fn sign_in(&self, email: &str, cookie: Option<&str>) -> String {
        let body = json!({"email": email, "password": PASSWORD});
        let response = self.send(Method::POST, "/api/auth/login", cookie, Some(body)).await;
        assert_eq!(response.status(), StatusCode::OK, "sign-in of {email}");
        set_cookie(&response)
    }

    /// Who the cookie signs in, or `None` when the server answers 401.
    async fn me(&self, cookie: &str) -> Option<String> {
        let response = self.send(Method::GET, "/api/auth/me", Some(cookie), None).await;
        match response.status() {
            StatusCode::OK => Some(response.json::<Value>().await.unwrap()["email"].as_str().unwrap().to_owned()),
            StatusCode::UNAUTHORIZED => None,
            other => panic!("GET /api/auth/me answered {other}"),
        }
    }
}

fn set_cookie(response: &Response) -> String {
    let lines: Vec<_> = response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    let session: Vec<_> = lines.iter().filter(|line| line.starts_with("ais_session=")).collect();
    assert_eq!(session.len(), 1, "one session cookie in {lines:?}");
    session[0].to_string()
}

/// `name=value`, as a browser sends it back.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().trim().to_owned()
}

fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect()
}

async fn served(db: Db, env: &[(&str, &str)]) -> (TestApp, Browser) {
    let app = TestApp::with_env(db, env).await;
    let base = app.spawn().await;
    (app, Browser::new(&base))
}

async fn the_session_cookie_is_http_only_and_same_site_lax(db: Db) {
    let (_app, browser) = served(db, &[]).await;
    let plain = attributes(&browser.sign_up("bea@example.com", "Bea", None).await);
    for expected in ["httponly", "samesite=lax", "path=/"] {
        assert!(plain.iter().any(|a| a == expected), "{expected} in {plain:?}");
    }
    assert!(!plain.iter().any(|a| a == "secure"), "served over http the cookie cannot be Secure: {plain:?}");

    // Reached over https (PUBLIC_URL says so), the cookie only ever travels encrypted.
    let (_app, browser) = served(db, &[("PUBLIC_URL", "https://chat.example.com")]).await;
    let over_https = attributes(&browser.sign_up("bea@example.com", "Bea", None).await);
    assert!(over_https.iter().any(|a| a == "secure"), "{over_https:?}");
    assert!(over_https.iter().any(|a| a == "httponly"), "{over_https:?}");
}

async fn signing_in_over_another_persons_session_gives_a_new_id(db: Db) {
    let (_app, browser) = served(db, &[]).await;
    let bea = pair(&browser.sign_up("bea@example.com", "Bea", None).await);
    browser.sign_up("cal@example.com", "Cal", None).await;
    assert_eq!(browser.me(&bea).await.as_deref(), Some("bea@example.com"));

    // Cal signs in on the browser Bea left signed in.
    let cal = pair(&browser.sign_in("cal@example.com", Some(&bea)).await);
    assert_ne!(cal, bea, "the session id changes at sign-in");
    assert_eq!(browser.me(&cal).await.as_deref(), Some("cal@example.com"));
    // Bea's old cookie neither stays Bea's nor became Cal's.
    assert_eq!(browser.me(&bea).await, None);

    // Creating an account over a signed-in session is a sign-in too.
    let dee = pair(&browser.sign_up("dee@example.com", "Dee", Some(&cal)).await);
    assert_ne!(dee, cal);
    assert_eq!(browser.me(&dee).await.as_deref(), Some("dee@example.com"));
    assert_eq!(browser.me(&cal).await, None);
}

async fn a_planted_session_id_is_replaced_at_sign_in(db: Db) {
    let (_app, browser) = served(db, &[]).await;
    browser.sign_up("bea@example.com", "Bea", None).await;
    // An id someone else chose (and so knows) is sent along with the sign-in.
    let planted = "ais_session=AAAAAAAAAAAAAAAAAAAAAA";
    let issued = pair(&browser.sign_in("bea@example.com", Some(planted)).await);
    assert_ne!(issued, planted);
    assert_eq!(browser.me(&issued).await.as_deref(), Some("bea@example.com"));
    assert_eq!(browser.me(planted).await, None);
}

async fn signing_out_ends_the_session_for_good(db: Db) {
    let (_app, browser) = served(db, &[]).await;
    let bea = pair(&browser.sign_up("bea@example.com", "Bea", None).await);
    let created = browser.send(Method::POST, "/api/rooms", Some(&bea), Some(json!({"name": "Bea's notes"}))).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let room = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let response = browser.send(Method::POST, "/api/auth/logout", Some(&bea), None).await;
    assert!(response.status().is_success(), "sign-out answered {}", response.status());
    // A copy of the cookie kept from before (a stolen one, say) no longer signs anyone in.
    assert_eq!(browser.me(&bea).await, None);
    let room = browser.send(Method::GET, &format!("/api/rooms/{room}"), Some(&bea), None).await;
    assert_eq!(room.status(), StatusCode::UNAUTHORIZED);
}
