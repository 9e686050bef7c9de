use leptos::prelude::*;
use leptos_meta::Title;

use crate::accounts::api::{list_users, load_signup_state};
use crate::accounts::refusal::Refusal;
use crate::accounts::users::{InviteForm, UsersTable};

/// Everyone with an account and their roles, for admins; and invitations.
#[component]
pub fn UsersPage() -> impl IntoView {
    let people = Resource::new(
        || (),
        |_| async move { Ok::<_, crate::error::AppError>((list_users().await?, load_signup_state().await?)) },
    );

    view! {
        <Title text="Users" />
        <Suspense fallback=|| view! { <p class="loading">"Loading people…"</p> }>
            {move || Suspend::new(async move {
                match people.await {
                    Ok((users, signup)) => view! {
                        <div class="page-head">
                            <h1>"Users"</h1>
                            <p class="lede">
                                "Admins manage people and see every room; operators may also use the control plane; "
                                "users own and join rooms."
                            </p>
                        </div>
                        <UsersTable users />
                        <InviteForm signup />
                    }
                    .into_any(),
                    Err(error) => view! { <Refusal error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
