//! Agents to and from Character Card V2 persona cards: importing makes an agent as adding one
//! does (the same rules, limits and rights); exporting is open to everyone who may read the room,
//! as its agents' prompts are.

use domain::persona_cards::CharacterCard;
use domain::rooms::{default_temperature, Agent, CreateAgent};
use uuid::Uuid;

use crate::access::{authorize_room, Actor, RoomAction};
use crate::{ServiceError, ServiceResult, Services};

/// The model an imported persona speaks with when neither the request nor the card names one:
/// the offline demo model, which every server has.
pub const DEFAULT_IMPORT_MODEL: &str = "demo";

/// Makes an agent of the card. `model`, when given, wins over the card's own; the card's
/// temperature and tools come along when it carries this product's settings.
pub async fn import_agent(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    card: CharacterCard,
    model: Option<String>,
) -> ServiceResult<Agent> {
    // Who may not add agents learns nothing about the card.
    authorize_room(services, actor, room_id, RoomAction::Manage).await?;
    let persona = card.into_persona()?;
    let (card_model, temperature, tools) = match persona.settings {
        Some(settings) => (Some(settings.model), settings.temperature, settings.tools),
        None => (None, default_temperature(), Vec::new()),
    };
    let model = model.or(card_model).unwrap_or_else(|| DEFAULT_IMPORT_MODEL.to_owned());
    let input = CreateAgent { name: persona.name, model, system_prompt: persona.system_prompt, temperature, tools };
    crate::rooms::create_agent(services, actor, room_id, input).await
}

/// The agent as a Character Card V2 document.
pub async fn agent_card(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    agent_id: Uuid,
) -> ServiceResult<CharacterCard> {
    authorize_room(services, actor, room_id, RoomAction::Read).await?;
    let agent = services.store.get_agent(room_id, agent_id).await?.ok_or(ServiceError::NotFound("agent"))?;
    Ok(CharacterCard::from_agent(&agent))
}

/// Adds the gallery's pair named `starter` to the room, on the demo model (change it on each
/// agent afterwards); both or, when the second is refused, the first alone.
pub async fn add_starter_pair(
    services: &Services,
    actor: &Actor,
    room_id: Uuid,
    starter: &str,
) -> ServiceResult<Vec<Agent>> {
    authorize_room(services, actor, room_id, RoomAction::Manage).await?;
    let pair = domain::persona_cards::STARTER_PAIRS.iter().find(|pair| pair.id == starter).ok_or_else(|| {
        let known: Vec<&str> = domain::persona_cards::STARTER_PAIRS.iter().map(|pair| pair.id).collect();
        ServiceError::invalid("starter", format!("starter must be one of {}.", known.join(", ")))
    })?;
    let mut added = Vec::new();
    for persona in pair.personas {
        let input = CreateAgent {
            name: persona.name.to_owned(),
            model: DEFAULT_IMPORT_MODEL.to_owned(),
            system_prompt: persona.system_prompt.to_owned(),
            temperature: persona.temperature,
            tools: Vec::new(),
        };
        added.push(crate::rooms::create_agent(services, actor, room_id, input).await?);
    }
    Ok(added)
}
