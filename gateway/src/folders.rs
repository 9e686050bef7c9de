//! The gateway's write scope, the only places it may ever write: `interface/inbox/`, `interface/pending_approval/`
//! and `observability/telemetry/gateway.jsonl` under the root (with, beside it, the log's rotated
//! files `gateway.<first>-<last>.jsonl` and any damaged end it moved aside), and nothing else.
//! With several instances on one folder each writes `gateway-<instance>.jsonl` instead.
//!
//! The folders are created and canonicalized at start-up; a folder that resolves outside the root
//! (a symbolic link elsewhere) stops start-up. Task paths are built only from a lane and a
//! server-generated task id that is checked against [`TASK_ID_PATTERN`], and checked again to sit
//! directly in their lane's folder. Task files are written atomically and exclusively: a temporary
//! file in the same folder is written and synced, then hard-linked to its final name, which fails
//! rather than replace an existing file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use domain::control_plane::{Channel, Lane, Operation, Risk};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::GatewayStartupError;

pub const INBOX: &str = "interface/inbox";
pub const PENDING_APPROVAL: &str = "interface/pending_approval";
pub const TELEMETRY: &str = "observability/telemetry";
/// The name of the single-instance log, and the prefix of every instance's own.
pub const GATEWAY_LOG_NAME: &str = "gateway";

/// Whether a file in the telemetry folder belongs to a gateway's log (any instance's, live or
/// rotated, or a damaged end moved aside) rather than to the execution plane's reports.
pub fn is_gateway_log_file(name: &str) -> bool {
    name.strip_prefix(GATEWAY_LOG_NAME).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'))
}
/// `task_<yyyymmddThhmmss>_<12 hex digits>`.
pub const TASK_ID_PATTERN: &str = "^task_[0-9]{8}T[0-9]{6}_[0-9a-f]{12}$";
/// Task files larger than this are not read back.
const MAX_TASK_FILE_BYTES: u64 = 1024 * 1024;

static TASK_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(TASK_ID_PATTERN).unwrap_or_else(|_| unreachable!("a constant pattern")));

/// True when `text` is shaped like a task id the gateway generates.
pub fn is_task_id(text: &str) -> bool {
    TASK_ID.is_match(text)
}

/// A fresh task id for a task created at `at`.
pub fn new_task_id(at: DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4();
    format!("task_{}_{}", at.format("%Y%m%dT%H%M%S"), &hex::encode(random.as_bytes())[..12])
}

/// A task file as the execution plane reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFile {
    pub task_id: String,
    /// Always `gmx`: every task has one author, set by the server and never taken from a client.
    pub author: String,
    pub intent: String,
    pub operations: Vec<Operation>,
    pub risk: Risk,
    pub lane: Lane,
    pub raw_input: String,
    pub channel: Channel,
    pub session_id: String,
    pub created_at: DateTime<Utc>,
    pub rule_id: String,
    pub rules_version: String,
    pub risk_reason: String,
    pub preview_id: String,
    /// The SHA-256 binding the confirmed preview to its session and rules.
    pub preview_hash: String,
    /// True when the task came from a structured override of an unrecognised input.
    pub structured_override: bool,
    /// For the person approving: the characters of `raw_input` that are not plain ASCII, or that
    /// do not show (zero-width, direction overrides), each as `U+XXXX` with what it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raw_input_flags: Vec<String>,
}

/// What in a raw input could make it read differently from what it is.
pub fn raw_input_flags(raw_input: &str) -> Vec<String> {
    let mut flags: Vec<String> = Vec::new();
    for c in raw_input.chars() {
        let kind = if is_invisible(c) {
            "invisible"
        } else if c.is_control() {
            "control character"
        } else if !c.is_ascii() {
            "non-ASCII"
        } else {
            continue;
        };
        let flag = format!("U+{:04X} {kind}", u32::from(c));
        if !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    flags
}

fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}' | '\u{180e}'
        | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{3164}'
        | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}' | '\u{e0000}'..='\u{e007f}')
}

/// How an exclusive write failed.
#[derive(Debug)]
pub enum WriteError {
    /// A file with that name already exists; nothing was replaced.
    Exists,
    Io(io::Error),
}

/// The canonical folders the gateway writes to and reads from.
#[derive(Debug, Clone)]
pub struct Folders {
    root: PathBuf,
    inbox: PathBuf,
    pending_approval: PathBuf,
    telemetry: PathBuf,
}

impl Folders {
    /// Creates the folders under `root` if needed and resolves them.
    pub fn prepare(root: &Path) -> Result<Self, GatewayStartupError> {
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| GatewayStartupError::Io { path, source }
        };
        fs::create_dir_all(root).map_err(io_error(root))?;
        let root = fs::canonicalize(root).map_err(io_error(root))?;
        let resolve = |relative: &str| -> Result<PathBuf, GatewayStartupError> {
            let path = root.join(relative);
            fs::create_dir_all(&path).map_err(io_error(&path))?;
            let resolved = fs::canonicalize(&path).map_err(io_error(&path))?;
            if !resolved.starts_with(&root) || resolved == root {
                return Err(GatewayStartupError::OutsideRoot { path: resolved, root: root.clone() });
            }
            Ok(resolved)
        };
        let inbox = resolve(INBOX)?;
        let pending_approval = resolve(PENDING_APPROVAL)?;
        let telemetry = resolve(TELEMETRY)?;
        Ok(Self { root, inbox, pending_approval, telemetry })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn telemetry_dir(&self) -> &Path {
        &self.telemetry
    }

    /// The live file of the log named `name` (`gateway` or `gateway-<instance>`).
    pub fn gateway_log(&self, name: &str) -> PathBuf {
        self.telemetry.join(format!("{name}.jsonl"))
    }

    fn lane_dir(&self, lane: Lane) -> &Path {
        match lane {
            Lane::Fast => &self.inbox,
            Lane::Approval => &self.pending_approval,
        }
    }

    /// The path of a task file, relative to the root, as reported to clients.
    pub fn relative_task_path(lane: Lane, task_id: &str) -> String {
        let dir = match lane {
            Lane::Fast => INBOX,
            Lane::Approval => PENDING_APPROVAL,
        };
        format!("{dir}/{task_id}.yaml")
    }

    /// The absolute path of a task file; `None` unless `task_id` is a well-formed task id.
    pub fn task_path(&self, lane: Lane, task_id: &str) -> Option<PathBuf> {
        if !is_task_id(task_id) {
            return None;
        }
        let dir = self.lane_dir(lane);
        let path = dir.join(format!("{task_id}.yaml"));
        (path.parent() == Some(dir) && path.starts_with(&self.root)).then_some(path)
    }

    /// Which lane folder holds the task now, if either does.
    pub fn locate(&self, task_id: &str) -> Option<(Lane, PathBuf)> {
        [Lane::Fast, Lane::Approval].into_iter().find_map(|lane| {
            let path = self.task_path(lane, task_id)?;
            path.is_file().then_some((lane, path))
        })
    }

    /// Reads a task file back, for ownership checks after a restart.
    pub fn read_task(&self, task_id: &str) -> Option<TaskFile> {
        let (_, path) = self.locate(task_id)?;
        let file = File::open(&path).ok()?;
        if file.metadata().ok()?.len() > MAX_TASK_FILE_BYTES {
            return None;
        }
        serde_yaml_ng::from_reader(io::Read::take(file, MAX_TASK_FILE_BYTES)).ok()
    }

    /// Writes a new task file in its lane's folder without ever replacing an existing file.
    /// An id already used in either lane counts as taken.
    pub fn write_task(&self, task: &TaskFile) -> Result<PathBuf, WriteError> {
        let path = self
            .task_path(task.lane, &task.task_id)
            .ok_or_else(|| WriteError::Io(io::Error::new(io::ErrorKind::InvalidInput, "not a well-formed task id")))?;
        if self.locate(&task.task_id).is_some() {
            return Err(WriteError::Exists);
        }
        let yaml = crate::task_yaml::to_yaml(task).map_err(|e| WriteError::Io(io::Error::other(e)))?;
        write_new_file(&path, yaml.as_bytes())?;
        Ok(path)
    }

    /// Removes a task file this gateway just wrote (when its telemetry line could not be written).
    pub fn remove_task(&self, lane: Lane, task_id: &str) -> io::Result<()> {
        match self.task_path(lane, task_id) {
            Some(path) => fs::remove_file(path),
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "not a well-formed task id")),
        }
    }
}

/// Writes `bytes` to a new file at `path`: temporary file, fsync, hard link, fsync of the folder.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let dir = path.parent().ok_or_else(|| WriteError::Io(io::Error::other("a task path has a folder")))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("task");
    let temporary = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(WriteError::Io(error));
    }
    let linked = fs::hard_link(&temporary, path);
    if let Err(error) = fs::remove_file(&temporary) {
        tracing::warn!(error = %error, path = %temporary.display(), "could not remove a temporary task file");
    }
    match linked {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => return Err(WriteError::Exists),
        Err(error) => return Err(WriteError::Io(error)),
    }
    File::open(dir).and_then(|dir| dir.sync_all()).map_err(WriteError::Io)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn task(task_id: &str, lane: Lane) -> TaskFile {
        TaskFile {
            task_id: task_id.to_owned(),
            author: "gmx".to_owned(),
            intent: "status_check".to_owned(),
            operations: vec![Operation { tool: "status_reader".into(), args: BTreeMap::new() }],
            risk: Risk::Low,
            lane,
            raw_input: "liam check status\u{0}\r\n\"".to_owned(),
            channel: Channel::Terminal,
            session_id: "0b7c4a8e-3f0e-4c5e-9a52-1a4f7e1d2c3b".to_owned(),
            created_at: Utc::now(),
            rule_id: "liam_status".to_owned(),
            rules_version: "v1".to_owned(),
            risk_reason: "reads".to_owned(),
            preview_id: "p".to_owned(),
            preview_hash: "h".to_owned(),
            structured_override: false,
            raw_input_flags: raw_input_flags("liam check status\u{0}\r\n\""),
        }
    }

    #[test]
    fn unusual_characters_in_the_input_are_flagged() {
        assert!(raw_input_flags("lisa run backup_db").is_empty());
        assert_eq!(
            raw_input_flags("lisa run backup\u{200b}_db \u{202e}bd\u{e9}\u{e9}"),
            ["U+200B invisible", "U+202E invisible", "U+00E9 non-ASCII"]
        );
        assert_eq!(raw_input_flags("a\u{7}b"), ["U+0007 control character"]);
    }

    #[test]
    fn task_ids_are_well_formed_and_checked() {
        let id = new_task_id(Utc::now());
        assert!(is_task_id(&id), "{id}");
        for bad in [
            "",
            "task_x",
            "../task_20260202T100000_0123456789ab",
            "task_20260202T100000_0123456789ab/..",
            "task_20260202T100000_0123456789AB",
        ] {
            assert!(!is_task_id(bad), "{bad}");
        }
    }

    #[test]
    fn writes_are_exclusive_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let folders = Folders::prepare(dir.path()).unwrap();
        let id = new_task_id(Utc::now());
        let written = folders.write_task(&task(&id, Lane::Fast)).unwrap();
        assert!(written.starts_with(dir.path().canonicalize().unwrap().join(INBOX)));
        assert_eq!(
            folders.read_task(&id).unwrap(),
            task(&id, Lane::Fast).clone_with_time(&folders.read_task(&id).unwrap())
        );

        let before = fs::read(&written).unwrap();
        assert!(matches!(folders.write_task(&task(&id, Lane::Fast)), Err(WriteError::Exists)));
        assert!(matches!(folders.write_task(&task(&id, Lane::Approval)), Err(WriteError::Exists)));
        assert_eq!(fs::read(&written).unwrap(), before, "an existing file is never replaced");
        let leftovers: Vec<_> = fs::read_dir(dir.path().join(INBOX)).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 1, "no temporary files remain: {leftovers:?}");
    }

    #[test]
    fn malformed_task_ids_never_become_paths() {
        let dir = tempfile::tempdir().unwrap();
        let folders = Folders::prepare(dir.path()).unwrap();
        assert!(folders.task_path(Lane::Fast, "../../etc/passwd").is_none());
        assert!(folders.write_task(&task("../escape", Lane::Fast)).is_err());
        assert!(folders.read_task("../escape").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_linked_outside_the_root_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("interface")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join(INBOX)).unwrap();
        assert!(matches!(Folders::prepare(dir.path()), Err(GatewayStartupError::OutsideRoot { .. })));
    }

    impl TaskFile {
        /// The same task with the stored timestamp, which YAML may round to nanoseconds differently.
        fn clone_with_time(&self, stored: &TaskFile) -> TaskFile {
            TaskFile { created_at: stored.created_at, ..self.clone() }
        }
    }
}
