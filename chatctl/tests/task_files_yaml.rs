//! Task files as an execution plane reads them. Many read YAML 1.1 with PyYAML, where a bare
//! `on`, `yes`, `1_000`, `null` or `2026-01-01` is a boolean, number, null or date: every value
//! the gateway writes must come back as exactly the text it wrote. Unusual characters in the
//! raw input are flagged for the person approving.
//!
//! It lives outside `gateway/` because running Python needs process execution, which the
//! gateway's audit forbids there.

use std::path::{Path, PathBuf};
use std::process::Command;

use domain::control_plane::{Channel, ConfirmRequest, Operation, PreviewRequest, StructuredOverride};
use gateway::{Gateway, GatewayConfig};
use serde_json::Value;

/// A Python with PyYAML: `PYYAML_PYTHON`, or Debian's (`make test` installs python3-yaml).
fn python() -> String {
    std::env::var("PYYAML_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".to_owned())
}

/// The file as PyYAML's safe loader reads it, as JSON.
fn read_with_pyyaml(path: &Path) -> Value {
    let script =
        "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(open(sys.argv[1], encoding='utf-8')), default=repr))";
    let output = Command::new(python()).arg("-c").arg(script).arg(path).output().expect("run python3");
    assert!(
        output.status.success(),
        "PyYAML could not read {}: {} (install python3-yaml or set PYYAML_PYTHON)",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from python")
}

fn files_under(folder: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[tokio::test]
async fn pyyaml_reads_every_value_as_the_text_that_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::new(GatewayConfig::with_root(dir.path())).unwrap();
    let session = uuid::Uuid::new_v4().to_string();
    let operator = gateway::Operator::new(uuid::Uuid::new_v4());
    let preview =
        |raw: &str| PreviewRequest { raw_input: raw.into(), channel: Channel::Terminal, session_id: session.clone() };
    let confirm = |preview_id: String, structured_override| ConfirmRequest {
        preview_id,
        session_id: session.clone(),
        structured_override,
    };

    // Task names that YAML 1.1 would read as something else when written bare.
    let tricky = ["on", "no", "yes", "off", "1_000", "null", "true", "0x1f", "1e3", "07", "2026-01-01", "1.5", "y"];
    for task in tricky {
        let previewed = gateway.preview(preview(&format!("lisa run {task}")), operator, None).await.unwrap();
        assert_eq!(previewed.normalized_task.operations[0].args["task"], task);
        gateway.confirm(confirm(previewed.preview_id, None), operator, None).await.unwrap();
    }
    // An input no rule takes, with characters a person should be told about.
    let hidden = "deploy \u{202e}txt.exe \u{200b}now: [all] # yes";
    let previewed = gateway.preview(preview(hidden), operator, None).await.unwrap();
    let chosen = StructuredOverride {
        intent: "task_execution".into(),
        operations: vec![Operation {
            tool: "task_runner".into(),
            args: [("agent".to_owned(), "lisa".to_owned()), ("task".to_owned(), "no".to_owned())].into(),
        }],
    };
    gateway.confirm(confirm(previewed.preview_id, Some(chosen)), operator, None).await.unwrap();

    let files = files_under(&dir.path().join("interface/pending_approval"));
    assert_eq!(files.len(), tricky.len() + 1);
    let mut tasks_seen = Vec::new();
    for path in &files {
        let read = read_with_pyyaml(path);
        let as_written: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(read, as_written, "PyYAML reads {} as the gateway wrote it", path.display());
        for field in ["task_id", "author", "intent", "raw_input", "session_id", "created_at", "risk", "lane"] {
            assert!(read[field].is_string(), "{field} is a string in {}: {read}", path.display());
        }
        let task = read["operations"][0]["args"]["task"].as_str().expect("the task name is a string").to_owned();
        if read["raw_input"] == hidden {
            assert_eq!(task, "no");
            let flags: Vec<&str> =
                read["raw_input_flags"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
            assert_eq!(flags, ["U+202E invisible", "U+200B invisible"]);
        } else {
            assert!(read.get("raw_input_flags").is_none(), "plain inputs carry no flags: {read}");
            tasks_seen.push(task);
        }
    }
    tasks_seen.sort();
    let mut expected: Vec<String> = tricky.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(tasks_seen, expected);
}
