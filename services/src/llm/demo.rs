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

/// Marks every demo reply, so nobody takes it for a real model's; never part of what a demo
/// agent reads back.
const DEMO_NOTICE: &str = " _(demo model: no provider is configured)_";
/// What the prompt asks when the agent itself spoke last.
const CONTINUE_PROMPT: &str = "(Please continue the conversation.)";

/// The demo model's reply to the conversation in `request`: it answers what the previous
/// speaker said, stays on the topic the people in the room raised, and speaks in a voice that
/// follows its persona.
fn demo_reply(request: &ChatRequest) -> String {
    let me = request.speaker_name.as_str();
    let system = request.messages.iter().find(|m| m.role == "system").map(|m| m.content.as_str()).unwrap_or("");
    let persona = first_sentence(system);
    // "Ada, a careful engineer" reads better as "a careful engineer" after "Speaking as Ada".
    let persona = persona.strip_prefix(&format!("{me}, ")).map(str::to_owned).unwrap_or(persona);
    let voice = Voice::of(&persona);
    let agents = other_agents(system);
    let turns: Vec<(String, String)> = request
        .messages
        .iter()
        .filter(|m| m.role == "user" && m.content != CONTINUE_PROMPT)
        .map(|m| {
            let (speaker, said) = speaker_and_text(&m.content);
            (speaker, said.replace(DEMO_NOTICE.trim(), ""))
        })
        .collect();
    // The topic is the people's: the newest message from someone who is not an agent.
    let from_people = turns.iter().rev().find(|(speaker, _)| !agents.contains(speaker) && speaker != me);
    let topic = from_people.or(turns.last()).map(|(_, text)| topic_of(text)).unwrap_or_else(|| "this".to_owned());
    let previous = turns.last();
    let seed = previous
        .map(|(_, text)| text.as_str())
        .unwrap_or("")
        .bytes()
        .fold(me.len() as u64 + request.variant as u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));

    let mut reply = match previous {
        Some((speaker, text)) if agents.contains(speaker) => match key_point(text, &topic) {
            Some(point) => voice.answer(speaker, &point),
            None => format!("{speaker}, I heard you."),
        },
        Some((speaker, text)) if text.contains('?') => format!("{speaker}, you asked about **{topic}**."),
        Some((speaker, _)) => format!("{speaker}, thanks for bringing up **{topic}**."),
        None => format!("Let me start us off on **{topic}**."),
    };
    reply.push(' ');
    // Asked again for the same turn, the demo words its view differently, as a model would.
    if request.variant > 0 {
        let again = ["On second thought:", "Put another way:", "Let me try that again:"];
        reply.push_str(again[(request.variant as usize - 1) % again.len()]);
        reply.push(' ');
    }
    reply.push_str(&voice.contribute(&topic, &persona, me));
    let asked_for_code = from_people.is_some_and(|(_, text)| {
        let text = text.to_lowercase();
        text.contains("code") || text.contains("```") || text.contains("rust")
    });
    if asked_for_code {
        reply.push_str("\n\nA first sketch:\n\n```rust\nfn main() {\n    println!(\"step one: measure\");\n}\n```");
    }
    reply.push_str("\n\n");
    let next = agents.iter().find(|name| previous.is_none_or(|(speaker, _)| speaker != *name));
    reply.push_str(&voice.pass_to(next.map(String::as_str).unwrap_or("Everyone"), seed));
    reply.push_str(DEMO_NOTICE);
    reply
}

/// How a demo agent speaks, chosen from the words of its persona.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Voice {
    Skeptic,
    Advocate,
    Planner,
    Reviewer,
    Author,
    Balanced,
}

impl Voice {
    fn of(persona: &str) -> Voice {
        let persona = persona.to_lowercase();
        let has = |words: &[&str]| words.iter().any(|word| persona.contains(word));
        if has(&["skeptic", "sceptic", "critic", "doubt", "devil", "contrarian", "challeng"]) {
            Voice::Skeptic
        } else if has(&["optimist", "advocate", "enthusias", "champion", "proponent", "support"]) {
            Voice::Advocate
        } else if has(&["plan", "organis", "organiz", "coordinat", "strateg", "manager"]) {
            Voice::Planner
        } else if has(&["review", "engineer", "developer", "programmer", "code", "tester"]) {
            Voice::Reviewer
        } else if has(&["author", "writer", "story", "poet", "novel", "creative"]) {
            Voice::Author
        } else {
            Voice::Balanced
        }
    }

    /// A reply to another agent's point.
    fn answer(self, speaker: &str, point: &str) -> String {
        match self {
            Voice::Skeptic => format!("{speaker}, you say “{point}” — I'm not convinced yet."),
            Voice::Advocate => format!("{speaker}, “{point}” — yes, and that's a reason to start, not to wait."),
            Voice::Planner => format!("{speaker} raised “{point}”; let's make that a step of its own."),
            Voice::Reviewer => format!("{speaker}, on “{point}”: how would we test that?"),
            Voice::Author => format!("{speaker}, I like “{point}” — it gives the story a turn."),
            Voice::Balanced => format!("{speaker}, about “{point}”: that's fair, and I'd add one thing."),
        }
    }

    /// The agent's own view of the topic.
    fn contribute(self, topic: &str, persona: &str, me: &str) -> String {
        let who = if persona.is_empty() { format!("Speaking as {me}, ") } else { format!("As {persona}, ") };
        match self {
            Voice::Skeptic => format!(
                "{who}before we commit to anything on **{topic}**, I'd want to know what it costs, who it fails \
                 for, and what we'd do if it doesn't work."
            ),
            Voice::Advocate => format!(
                "{who}I think **{topic}** is worth doing now: the first small step is cheap, and we learn more \
                 from trying it than from debating it."
            ),
            Voice::Planner => format!(
                "{who}here's how I'd plan **{topic}**:\n\n1. Agree on what a good outcome looks like.\n\
                 2. Pick the smallest first step and who takes it.\n3. Set a date to check how it went."
            ),
            Voice::Reviewer => format!(
                "{who}reviewing **{topic}**, I'd check the edge cases first, then ask for one test that shows it \
                 works and one that shows how it fails."
            ),
            Voice::Author => format!(
                "{who}I'd tell **{topic}** as a story: who wants it, what stands in the way, and what changes \
                 for them at the end."
            ),
            Voice::Balanced => format!(
                "{who}on **{topic}** I'd start from what it has to achieve and for whom, try the simplest version, \
                 and keep what works."
            ),
        }
    }

    /// Hands the conversation on.
    fn pass_to(self, name: &str, seed: u64) -> String {
        let asks: [&str; 3] = match self {
            Voice::Skeptic => ["what would change your mind?", "where could this go wrong?", "what's the evidence?"],
            Voice::Advocate => ["what's stopping us?", "shall we try it?", "what would make it easier to start?"],
            Voice::Planner => ["which step would you take first?", "who should own it?", "when do we check?"],
            Voice::Reviewer => ["what did I miss?", "which case worries you most?", "how would you test it?"],
            Voice::Author => ["how would you tell it?", "who is this for?", "what ending do you want?"],
            Voice::Balanced => ["what would you add?", "does that match what you had in mind?", "what next?"],
        };
        format!("{name}, {}", asks[(seed % asks.len() as u64) as usize])
    }
}

/// The other agents the prompt names ("Others here: Ada, Bo, and the people in the room.").
fn other_agents(system: &str) -> Vec<String> {
    let Some(rest) = system.split("Others here: ").nth(1) else { return Vec::new() };
    let listed = rest.split("the people in the room").next().unwrap_or("");
    listed
        .split(',')
        .map(|name| name.trim().trim_start_matches("and ").trim().to_owned())
        .filter(|name| !name.is_empty() && name != "and")
        .collect()
}

/// The sentence of `text` that carries its point about `topic` (or its longest), as a short
/// quote: no Markdown, no quotes of quotes, at most 14 words.
fn key_point(text: &str, topic: &str) -> Option<String> {
    let plain: String = text.chars().filter(|c| !matches!(c, '*' | '_' | '`' | '#' | '>')).collect();
    let sentences: Vec<&str> = plain
        .split(['.', '!', '?', '\n', ':'])
        .map(|s| s.trim().trim_start_matches(|c: char| c.is_ascii_digit()).trim())
        .filter(|s| s.split_whitespace().count() >= 4 && !s.contains('“') && !s.contains('”'))
        .collect();
    let best = sentences
        .iter()
        .find(|s| s.to_lowercase().contains(topic))
        .or_else(|| sentences.iter().max_by_key(|s| s.len()))?;
    // "As a careful skeptic, before we commit…": the point is after the persona.
    let best = match best.strip_prefix("As ").and_then(|rest| rest.split_once(", ")) {
        Some((_, point)) => point,
        None => best,
    };
    let words: Vec<&str> = best.split_whitespace().collect();
    let mut point = words.iter().take(14).copied().collect::<Vec<_>>().join(" ");
    if words.len() > 14 {
        point.push('…');
    }
    let mut chars = point.chars();
    Some(match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => point,
    })
}

fn first_sentence(text: &str) -> String {
    let text = text.trim();
    let end = text.find(['.', '!', '?', '\n']).unwrap_or(text.len());
    let sentence: String = text[..end].chars().take(120).collect();
    let sentence = sentence.trim();
    let lowered = sentence.strip_prefix("You are ").or_else(|| sentence.strip_prefix("you are ")).unwrap_or(sentence);
    lowered.to_owned()
}

/// The most telling word of a message: its longest word that is not a common one, or "this".
fn topic_of(text: &str) -> String {
    const COMMON: [&str; 24] = [
        "about", "after", "again", "because", "before", "could", "doing", "every", "going", "should", "their", "there",
        "these", "thing", "things", "think", "those", "which", "while", "would", "where", "whether", "please",
        "really",
    ];
    text.split(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .filter(|w| !COMMON.contains(&w.as_str()))
        .max_by_key(|w| w.chars().count())
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
            variant: 0,
        }
    }

    #[test]
    fn replies_speak_in_character_about_the_topic() {
        let reply =
            demo_reply(&request("You are a careful reviewer. Be brief.", "Guest: How should we handle caching?"));
        assert!(reply.starts_with("Guest, you asked about **caching**."), "{reply}");
        assert!(reply.contains("As a careful reviewer, reviewing **caching**"), "{reply}");
        assert!(reply.ends_with(DEMO_NOTICE), "{reply}");
        assert_eq!(Voice::of("a skeptic who doubts everything"), Voice::Skeptic);
        assert_eq!(Voice::of("a cheerful optimist"), Voice::Advocate);
        assert_eq!(Voice::of("the team's planner"), Voice::Planner);
        assert_eq!(Voice::of("an author of short stories"), Voice::Author);
        assert_eq!(Voice::of("a helpful assistant"), Voice::Balanced);
    }

    /// Two demo agents in auto mode, turn after turn: each answers the other's point, the
    /// person's topic stays the topic, and the demo notice never becomes one.
    #[test]
    fn an_auto_dialogue_stays_on_the_people_s_topic() {
        let personas = [("Ada", "You are a cheerful optimist."), ("Bo", "You are a skeptic who questions plans.")];
        let mut said: Vec<(String, String)> = vec![("Grace".into(), "Should we move the office to Lisbon?".into())];
        for turn in 0..8 {
            let (me, persona) = personas[turn % 2];
            let other = personas[(turn + 1) % 2].0;
            let system = format!(
                "{persona}\n\nYou are {me}, one participant in a group chat room. Others here: {other}, and the \
                 people in the room. Messages from others are shown as \"Name: text\"."
            );
            let mut messages = vec![ChatMessage::system(system)];
            for (speaker, text) in &said {
                messages.push(if speaker == me {
                    ChatMessage::assistant(text.clone())
                } else {
                    ChatMessage::user(format!("{speaker}: {text}"))
                });
            }
            let asked = ChatRequest {
                messages,
                temperature: 0.7,
                max_tokens: 400,
                speaker_name: me.into(),
                tools: Vec::new(),
                variant: 0,
            };
            let reply = demo_reply(&asked);
            let body = reply.strip_suffix(DEMO_NOTICE).expect("the notice ends the reply");
            assert!(body.contains("**lisbon**"), "turn {turn} left the topic: {reply}");
            assert!(!body.contains("configured"), "turn {turn} took up the notice: {reply}");
            if turn == 0 {
                assert!(body.starts_with("Grace, you asked about **lisbon**."), "{reply}");
            } else {
                assert!(body.starts_with(other), "turn {turn} answers {other}: {reply}");
                assert!(body.contains('“'), "turn {turn} takes up {other}'s point: {reply}");
            }
            assert!(body.contains(&format!("{other}, ")), "turn {turn} hands over to {other}: {reply}");
            let voice = if me == "Ada" { "worth doing now" } else { "before we commit" };
            assert!(body.contains(voice), "turn {turn} sounds like {me}: {reply}");
            said.push((me.to_owned(), reply));
        }
    }

    #[test]
    fn replies_are_deterministic_and_each_version_differs() {
        let a = demo_reply(&request("p", "Guest: hello there"));
        let b = demo_reply(&request("p", "Guest: hello there"));
        assert_eq!(a, b);
        let versions: Vec<String> =
            (0..4).map(|variant| demo_reply(&ChatRequest { variant, ..request("p", "Guest: hello there") })).collect();
        for (i, one) in versions.iter().enumerate() {
            for other in &versions[i + 1..] {
                assert_ne!(one, other, "every version reads differently");
            }
        }
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
