//! People: accounts, global roles, room membership and personal API tokens, as they travel
//! between server and browser. Password hashes and token hashes never appear here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rooms::{FieldError, MemberRole};
use crate::string_enum::string_enum;

string_enum! {
    /// What a person may do across the whole product.
    Role {
        /// Manages users and their roles; has every right in every room.
        Admin => "admin",
        /// May use the control plane.
        Operator => "operator",
        /// Owns rooms and agents, and joins rooms shared with them.
        User => "user",
    }
}

impl Role {
    /// Whether this role may use the control plane.
    pub fn may_operate(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }

    /// Whether this role may see everyone's account, change roles and invite people.
    pub fn may_manage_people(self) -> bool {
        self == Role::Admin
    }
}

string_enum! {
    /// Who may create an account on this server right now.
    SignupState {
        /// No account exists yet: the next one may always be created, and becomes the admin.
        FirstAccount => "first_account",
        /// Anyone may.
        Open => "open",
        /// Only addresses an admin invited.
        Invite => "invite",
        /// Nobody.
        Closed => "closed",
    }
}

/// Limits on account fields.
pub mod limits {
    pub const EMAIL_MAX_CHARS: usize = 254;
    pub const PASSWORD_MIN_CHARS: usize = 8;
    /// Long enough for any passphrase, short enough that hashing it is cheap.
    pub const PASSWORD_MAX_BYTES: usize = 1024;
    pub const NAME_MAX_CHARS: usize = 100;
    pub const TOKEN_NAME_MAX_CHARS: usize = 100;
    /// Personal API tokens one person may hold.
    pub const MAX_TOKENS_PER_USER: i64 = 50;
}

/// `GET /api/auth/me`: who is signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// `POST /api/auth/signup`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Signup {
    pub email: String,
    pub password: String,
    pub name: String,
}

/// `POST /api/auth/login`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Login {
    pub email: String,
    pub password: String,
}

/// A person as an admin sees them (`GET /api/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserSummary {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

/// `PATCH /api/users/:id`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetRole {
    pub role: Role,
}

/// `POST /api/tokens`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewToken {
    pub name: String,
}

/// A personal API token as listed; the secret itself is shown only once, at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `POST /api/tokens` answers the token once, with the secret to send as `Authorization: Bearer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: ApiToken,
    pub secret: String,
}

/// A room's member as listed (`GET /api/rooms/:id/members`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: MemberRole,
}

/// `POST /api/rooms/:id/members`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddMember {
    pub email: String,
    pub role: MemberRole,
}

/// `PATCH /api/rooms/:id/members/:user_id`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateMember {
    pub role: MemberRole,
}

/// An email address as stored: trimmed and lower-cased, so one address is one account.
pub fn validate_email(value: &str) -> Result<String, FieldError> {
    let email = value.trim().to_lowercase();
    let well_formed = email.chars().count() <= limits::EMAIL_MAX_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !domain.starts_with('.')
        });
    if !well_formed {
        return Err(FieldError::new("email", "Enter an email address such as ada@example.com."));
    }
    Ok(email)
}

/// A new password: long enough to resist guessing, short enough to hash cheaply.
pub fn validate_password(value: &str) -> Result<(), FieldError> {
    if value.chars().count() < limits::PASSWORD_MIN_CHARS {
        return Err(FieldError::new(
            "password",
            format!("The password must be at least {} characters.", limits::PASSWORD_MIN_CHARS),
        ));
    }
    if value.len() > limits::PASSWORD_MAX_BYTES {
        return Err(FieldError::new(
            "password",
            format!("The password must be at most {} bytes.", limits::PASSWORD_MAX_BYTES),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(validate_email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in ["", "ada", "@example.com", "ada@", "a b@example.com", "a@b@c", "ada@.com", "a\u{0}@b.c"] {
            assert!(validate_email(bad).is_err(), "{bad:?}");
        }
        assert!(validate_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_are_bounded() {
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn only_admins_and_operators_operate() {
        assert!(Role::Admin.may_operate() && Role::Operator.may_operate());
        assert!(!Role::User.may_operate());
    }

    #[test]
    fn only_admins_manage_people() {
        assert!(Role::Admin.may_manage_people());
        assert!(!Role::Operator.may_manage_people() && !Role::User.may_manage_people());
    }
}
