//! Accounts and rights through the service layer alone: the first account is the admin, who
//! may sign up afterwards, signing in with limits, tokens, and what each role may do in a room.

mod common;

use common::{person, room, services, Db};
use domain::accounts::{AddMember, Login, NewToken, Role, SetRole, Signup, SignupState, UpdateMember};
use domain::rooms::{CreateRoom, MemberRole, PostMessage, RoomMode, RoomVisibility, UpdateRoom};
use domain::{ErrorCode, PublicError};
use fake_llm::{FakeLlm, Reply};
use services::{accounts, members, rooms, snapshot, Actor, Principal};

on_both_databases!(
    the_first_account_is_the_admin_and_signup_follows_the_policy,
    signing_in_has_one_answer_for_every_wrong_guess_and_a_limit,
    tokens_name_their_holder_until_deleted,
    each_room_role_may_do_what_it_should,
    guests_see_demo_rooms_only,
    admins_manage_people,
    the_room_snapshot_says_what_its_reader_may_do,
    who_may_sign_up_follows_the_policy,
    a_guest_in_an_auto_demo_room_gets_one_reply_and_starts_no_run,
);

fn signup(name: &str) -> Signup {
    Signup {
        email: format!("{}@example.com", name.to_lowercase()),
        password: "correct horse battery".into(),
        name: name.into(),
    }
}

async fn the_first_account_is_the_admin_and_signup_follows_the_policy(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    // The common set-up made the first account: it is the admin.
    let services = services(db, &fake, &[("SIGNUP", "invite")]).await;
    assert_eq!(services.admin.person().unwrap().role, Role::Admin);

    let refused = accounts::signup(&services, signup("Bob")).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Forbidden);
    accounts::invite(&services, &services.admin, "BOB@example.com").await.unwrap();
    let bob = accounts::signup(&services, signup("Bob")).await.unwrap();
    assert_eq!(bob.role, Role::User, "only the first account is an admin");
    assert_eq!(accounts::signup(&services, signup("Bob")).await.unwrap_err().code(), ErrorCode::Conflict);

    let open = common::services(db, &fake, &[]).await;
    accounts::signup(&open, signup("Carol")).await.unwrap();
    assert_eq!(accounts::signup(&open, signup("Carol")).await.unwrap_err().code(), ErrorCode::Conflict);
    let weak = Signup { password: "short".into(), ..signup("Dave") };
    assert_eq!(accounts::signup(&open, weak).await.unwrap_err().code(), ErrorCode::ValidationFailed);
    let bad_email = Signup { email: "not-an-email".into(), ..signup("Eve") };
    assert_eq!(accounts::signup(&open, bad_email).await.unwrap_err().code(), ErrorCode::ValidationFailed);

    let closed = common::services(db, &fake, &[("SIGNUP", "closed")]).await;
    assert_eq!(accounts::signup(&closed, signup("Frank")).await.unwrap_err().code(), ErrorCode::Forbidden);
}

async fn signing_in_has_one_answer_for_every_wrong_guess_and_a_limit(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[]).await;
    let login = |email: &str, password: &str| Login { email: email.into(), password: password.into() };
    let client = Some("192.0.2.1".parse().unwrap());

    let user =
        accounts::sign_in(&services, login(" Ada.Admin@Example.com ", "correct horse battery"), client).await.unwrap();
    assert_eq!(user.name, "Ada Admin");
    let wrong_password =
        accounts::sign_in(&services, login("ada.admin@example.com", "nope nope"), client).await.unwrap_err();
    let unknown = accounts::sign_in(&services, login("nobody@example.com", "nope nope"), client).await.unwrap_err();
    assert_eq!(wrong_password.code(), ErrorCode::Unauthenticated);
    assert_eq!(wrong_password.public_message(), unknown.public_message());

    // One account cannot be guessed at speed, even from many addresses.
    let mut limited = None;
    for n in 0..20u8 {
        let from = Some(std::net::IpAddr::from([198, 51, 100, n]));
        if let Err(error) = accounts::sign_in(&services, login("ada.admin@example.com", "guess"), from).await {
            if error.code() == ErrorCode::RateLimited {
                limited = Some(error);
                break;
            }
        }
    }
    let limited = limited.expect("the account's attempts are limited");
    assert!(limited.retry_after().is_some_and(|s| s >= 1));
}

async fn tokens_name_their_holder_until_deleted(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[]).await;
    assert_eq!(
        accounts::create_token(&services, &Actor::Guest, NewToken { name: "x".into() }).await.unwrap_err().code(),
        ErrorCode::Unauthenticated
    );
    let created = accounts::create_token(&services, &services.admin, NewToken { name: "laptop".into() }).await.unwrap();
    assert!(created.secret.starts_with(accounts::TOKEN_PREFIX));
    let holder = accounts::token_holder(&services, &created.secret).await.unwrap().unwrap();
    assert_eq!(Some(holder.id), services.admin.user_id());
    assert!(accounts::token_holder(&services, "aisc_00").await.unwrap().is_none());
    assert!(accounts::token_holder(&services, "not a token").await.unwrap().is_none());

    let listed = accounts::list_tokens(&services, &services.admin).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!format!("{listed:?}").contains(&created.secret), "a listed token never shows its secret");
    let bob = person(&services, "Bob").await;
    let refused = accounts::delete_token(&services, &bob, created.token.id).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::NotFound, "another person's token is not there for Bob");
    accounts::delete_token(&services, &services.admin, created.token.id).await.unwrap();
    assert!(accounts::token_holder(&services, &created.secret).await.unwrap().is_none());
}

async fn each_room_role_may_do_what_it_should(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[]).await;
    let owner = person(&services, "Olivia").await;
    let member = person(&services, "Mia").await;
    let viewer = person(&services, "Victor").await;
    let outsider = person(&services, "Oscar").await;
    let input = CreateRoom {
        name: "Team".into(),
        mode: RoomMode::Manual,
        visibility: RoomVisibility::Private,
        run_limits: Default::default(),
    };
    let room_id = rooms::create_room(&services, &owner, input).await.unwrap().id;
    for (who, role) in [(&member, MemberRole::Member), (&viewer, MemberRole::Viewer)] {
        let email = who.person().unwrap().email.clone();
        members::add_member(&services, &owner, room_id, AddMember { email, role }).await.unwrap();
    }
    let post = |content: &str| PostMessage { content: content.into() };

    rooms::post_message(&services, &member, room_id, post("hello")).await.unwrap();
    let refused = rooms::post_message(&services, &viewer, room_id, post("hi")).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Forbidden);
    assert_eq!(rooms::list_messages(&services, &viewer, room_id, None, None).await.unwrap().messages.len(), 1);
    // A private room is not there for someone outside it, whatever they try.
    assert_eq!(rooms::get_room(&services, &outsider, room_id).await.unwrap_err().code(), ErrorCode::NotFound);
    assert_eq!(
        rooms::post_message(&services, &outsider, room_id, post("x")).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert!(rooms::list_rooms(&services, &outsider).await.unwrap().is_empty());

    let rename = || UpdateRoom { name: Some("Renamed".into()), ..UpdateRoom::default() };
    assert_eq!(
        rooms::update_room(&services, &member, room_id, rename()).await.unwrap_err().code(),
        ErrorCode::Forbidden
    );
    rooms::update_room(&services, &owner, room_id, rename()).await.unwrap();
    let listed = members::list_members(&services, &viewer, room_id).await.unwrap();
    assert_eq!(listed.len(), 3);

    // Public rooms: everyone signed in reads; only members write.
    let public = UpdateRoom { visibility: Some(RoomVisibility::Public), ..UpdateRoom::default() };
    rooms::update_room(&services, &owner, room_id, public).await.unwrap();
    assert_eq!(rooms::get_room(&services, &outsider, room_id).await.unwrap().name, "Renamed");
    assert_eq!(
        rooms::post_message(&services, &outsider, room_id, post("x")).await.unwrap_err().code(),
        ErrorCode::Forbidden
    );
    assert_eq!(members::list_members(&services, &outsider, room_id).await.unwrap_err().code(), ErrorCode::Forbidden);

    // A room keeps an owner; a member may leave.
    let owner_id = owner.user_id().unwrap();
    let demote = UpdateMember { role: MemberRole::Member };
    let kept = members::update_member(&services, &owner, room_id, owner_id, demote).await.unwrap_err();
    assert_eq!(kept.code(), ErrorCode::Conflict);
    members::remove_member(&services, &member, room_id, member.user_id().unwrap()).await.unwrap();
    let refused = members::remove_member(&services, &viewer, room_id, owner_id).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Forbidden);
    assert_eq!(rooms::delete_room(&services, &viewer, room_id).await.unwrap_err().code(), ErrorCode::Forbidden);
    rooms::delete_room(&services, &owner, room_id).await.unwrap();
    assert_eq!(rooms::get_room(&services, &owner, room_id).await.unwrap_err().code(), ErrorCode::NotFound);
}

async fn guests_see_demo_rooms_only(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    for (access, may_post) in [("read", false), ("send", true)] {
        let services = services(db, &fake, &[("GUEST_ACCESS", access)]).await;
        let private = room(&services, "Private").await;
        let demo = UpdateRoom { visibility: Some(RoomVisibility::Demo), ..UpdateRoom::default() };
        let demo_room = room(&services, "Demo").await;
        rooms::update_room(&services, &services.admin, demo_room, demo).await.unwrap();

        let guest = Actor::Guest;
        let listed: Vec<_> = rooms::list_rooms(&services, &guest).await.unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(listed, ["Demo"]);
        rooms::get_room(&services, &guest, demo_room).await.unwrap();
        // A guest is asked to sign in for any other room, real or made up, so nothing leaks.
        assert_eq!(rooms::get_room(&services, &guest, private).await.unwrap_err().code(), ErrorCode::Unauthenticated);
        let made_up = uuid::Uuid::now_v7();
        assert_eq!(rooms::get_room(&services, &guest, made_up).await.unwrap_err().code(), ErrorCode::Unauthenticated);
        let posted = rooms::post_message(&services, &guest, demo_room, PostMessage { content: "hi".into() }).await;
        assert_eq!(posted.is_ok(), may_post, "{access}: {posted:?}");
        if let Ok(message) = posted {
            assert_eq!((message.sender_name.as_str(), message.sender_id), ("Guest", None));
        }
        let start = domain::runs::StartRun { max_steps: 1, max_seconds: 5, budget_tokens: None };
        let refused = services::runs::start(&services, &guest, demo_room, start).await.unwrap_err();
        assert_eq!(refused.code(), ErrorCode::Unauthenticated);
    }
    let closed = services(db, &fake, &[("GUEST_ACCESS", "off")]).await;
    assert_eq!(rooms::list_rooms(&closed, &Actor::Guest).await.unwrap_err().code(), ErrorCode::Unauthenticated);
}

async fn admins_manage_people(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[]).await;
    let bob = person(&services, "Bob").await;
    let bob_id = bob.user_id().unwrap();
    assert_eq!(accounts::list_users(&services, &bob).await.unwrap_err().code(), ErrorCode::Forbidden);
    assert_eq!(accounts::list_users(&services, &Actor::Guest).await.unwrap_err().code(), ErrorCode::Unauthenticated);
    let promoted =
        accounts::set_role(&services, &services.admin, bob_id, SetRole { role: Role::Operator }).await.unwrap();
    assert_eq!(promoted.role, Role::Operator);
    let people = accounts::list_users(&services, &services.admin).await.unwrap();
    assert_eq!(people.len(), 2);
    let admin_id = services.admin.user_id().unwrap();
    let refused = accounts::set_role(&services, &services.admin, admin_id, SetRole { role: Role::User }).await;
    assert_eq!(refused.unwrap_err().code(), ErrorCode::Conflict, "someone stays admin");
    let stored = services.store.get_user(bob_id).await.unwrap().unwrap();
    assert_eq!(Principal::from(&stored).role, Role::Operator);
}

async fn the_room_snapshot_says_what_its_reader_may_do(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[("GUEST_ACCESS", "read")]).await;
    let owner = person(&services, "Olivia").await;
    let viewer = person(&services, "Victor").await;
    let outsider = person(&services, "Oscar").await;
    let input = CreateRoom {
        name: "Team".into(),
        mode: RoomMode::Manual,
        visibility: RoomVisibility::Demo,
        run_limits: Default::default(),
    };
    let room_id = rooms::create_room(&services, &owner, input).await.unwrap().id;
    let email = viewer.person().unwrap().email.clone();
    members::add_member(&services, &owner, room_id, AddMember { email, role: MemberRole::Viewer }).await.unwrap();

    let access = |who: Actor| {
        let services = services.clone();
        async move { snapshot::room_snapshot(&services, &who, room_id).await.unwrap().access }
    };
    let of_owner = access(owner.clone()).await;
    assert_eq!(of_owner.role, Some(MemberRole::Owner));
    assert!(of_owner.signed_in && of_owner.post && of_owner.run && of_owner.list_members && of_owner.manage);
    let of_viewer = access(viewer).await;
    assert_eq!(of_viewer.role, Some(MemberRole::Viewer));
    assert!(of_viewer.list_members && !of_viewer.post && !of_viewer.run && !of_viewer.manage);
    let of_outsider = access(outsider).await;
    assert_eq!(of_outsider.role, None);
    assert!(of_outsider.signed_in && !of_outsider.post && !of_outsider.list_members);
    let of_guest = access(Actor::Guest).await;
    assert!(!of_guest.signed_in && !of_guest.post && !of_guest.manage);
    let of_admin = access(services.admin.clone()).await;
    assert!(of_admin.manage && of_admin.post);
}

async fn who_may_sign_up_follows_the_policy(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    // The common set-up made the first account, so the policy applies.
    for (policy, expected) in
        [("open", SignupState::Open), ("invite", SignupState::Invite), ("closed", SignupState::Closed)]
    {
        let services = services(db, &fake, &[("SIGNUP", policy)]).await;
        assert_eq!(accounts::signup_state(&services).await.unwrap(), expected, "{policy}");
    }
}

async fn a_guest_in_an_auto_demo_room_gets_one_reply_and_starts_no_run(db: Db) {
    let fake = FakeLlm::start(Reply::words("Hello, guest")).await;
    let services = services(db, &fake, &[("GUEST_ACCESS", "send")]).await;
    let owner = person(&services, "Olga").await;
    let input = CreateRoom {
        name: "Open house".into(),
        mode: RoomMode::Auto,
        visibility: RoomVisibility::Demo,
        run_limits: Default::default(),
    };
    let room_id = rooms::create_room(&services, &owner, input).await.unwrap().id;
    for name in ["Ann", "Ben"] {
        common::agent(&services, room_id, name).await;
    }
    rooms::post_message(&services, &Actor::Guest, room_id, PostMessage { content: "Anyone here?".into() })
        .await
        .unwrap();
    common::eventually(std::time::Duration::from_secs(10), "the one reply", || async {
        let page = services.store.list_messages(room_id, None, 50).await.unwrap();
        page.messages.iter().any(|m| {
            m.sender_type == domain::rooms::SenderType::Agent && m.status == domain::rooms::MessageStatus::Complete
        })
    })
    .await;
    assert!(services.store.list_runs(room_id, 10).await.unwrap().is_empty(), "a guest starts no run");
    let page = services.store.list_messages(room_id, None, 50).await.unwrap();
    assert_eq!(page.messages.iter().filter(|m| m.sender_type == domain::rooms::SenderType::Agent).count(), 1);
}
