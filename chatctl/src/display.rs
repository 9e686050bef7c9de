//! How previews, confirms and states are shown at a terminal.

use domain::control_plane::{ConfirmResponse, Operation, PreviewResponse, WatchResponse};

pub fn operation(operation: &Operation) -> String {
    let args: Vec<String> = operation.args.iter().map(|(name, value)| format!("{name}={value}")).collect();
    if args.is_empty() {
        operation.tool.clone()
    } else {
        format!("{} {}", operation.tool, args.join(" "))
    }
}

pub fn preview(preview: &PreviewResponse) -> String {
    let task = &preview.normalized_task;
    let mut out = String::new();
    out.push_str(&format!("preview     {}\n", preview.preview_id));
    out.push_str(&format!("  task      {}\n", task.task_id));
    out.push_str(&format!("  intent    {}\n", task.intent));
    out.push_str("  operations\n");
    for step in &task.operations {
        out.push_str(&format!("    - {}\n", operation(step)));
    }
    out.push_str(&format!("  risk      {} ({})\n", task.risk, preview.risk_reason));
    out.push_str(&format!("  lane      {}\n", task.lane));
    out.push_str(&format!("  rule      {} (rules {})\n", preview.rule_id, preview.rules_version));
    out.push_str(&format!("  ttl       {} s\n", preview.ttl_seconds));
    if preview.requires_structured_override {
        out.push_str("  note      not recognised: it can only be confirmed with a structured override\n");
    }
    out
}

pub fn confirmed(response: &ConfirmResponse) -> String {
    format!("{}: {} written to {} ({})", response.status, response.task_id, response.path_written, response.ack)
}

pub fn state(watch: &WatchResponse) -> String {
    let mut line = format!("{}  {}  {}", watch.updated_at.format("%H:%M:%S"), watch.task_id, watch.state);
    if let Some(summary) = &watch.result_summary {
        line.push_str(&format!(" - {summary}"));
    }
    line
}

#[cfg(test)]
mod tests {
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
