//! What the bot says. Plain text (no Markdown), so nothing a person typed can change its shape.

use chrono::{DateTime, Utc};
use domain::control_plane::{ConfirmResponse, PreviewResponse, TaskState};
use domain::ErrorCode;

/// Telegram's limit on a message's text, in characters.
const MAX_TEXT_CHARS: usize = 4096;
/// How much of a person's command is quoted back.
const MAX_QUOTED_CHARS: usize = 200;
/// Telegram's limit on a callback answer's text.
const MAX_ANSWER_CHARS: usize = 200;

pub(crate) const HELP: &str = "I turn your commands into control-plane tasks, for you to confirm.\n\
\n\
Send a command in plain words, e.g. \"lisa run backup_db\". I answer with a preview: what would \
be done, its risk and lane, and until when it can be confirmed. Press Confirm, or reply \"confirm\" \
to the preview. Nothing is written before that, and I never run anything myself: I tell you how \
the task goes.\n\
\n\
/link CODE binds this chat to your account (get the code in the web app: Control plane → Telegram).\n\
/unlink ends that.\n\
/help shows this.";

pub(crate) const NOT_LINKED: &str =
    "This chat is not linked to an account. Get a code in the web app (Control plane → Telegram) and send /link CODE.";
pub(crate) const NOT_OPERATOR: &str = "The account this chat is linked to may not use the control plane.";
pub(crate) const PRIVATE_ONLY: &str = "I only take commands in a private chat.";
pub(crate) const TEXT_ONLY: &str = "I only read text. Send a command, e.g. \"lisa run backup_db\", or /help.";
pub(crate) const UNKNOWN_COMMAND: &str = "I don't know that command. /help lists what I understand.";
pub(crate) const LINK_USAGE: &str = "Send the code with the command: /link CODE";
pub(crate) const BAD_CODE: &str = "That code is unknown, used or expired. Get a new one in the web app.";
pub(crate) const UNLINKED: &str = "Unlinked. This chat no longer speaks for your account.";
pub(crate) const WAS_NOT_LINKED: &str = "This chat was not linked.";
pub(crate) const NO_PREVIEW: &str = "Reply \"confirm\" or \"cancel\" to one of my previews.";
pub(crate) const NOT_A_PREVIEW: &str = "That message shows no preview I can act on.";
pub(crate) const SOMEONE_ELSE: &str = "That preview belongs to the account this chat was linked to before.";
pub(crate) const UNAVAILABLE: &str = "Something went wrong on our side; nothing was written. Try again in a moment.";

pub(crate) fn linked(name: &str) -> String {
    format!("Linked to {name}. Send a command, e.g. \"lisa run backup_db\", and I'll show you a preview.")
}

/// A preview, as first shown.
pub(crate) fn preview(preview: &PreviewResponse, command: &str) -> String {
    let task = &preview.normalized_task;
    let operations = task
        .operations
        .iter()
        .map(|operation| {
            let args = operation.args.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>();
            format!("{}({})", operation.tool, args.join(", "))
        })
        .collect::<Vec<_>>();
    let mut text = format!(
        "Preview: \"{}\"\n\nIntent: {}\nOperations: {}\nRisk: {} · Lane: {}\nRule: {} ({})\nExpires: {} (in {})",
        clip(command, MAX_QUOTED_CHARS),
        task.intent,
        if operations.is_empty() { "none".to_owned() } else { operations.join("; ") },
        task.risk,
        task.lane,
        preview.rule_id,
        preview.risk_reason,
        clock(preview.expires_at),
        minutes(preview.ttl_seconds),
    );
    if preview.requires_structured_override {
        text.push_str(
            "\n\nNo rule recognised this command, so it cannot be confirmed here: \
             use the web control panel, where a structured override can be given.",
        );
    } else {
        text.push_str("\n\nPress Confirm, or reply \"confirm\" to this message.");
    }
    clip(&text, MAX_TEXT_CHARS)
}

/// The preview's text with how it ended.
pub(crate) fn confirmed(summary: &str, by: &str, confirm: &ConfirmResponse) -> String {
    let outcome = format!(
        "✅ Confirmed by {by}: task {} written to the {} lane, {}.\n{}",
        confirm.task_id,
        confirm.lane,
        state_words(confirm.state),
        confirm.ack
    );
    settled(summary, &outcome)
}

pub(crate) fn cancelled(summary: &str) -> String {
    settled(summary, "✖ Cancelled. Nothing was written.")
}

pub(crate) fn expired(summary: &str, at: DateTime<Utc>) -> String {
    settled(summary, &format!("⌛ Expired at {}. Nothing was written.", clock(at)))
}

fn settled(summary: &str, outcome: &str) -> String {
    // The instructions for what to do next no longer apply; the outcome always fits.
    let body = summary.split("\n\nPress Confirm").next().unwrap_or(summary);
    let room = MAX_TEXT_CHARS.saturating_sub(outcome.chars().count() + 2);
    clip(&format!("{}\n\n{outcome}", clip(body, room)), MAX_TEXT_CHARS)
}

/// A task's new state, with the execution plane's summary once it is final.
pub(crate) fn task_news(task_id: &str, state: TaskState, summary: Option<&str>) -> String {
    let mut text = format!("Task {task_id} {}.", state_words(state));
    if let Some(summary) = summary.filter(|s| !s.trim().is_empty()) {
        text.push_str("\nResult: ");
        text.push_str(summary.trim());
    }
    clip(&text, MAX_TEXT_CHARS)
}

fn state_words(state: TaskState) -> &'static str {
    match state {
        TaskState::Accepted => "is accepted and waits for the execution plane",
        TaskState::PendingApproval => "waits for approval",
        TaskState::Running => "is running",
        TaskState::Done => "is done",
        TaskState::Failed => "failed",
    }
}

/// The gateway's refusal, as the panel shows it: its code and its words.
pub(crate) fn refusal(code: ErrorCode, message: &str) -> String {
    clip(&format!("Refused ({}): {message}", code.as_str()), MAX_TEXT_CHARS)
}

/// A short answer to a button press (Telegram shows at most 200 characters).
pub(crate) fn answer(text: &str) -> String {
    clip(text, MAX_ANSWER_CHARS)
}

fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S UTC").to_string()
}

fn minutes(seconds: u64) -> String {
    if seconds >= 120 {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} s")
    }
}

/// The first `max` characters of `text`, marked when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_to_what_telegram_takes() {
        let long = "ж".repeat(10_000);
        assert_eq!(clip(&long, MAX_TEXT_CHARS).chars().count(), MAX_TEXT_CHARS);
        assert_eq!(answer(&long).chars().count(), MAX_ANSWER_CHARS);
        assert_eq!(clip("short", 10), "short");
    }

    #[test]
    fn settling_drops_the_instructions_and_keeps_the_preview() {
        let summary = "Preview: \"x\"\n\nIntent: y\n\nPress Confirm, or reply \"confirm\" to this message.";
        let text = cancelled(summary);
        assert!(text.starts_with("Preview: \"x\"\n\nIntent: y\n\n✖ Cancelled"), "{text}");
        assert!(!text.contains("Press Confirm"));
    }

    #[test]
    fn the_outcome_survives_a_preview_at_the_length_limit() {
        let summary = "x".repeat(MAX_TEXT_CHARS);
        let text = cancelled(&summary);
        assert_eq!(text.chars().count(), MAX_TEXT_CHARS);
        assert!(text.ends_with("✖ Cancelled. Nothing was written."), "{}", &text[text.len() - 60..]);
    }

    #[test]
    fn news_ends_with_the_result_summary() {
        assert_eq!(task_news("task_1", TaskState::Running, None), "Task task_1 is running.");
        assert_eq!(task_news("task_1", TaskState::Done, Some(" 3 tables ")), "Task task_1 is done.\nResult: 3 tables");
    }
}
