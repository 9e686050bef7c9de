//! Server-rendered pages of the rooms product, read as HTML without a browser.

mod common;

use common::{person, set_cookie, Db, TestApp};
use domain::accounts::Role;
use http::StatusCode;
use serde_json::json;

on_both_databases!(
    the_rooms_page_lists_rooms_and_offers_the_form,
    a_room_page_renders_its_history_safely,
    a_missing_room_is_a_404_page,
    signed_out_visitors_are_sent_to_sign_in_and_back,
    the_sign_in_page_renders_its_form,
    a_new_installation_offers_the_first_account,
    a_plain_form_signs_in_and_goes_back_to_a_local_page_only,
    a_refused_plain_sign_in_comes_back_with_the_message,
    the_header_shows_who_is_signed_in_and_what_their_role_opens,
    viewers_see_the_composer_disabled_with_the_reason,
    owners_see_members_and_settings_and_members_see_the_list,
    the_tokens_page_shows_a_new_secret_once,
    the_users_page_is_for_admins,
    the_room_forms_work_as_plain_posts,
    the_control_panel_previews_and_confirms_with_plain_posts,
    create_account_is_offered_only_where_signup_is_open,
);

const PASSWORD: &str = "correct horse battery";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Where a redirect sends the browser.
fn location(headers: &http::HeaderMap) -> &str {
    headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default()
}

async fn the_rooms_page_lists_rooms_and_offers_the_form(db: Db) {
    let app = TestApp::new(db).await;
    app.send_json("POST", "/api/rooms", r#"{"name": "Design review"}"#).await;
    let (status, html) = app.get("/rooms").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(">Design review</a>"), "{html}");
    assert!(html.contains(r#"<label for="room-name">Room name</label>"#), "{html}");
    assert!(html.contains(">Create room</button>") || html.contains(">Create room\n"), "{html}");
    assert!(html.contains(r#"<label for="room-visibility">Visibility</label>"#), "{html}");
    assert!(html.contains(r#"<option value="private" selected"#), "private is the default: {html}");
    assert!(html.contains("visibility--private"), "each room shows its visibility: {html}");
    // One room-name input, and it sits inside the form that posts it.
    assert_eq!(html.matches(r#"name="name""#).count(), 1, "{html}");
    let input = html.find(r#"id="room-name""#).expect("the name input");
    let form = html[..input].rfind("<form").expect("a form before the input");
    assert!(html[form..input].contains("create-room"), "the create-room form: {html}");
    assert!(!html[form..input].contains("</form>"), "the name input is inside the form: {html}");
}

async fn a_room_page_renders_its_history_safely(db: Db) {
    let app = TestApp::new(db).await;
    let (_, room) = app.send_json("POST", "/api/rooms", r#"{"name": "Renders"}"#).await;
    let room_id = room["id"].as_str().unwrap();
    let hostile = "Look: <script>window.hacked=1</script> [x](javascript:alert(1)) and **bold**";
    app.send_json("POST", &format!("/api/rooms/{room_id}/messages"), &json!({"content": hostile}).to_string()).await;
    let (status, html) = app.get(&format!("/rooms/{room_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Renders</h1>"), "{html}");
    assert!(html.contains("<strong>bold</strong>"), "Markdown is rendered: {html}");
    assert!(!html.contains("<script>window.hacked"), "raw HTML never reaches the page");
    assert!(html.contains("&lt;script&gt;window.hacked"), "it is shown as text");
    assert!(!html.contains("href=\"javascript:"), "script links are dropped");
    assert!(html.contains(r#"for="new-agent-name""#) && html.contains(">Agent name<"), "the agent form is there");
    assert!(html.contains(">Send<"), "the composer is there");
}

async fn a_missing_room_is_a_404_page(db: Db) {
    let app = TestApp::new(db).await;
    let (status, html) = app.get(&format!("/rooms/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    assert!(html.contains("Room not found"));
    let (status, _) = app.get("/rooms/not-a-room").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Made-up room ids leave nothing behind: no live-event channel is made for a room that does
    // not exist, through the page, its stream or its API.
    for _ in 0..50 {
        let made_up = uuid::Uuid::now_v7();
        assert_eq!(app.get(&format!("/rooms/{made_up}")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("/api/rooms/{made_up}/stream")).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("/api/rooms/{made_up}/messages")).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.state.services.events.room_count(), 0);
}

async fn signed_out_visitors_are_sent_to_sign_in_and_back(db: Db) {
    // Guests may see nothing without demo rooms.
    let app = TestApp::with_env(db, &[("GUEST_ACCESS", "off")]).await;
    let (_, room) = app.send_json("POST", "/api/rooms", r#"{"name": "Private plans"}"#).await;
    let room_page = format!("/rooms/{}", room["id"].as_str().unwrap());
    for (page, next) in [
        ("/rooms", "/rooms".to_owned()),
        (room_page.as_str(), room_page.clone()),
        ("/tokens", "/tokens".to_owned()),
        ("/admin/users", "/admin/users".to_owned()),
        ("/control-plane", "/control-plane".to_owned()),
    ] {
        let (status, headers, _) = app.browse(page, &[]).await;
        assert_eq!(status, StatusCode::FOUND, "{page}");
        assert_eq!(location(&headers), format!("/signin?next={next}"), "{page}");
    }
    // A room that does not exist sends a guest to sign in too, so guests learn nothing.
    let (status, headers, _) = app.browse(&format!("/rooms/{}", uuid::Uuid::now_v7()), &[]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(location(&headers).starts_with("/signin?next=/rooms/"));
}

async fn the_sign_in_page_renders_its_form(db: Db) {
    let app = TestApp::new(db).await;
    let (status, _, html) = app.browse("/signin?next=/tokens", &[]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(r#"<label for="sign-in-email">Email</label>"#), "{html}");
    assert!(html.contains(r#"<label for="sign-in-password">Password</label>"#), "{html}");
    assert!(html.contains(r#"action="/api/fn/auth/sign-in""#), "a real form: {html}");
    assert!(html.contains(r#"name="next" value="/tokens""#), "{html}");
    assert!(html.contains("Sign in</button>") || html.contains("Sign in\n"), "{html}");
    assert!(html.contains(r#"href="/signup?next=/tokens""#), "sign-up is offered: {html}");
    assert!(!html.contains("Create the first account"), "{html}");

    for foreign in ["https://evil.example/", "//evil.example", "/%5Cevil.example"] {
        let (_, _, html) = app.browse(&format!("/signin?next={foreign}"), &[]).await;
        // Only a page of this site is carried on; anything else is dropped (the rooms follow).
        assert!(html.contains(r#"name="next" value="""#), "{foreign}: {html}");
        assert!(!html.contains("evil.example"), "{foreign}: {html}");
    }

    let (_, _, html) = app.browse("/signup", &[]).await;
    for label in ["Name", "Email", "Password"] {
        assert!(html.contains(&format!(">{label}</label>")), "{label}: {html}");
    }
    assert!(html.contains("Create account</button>") || html.contains("Create account\n"), "{html}");

    // Someone signed in is sent on.
    let admin = bearer(&app.token);
    let (status, headers, _) = app.browse("/signin?next=/tokens", &[("authorization", &admin)]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location(&headers), "/tokens");
}

async fn a_new_installation_offers_the_first_account(db: Db) {
    let app = TestApp::without_accounts(db).await;
    for page in ["/", "/signin", "/signup"] {
        let (status, _, html) = app.browse(page, &[]).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(html.contains("Create the first account"), "{page}: {html}");
        assert!(html.contains(r#"action="/api/fn/auth/sign-up""#), "{page}: {html}");
    }

    let form = [("name", "Ada"), ("email", "ada@example.com"), ("password", PASSWORD), ("next", "/rooms")];
    let (status, headers, _) = app.post_form("/api/fn/auth/sign-up", &form, &[]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location(&headers), "/rooms");
    let session = set_cookie(&headers, "ais_session").expect("a session");
    let (status, _, html) = app.browse("/", &[("cookie", &session)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Create the first account"), "{html}");
    assert!(html.contains(r#"href="/admin/users""#), "the first account is the admin: {html}");
}

async fn a_plain_form_signs_in_and_goes_back_to_a_local_page_only(db: Db) {
    let app = TestApp::new(db).await;
    person(&app.state.services, "Una User", Role::User).await;
    let form = [("email", "una.user@example.com"), ("password", PASSWORD), ("next", "/tokens")];
    let (status, headers, _) = app.post_form("/api/fn/auth/sign-in", &form, &[]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location(&headers), "/tokens");
    let session = set_cookie(&headers, "ais_session").expect("a session");
    let (status, _, html) = app.browse("/tokens", &[("cookie", &session)]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<h1>API tokens</h1>"), "{html}");

    for foreign in ["https://evil.example/", "//evil.example/x", "/\\evil.example"] {
        let form = [("email", "una.user@example.com"), ("password", PASSWORD), ("next", foreign)];
        let (status, headers, _) = app.post_form("/api/fn/auth/sign-in", &form, &[]).await;
        assert_eq!(status, StatusCode::FOUND, "{foreign}");
        assert_eq!(location(&headers), "/rooms", "{foreign}");
    }

    // Signing out ends the session.
    let (status, headers, _) = app.post_form("/api/fn/auth/sign-out", &[], &[("cookie", &session)]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location(&headers), "/");
    let (status, headers, _) = app.browse("/tokens", &[("cookie", &session)]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location(&headers), "/signin?next=/tokens");
}

async fn a_refused_plain_sign_in_comes_back_with_the_message(db: Db) {
    let app = TestApp::new(db).await;
    let form = [("email", "Nobody@Example.com"), ("password", "not the password"), ("next", "/tokens")];
    let (status, headers, _) = app.post_form("/api/fn/auth/sign-in", &form, &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/signin?next=/tokens");
    assert!(set_cookie(&headers, "ais_session").is_none(), "no session for a refusal");
    let notice = set_cookie(&headers, "ais_notice").expect("the refusal travels with the browser");

    let (status, headers, html) = app.browse("/signin?next=/tokens", &[("cookie", &notice)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("The email or password is wrong."), "{html}");
    assert!(html.contains(r#"value="Nobody@Example.com""#), "the email is kept: {html}");
    let cleared = headers.get_all("set-cookie").iter().any(|v| v.to_str().unwrap().starts_with("ais_notice=;"));
    assert!(cleared, "shown once: {headers:?}");
}

async fn the_header_shows_who_is_signed_in_and_what_their_role_opens(db: Db) {
    let app = TestApp::new(db).await;
    let (_, _, html) = app.browse("/", &[("authorization", &bearer(&app.token))]).await;
    assert!(html.contains(">Ada Admin</span>"), "{html}");
    assert!(html.contains("Sign out</button>"), "{html}");
    assert!(html.contains(r#"action="/api/fn/auth/sign-out""#), "{html}");
    for link in [r#"href="/control-plane""#, r#"href="/admin/users""#, r#"href="/tokens""#] {
        assert!(html.contains(link), "{link}: {html}");
    }

    let user = person(&app.state.services, "Una User", Role::User).await;
    let (_, _, html) = app.browse("/rooms", &[("authorization", &bearer(&user))]).await;
    let nav = &html[html.find("app-nav").unwrap()..html.find("</nav>").unwrap()];
    assert!(nav.contains(r#"href="/tokens""#), "{nav}");
    assert!(!nav.contains(r#"href="/control-plane""#) && !nav.contains(r#"href="/admin/users""#), "{nav}");
    let (_, _, html) = app.browse("/", &[("authorization", &bearer(&user))]).await;
    assert!(!html.contains(r#"href="/control-plane""#), "no way into the control plane anywhere: {html}");

    let (_, _, html) = app.browse("/", &[]).await;
    assert!(html.contains(">Sign in</a>") && html.contains(">Create account</a>"), "{html}");
}

async fn viewers_see_the_composer_disabled_with_the_reason(db: Db) {
    let app = TestApp::new(db).await;
    let viewer = person(&app.state.services, "Vera Viewer", Role::User).await;
    let (_, room) = app.send_json("POST", "/api/rooms", r#"{"name": "Read only"}"#).await;
    let room_id = room["id"].as_str().unwrap();
    let add = json!({"email": "vera.viewer@example.com", "role": "viewer"}).to_string();
    let (status, _) = app.send_json("POST", &format!("/api/rooms/{room_id}/members"), &add).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, _, html) = app.browse(&format!("/rooms/{room_id}"), &[("authorization", &bearer(&viewer))]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("You can read this room; only members can write."), "{html}");
    let composer = &html[html.find(r#"id="composer-input""#).unwrap()..];
    let composer = &composer[..composer.find('>').unwrap()];
    assert!(composer.contains("disabled"), "{composer}");
    assert!(!html.contains(">Add agent<"), "viewers do not change agents: {html}");
    assert!(!html.contains("Room settings"), "{html}");
    assert!(html.contains(">Leave room<"), "{html}");
}

async fn owners_see_members_and_settings_and_members_see_the_list(db: Db) {
    let app = TestApp::new(db).await;
    let member = person(&app.state.services, "Max Member", Role::User).await;
    let (_, room) = app.send_json("POST", "/api/rooms", r#"{"name": "Shared"}"#).await;
    let room_id = room["id"].as_str().unwrap();
    let add = json!({"email": "max.member@example.com", "role": "member"}).to_string();
    app.send_json("POST", &format!("/api/rooms/{room_id}/members"), &add).await;

    let (_, _, html) = app.browse(&format!("/rooms/{room_id}"), &[("authorization", &bearer(&app.token))]).await;
    assert!(html.contains(r#"id="members""#) && html.contains("Max Member"), "{html}");
    assert!(html.contains(">Add member<") && html.contains(">Change role<"), "{html}");
    assert!(html.contains("Room settings") && html.contains("Delete this room for good"), "{html}");

    let (_, _, html) = app.browse(&format!("/rooms/{room_id}"), &[("authorization", &bearer(&member))]).await;
    assert!(html.contains("Max Member (you)"), "{html}");
    assert!(!html.contains(">Add member<") && !html.contains("Room settings"), "{html}");
    let composer = &html[html.find(r#"id="composer-input""#).unwrap()..];
    assert!(!composer[..composer.find('>').unwrap()].contains("disabled"), "members write");

    // An owner adds someone by email with a plain form, and the page comes back at the list.
    person(&app.state.services, "Nia New", Role::User).await;
    let form = [("room_id", room_id), ("email", "nia.new@example.com"), ("role", "viewer")];
    let (status, headers, _) =
        app.post_form("/api/fn/members/add", &form, &[("authorization", &bearer(&app.token))]).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(location(&headers), format!("/rooms/{room_id}#members"));
    let (_, members) = app.get_json(&format!("/api/rooms/{room_id}/members")).await;
    assert!(members.as_array().unwrap().iter().any(|m| m["email"] == "nia.new@example.com" && m["role"] == "viewer"));

    // A member may not, and is told so on the room's page.
    let form = [("room_id", room_id), ("email", "ada.admin@example.com"), ("role", "owner")];
    let (status, headers, _) =
        app.post_form("/api/fn/members/add", &form, &[("authorization", &bearer(&member))]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let notice = set_cookie(&headers, "ais_notice").unwrap();
    let (_, _, html) =
        app.browse(&format!("/rooms/{room_id}"), &[("authorization", &bearer(&member)), ("cookie", &notice)]).await;
    assert!(html.contains("Only the room's owners may change it."), "{html}");
}

async fn the_tokens_page_shows_a_new_secret_once(db: Db) {
    let app = TestApp::new(db).await;
    let admin = bearer(&app.token);
    let (status, headers, _) =
        app.post_form("/api/fn/tokens/create", &[("name", "deploy script")], &[("authorization", &admin)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), "/tokens");
    let notice = set_cookie(&headers, "ais_notice").unwrap();
    let (_, _, html) = app.browse("/tokens", &[("authorization", &admin), ("cookie", &notice)]).await;
    assert!(html.contains("it will not be shown again"), "{html}");
    let secret_at = html.find("<code class=\"secret\">aisc_").expect("the secret is shown");
    let secret = &html[secret_at + "<code class=\"secret\">".len()..];
    let secret = &secret[..secret.find('<').unwrap()];
    assert!(html.contains(">deploy script</td>"), "{html}");

    // The secret works, and the page shows it no more.
    let request = http::Request::get("/api/auth/me").header("authorization", bearer(secret));
    let response = app.send_as_is(request.body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, _, html) = app.browse("/tokens", &[("authorization", &admin)]).await;
    assert!(!html.contains(secret), "shown once");
    assert!(html.contains("Delete token deploy script"), "{html}");
}

async fn the_users_page_is_for_admins(db: Db) {
    let app = TestApp::new(db).await;
    let (status, _, html) = app.browse("/admin/users", &[("authorization", &bearer(&app.token))]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("ada.admin@example.com"), "{html}");
    assert!(html.contains(">Change role<") && html.contains(">Invite<"), "{html}");

    let user = person(&app.state.services, "Una User", Role::User).await;
    let (status, _, html) = app.browse("/admin/users", &[("authorization", &bearer(&user))]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("Only admins may do this."), "{html}");
}

async fn the_room_forms_work_as_plain_posts(db: Db) {
    let app = TestApp::new(db).await;
    let admin = bearer(&app.token);
    let as_admin = [("authorization", admin.as_str())];
    let (_, room) = app.send_json("POST", "/api/rooms", r#"{"name": "No script"}"#).await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    let room_page = format!("/rooms/{room_id}");
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form(path, &form, &as_admin).await
        }
    };

    // The page offers each of them as a real form.
    let (_, _, html) = app.browse(&room_page, &as_admin).await;
    for action in ["forms/rooms/post", "forms/agents/create", "forms/runs/start"] {
        assert!(html.contains(&format!(r#"action="/api/fn/{action}""#)), "{action}: {html}");
    }
    assert!(html.contains(r#"formaction="/api/fn/forms/runs/stop""#), "{html}");
    // Without the island nothing fills the fields in, so the server renders their values.
    for (id, value) in [("new-agent-temperature", "0.7"), ("run-max-steps", "20"), ("run-max-seconds", "300")] {
        let field = &html[html.find(&format!(r#"id="{id}""#)).unwrap_or_else(|| panic!("{id}: {html}"))..];
        let field = &field[..field.find('>').unwrap()];
        assert!(field.contains(&format!(r#"value="{value}""#)), "{id}: {field}");
    }

    let agent = |name: &str| {
        vec![
            ("room_id", room_id.clone()),
            ("name", name.to_owned()),
            ("model", "demo".to_owned()),
            ("system_prompt", format!("You are {name}.")),
            ("temperature", "0.7".to_owned()),
        ]
    };
    for name in ["Nell", "Otto"] {
        let (status, headers, _) = post("/api/fn/forms/agents/create", agent(name)).await;
        assert!(status.is_redirection(), "{status}");
        assert_eq!(location(&headers), room_page);
    }
    let (status, headers, _) =
        post("/api/fn/forms/rooms/post", vec![("room_id", room_id.clone()), ("content", "Hello, form".into())]).await;
    assert!(status.is_redirection(), "{status}");
    assert_eq!(location(&headers), room_page);

    // A refusal comes back to the room with its message, next to the form that was sent.
    let (status, headers, _) = post("/api/fn/forms/agents/create", agent("nell")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), room_page);
    let notice = set_cookie(&headers, "ais_notice").expect("the refusal travels with the browser");
    let cookie_and_token = [("authorization", admin.as_str()), ("cookie", notice.as_str())];
    let (_, _, html) = app.browse(&room_page, &cookie_and_token).await;
    assert!(html.contains("already has an agent named"), "{html}");
    let bad_number = vec![("room_id", room_id.clone()), ("max_steps", "many".into()), ("max_seconds", "60".into())];
    let (status, headers, _) = post("/api/fn/forms/runs/start", bad_number).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let notice = set_cookie(&headers, "ais_notice").unwrap();
    let (_, _, html) = app.browse(&room_page, &[("authorization", admin.as_str()), ("cookie", notice.as_str())]).await;
    assert!(html.contains("Max steps must be a whole number."), "{html}");

    // Start, then Stop posts the same form elsewhere, with its fields along.
    let start = vec![
        ("room_id", room_id.clone()),
        ("max_steps", "200".into()),
        ("max_seconds", "60".into()),
        ("budget_tokens", String::new()),
    ];
    let (status, _, _) = post("/api/fn/forms/runs/start", start.clone()).await;
    assert!(status.is_redirection(), "{status}");
    let (status, _, _) = post("/api/fn/forms/runs/stop", start).await;
    assert!(status.is_redirection(), "{status}");

    let (_, agents) = app.get_json(&format!("/api/rooms/{room_id}/agents")).await;
    let nell =
        agents.as_array().unwrap().iter().find(|a| a["name"] == "Nell").unwrap()["id"].as_str().unwrap().to_owned();
    let deactivate = vec![("room_id", room_id.clone()), ("agent_id", nell.clone()), ("is_active", "false".into())];
    let (status, _, _) = post("/api/fn/forms/agents/update", deactivate).await;
    assert!(status.is_redirection(), "{status}");
    let edit = vec![
        ("room_id", room_id.clone()),
        ("agent_id", nell),
        ("name", "Nell".into()),
        ("model", "demo".into()),
        ("system_prompt", "You are Nell, a historian.".into()),
        ("temperature", "1.3".into()),
    ];
    let (status, _, _) = post("/api/fn/forms/agents/update", edit).await;
    assert!(status.is_redirection(), "{status}");
    // The edit form of an agent opens on what the agent is now.
    let (_, _, html) = app.browse(&room_page, &as_admin).await;
    assert!(
        html.contains(">You are Nell, a historian.</textarea>") || html.contains("You are Nell, a historian.\n"),
        "{html}"
    );

    // Each post took effect once.
    let (_, agents) = app.get_json(&format!("/api/rooms/{room_id}/agents")).await;
    let agents = agents.as_array().unwrap();
    assert_eq!(agents.len(), 2, "{agents:?}");
    let nell = agents.iter().find(|a| a["name"] == "Nell").unwrap();
    assert_eq!(nell["is_active"], false);
    assert_eq!(nell["system_prompt"], "You are Nell, a historian.");
    assert_eq!(nell["temperature"], 1.3);
    let (_, page) = app.get_json(&format!("/api/rooms/{room_id}/messages")).await;
    let human: Vec<_> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["sender_type"] == "human")
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(human, vec![json!("Hello, form")]);
    let (_, runs) = app.get_json(&format!("/api/rooms/{room_id}/runs")).await;
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_ne!(runs[0]["status"], "running", "{runs}");
}

async fn the_control_panel_previews_and_confirms_with_plain_posts(db: Db) {
    let app = TestApp::new(db).await;
    let admin = bearer(&app.token);
    let as_admin = [("authorization", admin.as_str())];

    // The page makes a session for its forms, since the browser has not made one yet.
    let (status, _, html) = app.browse("/control-plane", &as_admin).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(r#"action="/api/fn/forms/control-plane/preview""#), "{html}");
    let at = html.find(r#"name="session_id" value=""#).expect("a session for the form")
        + r#"name="session_id" value=""#.len();
    let session = html[at..at + 36].to_owned();
    assert!(uuid::Uuid::parse_str(&session).is_ok_and(|id| id.get_version_num() == 4), "{session}");

    let form = [("session_id", session.as_str()), ("raw_input", "lisa run backup_db"), ("channel", "web")];
    let (status, headers, _) = app.post_form("/api/fn/forms/control-plane/preview", &form, &as_admin).await;
    assert!(status.is_redirection(), "{status}");
    let page = location(&headers).to_owned();
    assert!(page.starts_with(&format!("/control-plane?session_id={session}&preview_id=")), "{page}");
    let preview_id = page.rsplit('=').next().unwrap().to_owned();
    assert!(!app
        .gateway_root
        .path()
        .join("interface/pending_approval")
        .read_dir()
        .map(|d| d.count() > 0)
        .unwrap_or(false));

    // The page it leads to shows the preview, to its session's person only.
    let (status, _, html) = app.browse(&page, &as_admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("backup_db") && html.contains(r#"action="/api/fn/forms/control-plane/confirm""#), "{html}");
    assert!(html.contains(&format!(r#"name="preview_id" value="{preview_id}""#)), "{html}");
    let operator = person(&app.state.services, "Otto Operator", Role::Operator).await;
    let (status, _, html) = app.browse(&page, &[("authorization", &bearer(&operator))]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another person's session: {html}");
    assert!(!html.contains("backup_db"), "{html}");

    // A broken override is refused next to the confirm, and the preview is still there.
    let form =
        [("session_id", session.as_str()), ("preview_id", preview_id.as_str()), ("structured_override", "{oops")];
    let (status, headers, _) = app.post_form("/api/fn/forms/control-plane/confirm", &form, &as_admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), page);

    let form = [("session_id", session.as_str()), ("preview_id", preview_id.as_str()), ("structured_override", "")];
    let (status, headers, _) = app.post_form("/api/fn/forms/control-plane/confirm", &form, &as_admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location(&headers), format!("/control-plane?session_id={session}"));
    let notice = set_cookie(&headers, "ais_notice").expect("the written task travels with the browser");
    let (_, _, html) =
        app.browse(location(&headers), &[("authorization", admin.as_str()), ("cookie", notice.as_str())]).await;
    assert!(html.contains("Task written") && html.contains("interface/pending_approval/task_"), "{html}");
    let written = app.gateway_root.path().join("interface/pending_approval").read_dir().unwrap().count();
    assert_eq!(written, 1);

    // The same confirm again writes nothing more; the preview is spent and no longer shown.
    let (status, _, _) = app.post_form("/api/fn/forms/control-plane/confirm", &form, &as_admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.gateway_root.path().join("interface/pending_approval").read_dir().unwrap().count(), 1);
    let (_, _, html) = app.browse(&page, &as_admin).await;
    assert!(!html.contains(r#"action="/api/fn/forms/control-plane/confirm""#), "{html}");

    // "End session": its waiting preview is dropped, and the panel comes back in a new session.
    let form = [("session_id", session.as_str()), ("raw_input", "show tasks"), ("channel", "web")];
    let (_, headers, _) = app.post_form("/api/fn/forms/control-plane/preview", &form, &as_admin).await;
    let waiting = location(&headers).rsplit('=').next().unwrap().to_owned();
    assert!(html.contains(r#"action="/api/fn/forms/control-plane/end-session""#), "{html}");
    let (status, headers, _) =
        app.post_form("/api/fn/forms/control-plane/end-session", &[("session_id", session.as_str())], &as_admin).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let fresh = location(&headers).strip_prefix("/control-plane?session_id=").expect("a new session").to_owned();
    assert!(uuid::Uuid::parse_str(&fresh).is_ok_and(|id| id.get_version_num() == 4) && fresh != session);
    let notice = set_cookie(&headers, "ais_notice").expect("what happened travels with the browser");
    let (_, _, html) =
        app.browse(location(&headers), &[("authorization", admin.as_str()), ("cookie", notice.as_str())]).await;
    assert!(html.contains("Session ended. The preview waiting for a confirm was dropped."), "{html}");
    assert!(html.contains(&format!(r#"name="session_id" value="{fresh}""#)), "{html}");
    let form = [("session_id", session.as_str()), ("preview_id", waiting.as_str()), ("structured_override", "")];
    let (_, headers, _) = app.post_form("/api/fn/forms/control-plane/confirm", &form, &as_admin).await;
    let notice = set_cookie(&headers, "ais_notice").expect("the refusal");
    let (_, _, html) =
        app.browse(location(&headers), &[("authorization", admin.as_str()), ("cookie", notice.as_str())]).await;
    assert!(html.contains("Preview has expired"), "the dropped preview cannot be confirmed: {html}");
    let line = std::fs::read_to_string(app.gateway_root.path().join("observability/telemetry/gateway.jsonl")).unwrap();
    let ends = line.lines().filter(|l| l.contains(r#""event":"session_end""#)).count();
    assert_eq!(ends, 1, "the end is logged");
}

async fn create_account_is_offered_only_where_signup_is_open(db: Db) {
    for (policy, offered) in [("open", true), ("invite", true), ("closed", false)] {
        let app = TestApp::with_env(db, &[("SIGNUP", policy)]).await;
        for page in ["/", "/no/such/page", "/signin"] {
            let (_, _, html) = app.browse(page, &[]).await;
            assert_eq!(html.contains(">Create account</a>"), offered, "SIGNUP={policy}, {page}: {html}");
        }
    }
}
