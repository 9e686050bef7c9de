//! How previews, confirms and states are shown at a terminal.

use domain::control_plane::{ConfirmResponse, Operation, PreviewResponse, SessionEnded, WatchResponse};

/// Text from the server made safe for a terminal: control characters (escape sequences, carriage
/// returns and line breaks that could forge or rewrite lines) and invisible direction overrides
/// are shown as `\u{..}` escapes instead of being obeyed.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        if c.is_control() || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

pub fn operation(operation: &Operation) -> String {
    let args: Vec<String> =
        operation.args.iter().map(|(name, value)| format!("{}={}", clean(name), clean(value))).collect();
    if args.is_empty() {
        clean(&operation.tool)
    } else {
        format!("{} {}", clean(&operation.tool), args.join(" "))
    }
}

pub fn preview(preview: &PreviewResponse) -> String {
    let task = &preview.normalized_task;
    let mut out = String::new();
    out.push_str(&format!("preview     {}\n", clean(&preview.preview_id)));
    out.push_str(&format!("  task      {}\n", clean(&task.task_id)));
    out.push_str(&format!("  intent    {}\n", clean(&task.intent)));
    out.push_str("  operations\n");
    for step in &task.operations {
        out.push_str(&format!("    - {}\n", operation(step)));
    }
    out.push_str(&format!("  risk      {} ({})\n", task.risk, clean(&preview.risk_reason)));
    out.push_str(&format!("  lane      {}\n", task.lane));
    out.push_str(&format!("  rule      {} (rules {})\n", clean(&preview.rule_id), clean(&preview.rules_version)));
    out.push_str(&format!("  ttl       {} s\n", preview.ttl_seconds));
    if preview.requires_structured_override {
        out.push_str("  note      not recognised: it can only be confirmed with a structured override\n");
    }
    out
}

pub fn session_ended(ended: &SessionEnded) -> String {
    let dropped = match ended.dropped_previews {
        0 => String::new(),
        1 => "; 1 unconfirmed preview dropped".to_owned(),
        n => format!("; {n} unconfirmed previews dropped"),
    };
    format!("session {} ended{dropped}", clean(&ended.session_id))
}

pub fn confirmed(response: &ConfirmResponse) -> String {
    format!(
        "{}: {} written to {} ({})",
        response.status,
        clean(&response.task_id),
        clean(&response.path_written),
        clean(&response.ack)
    )
}

pub fn state(watch: &WatchResponse) -> String {
    let mut line = format!("{}  {}  {}", watch.updated_at.format("%H:%M:%S"), clean(&watch.task_id), watch.state);
    if let Some(summary) = &watch.result_summary {
        line.push_str(&format!(" - {}", clean(summary)));
    }
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_text_cannot_steer_the_terminal() {
        let hostile = "done\x1b[2J\x1b]0;owned\x07\r\nlane      fast\u{202e}txt.exe";
        let shown = super::clean(hostile);
        assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
        assert!(!shown.contains('\u{202e}'));
        assert!(shown.starts_with("done\\u{1b}[2J"), "{shown}");
        assert_eq!(super::clean("plain text, ümlaut ok"), "plain text, ümlaut ok");
    }

    use std::collections::BTreeMap;

    use domain::control_plane::{Lane, NormalizedTask, Risk};

    use super::*;

    #[test]
    fn a_preview_shows_everything_a_person_decides_on() {
        let preview = PreviewResponse {
            preview_id: "p-1".into(),
            normalized_task: NormalizedTask {
                task_id: "task_1".into(),
                intent: "task_execution".into(),
                operations: vec![Operation {
                    tool: "task_runner".into(),
                    args: BTreeMap::from([("task".to_owned(), "backup_db".to_owned())]),
                }],
                risk: Risk::High,
                lane: Lane::Approval,
            },
            requires_confirm: true,
            ttl_seconds: 300,
            expires_at: chrono::Utc::now(),
            rule_id: "lisa_run".into(),
            risk_reason: "runs a task".into(),
            requires_structured_override: false,
            rules_version: "v1".into(),
        };
        let text = super::preview(&preview);
        for expected in
            ["task_execution", "task_runner task=backup_db", "high (runs a task)", "approval", "lisa_run", "300 s"]
        {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
    }
}
