//! Accounts in the browser: signing up, in and out, being sent to sign in and back, personal API
//! tokens, and the admins' list of people.

pub mod account_page;
pub mod api;
pub mod copy_button;
pub mod first_account;
pub mod next;
pub mod refusal;
#[cfg(feature = "ssr")]
pub mod session;
pub mod sign_in_form;
pub mod sign_up_form;
pub mod tokens;
pub mod users;
