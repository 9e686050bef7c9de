//! The authorization matrix: every route the server answers — REST, server functions, the live
//! stream, pages, the control plane, probes — asked by every kind of caller about rooms of every
//! visibility, against the status the rules promise. The expected statuses are written out here
//! as tables, not derived from the rule under test. Every response body is also searched for a
//! private room none of these callers belongs to: its data must never appear.
//!
//! A route added to the server without a row here fails `every_route_has_a_row`.

mod common;

use std::collections::{BTreeSet, HashMap};

use axum::body::Body;
use common::{body_text, Db, TestApp};
use domain::accounts::{NewToken, Role, Signup};
use domain::rooms::{
    CreateAgent, CreateRoom, MemberRole, MessageStatus, PostMessage, RoomMode, RoomVisibility, SenderType,
};
use http::{Request, StatusCode};
use serde_json::{json, Value};
use services::{Actor, Principal, Services};
use uuid::Uuid;

on_both_databases!(every_route_answers_every_caller_as_the_rules_say);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Caller {
    /// No credentials at all.
    Anonymous,
    /// A visitor who is not signed in but carries the site's session cookie (signed out).
    Guest,
    Viewer,
    Member,
    Owner,
    /// Signed in, a plain user, not a member of the room.
    Other,
    /// Signed in with the global operator role, not a member of the room.
    Operator,
    Admin,
}

const CALLERS: [Caller; 8] = [
    Caller::Anonymous,
    Caller::Guest,
    Caller::Viewer,
    Caller::Member,
    Caller::Owner,
    Caller::Other,
    Caller::Operator,
    Caller::Admin,
];

const VISIBILITIES: [RoomVisibility; 3] = [RoomVisibility::Private, RoomVisibility::Public, RoomVisibility::Demo];

/// Stands for the route's own success status in the tables below.
const OK: u16 = 0;

/// Statuses per caller, in the order of [`CALLERS`]:
/// anonymous, guest, viewer, member, owner, other user, operator, admin.
type Row = [u16; 8];

/// What a room route answers, per visibility: private, public, demo (guests may read by default).
struct RoomTable {
    private: Row,
    public: Row,
    demo: Row,
}

/// Seeing the room, its agents, messages, runs and live stream.
const READ: RoomTable = RoomTable {
    private: [401, 401, OK, OK, OK, 404, 404, OK],
    public: [401, 401, OK, OK, OK, OK, OK, OK],
    demo: [OK, OK, OK, OK, OK, OK, OK, OK],
};

/// The room's page: as reading, but a visitor who is not signed in is sent to sign in (302).
const PAGE: RoomTable = RoomTable {
    private: [302, 302, OK, OK, OK, 404, 404, OK],
    public: [302, 302, OK, OK, OK, OK, OK, OK],
    demo: [OK, OK, OK, OK, OK, OK, OK, OK],
};

/// Writing a message, starting and stopping runs: members and owners.
const WRITE: RoomTable = RoomTable {
    private: [401, 401, 403, OK, OK, 404, 404, OK],
    public: [401, 401, 403, OK, OK, 403, 403, OK],
    demo: [401, 401, 403, OK, OK, 403, 403, OK],
};

/// Seeing who the members are: anyone in the room.
const MEMBERS: RoomTable = RoomTable {
    private: [401, 401, OK, OK, OK, 404, 404, OK],
    public: [401, 401, OK, OK, OK, 403, 403, OK],
    demo: [401, 401, OK, OK, OK, 403, 403, OK],
};

/// Settings, agents, members, deletion: owners only.
const MANAGE: RoomTable = RoomTable {
    private: [401, 401, 403, 403, OK, 404, 404, OK],
    public: [401, 401, 403, 403, OK, 403, 403, OK],
    demo: [401, 401, 403, 403, OK, 403, 403, OK],
};

/// Editing a message: only its author (the owner wrote the fixture's message), while they may
/// write in the room; not even an admin changes someone else's words.
const EDIT: RoomTable = RoomTable {
    private: [401, 401, 403, 403, OK, 404, 404, 403],
    public: [401, 401, 403, 403, OK, 403, 403, 403],
    demo: [401, 401, 403, 403, OK, 403, 403, 403],
};

/// Confirming or rejecting an agent's proposal: operators taking part in the room (as owner or
/// member), and admins. Every caller here who takes part is a plain user, so only the admin may.
const DECIDE: RoomTable = RoomTable {
    private: [401, 401, 403, 403, 403, 404, 404, OK],
    public: [401, 401, 403, 403, 403, 403, 403, OK],
    demo: [401, 401, 403, 403, 403, 403, 403, OK],
};

/// Routes that do not concern one room.
const EVERYONE: Row = [OK, OK, OK, OK, OK, OK, OK, OK];
const SIGNED_IN: Row = [401, 401, OK, OK, OK, OK, OK, OK];
const OPERATORS: Row = [401, 401, 403, 403, 403, 403, OK, OK];
const ADMINS: Row = [401, 401, 403, 403, 403, 403, 403, OK];

/// The values a request is built from.
struct Fixture {
    room: Uuid,
    agent: Uuid,
    /// The owner's message.
    message: Uuid,
    /// An agent's complete reply, and one that failed.
    reply: Uuid,
    failed: Uuid,
    run: Option<Uuid>,
    /// An agent's proposal waiting for a person, previewed by the gateway.
    proposal: Option<Uuid>,
    /// A viewer of the room who is none of the callers, whom the member routes change.
    bystander: Uuid,
}

#[derive(Clone, Copy)]
enum Prepare {
    /// The room as it is.
    Room,
    /// The room with an auto-dialogue run going.
    RunGoing,
    /// The room with an agent's proposal waiting for a person.
    Proposal,
}

#[derive(Clone, Copy)]
enum Encoding {
    None,
    Json,
    /// `application/x-www-form-urlencoded`, as the forms' server functions take it.
    Form,
}

struct RoomRoute {
    method: &'static str,
    /// With `{room}`, `{agent}`, `{message}`, `{reply}`, `{failed}`, `{run}`, `{proposal}`,
    /// `{bystander}` filled from the fixture, and `{first}` as 0.
    path: &'static str,
    body: fn(&Fixture) -> String,
    encoding: Encoding,
    success: u16,
    table: &'static RoomTable,
    prepare: Prepare,
    /// Whether the answer may name rooms other than the one asked about (none may name the
    /// secret room, unless the caller is the admin and the route lists rooms).
    lists_rooms: bool,
}

fn no_body(_: &Fixture) -> String {
    String::new()
}

fn proposal_of(fixture: &Fixture) -> String {
    fixture.proposal.map(|p| p.to_string()).unwrap_or_default()
}

fn room_routes() -> Vec<RoomRoute> {
    use Encoding::{Form, Json as J};
    let route = |method, path, body: fn(&Fixture) -> String, encoding, success, table, prepare| RoomRoute {
        method,
        path,
        body,
        encoding,
        success,
        table,
        prepare,
        lists_rooms: false,
    };
    vec![
        // REST
        route("GET", "/api/rooms/{room}", no_body, Encoding::None, 200, &READ, Prepare::Room),
        route("PATCH", "/api/rooms/{room}", |_| json!({"name": "Renamed"}).to_string(), J, 200, &MANAGE, Prepare::Room),
        route("DELETE", "/api/rooms/{room}", no_body, Encoding::None, 204, &MANAGE, Prepare::Room),
        route("GET", "/api/rooms/{room}/members", no_body, Encoding::None, 200, &MEMBERS, Prepare::Room),
        route(
            "POST",
            "/api/rooms/{room}/members",
            |_| json!({"email": "nia.newcomer@example.com", "role": "viewer"}).to_string(),
            J,
            201,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "PATCH",
            "/api/rooms/{room}/members/{bystander}",
            |_| json!({"role": "member"}).to_string(),
            J,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route("DELETE", "/api/rooms/{room}/members/{bystander}", no_body, Encoding::None, 204, &MANAGE, Prepare::Room),
        route("GET", "/api/rooms/{room}/agents", no_body, Encoding::None, 200, &READ, Prepare::Room),
        route(
            "POST",
            "/api/rooms/{room}/agents",
            |_| json!({"name": "Newcomer", "model": "demo", "system_prompt": "You help."}).to_string(),
            J,
            201,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "PATCH",
            "/api/rooms/{room}/agents/{agent}",
            |_| json!({"temperature": 0.2}).to_string(),
            J,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/rooms/{room}/agents/import",
            |_| json!({"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "Imported"}}).to_string(),
            J,
            201,
            &MANAGE,
            Prepare::Room,
        ),
        route("GET", "/api/rooms/{room}/agents/{agent}/card", no_body, Encoding::None, 200, &READ, Prepare::Room),
        route("GET", "/api/rooms/{room}/messages", no_body, Encoding::None, 200, &READ, Prepare::Room),
        route(
            "POST",
            "/api/rooms/{room}/messages",
            |_| json!({"content": "Hello there"}).to_string(),
            J,
            201,
            &WRITE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/rooms/{room}/messages/{reply}/regenerate",
            no_body,
            Encoding::None,
            200,
            &WRITE,
            Prepare::Room,
        ),
        route("POST", "/api/rooms/{room}/messages/{failed}/retry", no_body, Encoding::None, 200, &WRITE, Prepare::Room),
        route(
            "POST",
            "/api/rooms/{room}/messages/{reply}/alternatives/{first}/select",
            no_body,
            Encoding::None,
            200,
            &WRITE,
            Prepare::Room,
        ),
        route(
            "PATCH",
            "/api/rooms/{room}/messages/{message}",
            |_| json!({"content": "First, edited"}).to_string(),
            J,
            200,
            &EDIT,
            Prepare::Room,
        ),
        // The owner wrote the message: its author and whoever manages the room are the same here.
        route("DELETE", "/api/rooms/{room}/messages/{message}", no_body, Encoding::None, 200, &MANAGE, Prepare::Room),
        route("GET", "/api/rooms/{room}/stream", no_body, Encoding::None, 200, &READ, Prepare::Room),
        route("GET", "/api/rooms/{room}/export", no_body, Encoding::None, 200, &READ, Prepare::Room),
        route(
            "POST",
            "/api/rooms/{room}/auto/start",
            |_| json!({"max_steps": 50, "max_seconds": 60}).to_string(),
            J,
            201,
            &WRITE,
            Prepare::Room,
        ),
        route("POST", "/api/rooms/{room}/auto/stop", no_body, Encoding::None, 200, &WRITE, Prepare::RunGoing),
        route("POST", "/api/rooms/{room}/replies/stop", no_body, Encoding::None, 204, &WRITE, Prepare::Room),
        route("GET", "/api/rooms/{room}/runs", no_body, Encoding::None, 200, &READ, Prepare::RunGoing),
        route("GET", "/api/rooms/{room}/runs/{run}", no_body, Encoding::None, 200, &READ, Prepare::RunGoing),
        route("GET", "/api/rooms/{room}/runs/{run}/turns", no_body, Encoding::None, 200, &READ, Prepare::RunGoing),
        route("GET", "/api/rooms/{room}/proposals", no_body, Encoding::None, 200, &READ, Prepare::Proposal),
        route(
            "POST",
            "/api/rooms/{room}/proposals/{proposal}/confirm",
            no_body,
            Encoding::None,
            200,
            &DECIDE,
            Prepare::Proposal,
        ),
        route(
            "POST",
            "/api/rooms/{room}/proposals/{proposal}/reject",
            no_body,
            Encoding::None,
            200,
            &DECIDE,
            Prepare::Proposal,
        ),
        // Server functions behind the pages
        route(
            "POST",
            "/api/fn/rooms/snapshot",
            |f| json!({"room_id": f.room}).to_string(),
            J,
            200,
            &READ,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/rooms/messages",
            |f| json!({"room_id": f.room, "cursor": f.message}).to_string(),
            J,
            200,
            &READ,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/rooms/post",
            |f| json!({"room_id": f.room, "content": "Hello there"}).to_string(),
            J,
            200,
            &WRITE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/messages/change",
            |f| json!({"room_id": f.room, "message_id": f.reply, "change": {"action": "regenerate"}}).to_string(),
            J,
            200,
            &WRITE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/messages/change",
            |f| {
                json!({"room_id": f.room, "message_id": f.reply, "change": {"action": "select", "index": 0}})
                    .to_string()
            },
            J,
            200,
            &WRITE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/messages/change",
            |f| json!({"room_id": f.room, "message_id": f.failed, "change": {"action": "retry"}}).to_string(),
            J,
            200,
            &WRITE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/messages/change",
            |f| {
                json!({"room_id": f.room, "message_id": f.message, "change": {"action": "edit", "content": "Edited"}})
                    .to_string()
            },
            J,
            200,
            &EDIT,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/messages/change",
            |f| json!({"room_id": f.room, "message_id": f.message, "change": {"action": "delete"}}).to_string(),
            J,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/agents/create",
            |f| json!({"room_id": f.room, "input": {"name": "Newcomer", "model": "demo"}}).to_string(),
            J,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/agents/update",
            |f| json!({"room_id": f.room, "agent_id": f.agent, "input": {"temperature": 0.2}}).to_string(),
            J,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/runs/start",
            |f| json!({"room_id": f.room, "input": {"max_steps": 50, "max_seconds": 60}}).to_string(),
            J,
            200,
            &WRITE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/replies/stop",
            |f| json!({"room_id": f.room}).to_string(),
            J,
            200,
            &WRITE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/runs/view",
            |f| json!({"room_id": f.room, "run_id": f.run}).to_string(),
            J,
            200,
            &READ,
            Prepare::RunGoing,
        ),
        route(
            "POST",
            "/api/fn/runs/stop",
            |f| json!({"room_id": f.room}).to_string(),
            J,
            200,
            &WRITE,
            Prepare::RunGoing,
        ),
        route(
            "POST",
            "/api/fn/proposals/confirm",
            |f| json!({"room_id": f.room, "proposal_id": f.proposal}).to_string(),
            J,
            200,
            &DECIDE,
            Prepare::Proposal,
        ),
        route(
            "POST",
            "/api/fn/proposals/reject",
            |f| json!({"room_id": f.room, "proposal_id": f.proposal}).to_string(),
            J,
            200,
            &DECIDE,
            Prepare::Proposal,
        ),
        // The same actions as the room's plain forms post them before the page hydrates.
        route(
            "POST",
            "/api/fn/forms/rooms/post",
            |f| format!("room_id={}&content=Hello+there", f.room),
            Form,
            200,
            &WRITE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/forms/agents/import",
            // card: {"spec":"chara_card_v2","spec_version":"2.0","data":{"name":"Imported"}}, form-encoded
            |f| {
                format!("room_id={}&card=%7B%22spec%22%3A%22chara_card_v2%22%2C%22spec_version%22%3A%222.0%22%2C%22data%22%3A%7B%22name%22%3A%22Imported%22%7D%7D", f.room)
            },
            Form,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/forms/agents/starters",
            |f| format!("room_id={}&starter=debate", f.room),
            Form,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/forms/agents/create",
            |f| format!("room_id={}&name=Newcomer&model=demo&temperature=0.7", f.room),
            Form,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/forms/agents/update",
            |f| format!("room_id={}&agent_id={}&temperature=0.2", f.room, f.agent),
            Form,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/forms/runs/start",
            |f| format!("room_id={}&max_steps=50&max_seconds=60&budget_tokens=", f.room),
            Form,
            200,
            &WRITE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/forms/runs/stop",
            |f| format!("room_id={}", f.room),
            Form,
            200,
            &WRITE,
            Prepare::RunGoing,
        ),
        route(
            "POST",
            "/api/fn/forms/proposals/confirm",
            |f| format!("room_id={}&proposal_id={}", f.room, proposal_of(f)),
            Form,
            200,
            &DECIDE,
            Prepare::Proposal,
        ),
        route(
            "POST",
            "/api/fn/forms/proposals/reject",
            |f| format!("room_id={}&proposal_id={}", f.room, proposal_of(f)),
            Form,
            200,
            &DECIDE,
            Prepare::Proposal,
        ),
        route(
            "POST",
            "/api/fn/rooms/update",
            |f| {
                format!("room_id={}&name=Renamed&mode=manual&visibility=private&max_steps=20&max_seconds=300&budget_tokens=", f.room)
            },
            Form,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route("POST", "/api/fn/rooms/delete", |f| format!("room_id={}", f.room), Form, 200, &MANAGE, Prepare::Room),
        route(
            "POST",
            "/api/fn/members/list",
            |f| json!({"room_id": f.room}).to_string(),
            J,
            200,
            &MEMBERS,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/members/add",
            |f| format!("room_id={}&email=nia.newcomer%40example.com&role=viewer", f.room),
            Form,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/members/role",
            |f| format!("room_id={}&user_id={}&role=member", f.room, f.bystander),
            Form,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        route(
            "POST",
            "/api/fn/members/remove",
            |f| format!("room_id={}&user_id={}", f.room, f.bystander),
            Form,
            200,
            &MANAGE,
            Prepare::Room,
        ),
        // The room's page
        route("GET", "/rooms/{room}", no_body, Encoding::None, 200, &PAGE, Prepare::Room),
        route("GET", "/rooms/{room}/runs/{run}", no_body, Encoding::None, 200, &PAGE, Prepare::RunGoing),
    ]
}

/// A route that does not concern one room: the same answer whatever the room's visibility.
struct GlobalRoute {
    method: &'static str,
    path: &'static str,
    body: fn(&Setup, Caller) -> String,
    encoding: Encoding,
    success: u16,
    row: Row,
    lists_rooms: bool,
}

fn global_routes() -> Vec<GlobalRoute> {
    use Encoding::{Form, Json as J, None as Empty};
    let route = |method, path, body: fn(&Setup, Caller) -> String, encoding, success, row| GlobalRoute {
        method,
        path,
        body,
        encoding,
        success,
        row,
        lists_rooms: false,
    };
    let nothing: fn(&Setup, Caller) -> String = |_, _| String::new();
    let listing = |mut route: GlobalRoute| {
        route.lists_rooms = true;
        route
    };
    vec![
        // Probes and metrics answer everyone: load balancers and scrapers carry no account.
        route("GET", "/healthz", nothing, Empty, 200, EVERYONE),
        route("GET", "/readyz", nothing, Empty, 200, EVERYONE),
        route("GET", "/metrics", nothing, Empty, 200, EVERYONE),
        // The API's contract and its page are public, like the API's own documentation.
        route("GET", "/api/openapi.json", nothing, Empty, 200, EVERYONE),
        route("GET", "/api/docs/", nothing, Empty, 200, EVERYONE),
        route("GET", "/api/docs/index.css", nothing, Empty, 200, EVERYONE),
        // Rooms: guests see the demo rooms (GUEST_ACCESS=read); creating one needs an account.
        listing(route("GET", "/api/rooms", nothing, Empty, 200, EVERYONE)),
        route("POST", "/api/rooms", |_, _| json!({"name": "Fresh", "mode": "manual"}).to_string(), J, 201, SIGNED_IN),
        // Usage: people see their rooms' usage, admins everyone's.
        listing(route("GET", "/api/usage?group_by=room", nothing, Empty, 200, SIGNED_IN)),
        listing(route("POST", "/api/fn/usage/overview", |_, _| "{}".to_owned(), J, 200, SIGNED_IN)),
        listing(route("POST", "/api/fn/rooms/list", nothing, Form, 200, EVERYONE)),
        route("POST", "/api/fn/rooms/create", |_, _| "name=Fresh".to_owned(), Form, 200, SIGNED_IN),
        // Accounts
        route(
            "POST",
            "/api/auth/signup",
            |_, caller| {
                let email = format!("signup-{}@example.com", format!("{caller:?}").to_lowercase());
                json!({"email": email, "password": "correct horse battery", "name": "New Person"}).to_string()
            },
            J,
            201,
            EVERYONE,
        ),
        route(
            "POST",
            "/api/auth/login",
            |_, caller| {
                json!({"email": format!("nobody-{caller:?}@example.com"), "password": "wrong password here"})
                    .to_string()
            },
            J,
            200,
            [401, 401, 401, 401, 401, 401, 401, 401],
        ),
        route("POST", "/api/auth/logout", nothing, Empty, 204, EVERYONE),
        route("GET", "/api/auth/me", nothing, Empty, 200, SIGNED_IN),
        route("GET", "/api/tokens", nothing, Empty, 200, SIGNED_IN),
        route("POST", "/api/tokens", |_, _| json!({"name": "script"}).to_string(), J, 201, SIGNED_IN),
        // Someone else's token is as good as absent.
        route("DELETE", "/api/tokens/{spare_token}", nothing, Empty, 204, [401, 401, 404, 404, 404, 404, 404, OK]),
        route("GET", "/api/users", nothing, Empty, 200, ADMINS),
        route("PATCH", "/api/users/{other}", |_, _| json!({"role": "user"}).to_string(), J, 200, ADMINS),
        route(
            "POST",
            "/api/invites",
            |_, caller| json!({"email": format!("invited-{caller:?}@example.com")}).to_string(),
            J,
            201,
            ADMINS,
        ),
        // The control plane: operators and admins only.
        route(
            "POST",
            "/api/v1/chat/preview",
            |_, caller| {
                json!({"raw_input": "liam check status", "channel": "web", "session_id": session_of(caller)})
                    .to_string()
            },
            J,
            200,
            OPERATORS,
        ),
        route("POST", "/api/v1/chat/confirm", confirm_body, J, 200, OPERATORS),
        route("GET", "/api/v1/chat/watch/{task}?session_id={session}", nothing, Empty, 200, OPERATORS),
        route("GET", "/api/v1/chat/tasks?session_id={session}", nothing, Empty, 200, OPERATORS),
        route(
            "POST",
            "/api/fn/control-plane/preview",
            |_, caller| {
                json!({"raw_input": "liam check status", "channel": "web", "session_id": session_of(caller)})
                    .to_string()
            },
            J,
            200,
            OPERATORS,
        ),
        route("POST", "/api/fn/control-plane/confirm", confirm_body, J, 200, OPERATORS),
        route(
            "POST",
            "/api/fn/forms/control-plane/preview",
            |_, caller| format!("raw_input=liam+check+status&channel=web&session_id={}", session_of(caller)),
            Form,
            200,
            OPERATORS,
        ),
        route(
            "POST",
            "/api/fn/forms/control-plane/confirm",
            |setup, caller| {
                let preview = setup.previews.get(&caller).cloned().unwrap_or_default();
                format!("preview_id={preview}&session_id={}&structured_override=", session_of(caller))
            },
            Form,
            200,
            OPERATORS,
        ),
        route(
            "POST",
            "/api/fn/control-plane/watch",
            |setup, caller| {
                json!({"task_id": setup.tasks.get(&caller).cloned().unwrap_or_default(), "session_id": session_of(caller)})
                    .to_string()
            },
            J,
            200,
            OPERATORS,
        ),
        route(
            "POST",
            "/api/fn/control-plane/tasks",
            |_, caller| json!({"session_id": session_of(caller)}).to_string(),
            J,
            200,
            OPERATORS,
        ),
        route("POST", "/api/fn/control-plane/access", nothing, Form, 200, OPERATORS),
        // The telemetry anchor is for admins, who audit the log.
        route("GET", "/api/v1/chat/telemetry/anchor", nothing, Empty, 200, ADMINS),
        // Ending a session no one has used is not an error: it tells so.
        route("DELETE", "/api/v1/chat/session/{fresh_session}", nothing, Empty, 200, OPERATORS),
        route(
            "POST",
            "/api/fn/forms/control-plane/end-session",
            |_, _| format!("session_id={}", uuid::Uuid::new_v4()),
            Form,
            200,
            OPERATORS,
        ),
        // Accounts through the pages' server functions
        route("POST", "/api/fn/auth/signup-state", nothing, Form, 200, EVERYONE),
        route(
            "POST",
            "/api/fn/auth/sign-in",
            |_, caller| format!("email=nobody-form-{caller:?}%40example.com&password=wrong+password+here"),
            Form,
            200,
            [401, 401, 401, 401, 401, 401, 401, 401],
        ),
        route(
            "POST",
            "/api/fn/auth/sign-up",
            |_, caller| {
                format!(
                    "name=New&email=form-{}%40example.com&password=correct+horse+battery",
                    format!("{caller:?}").to_lowercase()
                )
            },
            Form,
            200,
            EVERYONE,
        ),
        route("POST", "/api/fn/auth/sign-out", nothing, Form, 200, EVERYONE),
        route("POST", "/api/fn/tokens/list", nothing, Form, 200, SIGNED_IN),
        route("POST", "/api/fn/tokens/create", |_, _| "name=script".to_owned(), Form, 200, SIGNED_IN),
        route(
            "POST",
            "/api/fn/tokens/delete",
            |_, _| "token_id={spare_token}".to_owned(),
            Form,
            200,
            [401, 401, 404, 404, 404, 404, 404, OK],
        ),
        route("POST", "/api/fn/users/list", nothing, Form, 200, ADMINS),
        route("POST", "/api/fn/users/role", |_, _| "user_id={other}&role=user".to_owned(), Form, 200, ADMINS),
        route(
            "POST",
            "/api/fn/users/invite",
            |_, caller| format!("email=form-invited-{caller:?}%40example.com"),
            Form,
            200,
            ADMINS,
        ),
        // Pages: a visitor who is not signed in is sent to sign in (302) where the page needs an account.
        route("GET", "/", nothing, Empty, 200, EVERYONE),
        // Someone already signed in is sent on to the rooms.
        route("GET", "/signin", nothing, Empty, 200, [OK, OK, 302, 302, 302, 302, 302, 302]),
        route("GET", "/signup", nothing, Empty, 200, [OK, OK, 302, 302, 302, 302, 302, 302]),
        listing(route("GET", "/rooms", nothing, Empty, 200, EVERYONE)),
        route("GET", "/tokens", nothing, Empty, 200, [302, 302, OK, OK, OK, OK, OK, OK]),
        listing(route("GET", "/usage", nothing, Empty, 200, [302, 302, OK, OK, OK, OK, OK, OK])),
        route("GET", "/admin/users", nothing, Empty, 200, [302, 302, 403, 403, 403, 403, 403, OK]),
        route("GET", "/control-plane", nothing, Empty, 200, [302, 302, 403, 403, 403, 403, OK, OK]),
        // The control plane's Telegram channel: operators link their own chats; another person's
        // linked chat is as good as absent.
        route("POST", "/api/telegram/link-code", nothing, Empty, 201, OPERATORS),
        route("GET", "/api/telegram/links", nothing, Empty, 200, OPERATORS),
        route(
            "DELETE",
            "/api/telegram/links/{admin_chat}",
            nothing,
            Empty,
            204,
            [401, 401, 403, 403, 403, 403, 404, OK],
        ),
        route("POST", "/api/fn/telegram/links", nothing, Form, 200, OPERATORS),
        route("POST", "/api/fn/telegram/link-code", nothing, Form, 200, OPERATORS),
        route(
            "POST",
            "/api/fn/telegram/unlink",
            |_, _| "chat_id={admin_chat}".to_owned(),
            Form,
            200,
            [401, 401, 403, 403, 403, 403, 404, OK],
        ),
        route("GET", "/control-plane/telegram", nothing, Empty, 200, [302, 302, 403, 403, 403, 403, OK, OK]),
        // Telegram's deliveries: no person's session or token stands in for the webhook's secret.
        route(
            "POST",
            "/api/telegram/webhook",
            |_, _| "{}".to_owned(),
            J,
            200,
            [401, 401, 401, 401, 401, 401, 401, 401],
        ),
    ]
}

/// Each caller's own control-plane session.
fn session_of(caller: Caller) -> String {
    let seed = (0x5e55_1000_u128 + caller as u128).to_be_bytes();
    uuid::Builder::from_random_bytes(seed).into_uuid().to_string()
}

fn confirm_body(setup: &Setup, caller: Caller) -> String {
    let preview = setup.previews.get(&caller).cloned().unwrap_or_default();
    json!({"preview_id": preview, "session_id": session_of(caller)}).to_string()
}

/// The people, their credentials, and the secret room nobody here may see.
struct Setup {
    owner: Actor,
    bystander: Principal,
    credentials: HashMap<Caller, Credential>,
    /// Ids of a spare token of the admin's, one per caller asking to delete it.
    other_user: Uuid,
    secret_markers: Vec<String>,
    /// A fresh preview per caller, for the confirm rows.
    previews: HashMap<Caller, String>,
    /// A confirmed task per caller, for the watch rows.
    tasks: HashMap<Caller, String>,
}

#[derive(Clone)]
enum Credential {
    None,
    Cookie(String),
    Bearer(String),
}

async fn account(services: &Services, name: &str, role: Role) -> (Principal, String) {
    let signup = Signup {
        email: format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
        password: "correct horse battery".into(),
        name: name.into(),
    };
    let user = services::accounts::signup(services, signup).await.expect("an account");
    if user.role != role {
        services.store.set_user_role(user.id, role).await.expect("a role");
    }
    let principal = Principal { role, ..Principal::from(&user) };
    let token = services::accounts::create_token(
        services,
        &Actor::Person(principal.clone()),
        NewToken { name: "matrix".into() },
    )
    .await
    .expect("a token");
    (principal, token.secret)
}

/// A signed-out session cookie: signs in over HTTP, then out, and keeps the cookie.
async fn signed_out_cookie(app: &TestApp, email: &str) -> String {
    let login = json!({"email": email, "password": "correct horse battery"}).to_string();
    let request = Request::post("/api/auth/login").header("content-type", "application/json").body(Body::from(login));
    let response = app.send_as_is(request.unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK, "sign-in for the guest cookie");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let logout = Request::post("/api/auth/logout").header("cookie", &cookie).body(Body::empty()).unwrap();
    assert_eq!(app.send_as_is(logout).await.status(), StatusCode::NO_CONTENT);
    cookie
}

async fn setup(app: &TestApp) -> Setup {
    let services = &app.state.services;
    let (owner, owner_token) = account(services, "Olive Owner", Role::User).await;
    let (member, member_token) = account(services, "Milo Member", Role::User).await;
    let (_, viewer_token) = account(services, "Vera Viewer", Role::User).await;
    let (bystander, _) = account(services, "Bea Bystander", Role::User).await;
    // Someone to add as a member.
    account(services, "Nia Newcomer", Role::User).await;
    let (other, other_token) = account(services, "Otto Other", Role::User).await;
    let (_, operator_token) = account(services, "Opal Operator", Role::Operator).await;
    let (secret_keeper, _) = account(services, "Sid Secret", Role::User).await;
    let guest_cookie = signed_out_cookie(app, "otto.other@example.com").await;
    let _ = member;

    // A private room of someone none of the callers is, with recognisable data.
    let keeper = Actor::Person(secret_keeper);
    let secret = services::rooms::create_room(
        services,
        &keeper,
        CreateRoom {
            name: "Secret Canary Room".into(),
            mode: RoomMode::Manual,
            visibility: RoomVisibility::Private,
            run_limits: Default::default(),
        },
    )
    .await
    .unwrap();
    services::rooms::post_message(services, &keeper, secret.id, PostMessage { content: "canary-message-7f3a".into() })
        .await
        .unwrap();
    services::rooms::create_agent(
        services,
        &keeper,
        secret.id,
        CreateAgent {
            name: "CanaryAgentZed".into(),
            model: "demo".into(),
            system_prompt: "canary-prompt-91c2".into(),
            temperature: 0.5,
            tools: Vec::new(),
        },
    )
    .await
    .unwrap();

    let credentials = HashMap::from([
        (Caller::Anonymous, Credential::None),
        (Caller::Guest, Credential::Cookie(guest_cookie)),
        (Caller::Viewer, Credential::Bearer(viewer_token)),
        (Caller::Member, Credential::Bearer(member_token)),
        (Caller::Owner, Credential::Bearer(owner_token)),
        (Caller::Other, Credential::Bearer(other_token)),
        (Caller::Operator, Credential::Bearer(operator_token)),
        (Caller::Admin, Credential::Bearer(app.token.clone())),
    ]);
    Setup {
        owner: Actor::Person(owner),
        bystander,
        credentials,
        other_user: other.id,
        secret_markers: vec![
            secret.id.to_string(),
            "Secret Canary Room".into(),
            "canary-message-7f3a".into(),
            "CanaryAgentZed".into(),
            "canary-prompt-91c2".into(),
        ],
        previews: HashMap::new(),
        tasks: HashMap::new(),
    }
}

/// A fresh room of the owner's, with a member, a viewer, an agent and a message.
async fn fixture(app: &TestApp, setup: &Setup, visibility: RoomVisibility, prepare: Prepare) -> Fixture {
    let services = &app.state.services;
    let owner = &setup.owner;
    let room = services::rooms::create_room(
        services,
        owner,
        CreateRoom { name: "Matrix Room".into(), mode: RoomMode::Manual, visibility, run_limits: Default::default() },
    )
    .await
    .unwrap();
    let members = [
        ("milo.member@example.com", MemberRole::Member),
        ("vera.viewer@example.com", MemberRole::Viewer),
        ("bea.bystander@example.com", MemberRole::Viewer),
    ];
    for (email, role) in members {
        services::members::add_member(
            services,
            owner,
            room.id,
            domain::accounts::AddMember { email: email.into(), role },
        )
        .await
        .unwrap();
    }
    // The message goes in before any agent exists, so nothing answers it.
    let message =
        services::rooms::post_message(services, owner, room.id, PostMessage { content: "First".into() }).await.unwrap();
    let agent = services::rooms::create_agent(
        services,
        owner,
        room.id,
        CreateAgent {
            name: "Ada".into(),
            model: "demo".into(),
            system_prompt: "You help.".into(),
            temperature: 0.5,
            tools: Vec::new(),
        },
    )
    .await
    .unwrap();
    // Auto mode takes two.
    services::rooms::create_agent(
        services,
        owner,
        room.id,
        CreateAgent {
            name: "Bo".into(),
            model: "demo".into(),
            system_prompt: "You doubt.".into(),
            temperature: 0.5,
            tools: Vec::new(),
        },
    )
    .await
    .unwrap();
    let run = match prepare {
        Prepare::Room | Prepare::Proposal => None,
        Prepare::RunGoing => {
            let start = domain::runs::StartRun { max_steps: 50, max_seconds: 60, budget_tokens: None };
            Some(services::runs::start(services, owner, room.id, start).await.unwrap().run_id)
        }
    };
    let proposal = match prepare {
        Prepare::Proposal => Some(pending_proposal(services, room.id, &agent, message.id).await),
        Prepare::Room | Prepare::RunGoing => None,
    };
    let reply = agent_reply(services, room.id, &agent, MessageStatus::Complete).await;
    let failed = agent_reply(services, room.id, &agent, MessageStatus::Failed).await;
    Fixture {
        room: room.id,
        agent: agent.id,
        message: message.id,
        reply,
        failed,
        run,
        proposal,
        bystander: setup.bystander.id,
    }
}

/// A reply of the agent's, ended with `status`, as a turn leaves it.
async fn agent_reply(services: &Services, room_id: Uuid, agent: &domain::rooms::Agent, status: MessageStatus) -> Uuid {
    let new = storage::NewMessage {
        room_id,
        sender_type: SenderType::Agent,
        sender_id: Some(agent.id),
        sender_name: agent.name.clone(),
        content: String::new(),
        content_html: None,
        status: MessageStatus::Streaming,
        model: Some("demo".into()),
        selection_reason: None,
        run_id: None,
    };
    let message = services.store.insert_message(new).await.unwrap();
    let outcome = storage::MessageOutcome {
        status,
        content: "Hello from the agent".into(),
        content_html: None,
        tokens_in: Some(3),
        tokens_out: Some(4),
        usage_estimated: false,
        latency_ms: Some(5),
        first_token_ms: Some(1),
        error: (status == MessageStatus::Failed).then(|| "The provider failed.".to_owned()),
    };
    services.store.finish_message(message.id, outcome).await.unwrap().id
}

/// A proposal of the agent's, previewed by the gateway in the room's own session and waiting
/// for a person, as the agent's `propose_task` call leaves it.
async fn pending_proposal(services: &Services, room_id: Uuid, agent: &domain::rooms::Agent, message_id: Uuid) -> Uuid {
    let desk = services.proposal_desk().expect("the control plane is enabled");
    let command = "liam check status".to_owned();
    let preview = desk.propose(room_id, agent.id, command.clone()).await.expect("a preview");
    let task = preview.normalized_task;
    let new = storage::NewProposal {
        room_id,
        message_id: Some(message_id),
        agent_id: Some(agent.id),
        agent_name: agent.name.clone(),
        run_id: None,
        command,
        reason: "The matrix asks for it.".into(),
        preview_id: Some(preview.preview_id),
        intent: Some(task.intent),
        operations: task.operations,
        risk: Some(task.risk),
        lane: Some(task.lane),
        rule_id: Some(preview.rule_id),
        risk_reason: Some(preview.risk_reason),
        requires_structured_override: preview.requires_structured_override,
        expires_at: Some(preview.expires_at),
        state: domain::proposals::ProposalState::Pending,
        error: None,
    };
    services.store.insert_proposal(new).await.expect("a stored proposal").id
}

fn request(method: &str, path: &str, encoding: Encoding, body: String, credential: &Credential) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    builder = match encoding {
        Encoding::None => builder,
        Encoding::Json => builder.header("content-type", "application/json"),
        Encoding::Form => builder.header("content-type", "application/x-www-form-urlencoded"),
    };
    // Pages are asked for as a browser asks for them.
    if !path.starts_with("/api/") && method == "GET" {
        builder = builder.header("accept", "text/html");
    }
    builder = match credential {
        Credential::None => builder,
        Credential::Cookie(cookie) => builder.header("cookie", cookie),
        Credential::Bearer(token) => builder.header("authorization", format!("Bearer {token}")),
    };
    builder.body(Body::from(body)).unwrap()
}

/// Sends the request and checks its status and that its body names no secret.
#[allow(clippy::too_many_arguments)]
async fn check(
    app: &TestApp,
    setup: &Setup,
    caller: Caller,
    what: &str,
    request: Request<Body>,
    expected: u16,
    may_list_secret: bool,
    failures: &mut Vec<String>,
) {
    let response = app.send_as_is(request).await;
    let status = response.status().as_u16();
    let is_stream = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"));
    // A live stream never ends; its headers are the answer.
    let body = if is_stream { String::new() } else { body_text(response).await };
    if status != expected {
        let excerpt: String = body.chars().take(200).collect();
        failures.push(format!("{what} as {caller:?}: expected {expected}, got {status}: {excerpt}"));
    }
    if !may_list_secret {
        for marker in &setup.secret_markers {
            if body.contains(marker.as_str()) {
                failures.push(format!("{what} as {caller:?}: the answer carries another room's data ({marker})"));
            }
        }
    }
}

fn fill(path: &str, fixture: &Fixture) -> String {
    path.replace("{room}", &fixture.room.to_string())
        .replace("{agent}", &fixture.agent.to_string())
        .replace("{message}", &fixture.message.to_string())
        .replace("{reply}", &fixture.reply.to_string())
        .replace("{failed}", &fixture.failed.to_string())
        .replace("{first}", "0")
        .replace("{bystander}", &fixture.bystander.to_string())
        .replace("{proposal}", &proposal_of(fixture))
        .replace("{run}", &fixture.run.map(|r| r.to_string()).unwrap_or_default())
}

async fn every_route_answers_every_caller_as_the_rules_say(db: Db) {
    // The same few people make hundreds of writes here: the write limits have tests of their own.
    // With a bot configured (it is not started here), so the Telegram rows reach their handlers.
    let env = [
        ("WRITE_RATE_PER_MINUTE", "0"),
        ("WRITE_RATE_PER_ADDRESS_PER_MINUTE", "0"),
        ("TELEGRAM_BOT_TOKEN", "123456:matrix"),
        ("TELEGRAM_API_URL", "http://127.0.0.1:9"),
        ("TELEGRAM_WEBHOOK_URL", "https://chat.example.com/api/telegram/webhook"),
    ];
    let app = TestApp::with_env(db, &env).await;
    // The bot runs in webhook mode (its calls to the unreachable Bot API fail and back off), so
    // the webhook route answers as it does in production: to Telegram's secret only.
    let state = &app.state;
    let bot = state.config.telegram.clone().unwrap();
    state.telegram_bot.fill(telegram::spawn(&state.services, state.gateway.clone(), bot, "matrix".into()));
    let mut setup = setup(&app).await;
    let services = app.state.services.clone();
    let mut failures = Vec::new();
    let mut cells = 0;

    for route in room_routes() {
        for visibility in VISIBILITIES {
            let row = match visibility {
                RoomVisibility::Private => route.table.private,
                RoomVisibility::Public => route.table.public,
                RoomVisibility::Demo => route.table.demo,
            };
            for (caller, expected) in CALLERS.into_iter().zip(row) {
                // A fresh room per cell: writes, deletions and stops by one caller must not
                // change what the next one finds.
                let fixture = fixture(&app, &setup, visibility, route.prepare).await;
                let expected = if expected == OK { route.success } else { expected };
                let what = format!("{} {} ({visibility:?} room)", route.method, route.path);
                let request = request(
                    route.method,
                    &fill(route.path, &fixture),
                    route.encoding,
                    (route.body)(&fixture),
                    &setup.credentials[&caller],
                );
                let may_list_secret = route.lists_rooms && caller == Caller::Admin;
                check(&app, &setup, caller, &what, request, expected, may_list_secret, &mut failures).await;
                cells += 1;
                // Runs end with their cell, so the owner's active runs never pile up.
                let _ = services::runs::stop(&services, &setup.owner, fixture.room).await;
            }
        }
    }

    // Control-plane rows need a preview (for confirm) and a task (for watch) of the caller's own.
    for caller in [Caller::Operator, Caller::Admin] {
        let credential = setup.credentials[&caller].clone();
        let first = new_preview(&app, &credential, caller).await;
        let confirm = json!({"preview_id": first, "session_id": session_of(caller)}).to_string();
        let response =
            app.send_as_is(request("POST", "/api/v1/chat/confirm", Encoding::Json, confirm, &credential)).await;
        let confirmed: Value = serde_json::from_str(&body_text(response).await).unwrap();
        setup.tasks.insert(caller, confirmed["task_id"].as_str().expect("a task").to_owned());
        let second = new_preview(&app, &credential, caller).await;
        setup.previews.insert(caller, second);
    }

    for route in global_routes() {
        for (caller, expected) in CALLERS.into_iter().zip(route.row) {
            let expected = if expected == OK { route.success } else { expected };
            // The confirm rows use up the caller's preview: the server functions' rows get new ones.
            let confirms = ["/api/fn/control-plane/confirm", "/api/fn/forms/control-plane/confirm"];
            if confirms.contains(&route.path) && matches!(caller, Caller::Operator | Caller::Admin) {
                let preview = new_preview(&app, &setup.credentials[&caller], caller).await;
                setup.previews.insert(caller, preview);
            }
            let mut path = route.path.to_owned();
            let mut body = (route.body)(&setup, caller);
            if path.contains("{spare_token}") || body.contains("{spare_token}") {
                let admin = Actor::Person(admin_principal(&app).await);
                let spare = services::accounts::create_token(&services, &admin, NewToken { name: "spare".into() })
                    .await
                    .unwrap();
                path = path.replace("{spare_token}", &spare.token.id.to_string());
                body = body.replace("{spare_token}", &spare.token.id.to_string());
            }
            if path.contains("{admin_chat}") || body.contains("{admin_chat}") {
                let chat_id = i64::from(rand_chat());
                let admin = admin_principal(&app).await;
                services.store.link_chat(chat_id, admin.id, "Admin's phone").await.unwrap();
                path = path.replace("{admin_chat}", &chat_id.to_string());
                body = body.replace("{admin_chat}", &chat_id.to_string());
            }
            body = body.replace("{other}", &setup.other_user.to_string());
            let path = path
                .replace("{other}", &setup.other_user.to_string())
                .replace("{task}", setup.tasks.get(&caller).map(String::as_str).unwrap_or("task_missing"))
                .replace("{session}", &session_of(caller))
                .replace("{fresh_session}", &uuid::Uuid::new_v4().to_string());
            let what = format!("{} {}", route.method, route.path);
            let request = request(route.method, &path, route.encoding, body, &setup.credentials[&caller]);
            let may_list_secret = route.lists_rooms && caller == Caller::Admin;
            check(&app, &setup, caller, &what, request, expected, may_list_secret, &mut failures).await;
            cells += 1;
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {cells} cells disagree with the rules:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every room route × 3 visibilities × 8 callers, and every global route × 8 callers.
    assert_eq!(cells, room_routes().len() * 24 + global_routes().len() * 8);
}

/// A Telegram chat id nobody has linked yet.
fn rand_chat() -> u32 {
    (uuid::Uuid::new_v4().as_u128() as u32) | 1
}

/// A preview in the caller's own control-plane session.
async fn new_preview(app: &TestApp, credential: &Credential, caller: Caller) -> String {
    let body = json!({"raw_input": "liam check status", "channel": "web", "session_id": session_of(caller)});
    let response =
        app.send_as_is(request("POST", "/api/v1/chat/preview", Encoding::Json, body.to_string(), credential)).await;
    let preview: Value = serde_json::from_str(&body_text(response).await).unwrap();
    preview["preview_id"].as_str().unwrap_or_else(|| panic!("a preview: {preview}")).to_owned()
}

async fn admin_principal(app: &TestApp) -> Principal {
    let user = app.state.services.store.find_user_by_email("ada.admin@example.com").await.unwrap().expect("the admin");
    Principal::from(&user)
}

/// Every route the server registers has a row above: the REST and control-plane routes as the
/// OpenAPI document describes them (the routers are built from the described handlers, and no
/// router file registers a route any other way), the contract's own two, the server functions
/// as the server registers them, the pages as the app declares them.
#[test]
fn every_route_has_a_row() {
    let mut declared: BTreeSet<(String, String)> = BTreeSet::new();
    for (file, source) in [
        ("rooms.rs", include_str!("../src/http/rooms.rs")),
        ("messages.rs", include_str!("../src/http/messages.rs")),
        ("usage.rs", include_str!("../src/http/usage.rs")),
        ("accounts.rs", include_str!("../src/http/accounts.rs")),
        ("health.rs", include_str!("../src/http/health.rs")),
        ("metrics.rs", include_str!("../src/http/metrics.rs")),
        ("stream.rs", include_str!("../src/http/stream.rs")),
        ("telemetry_anchor.rs", include_str!("../src/http/telemetry_anchor.rs")),
        ("telegram.rs", include_str!("../src/http/telegram.rs")),
        ("gateway http.rs", include_str!("../../gateway/src/http.rs")),
    ] {
        let undescribed = declared_routes(source);
        assert!(undescribed.is_empty(), "{file} registers routes outside the OpenAPI document: {undescribed:?}");
    }
    for (path, item) in server::http::contract().paths.paths {
        let operations = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (method, present) in operations {
            if present {
                declared.insert((method.to_owned(), path.clone()));
            }
        }
    }
    declared.insert(("GET".into(), server::http::openapi::DOCUMENT_PATH.into()));
    declared.insert(("GET".into(), format!("{}/", server::http::openapi::PAGE_PATH)));
    declared.insert(("GET".into(), server::http::openapi::STYLESHEET_PATH.into()));
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        declared.insert((method.to_string(), path.to_owned()));
    }
    for line in include_str!("../../app/src/lib.rs").lines() {
        if let Some(rest) = line.split("path=path!(\"").nth(1) {
            let path = rest.split('"').next().unwrap();
            let path = if path.is_empty() { "/".to_owned() } else { path.replace(":id", "{room}") };
            declared.insert(("GET".into(), path));
        }
    }

    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    for route in room_routes() {
        covered.insert((route.method.into(), normalise(route.path)));
    }
    for route in global_routes() {
        covered.insert((route.method.into(), normalise(route.path.split('?').next().unwrap())));
    }
    let declared: BTreeSet<(String, String)> = declared.into_iter().map(|(m, p)| (m, normalise(&p))).collect();
    let missing: Vec<_> = declared.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&declared).collect();
    assert!(missing.is_empty(), "routes without a row in the authorization matrix: {missing:?}");
    assert!(stale.is_empty(), "rows for routes the server does not have: {stale:?}");
}

/// `/api/rooms/{room_id}/agents/{agent}` and `/api/rooms/{room}/agents/{agent_id}` are one route.
fn normalise(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') || segment.starts_with(':') { "{}" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

/// `(METHOD, path)` for each `.route("path", get(..).post(..))` in a router's source; a path
/// given as a constant is looked up among the file's `const NAME: &str = "...";` lines.
fn declared_routes(source: &str) -> Vec<(String, String)> {
    let constants: HashMap<&str, &str> = source
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("pub const ").or_else(|| line.trim().strip_prefix("const "))?;
            let (name, value) = rest.split_once(": &str = \"")?;
            Some((name.trim(), value.split('"').next()?))
        })
        .collect();
    let mut routes = Vec::new();
    for part in source.split(".route(").skip(1) {
        let (target, handlers) = part.split_once(',').expect("a route with handlers");
        let target = target.trim();
        let path = match target.strip_prefix('"') {
            Some(literal) => literal.trim_end_matches('"').to_owned(),
            None => constants.get(target).unwrap_or_else(|| panic!("unknown route constant {target}")).to_string(),
        };
        let handlers = handlers.split(".route(").next().unwrap();
        for method in ["get", "post", "put", "patch", "delete", "any"] {
            let mut rest = handlers;
            while let Some(at) = rest.find(&format!("{method}(")) {
                let before = rest[..at].chars().last();
                if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
                    routes.push((method.to_uppercase(), path.clone()));
                    break;
                }
                rest = &rest[at + method.len()..];
            }
        }
    }
    routes
}
