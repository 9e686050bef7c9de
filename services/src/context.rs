//! What an agent is told before it speaks: its persona, who else is in the room, and as much
//! recent history as fits the token budget, every message attributed to its speaker.

use domain::proposals::Proposal;
use domain::rooms::{Agent, Message, MessageStatus, SenderType};

use crate::llm::{estimate_tokens, ChatMessage, ToolCall};
use crate::proposals::PROPOSE_TASK;

/// How someone who is not signed in appears in a room; people who are signed in appear by name.
pub const GUEST_NAME: &str = "Guest";

/// Builds the messages for `agent`'s next turn from `history` (oldest first).
pub fn build_prompt(agent: &Agent, roster: &[Agent], history: &[Message], budget_tokens: usize) -> Vec<ChatMessage> {
    build_prompt_with_proposals(agent, roster, history, &[], budget_tokens)
}

/// Like [`build_prompt`], with the room's proposals: the agent's own come back to it as its
/// `propose_task` calls answered by their outcome so far (preview, then what a person decided and
/// how the task went); other agents' are noted under their messages.
pub fn build_prompt_with_proposals(
    agent: &Agent,
    roster: &[Agent],
    history: &[Message],
    proposals: &[Proposal],
    budget_tokens: usize,
) -> Vec<ChatMessage> {
    let others: Vec<&str> =
        roster.iter().filter(|a| a.is_active && a.id != agent.id).map(|a| a.name.as_str()).collect();
    let mut system = String::new();
    if !agent.system_prompt.trim().is_empty() {
        system.push_str(agent.system_prompt.trim());
        system.push_str("\n\n");
    }
    system.push_str(&format!(
        "You are {name}, one participant in a group chat room. Others here: {others}. \
         Messages from others are shown as \"Name: text\". Reply as {name} only, in your own voice, \
         without putting your name in front.",
        name = agent.name,
        others = if others.is_empty() {
            "the people in the room".to_owned()
        } else {
            format!("{}, and the people in the room", others.join(", "))
        },
    ));

    let mut budget = budget_tokens as i64 - estimate_tokens(&system);
    // Newest first; reversed at the end. A call and its results form one unit.
    let mut turns: Vec<ChatMessage> = Vec::new();
    for message in history.iter().rev() {
        if !counts_as_said(message) {
            continue;
        }
        let made: Vec<&Proposal> = proposals.iter().filter(|p| p.message_id == Some(message.id)).collect();
        let unit = if message.sender_type == SenderType::Agent && message.sender_id == Some(agent.id) {
            if made.is_empty() {
                vec![ChatMessage::assistant(message.content.clone())]
            } else {
                let calls = made.iter().map(|proposal| proposal_call(proposal)).collect();
                let mut unit = vec![ChatMessage::assistant_calls(message.content.clone(), calls)];
                unit.extend(
                    made.iter()
                        .map(|proposal| ChatMessage::tool_result(proposal_call_id(proposal), proposal.tool_result())),
                );
                unit
            }
        } else {
            let mut text = format!("{}: {}", message.sender_name, message.content);
            for proposal in &made {
                text.push_str(&format!("\n[{} — {}]", proposal.agent_name, proposal.tool_result()));
            }
            vec![ChatMessage::user(text)]
        };
        let cost: i64 = unit.iter().map(|turn| estimate_tokens(&turn.content) + 4).sum();
        if cost > budget {
            if turns.is_empty() && budget > 50 && unit.len() == 1 {
                // The latest message alone is over budget: keep its end, which is what is being answered.
                turns.extend(unit.into_iter().map(|turn| keep_tail(turn, (budget as usize - 4) * 4)));
            }
            break;
        }
        budget -= cost;
        turns.extend(unit.into_iter().rev());
    }
    turns.reverse();
    // Chat models answer the last user turn; when the agent itself spoke (or was answered by a
    // tool) last, prompt it on.
    if turns.last().is_none_or(|t| t.role != "user") {
        turns.push(ChatMessage::user("(Please continue the conversation.)"));
    }

    let mut messages = Vec::with_capacity(turns.len() + 1);
    messages.push(ChatMessage::system(system));
    messages.extend(turns);
    messages
}

/// The call a proposal came from, as the model made it (its arguments rebuilt from what was kept).
fn proposal_call(proposal: &Proposal) -> ToolCall {
    ToolCall {
        id: proposal_call_id(proposal),
        name: PROPOSE_TASK.to_owned(),
        arguments: serde_json::json!({ "command": proposal.command, "reason": proposal.reason }).to_string(),
    }
}

fn proposal_call_id(proposal: &Proposal) -> String {
    format!("call_{}", proposal.id.simple())
}

/// Messages with text that was actually said (finished, or cut off with some text) by a person
/// or an agent; the server's own notices are for the people in the room, not the agents.
fn counts_as_said(message: &Message) -> bool {
    message.sender_type != SenderType::System
        && !message.content.trim().is_empty()
        && matches!(
            message.status,
            MessageStatus::Complete | MessageStatus::Stopped | MessageStatus::Interrupted | MessageStatus::Failed
        )
}

fn keep_tail(mut turn: ChatMessage, max_chars: usize) -> ChatMessage {
    let chars: Vec<char> = turn.content.chars().collect();
    if chars.len() > max_chars {
        turn.content = format!("…{}", chars[chars.len() - max_chars..].iter().collect::<String>());
    }
    turn
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;

    fn agent(n: u128, name: &str) -> Agent {
        Agent {
            id: Uuid::from_u128(n),
            room_id: Uuid::nil(),
            name: name.into(),
            model: "demo".into(),
            system_prompt: format!("You are {name}, a tester."),
            temperature: 0.5,
            is_active: true,
            tools: Vec::new(),
            created_at: Utc::now(),
        }
    }

    fn said(by: Option<&Agent>, text: &str) -> Message {
        Message {
            id: Uuid::now_v7(),
            room_id: Uuid::nil(),
            sender_type: if by.is_some() { SenderType::Agent } else { SenderType::Human },
            sender_id: by.map(|a| a.id),
            sender_name: by.map(|a| a.name.clone()).unwrap_or_else(|| GUEST_NAME.into()),
            content: text.into(),
            content_html: None,
            status: MessageStatus::Complete,
            tokens_in: None,
            tokens_out: None,
            usage_estimated: false,
            latency_ms: None,
            first_token_ms: None,
            model: None,
            error: None,
            selection_reason: None,
            run_id: None,
            created_at: Utc::now(),
            alternatives: 1,
            alternative_index: 0,
            edited_at: None,
            deleted_at: None,
        }
    }

    #[test]
    fn others_are_attributed_by_name_and_own_words_are_the_assistant() {
        let ada = agent(1, "Ada");
        let bob = agent(2, "Bob");
        let history = vec![said(None, "Hi all"), said(Some(&ada), "Hello!"), said(Some(&bob), "Hey Ada")];
        let prompt = build_prompt(&ada, &[ada.clone(), bob.clone()], &history, 4000);
        assert_eq!(prompt[0].role, "system");
        assert!(prompt[0].content.starts_with("You are Ada, a tester."));
        assert!(prompt[0].content.contains("Others here: Bob, and the people in the room"));
        assert_eq!(prompt[1], ChatMessage::user("Guest: Hi all"));
        assert_eq!(prompt[2], ChatMessage::assistant("Hello!"));
        assert_eq!(prompt[3], ChatMessage::user("Bob: Hey Ada"));
    }

    #[test]
    fn history_is_cut_to_the_budget_keeping_the_newest() {
        let ada = agent(1, "Ada");
        let history: Vec<Message> =
            (0..100).map(|i| said(None, &format!("message number {i} {}", "x".repeat(200)))).collect();
        let prompt = build_prompt(&ada, std::slice::from_ref(&ada), &history, 1000);
        let total: i64 = prompt.iter().map(|m| estimate_tokens(&m.content) + 4).sum();
        assert!(total <= 1000, "within budget: {total}");
        assert!(prompt.last().unwrap().content.contains("message number 99"));
        assert!(prompt.len() < 30);
    }

    #[test]
    fn an_oversized_last_message_keeps_its_end() {
        let ada = agent(1, "Ada");
        let history = vec![said(None, &format!("{}THE QUESTION", "y".repeat(40_000)))];
        let prompt = build_prompt(&ada, std::slice::from_ref(&ada), &history, 1000);
        assert_eq!(prompt.len(), 2);
        assert!(prompt[1].content.ends_with("THE QUESTION"));
        assert!(estimate_tokens(&prompt[1].content) < 1000);
    }

    #[test]
    fn empty_and_streaming_messages_are_left_out() {
        let ada = agent(1, "Ada");
        let mut streaming = said(Some(&agent(2, "Bob")), "half");
        streaming.status = MessageStatus::Streaming;
        let history = vec![said(None, "question"), streaming, said(None, "   ")];
        let prompt = build_prompt(&ada, std::slice::from_ref(&ada), &history, 1000);
        assert_eq!(prompt.len(), 2);
        assert_eq!(prompt[1].content, "Guest: question");
    }

    #[test]
    fn the_agent_is_prompted_on_when_it_spoke_last() {
        let ada = agent(1, "Ada");
        let prompt = build_prompt(&ada, std::slice::from_ref(&ada), &[said(Some(&ada), "I said this")], 1000);
        assert_eq!(prompt.last().unwrap().role, "user");
    }

    fn proposal_of(message: &Message, by: &Agent, state: domain::proposals::ProposalState) -> Proposal {
        let now = Utc::now();
        Proposal {
            id: Uuid::now_v7(),
            room_id: Uuid::nil(),
            message_id: Some(message.id),
            agent_id: Some(by.id),
            agent_name: by.name.clone(),
            run_id: None,
            command: "lisa run backup_db".into(),
            reason: "due".into(),
            preview_id: Some("p".into()),
            intent: Some("task_execution".into()),
            operations: Vec::new(),
            risk: Some(domain::control_plane::Risk::High),
            lane: Some(domain::control_plane::Lane::Approval),
            rule_id: Some("lisa_run".into()),
            risk_reason: None,
            requires_structured_override: false,
            expires_at: Some(now),
            state,
            error: None,
            decided_by: None,
            decided_by_name: Some("Dora".into()),
            decided_at: None,
            task_id: None,
            task_state: None,
            path_written: None,
            result_summary: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn an_agents_proposals_come_back_as_its_calls_and_their_outcome() {
        use domain::proposals::ProposalState;
        let ada = agent(1, "Ada");
        let bob = agent(2, "Bob");
        let asked = said(None, "back it up");
        let proposing = said(Some(&ada), "I propose a backup.");
        let others = said(Some(&bob), "I propose it too.");
        let history = vec![asked, proposing.clone(), others.clone()];
        let proposals = vec![
            proposal_of(&proposing, &ada, ProposalState::Rejected),
            proposal_of(&others, &bob, ProposalState::Pending),
        ];
        let prompt = build_prompt_with_proposals(&ada, &[ada.clone(), bob.clone()], &history, &proposals, 4000);
        let roles: Vec<&str> = prompt.iter().map(|m| m.role).collect();
        assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
        assert_eq!(prompt[2].tool_calls.len(), 1);
        assert_eq!(prompt[2].tool_calls[0].name, "propose_task");
        assert_eq!(prompt[3].tool_call_id.as_deref(), Some(prompt[2].tool_calls[0].id.as_str()));
        assert!(prompt[3].content.contains("Dora rejected it"), "{}", prompt[3].content);
        // Another agent's proposal is a note under its message, never a call of this agent's.
        assert!(prompt[4].content.starts_with("Bob: I propose it too.") && prompt[4].content.contains("Awaiting"));
    }
}
