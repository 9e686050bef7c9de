//! Who is asking, and the one rule that decides what they may do. Every operation of the
//! service layer — whether reached through REST, a server function, a live stream or a page —
//! asks here, so the rights are written once.

use domain::accounts::Role;
use domain::rooms::{MemberRole, Message, Room, RoomVisibility, SenderType};
use domain::snapshot::RoomAccess;
use uuid::Uuid;

use crate::config::GuestAccess;
use crate::{ServiceError, ServiceResult, Services};

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Not signed in.
    Guest,
    Person(Principal),
}

impl Actor {
    pub fn person(&self) -> Option<&Principal> {
        match self {
            Actor::Guest => None,
            Actor::Person(principal) => Some(principal),
        }
    }

    pub fn user_id(&self) -> Option<Uuid> {
        self.person().map(|p| p.id)
    }

    /// The signed-in person, or `UNAUTHENTICATED`.
    pub fn require_person(&self) -> ServiceResult<&Principal> {
        self.person().ok_or(ServiceError::Unauthenticated)
    }

    /// The signed-in person with a global role that `allowed` accepts; `UNAUTHENTICATED` for a
    /// guest, `FORBIDDEN` for anyone else.
    pub fn require_role(&self, allowed: impl Fn(Role) -> bool, what: &str) -> ServiceResult<&Principal> {
        let person = self.require_person()?;
        if allowed(person.role) {
            Ok(person)
        } else {
            Err(ServiceError::Forbidden(format!("Only {what} may do this.")))
        }
    }
}

/// What someone wants to do in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomAction {
    /// See the room, its agents, messages, runs and live stream.
    Read,
    /// Write a message.
    Post,
    /// Start or stop an auto-dialogue run.
    Run,
    /// See who the members are.
    ListMembers,
    /// Change settings, agents and members, or delete the room.
    Manage,
    /// Confirm or reject an agent's proposal of a control-plane task: a member who may take part
    /// and who may use the control plane.
    DecideProposals,
}

/// The outcome of the rule, before it becomes an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Signing in might help: `UNAUTHENTICATED`.
    SignIn,
    /// Signed in, but not allowed: `FORBIDDEN`.
    Forbidden,
    /// The room is not visible to this person: answered as if it did not exist, so its
    /// existence does not leak.
    Hidden,
}

/// The rule itself, as a pure function of the facts: the asker's global role (`None` for a
/// guest), their membership, the room's visibility and the server's guest access.
pub fn verdict(
    role: Option<Role>,
    membership: Option<MemberRole>,
    visibility: RoomVisibility,
    guests: GuestAccess,
    action: RoomAction,
) -> Verdict {
    let Some(role) = role else {
        let guest_may = match action {
            RoomAction::Read => guests != GuestAccess::Off,
            RoomAction::Post => guests == GuestAccess::Send,
            RoomAction::Run | RoomAction::ListMembers | RoomAction::Manage | RoomAction::DecideProposals => false,
        };
        return if visibility == RoomVisibility::Demo && guest_may { Verdict::Allow } else { Verdict::SignIn };
    };
    if role == Role::Admin {
        return Verdict::Allow;
    }
    match membership {
        Some(member) => {
            let allowed = match action {
                RoomAction::Read | RoomAction::ListMembers => true,
                RoomAction::Post | RoomAction::Run => matches!(member, MemberRole::Owner | MemberRole::Member),
                RoomAction::Manage => member == MemberRole::Owner,
                RoomAction::DecideProposals => {
                    role.may_operate() && matches!(member, MemberRole::Owner | MemberRole::Member)
                }
            };
            if allowed {
                Verdict::Allow
            } else {
                Verdict::Forbidden
            }
        }
        None => match (visibility, action) {
            (RoomVisibility::Private, _) => Verdict::Hidden,
            (_, RoomAction::Read) => Verdict::Allow,
            // Anyone may write in a demo room where even guests may.
            (RoomVisibility::Demo, RoomAction::Post) if guests == GuestAccess::Send => Verdict::Allow,
            _ => Verdict::Forbidden,
        },
    }
}

/// Loads the room and checks that `actor` may do `action` in it.
pub async fn authorize_room(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    action: RoomAction,
) -> ServiceResult<Room> {
    let facts = RoomFacts::load(services, actor, room_id).await?;
    facts.check(action)?;
    Ok(facts.room)
}

/// What someone wants to do to a message already in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageChange {
    /// Have its agent write a reply again, or show another version of it: anyone who may write
    /// in the room.
    Rewrite,
    /// Change its text: only the person who wrote it, while they may write in the room.
    Edit,
    /// Remove it: its author while they may write in the room, or whoever manages the room.
    Delete,
}

/// Loads the message, checking that it is in the room and that `actor` may make the change.
pub async fn authorize_message(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    message_id: Uuid,
    change: MessageChange,
) -> ServiceResult<Message> {
    let facts = RoomFacts::load(services, actor, room_id).await?;
    facts.check(match change {
        MessageChange::Rewrite | MessageChange::Edit => RoomAction::Post,
        MessageChange::Delete => RoomAction::Read,
    })?;
    let message = services
        .store
        .get_message(message_id)
        .await?
        .filter(|message| message.room_id == room_id)
        .ok_or(ServiceError::NotFound("message"))?;
    let own =
        message.sender_type == SenderType::Human && message.sender_id.is_some() && message.sender_id == actor.user_id();
    match change {
        MessageChange::Rewrite => {}
        MessageChange::Edit if own => {}
        MessageChange::Edit => return Err(ServiceError::Forbidden("Only its author may edit a message.".to_owned())),
        MessageChange::Delete if own && facts.verdict(RoomAction::Post) == Verdict::Allow => {}
        MessageChange::Delete => facts.check(RoomAction::Manage)?,
    }
    Ok(message)
}

/// Loads the room, checks that `actor` may read it, and says what else they may do there.
pub async fn room_access(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<(Room, RoomAccess)> {
    let facts = RoomFacts::load(services, actor, room_id).await?;
    facts.check(RoomAction::Read)?;
    let allowed = |action| facts.verdict(action) == Verdict::Allow;
    let access = RoomAccess {
        signed_in: facts.role.is_some(),
        user_id: actor.user_id(),
        role: facts.membership,
        post: allowed(RoomAction::Post),
        run: allowed(RoomAction::Run),
        list_members: allowed(RoomAction::ListMembers),
        manage: allowed(RoomAction::Manage),
        decide_proposals: allowed(RoomAction::DecideProposals),
    };
    Ok((facts.room, access))
}

/// What the rule needs to know about one person and one room.
struct RoomFacts {
    room: Room,
    role: Option<Role>,
    membership: Option<MemberRole>,
    guests: GuestAccess,
}

impl RoomFacts {
    async fn load(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<Self> {
        let room = services.store.get_room(room_id).await?;
        let Some(room) = room else {
            // A guest learns nothing about which rooms exist.
            return Err(match actor {
                Actor::Guest => ServiceError::Unauthenticated,
                Actor::Person(_) => ServiceError::NotFound("room"),
            });
        };
        let membership = match actor.person() {
            Some(person) if person.role != Role::Admin => services.store.membership(room_id, person.id).await?,
            _ => None,
        };
        let role = actor.person().map(|p| p.role);
        Ok(Self { room, role, membership, guests: services.config.access.guests })
    }

    fn verdict(&self, action: RoomAction) -> Verdict {
        verdict(self.role, self.membership, self.room.visibility, self.guests, action)
    }

    fn check(&self, action: RoomAction) -> ServiceResult<()> {
        match self.verdict(action) {
            Verdict::Allow => Ok(()),
            Verdict::SignIn => Err(ServiceError::Unauthenticated),
            Verdict::Hidden => Err(ServiceError::NotFound("room")),
            Verdict::Forbidden => Err(ServiceError::Forbidden(refusal(action).to_owned())),
        }
    }
}

fn refusal(action: RoomAction) -> &'static str {
    match action {
        RoomAction::Read => "You may not read this room.",
        RoomAction::Post => "Only the room's members may write here; viewers read.",
        RoomAction::Run => "Only the room's members may start or stop runs.",
        RoomAction::ListMembers => "Only the room's members may see who belongs to it.",
        RoomAction::Manage => "Only the room's owners may change it.",
        RoomAction::DecideProposals => {
            "Only operators and admins who take part in the room may confirm or reject agents' proposals."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use GuestAccess::{Off, Read as GuestRead, Send};
    use RoomAction::{DecideProposals, ListMembers, Manage, Post, Read, Run};
    use RoomVisibility::{Demo, Private, Public};
    use Verdict::{Allow, Forbidden, Hidden, SignIn};

    #[test]
    fn guests_see_only_demo_rooms_and_write_only_when_allowed() {
        assert_eq!(verdict(None, None, Demo, GuestRead, Read), Allow);
        assert_eq!(verdict(None, None, Demo, GuestRead, Post), SignIn);
        assert_eq!(verdict(None, None, Demo, Send, Post), Allow);
        assert_eq!(verdict(None, None, Demo, Off, Read), SignIn);
        assert_eq!(verdict(None, None, Demo, Send, Run), SignIn);
        for visibility in [Private, Public] {
            for action in [Read, Post, Run, ListMembers, Manage] {
                assert_eq!(verdict(None, None, visibility, Send, action), SignIn, "{visibility} {action:?}");
            }
        }
    }

    #[test]
    fn room_roles_grant_in_order() {
        let user = Some(Role::User);
        for visibility in [Private, Public, Demo] {
            for (member, allowed) in [
                (MemberRole::Owner, vec![Read, Post, Run, ListMembers, Manage]),
                (MemberRole::Member, vec![Read, Post, Run, ListMembers]),
                (MemberRole::Viewer, vec![Read, ListMembers]),
            ] {
                for action in [Read, Post, Run, ListMembers, Manage] {
                    let expected = if allowed.contains(&action) { Allow } else { Forbidden };
                    assert_eq!(verdict(user, Some(member), visibility, Off, action), expected, "{member} {action:?}");
                }
            }
        }
    }

    #[test]
    fn outsiders_read_public_rooms_and_never_see_private_ones() {
        let user = Some(Role::Operator);
        assert_eq!(verdict(user, None, Public, Off, Read), Allow);
        assert_eq!(verdict(user, None, Public, Send, Post), Forbidden);
        assert_eq!(verdict(user, None, Demo, Send, Post), Allow);
        assert_eq!(verdict(user, None, Demo, GuestRead, Post), Forbidden);
        assert_eq!(verdict(user, None, Public, Off, Manage), Forbidden);
        for action in [Read, Post, Run, ListMembers, Manage] {
            assert_eq!(verdict(user, None, Private, Send, action), Hidden);
        }
    }

    #[test]
    fn only_operators_taking_part_decide_proposals() {
        for visibility in [Private, Public, Demo] {
            assert_eq!(verdict(None, None, visibility, Send, DecideProposals), SignIn);
            assert_eq!(verdict(Some(Role::Admin), None, visibility, Off, DecideProposals), Allow);
            for member in [MemberRole::Owner, MemberRole::Member] {
                assert_eq!(verdict(Some(Role::Operator), Some(member), visibility, Off, DecideProposals), Allow);
                assert_eq!(verdict(Some(Role::User), Some(member), visibility, Off, DecideProposals), Forbidden);
            }
            let viewer = Some(MemberRole::Viewer);
            assert_eq!(verdict(Some(Role::Operator), viewer, visibility, Off, DecideProposals), Forbidden);
        }
        // An operator outside a public room reads it but decides nothing there.
        assert_eq!(verdict(Some(Role::Operator), None, Public, Send, DecideProposals), Forbidden);
    }

    #[test]
    fn admins_may_do_everything() {
        for visibility in [Private, Public, Demo] {
            for action in [Read, Post, Run, ListMembers, Manage] {
                assert_eq!(verdict(Some(Role::Admin), None, visibility, Off, action), Allow);
            }
        }
    }
}
