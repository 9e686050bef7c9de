//! Persona cards in the Character Card V2 format (`"spec": "chara_card_v2"`), which SillyTavern and
//! other chat tools exchange: `POST /api/rooms/:id/agents/import` takes one and makes an agent of
//! it; `GET /api/rooms/:id/agents/:agent_id/card` gives any agent back as one. Fields this product
//! has no use for are accepted and ignored; this product's own settings travel in
//! `data.extensions.ais_chatrooms`, so a card exported here imports as the same agent.

use serde::{Deserialize, Serialize};

use crate::proposals::AgentTool;
use crate::rooms::{Agent, FieldError};

pub const SPEC: &str = "chara_card_v2";
pub const SPEC_VERSION: &str = "2.0";
/// The key under `data.extensions` that carries this product's settings for the agent.
pub const EXTENSION: &str = "ais_chatrooms";

/// A Character Card V2 document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CharacterCard {
    /// Always `chara_card_v2`.
    pub spec: String,
    /// `2.0`.
    #[serde(default)]
    pub spec_version: String,
    pub data: CardData,
}

/// The persona. Every field but `name` may be absent; unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CardData {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub personality: String,
    #[serde(default)]
    pub scenario: String,
    /// The persona's opening line.
    #[serde(default)]
    pub first_mes: String,
    /// Examples of how the persona speaks.
    #[serde(default)]
    pub mes_example: String,
    #[serde(default)]
    pub creator_notes: String,
    #[serde(default)]
    pub system_prompt: String,
    #[serde(default)]
    pub post_history_instructions: String,
    #[serde(default)]
    pub alternate_greetings: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub creator: String,
    #[serde(default)]
    pub character_version: String,
    /// Other tools' settings, kept as they are; this product's are under `ais_chatrooms`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// This product's settings for the agent, under `data.extensions.ais_chatrooms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSettings {
    pub model: String,
    pub temperature: f64,
    #[serde(default)]
    pub tools: Vec<AgentTool>,
}

/// What an imported card becomes, before the room's own rules are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedPersona {
    pub name: String,
    pub system_prompt: String,
    /// From the card's `ais_chatrooms` extension, when it has a well-formed one.
    pub settings: Option<AgentSettings>,
}

impl CharacterCard {
    /// The agent as a card: its name and persona, and its model, temperature and tools in this
    /// product's extension.
    pub fn from_agent(agent: &Agent) -> Self {
        let settings =
            AgentSettings { model: agent.model.clone(), temperature: agent.temperature, tools: agent.tools.clone() };
        let mut extensions = serde_json::Map::new();
        extensions.insert(EXTENSION.to_owned(), serde_json::to_value(settings).unwrap_or_default());
        CharacterCard {
            spec: SPEC.to_owned(),
            spec_version: SPEC_VERSION.to_owned(),
            data: CardData {
                name: agent.name.clone(),
                system_prompt: agent.system_prompt.clone(),
                creator: "AIS Chatrooms".to_owned(),
                extensions,
                ..CardData::default()
            },
        }
    }

    /// The persona the card describes. The system prompt is the card's own, followed by its
    /// description, personality, scenario, opening line and examples, each under a label, with
    /// `{{char}}` standing for the persona's name and `{{user}}` for the person talking to you.
    pub fn into_persona(self) -> Result<ImportedPersona, FieldError> {
        if self.spec != SPEC {
            return Err(FieldError::new("spec", format!("spec must be \"{SPEC}\" (a Character Card V2).")));
        }
        if !self.spec_version.is_empty() && !self.spec_version.starts_with("2.") {
            return Err(FieldError::new("spec_version", "spec_version must be 2.x for a Character Card V2."));
        }
        let data = self.data;
        let name = data.name.trim().to_owned();
        if name.is_empty() {
            return Err(FieldError::new("data.name", "data.name must not be empty."));
        }
        let fill = |text: &str| text.replace("{{char}}", &name).replace("{{user}}", "the person talking to you");
        let mut parts = Vec::new();
        let mut add = |label: Option<&str>, text: &str| {
            let text = text.trim();
            if !text.is_empty() {
                parts.push(match label {
                    Some(label) => format!("{label}:\n{}", fill(text)),
                    None => fill(text),
                });
            }
        };
        add(None, &data.system_prompt);
        add(None, &data.description);
        add(Some("Personality"), &data.personality);
        add(Some("Scenario"), &data.scenario);
        add(Some("Your opening line"), &data.first_mes);
        add(Some("How you speak"), &data.mes_example);
        add(None, &data.post_history_instructions);
        let settings = data
            .extensions
            .get(EXTENSION)
            .and_then(|value| serde_json::from_value::<AgentSettings>(value.clone()).ok());
        Ok(ImportedPersona { name, system_prompt: parts.join("\n\n"), settings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(data: serde_json::Value) -> CharacterCard {
        serde_json::from_value(serde_json::json!({"spec": SPEC, "spec_version": "2.0", "data": data})).unwrap()
    }

    #[test]
    fn a_card_becomes_a_persona_with_its_fields_in_the_prompt() {
        let persona = card(serde_json::json!({
            "name": " Seraphina ",
            "description": "{{char}} is a forest guardian.",
            "personality": "calm, kind",
            "scenario": "{{user}} is lost in the woods.",
            "first_mes": "Welcome, traveller.",
            "system_prompt": "Stay in character as {{char}}.",
            "character_book": {"entries": []},
            "extensions": {"depth_prompt": {"prompt": "x"}}
        }))
        .into_persona()
        .unwrap();
        assert_eq!(persona.name, "Seraphina");
        assert_eq!(
            persona.system_prompt,
            "Stay in character as Seraphina.\n\nSeraphina is a forest guardian.\n\nPersonality:\ncalm, kind\n\n\
             Scenario:\nthe person talking to you is lost in the woods.\n\nYour opening line:\nWelcome, traveller."
        );
        assert_eq!(persona.settings, None, "another tool's extensions are not ours");
    }

    #[test]
    fn wrong_specs_and_empty_names_name_their_field() {
        let mut wrong = card(serde_json::json!({"name": "A"}));
        wrong.spec = "chara_card_v3".into();
        assert_eq!(wrong.into_persona().unwrap_err().field, "spec");
        let mut old = card(serde_json::json!({"name": "A"}));
        old.spec_version = "1.0".into();
        assert_eq!(old.into_persona().unwrap_err().field, "spec_version");
        assert_eq!(card(serde_json::json!({"name": "  "})).into_persona().unwrap_err().field, "data.name");
    }
}

/// A persona of the built-in gallery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StarterPersona {
    pub name: &'static str,
    pub system_prompt: &'static str,
    pub temperature: f64,
}

/// Two personas that work well together, added to a room in one click.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StarterPair {
    /// How a form names the pair.
    pub id: &'static str,
    pub title: &'static str,
    pub blurb: &'static str,
    pub personas: [StarterPersona; 2],
}

/// The gallery: starter personas for the conversations people most often set up.
pub const STARTER_PAIRS: [StarterPair; 3] = [
    StarterPair {
        id: "debate",
        title: "A debate pair",
        blurb: "One argues for the idea, the other against it; watch them in auto mode.",
        personas: [
            StarterPersona {
                name: "Olive",
                system_prompt: "You are Olive, an optimist who argues for the idea on the table. Make the strongest \
                                honest case for it, answer objections directly, and keep each reply short.",
                temperature: 0.8,
            },
            StarterPersona {
                name: "Sam",
                system_prompt: "You are Sam, a skeptic who argues against the idea on the table. Find its weakest \
                                assumption, ask for evidence, and concede a point when it is fair.",
                temperature: 0.6,
            },
        ],
    },
    StarterPair {
        id: "code-review",
        title: "A code reviewer and an author",
        blurb: "Paste code or describe a change: the author explains it, the reviewer asks for tests and edge cases.",
        personas: [
            StarterPersona {
                name: "Rhea",
                system_prompt: "You are Rhea, a meticulous code reviewer. Point out bugs, edge cases and missing \
                                tests, one concrete suggestion at a time, with a short code example when it helps.",
                temperature: 0.3,
            },
            StarterPersona {
                name: "Ari",
                system_prompt: "You are Ari, the author of the change under review. Explain why the code is as it is, \
                                accept good suggestions and show the fix, and push back when a suggestion costs more \
                                than it saves.",
                temperature: 0.5,
            },
        ],
    },
    StarterPair {
        id: "plan-critique",
        title: "A planner and a critic",
        blurb: "State a goal: the planner breaks it into steps, the critic looks for what could go wrong.",
        personas: [
            StarterPersona {
                name: "Pia",
                system_prompt: "You are Pia, a planner who turns goals into a short list of concrete steps with an \
                                owner and a date each, and revises the plan when it is criticised.",
                temperature: 0.5,
            },
            StarterPersona {
                name: "Cole",
                system_prompt: "You are Cole, a critic who looks for what could go wrong in a plan: risks, missing \
                                steps, optimistic dates. Be specific and propose a fix for each problem.",
                temperature: 0.6,
            },
        ],
    },
];
