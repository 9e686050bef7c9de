//! A room's members and their roles. Owners manage them; every member may see the list and
//! leave; a room always keeps at least one owner.

use domain::accounts::{validate_email, AddMember, Member, UpdateMember};
use storage::StorageError;
use uuid::Uuid;

use crate::access::{authorize_room, Actor, RoomAction};
use crate::{ServiceError, ServiceResult, Services};

fn last_owner(error: StorageError) -> ServiceError {
    match error {
        StorageError::Conflict(_) => {
            ServiceError::Conflict("A room keeps at least one owner; make someone else owner first.".into())
        }
        other => other.into(),
    }
}

pub async fn list_members(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<Vec<Member>> {
    authorize_room(services, actor, room_id, RoomAction::ListMembers).await?;
    Ok(services.store.list_members(room_id).await?)
}

/// Adds the person with this email, who must already have an account.
pub async fn add_member(services: &Services, actor: &Actor, room_id: Uuid, input: AddMember) -> ServiceResult<Member> {
    authorize_room(services, actor, room_id, RoomAction::Manage).await?;
    let email = validate_email(&input.email)?;
    let Some(user) = services.store.find_user_by_email(&email).await? else {
        return Err(ServiceError::invalid("email", "No account uses this email; ask them to create one first."));
    };
    services.store.add_member(room_id, user.id, input.role).await.map_err(|error| match error {
        StorageError::Conflict(_) => {
            ServiceError::Conflict(format!("{} is already a member of this room.", user.email))
        }
        other => other.into(),
    })?;
    tracing::info!(%room_id, user_id = %user.id, role = input.role.as_str(), "member added");
    Ok(Member { user_id: user.id, email: user.email, name: user.name, role: input.role })
}

pub async fn update_member(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    user_id: Uuid,
    input: UpdateMember,
) -> ServiceResult<Member> {
    authorize_room(services, actor, room_id, RoomAction::Manage).await?;
    services.store.set_member_role(room_id, user_id, input.role).await.map_err(last_owner)?;
    let member = services.store.list_members(room_id).await?.into_iter().find(|m| m.user_id == user_id);
    member.ok_or(ServiceError::NotFound("member"))
}

/// Owners remove anyone; any member may leave.
pub async fn remove_member(services: &Services, actor: &Actor, room_id: Uuid, user_id: Uuid) -> ServiceResult<()> {
    let leaving = actor.user_id() == Some(user_id);
    let action = if leaving { RoomAction::Read } else { RoomAction::Manage };
    authorize_room(services, actor, room_id, action).await?;
    services.store.remove_member(room_id, user_id).await.map_err(last_owner)?;
    tracing::info!(%room_id, %user_id, leaving, "member removed");
    Ok(())
}
