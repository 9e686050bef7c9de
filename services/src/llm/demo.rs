//! The offline demo model: answers in character without any provider, so the product works
//! with no API key. Replies are built from the agent's persona and the conversation, and stream
//! word by word at a readable pace.

use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;

use super::{ChatRequest, Chunk, LlmError, ToolCall};

pub fn stream(request: &ChatRequest, delay: Duration) -> BoxStream<'static, Result<Chunk, LlmError>> {
    let proposal = demo_proposal(request);
    let text = match &proposal {
        Some(call) => proposal_reply(request, call),
        None => demo_reply(request),
    };
    let pieces = split_keeping_spaces(&text);
    futures::stream::iter(pieces.into_iter().map(Chunk::Text).chain(proposal.map(Chunk::ToolCall)))
        .then(move |chunk| async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(chunk)
        })
        .boxed()
}

/// The demo model proposes a task, deterministically, when it may (the request offers
/// `propose_task`) and the message it answers asks with `propose: <command>`; so the feature
/// can be seen with no provider at all.
fn demo_proposal(request: &ChatRequest) -> Option<ToolCall> {
    if !request.tools.iter().any(|tool| tool.name == crate::proposals::PROPOSE_TASK) {
        return None;
    }
    let last = request.messages.iter().rev().find(|m| m.role == "user")?;
    let (speaker, said) = speaker_and_text(&last.content);
    let at = said.to_lowercase().find(PROPOSE_MARKER)?;
    // Lowercasing keeps byte offsets for ASCII; a marker found after non-ASCII text is re-found.
    let start = said.get(at..).filter(|rest| rest.to_lowercase().starts_with(PROPOSE_MARKER))?;
    let command: String = start[PROPOSE_MARKER.len()..].lines().next().unwrap_or("").trim().to_owned();
    if command.is_empty() {
        return None;
    }
    let arguments = serde_json::json!({
        "command": command,
        "reason": format!("{speaker} asked for it in the room."),
    });
    Some(ToolCall {
        id: "call_demo".to_owned(),
        name: crate::proposals::PROPOSE_TASK.to_owned(),
        arguments: arguments.to_string(),
    })
}

const PROPOSE_MARKER: &str = "propose:";

fn proposal_reply(request: &ChatRequest, call: &ToolCall) -> String {
    let command = serde_json::from_str::<serde_json::Value>(&call.arguments)
        .ok()
        .and_then(|args| args["command"].as_str().map(str::to_owned))
        .unwrap_or_default();
    format!(
        "I can't run anything myself, so I've proposed `{command}` to the control plane. A person here with the \
         right to do so can confirm or reject it. _(demo model, speaking as {})_",
        request.speaker_name
    )
}

/// "Name: text" as prompts show others' messages, or everyone and the whole text.
fn speaker_and_text(line: &str) -> (String, &str) {
    match line.split_once(": ") {
        Some((name, text)) if name.len() <= 100 && !name.contains('\n') => (name.to_owned(), text),
        _ => ("everyone".to_owned(), line),
    }
}

/// Splits text into words, each carrying the whitespace that follows it.
fn split_keeping_spaces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut in_space = false;
    for c in text.chars() {
        if !c.is_whitespace() && in_space {
            pieces.push(std::mem::take(&mut current));
            in_space = false;
        }
        if c.is_whitespace() {
            in_space = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// The demo model's reply to the conversation in `request`.
fn demo_reply(request: &ChatRequest) -> String {
    let persona = request
        .messages
        .iter()
        .find(|m| m.role == "system")
        .map(|m| first_sentence(&m.content))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "an agent in this room".to_owned());
    let last = request.messages.iter().rev().find(|m| m.role == "user").map(|m| m.content.as_str()).unwrap_or("");
    let (speaker, said) = speaker_and_text(last);
    // "Ada, a careful engineer" reads better as "a careful engineer" after "Speaking as Ada".
    let persona = persona.strip_prefix(&format!("{}, ", request.speaker_name)).map(str::to_owned).unwrap_or(persona);
    let topic = topic_of(said);
    let seed = said.bytes().fold(request.speaker_name.len() as u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    let me = &request.speaker_name;

    let openings = [
        format!("Thanks, {speaker}."),
        format!("Good point, {speaker}."),
        format!("Let me build on that, {speaker}."),
        format!("I see it a little differently, {speaker}."),
    ];
    let opening = &openings[(seed % openings.len() as u64) as usize];
    let mut reply = format!(
        "{opening} Speaking as {me} — {persona} — here is how I'd approach **{topic}**:\n\n\
         1. Pin down what *{topic}* has to achieve, and for whom.\n\
         2. Try the simplest version first and measure it.\n\
         3. Keep what works, and write down why.\n"
    );
    if said.to_lowercase().contains("code") || said.contains("```") || said.to_lowercase().contains("rust") {
        reply.push_str("\nA first sketch:\n\n```rust\nfn main() {\n    println!(\"step one: measure\");\n}\n```\n");
    }
    let closings =
        ["What would you add?", "Does that match what you had in mind?", "Which part should we dig into next?"];
    reply.push('\n');
    reply.push_str(closings[((seed / 7) % closings.len() as u64) as usize]);
    reply.push_str(" _(demo model: no provider is configured)_");
    reply
}

fn first_sentence(text: &str) -> String {
    let text = text.trim();
    let end = text.find(['.', '!', '?', '\n']).unwrap_or(text.len());
    let sentence: String = text[..end].chars().take(120).collect();
    let sentence = sentence.trim();
    let lowered = sentence.strip_prefix("You are ").or_else(|| sentence.strip_prefix("you are ")).unwrap_or(sentence);
    lowered.to_owned()
}

/// The most telling word of a message: its longest word, or "this" for a short one.
fn topic_of(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
        .filter(|w| w.chars().count() >= 4)
        .max_by_key(|w| w.chars().count())
        .map(|w| w.to_lowercase())
        .unwrap_or_else(|| "this".to_owned())
}

#[cfg(test)]
mod tests {
    use super::super::ChatMessage;
    use super::*;

    fn request(system: &str, last: &str) -> ChatRequest {
        ChatRequest {
            messages: vec![ChatMessage::system(system), ChatMessage::user(last)],
            temperature: 0.7,
            max_tokens: 100,
            speaker_name: "Ada".into(),
            tools: Vec::new(),
        }
    }

    #[test]
    fn replies_speak_in_character_about_the_topic() {
        let reply =
            demo_reply(&request("You are a careful reviewer. Be brief.", "Guest: How should we handle caching?"));
        assert!(reply.contains("Guest"), "{reply}");
        assert!(reply.contains("Ada"), "{reply}");
        assert!(reply.contains("a careful reviewer"), "{reply}");
        assert!(reply.contains("**caching**"), "{reply}");
        assert!(reply.contains("demo model"), "{reply}");
    }

    #[test]
    fn replies_are_deterministic() {
        let a = demo_reply(&request("p", "Guest: hello there"));
        let b = demo_reply(&request("p", "Guest: hello there"));
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn a_demo_agent_with_the_tool_proposes_what_it_is_asked_to() {
        let mut asked = request("You are Ops.", "Guest: propose: lisa run backup_db\nthanks");
        // Without the tool, no call: an ordinary reply.
        assert!(demo_proposal(&asked).is_none());
        asked.tools = vec![crate::proposals::propose_task_tool()];
        let call = demo_proposal(&asked).expect("a proposal");
        let arguments: serde_json::Value = serde_json::from_str(&call.arguments).unwrap();
        assert_eq!(arguments["command"], "lisa run backup_db");
        assert_eq!(call.name, "propose_task");
        let chunks: Vec<_> = stream(&asked, Duration::ZERO).collect().await;
        assert!(matches!(chunks.last(), Some(Ok(Chunk::ToolCall(_)))));
        // A message that does not ask gets no proposal, even with the tool.
        assert!(demo_proposal(&request("p", "Guest: what should we propose next?")).is_none());
        let mut plain = request("p", "Guest: hello");
        plain.tools = vec![crate::proposals::propose_task_tool()];
        assert!(demo_proposal(&plain).is_none());
    }

    #[tokio::test]
    async fn the_stream_reassembles_the_reply() {
        let req = request("You are terse.", "Bob: write some code");
        let expected = demo_reply(&req);
        let pieces: Vec<_> = stream(&req, Duration::ZERO).collect().await;
        assert!(pieces.len() > 10, "streamed in many pieces");
        let text: String = pieces
            .into_iter()
            .map(|p| match p.unwrap() {
                Chunk::Text(t) => t,
                Chunk::Usage(_) | Chunk::ToolCall(_) => String::new(),
            })
            .collect();
        assert_eq!(text, expected);
        assert!(text.contains("```rust"));
    }
}
