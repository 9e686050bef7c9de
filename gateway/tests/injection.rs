//! No injected, disguised or oversized input ever yields a low-risk task: whatever no rule
//! recognises exactly is `unknown` and high risk.

mod common;

use common::{session, TestGateway};
use http::StatusCode;
use serde_json::json;

const LOW_RISK_COMMANDS: &[&str] =
    &["liam check status", "liam show status", "liam session start", "show tasks", "show inbox"];

/// Suffixes and infixes a shell would act on.
const INJECTIONS: &[&str] = &[
    "; rm -rf /",
    ";",
    " && reboot",
    "&&true",
    " || true",
    " | sh",
    "|",
    " $(id)",
    "$(id)",
    " `id`",
    " > /etc/passwd",
    " >> out",
    " < /etc/shadow",
    " & ",
    " # comment",
    " ${HOME}",
    " *",
    " \\",
    " 'x'",
    " \"x\"",
    "\nrm -rf /",
    "\n",
    "\r",
    "\r\nreboot",
    "\0",
    "\u{1b}[2J",
    "\t",
    "\u{7f}",
    "\u{8}\u{8}\u{8}",
];

/// Look-alikes: each reads like a low-risk command but is not plain ASCII.
fn disguised() -> Vec<String> {
    vec![
        "ｌｉａｍ ｃｈｅｃｋ ｓｔａｔｕｓ".to_owned(), // fullwidth letters
        "liam check stаtus".to_owned(),                // Cyrillic а
        "liаm check status".to_owned(),                // Cyrillic а in the agent
        "liam сheck status".to_owned(),                // Cyrillic с
        "lіam check status".to_owned(),                // Ukrainian і
        "liam\u{200b}check status".to_owned(),         // zero-width space
        "liam check status\u{200b}".to_owned(),        // trailing zero-width space
        "\u{feff}liam check status".to_owned(),        // byte order mark
        "liam\u{a0}check status".to_owned(),           // no-break space
        "liam\u{2003}check status".to_owned(),         // em space
        "ſhow tasks".to_owned(),                       // long s, case-folds to s
        "show tas\u{212a}s".to_owned(),                // Kelvin sign, case-folds to k
        "lıam check status".to_owned(),                // dotless i
        "liam check status\u{202e}".to_owned(),        // right-to-left override
        "li\u{0301}am check status".to_owned(),        // combining accent
        "show tasks\u{2028}".to_owned(),               // line separator
        "show\u{3000}tasks".to_owned(),                // ideographic space
    ]
}

fn corpus() -> Vec<String> {
    let mut inputs = Vec::new();
    for command in LOW_RISK_COMMANDS {
        for injection in INJECTIONS {
            inputs.push(format!("{command}{injection}"));
            inputs.push(format!("{injection}{command}"));
            let (first, rest) = command.split_once(' ').unwrap_or((command, ""));
            inputs.push(format!("{first}{injection} {rest}"));
        }
        // Long: padded past the length rules accept, or past what the gateway accepts at all.
        inputs.push(format!("{command} {}", "a".repeat(300)));
        inputs.push(format!("{command}{}", " ".repeat(300)));
        inputs.push(format!("{}{command}", " ".repeat(5000)));
        inputs.push(format!("{command} {}", "x ".repeat(5000)));
    }
    inputs.extend(disguised());
    for injection in INJECTIONS {
        inputs.push(format!("lisa run backup_db{injection}"));
        inputs.push(format!("lisa run {injection}"));
    }
    inputs.push("lisa run ../../etc/passwd".to_owned());
    inputs.push("lisa run --force".to_owned());
    inputs
}

#[tokio::test]
async fn the_clean_commands_are_low_risk() {
    // The control: without this the corpus below would prove nothing.
    let test = TestGateway::new();
    for command in LOW_RISK_COMMANDS {
        let preview = test.preview_ok(&session(), command).await;
        assert_eq!(preview["normalized_task"]["risk"], "low", "{command}");
    }
}

#[tokio::test]
async fn no_injection_or_look_alike_yields_low_risk() {
    let test = TestGateway::new();
    let corpus = corpus();
    assert!(corpus.len() > 400, "{}", corpus.len());
    let mut refused = 0;
    // A fresh session for every five previews stays within the pending-preview cap.
    for chunk in corpus.chunks(5) {
        let session = session();
        for input in chunk {
            let reply = test
                .post("/api/v1/chat/preview", json!({"raw_input": input, "channel": "terminal", "session_id": session}))
                .await;
            if reply.status != StatusCode::OK {
                assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{input:?}: {}", reply.body);
                assert_eq!(reply.body["error"]["code"], "INVALID_INPUT", "{input:?}");
                refused += 1;
                continue;
            }
            let task = &reply.body["normalized_task"];
            assert_eq!(task["risk"], "high", "{input:?} yielded {}", reply.body);
            assert_eq!(task["lane"], "approval", "{input:?}");
            assert_eq!(reply.body["rule_id"], "fallback", "{input:?} matched a rule: {}", reply.body);
            assert_eq!(task["intent"], "unknown", "{input:?}");
            assert_eq!(reply.body["requires_structured_override"], true, "{input:?}");
        }
    }
    assert!(refused >= 10, "the oversized inputs are refused outright ({refused})");
}

#[tokio::test]
async fn an_injected_confirm_cannot_smuggle_a_lower_risk() {
    // Even confirmed with an override, an unrecognised input stays high risk and goes to approval.
    let test = TestGateway::new();
    let session = session();
    let preview = test.preview_ok(&session, "liam check status; rm -rf /").await;
    let body = json!({
        "preview_id": preview["preview_id"], "session_id": session,
        "structured_override": {"intent": "status_check", "operations": [{"tool": "status_reader", "args": {"agent": "liam"}}]},
    });
    let before = test.tree();
    let reply = test.post("/api/v1/chat/confirm", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["lane"], "approval");
    let path_written = reply.body["path_written"].as_str().unwrap();
    assert!(path_written.starts_with("interface/pending_approval/"), "{path_written}");
    let added: Vec<String> = test.tree().into_keys().filter(|path| !before.contains_key(path)).collect();
    assert_eq!(added, [path_written], "the one task file, waiting for approval, is all that was added");
    let text = std::fs::read_to_string(test.root().join(reply.body["path_written"].as_str().unwrap())).unwrap();
    let file: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(file["risk"], "high", "{text}");
}
