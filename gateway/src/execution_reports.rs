//! What the execution plane reports: JSON lines with `task_id`, `state` (`running`, `done` or
//! `failed`) and optionally `result_summary`, appended to any `observability/telemetry/*.jsonl`
//! other than the gateway's own log.
//!
//! Each file's read offset is remembered, so a refresh reads only what was appended since the
//! last one. A file that shrank or was replaced is read again from its start.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use domain::control_plane::TaskState;
use serde_json::Value;

use crate::folders::{is_gateway_log_file, is_task_id};
use crate::locks::lock;

/// The most tasks whose latest report is kept; the oldest are forgotten first.
const MAX_TRACKED_TASKS: usize = 100_000;
/// The most bytes read from one file in one refresh; the rest is read by the next.
const MAX_READ_PER_REFRESH: u64 = 8 * 1024 * 1024;
/// Longer lines are skipped.
const MAX_LINE_BYTES: usize = 64 * 1024;
/// Longer summaries are cut.
const MAX_SUMMARY_CHARS: usize = 4096;

/// The latest thing the execution plane said about a task.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionReport {
    pub state: TaskState,
    pub result_summary: Option<String>,
    /// The line as the execution plane wrote it.
    pub line: Value,
    /// The line's own time (`ts_utc` or `ts`), else when the gateway read it.
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Cursor {
    offset: u64,
    /// The start of a line whose end has not been written yet.
    partial: Vec<u8>,
    /// Skipping the rest of an overlong line.
    skipping: bool,
    identity: Option<(u64, u64)>,
}

#[derive(Debug, Default)]
struct Index {
    cursors: HashMap<PathBuf, Cursor>,
    latest: HashMap<String, ExecutionReport>,
    order: VecDeque<String>,
}

pub struct ExecutionReports {
    dir: PathBuf,
    index: Mutex<Index>,
}

impl ExecutionReports {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned(), index: Mutex::new(Index::default()) }
    }

    /// Reads what was appended since the last refresh. Blocking: call it off the async workers.
    pub fn refresh(&self) -> io::Result<()> {
        let mut index = lock(&self.index);
        let mut seen = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.ends_with(".jsonl") || is_gateway_log_file(name) || !entry.file_type()?.is_file() {
                continue;
            }
            let path = entry.path();
            seen.push(path.clone());
            if let Err(error) = read_new_lines(&path, &mut index) {
                tracing::warn!(error = %error, path = %path.display(), "could not read an execution event file");
            }
        }
        index.cursors.retain(|path, _| seen.contains(path));
        Ok(())
    }

    /// The latest report about a task, if the execution plane sent any.
    pub fn latest(&self, task_id: &str) -> Option<ExecutionReport> {
        lock(&self.index).latest.get(task_id).cloned()
    }
}

#[cfg(unix)]
fn identity(metadata: &fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn identity(_metadata: &fs::Metadata) -> Option<(u64, u64)> {
    None
}

fn read_new_lines(path: &Path, index: &mut Index) -> io::Result<()> {
    let mut file = File::open(path)?;
    let metadata = file.metadata()?;
    let length = metadata.len();
    let id = identity(&metadata);
    let cursor = index.cursors.entry(path.to_owned()).or_default();
    if length < cursor.offset || cursor.identity != id {
        *cursor = Cursor { identity: id, ..Cursor::default() };
    }
    if length == cursor.offset {
        return Ok(());
    }
    file.seek(SeekFrom::Start(cursor.offset))?;
    let mut bytes = Vec::new();
    file.take(MAX_READ_PER_REFRESH.min(length - cursor.offset)).read_to_end(&mut bytes)?;
    cursor.offset += bytes.len() as u64;

    let mut lines = Vec::new();
    for chunk in bytes.split_inclusive(|&b| b == b'\n') {
        let complete = chunk.last() == Some(&b'\n');
        let body = if complete { &chunk[..chunk.len() - 1] } else { chunk };
        if cursor.skipping {
            cursor.skipping = !complete;
            continue;
        }
        if cursor.partial.len() + body.len() > MAX_LINE_BYTES {
            cursor.partial.clear();
            cursor.skipping = !complete;
            continue;
        }
        cursor.partial.extend_from_slice(body);
        if complete {
            lines.push(std::mem::take(&mut cursor.partial));
        }
    }
    for line in lines {
        if let Some((task_id, report)) = parse_report(&line) {
            remember(index, task_id, report);
        }
    }
    Ok(())
}

fn parse_report(line: &[u8]) -> Option<(String, ExecutionReport)> {
    let line: Value = serde_json::from_slice(line).ok()?;
    let task_id = line.get("task_id")?.as_str()?;
    if !is_task_id(task_id) {
        return None;
    }
    let state = match line.get("state")?.as_str()? {
        "running" => TaskState::Running,
        "done" => TaskState::Done,
        "failed" => TaskState::Failed,
        _ => return None,
    };
    let result_summary = line
        .get("result_summary")
        .and_then(Value::as_str)
        .map(|summary| summary.chars().take(MAX_SUMMARY_CHARS).collect());
    let updated_at = ["ts_utc", "ts"]
        .iter()
        .filter_map(|key| line.get(*key).and_then(Value::as_str))
        .find_map(|text| DateTime::parse_from_rfc3339(text).ok())
        .map_or_else(Utc::now, |at| at.with_timezone(&Utc));
    Some((task_id.to_owned(), ExecutionReport { state, result_summary, line, updated_at }))
}

fn remember(index: &mut Index, task_id: String, report: ExecutionReport) {
    match index.latest.get_mut(&task_id) {
        // A final state is never replaced by `running` read later from another file.
        Some(current) if current.state.is_final() && !report.state.is_final() => {}
        Some(current) => *current = report,
        None => {
            if index.latest.len() >= MAX_TRACKED_TASKS {
                if let Some(oldest) = index.order.pop_front() {
                    index.latest.remove(&oldest);
                }
            }
            index.order.push_back(task_id.clone());
            index.latest.insert(task_id, report);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const TASK: &str = "task_20260202T100000_0123456789ab";

    fn append(path: &Path, text: &str) {
        let mut file = fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn appended_lines_are_read_once_and_the_latest_wins() {
        let dir = tempfile::tempdir().unwrap();
        let reports = ExecutionReports::new(dir.path());
        let lisa = dir.path().join("lisa.jsonl");
        append(&lisa, &format!("{{\"task_id\":\"{TASK}\",\"state\":\"running\"}}\n"));
        reports.refresh().unwrap();
        assert_eq!(reports.latest(TASK).unwrap().state, TaskState::Running);

        // Half a line is kept until its end arrives.
        append(&lisa, &format!("{{\"task_id\":\"{TASK}\",\"state\":\"done\","));
        reports.refresh().unwrap();
        assert_eq!(reports.latest(TASK).unwrap().state, TaskState::Running);
        append(&lisa, "\"result_summary\":\"3 rows\",\"ts_utc\":\"2026-02-02T10:00:00Z\"}\n");
        reports.refresh().unwrap();
        let latest = reports.latest(TASK).unwrap();
        assert_eq!(latest.state, TaskState::Done);
        assert_eq!(latest.result_summary.as_deref(), Some("3 rows"));
        assert_eq!(latest.updated_at.to_rfc3339(), "2026-02-02T10:00:00+00:00");

        // A late `running` from another file does not undo a final state.
        append(&dir.path().join("other.jsonl"), &format!("{{\"task_id\":\"{TASK}\",\"state\":\"running\"}}\n"));
        reports.refresh().unwrap();
        assert_eq!(reports.latest(TASK).unwrap().state, TaskState::Done);
    }

    #[test]
    fn the_gateway_log_and_junk_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let reports = ExecutionReports::new(dir.path());
        // Every gateway's log, live or rotated, single-instance or one instance's own.
        for log in ["gateway.jsonl", "gateway.000000000001-000000000009.jsonl", "gateway-a.jsonl", "gateway-b.c.jsonl"]
        {
            append(&dir.path().join(log), &format!("{{\"task_id\":\"{TASK}\",\"state\":\"done\"}}\n"));
        }
        append(&dir.path().join("x.jsonl"), "not json\n{\"task_id\":\"../etc\",\"state\":\"done\"}\n");
        append(&dir.path().join("x.jsonl"), &format!("{{\"task_id\":\"{TASK}\",\"state\":\"exploded\"}}\n"));
        append(&dir.path().join("x.log"), &format!("{{\"task_id\":\"{TASK}\",\"state\":\"done\"}}\n"));
        append(&dir.path().join("x.jsonl"), &format!("{}\n", "y".repeat(MAX_LINE_BYTES + 10)));
        reports.refresh().unwrap();
        assert_eq!(reports.latest(TASK), None);
        append(&dir.path().join("x.jsonl"), &format!("{{\"task_id\":\"{TASK}\",\"state\":\"failed\"}}\n"));
        reports.refresh().unwrap();
        assert_eq!(reports.latest(TASK).unwrap().state, TaskState::Failed);
    }

    #[test]
    fn a_truncated_file_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let reports = ExecutionReports::new(dir.path());
        let path = dir.path().join("lisa.jsonl");
        append(
            &path,
            &format!("{{\"task_id\":\"{TASK}\",\"state\":\"running\",\"padding\":\"{}\"}}\n", "p".repeat(100)),
        );
        reports.refresh().unwrap();
        fs::write(&path, format!("{{\"task_id\":\"{TASK}\",\"state\":\"done\"}}\n")).unwrap();
        reports.refresh().unwrap();
        assert_eq!(reports.latest(TASK).unwrap().state, TaskState::Done);
    }
}
