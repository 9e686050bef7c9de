//! A room's transcript for people to take away, as JSON or Markdown: everyone who may read the
//! room may export it.

use std::collections::HashMap;
use std::fmt::Write as _;

use domain::rooms::{limits, Message, SenderType};
use domain::transcripts::{Transcript, TranscriptMessage, TranscriptTotals};
use uuid::Uuid;

use crate::access::{authorize_room, Actor, RoomAction};
use crate::{ServiceError, ServiceResult, Services};

/// A transcript holds at most this many messages; a longer room is refused rather than read
/// into memory whole.
pub const EXPORT_MAX_MESSAGES: usize = 50_000;

/// The whole room, oldest message first, with each generation's cost.
pub async fn export_room(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<Transcript> {
    let room = authorize_room(services, actor, room_id, RoomAction::Read).await?;
    let agents = services.store.list_agents(room_id).await?;
    let messages = all_messages(services, room_id).await?;
    let usage = services.store.list_usage_events(room_id).await?;

    let mut cost_of: HashMap<Uuid, f64> = HashMap::new();
    let mut totals =
        TranscriptTotals { messages: i64::try_from(messages.len()).unwrap_or(i64::MAX), ..Default::default() };
    for event in &usage {
        totals.input_tokens += event.input_tokens;
        totals.output_tokens += event.output_tokens;
        totals.cost += event.cost;
        if let Some(message_id) = event.message_id {
            *cost_of.entry(message_id).or_default() += event.cost;
        }
    }
    let messages = messages
        .into_iter()
        .map(|message| {
            let cost = cost_of.get(&message.id).copied();
            transcript_message(message, cost)
        })
        .collect();
    Ok(Transcript { room, exported_at: services.clock.now(), agents, messages, totals })
}

/// Every message, read page by page from the newest back.
async fn all_messages(services: &Services, room_id: Uuid) -> ServiceResult<Vec<Message>> {
    let mut pages = Vec::new();
    let (mut count, mut cursor) = (0, None);
    loop {
        let page = services.store.list_messages(room_id, cursor, limits::PAGE_MAX).await?;
        count += page.messages.len();
        if count > EXPORT_MAX_MESSAGES {
            return Err(ServiceError::LimitReached(format!(
                "This room has more than {EXPORT_MAX_MESSAGES} messages, more than one export holds."
            )));
        }
        pages.push(page.messages);
        match page.next_cursor {
            Some(older) => cursor = Some(older),
            None => break,
        }
    }
    Ok(pages.into_iter().rev().flatten().collect())
}

fn transcript_message(message: Message, cost: Option<f64>) -> TranscriptMessage {
    TranscriptMessage {
        id: message.id,
        sender_type: message.sender_type,
        sender_id: message.sender_id,
        sender_name: message.sender_name,
        content: message.content,
        status: message.status,
        model: message.model,
        tokens_in: message.tokens_in,
        tokens_out: message.tokens_out,
        usage_estimated: message.usage_estimated,
        cost,
        error: message.error,
        created_at: message.created_at,
        edited_at: message.edited_at,
        deleted_at: message.deleted_at,
        alternatives: message.alternatives,
        alternative_index: message.alternative_index,
    }
}

/// The transcript as a Markdown document: a heading, the agents, then each message under its
/// speaker, time and usage. Messages are Markdown already and are kept as written.
pub fn to_markdown(transcript: &Transcript) -> String {
    let mut out = String::new();
    let totals = &transcript.totals;
    let _ = writeln!(out, "# {}\n", one_line(&transcript.room.name));
    let _ = writeln!(
        out,
        "Exported {} · {} messages · {} tokens in, {} out · {}\n",
        transcript.exported_at.format("%Y-%m-%d %H:%M UTC"),
        totals.messages,
        totals.input_tokens,
        totals.output_tokens,
        dollars(totals.cost),
    );
    if !transcript.agents.is_empty() {
        out.push_str("## Agents\n\n");
        for agent in &transcript.agents {
            let _ = writeln!(
                out,
                "- **{}**: model `{}`, temperature {}",
                one_line(&agent.name),
                one_line(&agent.model),
                agent.temperature
            );
            if !agent.system_prompt.trim().is_empty() {
                for line in agent.system_prompt.lines() {
                    let _ = writeln!(out, "  > {line}");
                }
            }
        }
        out.push('\n');
    }
    out.push_str("## Transcript\n");
    for message in &transcript.messages {
        let speaker = match message.sender_type {
            SenderType::Human => "person",
            SenderType::Agent => "agent",
            SenderType::System => "system",
        };
        let _ = writeln!(
            out,
            "\n### {} ({speaker}) · {}\n",
            one_line(&message.sender_name),
            message.created_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        let mut facts = Vec::new();
        if let Some(model) = &message.model {
            facts.push(format!("model `{}`", one_line(model)));
        }
        if let (Some(input), Some(output)) = (message.tokens_in, message.tokens_out) {
            let estimated = if message.usage_estimated { " (estimated)" } else { "" };
            facts.push(format!("{input} tokens in, {output} out{estimated}"));
        }
        if let Some(cost) = message.cost {
            facts.push(dollars(cost));
        }
        if message.status.as_str() != "complete" {
            facts.push(message.status.as_str().to_owned());
        }
        if message.alternatives > 1 {
            facts.push(format!("version {} of {}", message.alternative_index + 1, message.alternatives));
        }
        if message.edited_at.is_some() {
            facts.push("edited".to_owned());
        }
        if message.deleted_at.is_some() {
            facts.push("removed".to_owned());
        }
        if !facts.is_empty() {
            let _ = writeln!(out, "_{}_\n", facts.join(" · "));
        }
        out.push_str(message.content.trim_end());
        out.push('\n');
        if let Some(error) = &message.error {
            let _ = writeln!(out, "\n> Error: {}", one_line(error));
        }
    }
    out
}

/// Names and models on one line, so they cannot start Markdown blocks of their own.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn dollars(amount: f64) -> String {
    format!("${amount:.4}")
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use domain::rooms::{Agent, MessageStatus, Room, RoomMode, RoomVisibility, SenderType};
    use domain::runs::RunLimits;
    use domain::transcripts::{Transcript, TranscriptMessage, TranscriptTotals};
    use uuid::Uuid;

    use super::to_markdown;

    fn message(sender_type: SenderType, name: &str, content: &str) -> TranscriptMessage {
        TranscriptMessage {
            id: Uuid::new_v4(),
            sender_type,
            sender_id: None,
            sender_name: name.to_owned(),
            content: content.to_owned(),
            status: MessageStatus::Complete,
            model: None,
            tokens_in: None,
            tokens_out: None,
            usage_estimated: false,
            cost: None,
            error: None,
            created_at: Utc.with_ymd_and_hms(2026, 11, 30, 9, 15, 0).unwrap(),
            edited_at: None,
            deleted_at: None,
            alternatives: 1,
            alternative_index: 0,
        }
    }

    #[test]
    fn speakers_times_models_tokens_and_costs_are_written_in_order() {
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        let room_id = Uuid::new_v4();
        let mut reply = message(SenderType::Agent, "Ada", "Two lines:\n\n```rust\nfn main() {}\n```\n");
        reply.model = Some("gpt-4o-mini".into());
        (reply.tokens_in, reply.tokens_out, reply.cost) = (Some(120), Some(45), Some(0.00012));
        (reply.alternatives, reply.alternative_index) = (3, 1);
        let mut failed = message(SenderType::Agent, "Bob", "half");
        (failed.status, failed.error) = (MessageStatus::Failed, Some("The provider answered 500.".into()));
        let mut grace = message(SenderType::Human, "Grace", "What is **new**?");
        grace.edited_at = Some(at);
        let transcript = Transcript {
            room: Room {
                id: room_id,
                name: "Design\n# review".into(),
                mode: RoomMode::Manual,
                visibility: RoomVisibility::Private,
                run_limits: RunLimits::default(),
                owner_id: None,
                created_at: at,
            },
            exported_at: at,
            agents: vec![Agent {
                id: Uuid::new_v4(),
                room_id,
                name: "Ada".into(),
                model: "gpt-4o-mini".into(),
                system_prompt: "Be brief.\nCite sources.".into(),
                temperature: 0.5,
                is_active: true,
                tools: vec![],
                created_at: at,
            }],
            messages: vec![grace, reply, failed],
            totals: TranscriptTotals { messages: 3, input_tokens: 120, output_tokens: 45, cost: 0.00012 },
        };
        let text = to_markdown(&transcript);
        assert!(text.starts_with("# Design # review\n"), "the name stays one heading: {text}");
        assert!(text.contains("3 messages · 120 tokens in, 45 out · $0.0001"), "{text}");
        assert!(
            text.contains("- **Ada**: model `gpt-4o-mini`, temperature 0.5\n  > Be brief.\n  > Cite sources."),
            "{text}"
        );
        let grace =
            text.find("### Grace (person) · 2026-11-30 09:15:00 UTC\n\n_edited_\n\nWhat is **new**?").expect(&text);
        let ada = text.find("### Ada (agent)").expect(&text);
        let bob = text.find("### Bob (agent)").expect(&text);
        assert!(grace < ada && ada < bob, "in order: {text}");
        assert!(
            text.contains(
                "_model `gpt-4o-mini` · 120 tokens in, 45 out · $0.0001 · version 2 of 3_\n\nTwo lines:\n\n```rust\nfn main() {}\n```\n"
            ),
            "{text}"
        );
        assert!(text.contains("_failed_\n\nhalf\n\n> Error: The provider answered 500."), "{text}");
    }
}
