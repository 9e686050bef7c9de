//! The gateway's forensic trace: one line in `observability/telemetry/gateway.jsonl`
//! for every preview, confirm and watch, refused ones included.
//!
//! Lines form a hash chain. Each line is a JSON object whose keys are sorted; `hash` is the
//! SHA-256 (hex) of the line's canonical JSON without its `hash` key, and `prev_hash` is the
//! previous line's `hash` (64 zeros on the first line). The chain continues across restarts: the
//! last line is read at start-up. [`verify_chain`] checks a file and names the first broken line.
//!
//! The chain proves that no line was changed, removed or inserted *before* the newest one: each
//! line's hash covers its predecessor's. It cannot by itself show that lines were cut from the end
//! or that the end was rewritten and re-hashed, since the last line names no successor. So its head
//! — the newest `seq` and `hash`, a [`ChainHead`] — is also kept outside the file (the server keeps
//! it in its database) and checked against the file at start-up and by `chatctl verify-telemetry
//! --anchor`; see [`verify_chain_anchored`].
//!
//! Every line names the person who made the call (`user_id`). Lines written before people were
//! recorded have no such key; each line's hash covers exactly the keys it has, so they still verify.
//!
//! The log survives its own faults. A damaged end (a line torn by a crash) is moved aside and the
//! chain continues from the last sound line after a `chain_repair` line that names the copy. A
//! live file that reaches its size limit is renamed `gateway.<first seq>-<last seq>.jsonl` and a
//! new one starts with a `chain_continues` line linked to the old one's last line;
//! [`verify_series`] checks the files together.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use domain::control_plane::{Channel, Lane, Risk};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::GatewayStartupError;
use crate::locks::lock;

/// The `module` of every line.
pub const MODULE: &str = "chat_gateway";
/// The `prev_hash` of a chain's first line.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Which operation a line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TelemetryEvent {
    Preview,
    Confirm,
    Watch,
    /// A session ended on request, with its unconfirmed previews.
    SessionEnd,
    /// A person turned an agent's proposal down; nothing was written.
    Reject,
}

/// Whether the operation succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error,
}

/// What stands for a session id in telemetry: a keyed hash (HMAC-SHA256, 128 bits shown), so
/// lines of one session can be told apart and joined, but whoever reads the log cannot use the
/// id — a bearer secret of its person — and cannot test guesses without the key.
pub fn session_ref(key: &crate::config::SessionKey, session_id: &str) -> String {
    use hmac::{Mac, SimpleHmac};
    let mut mac = <SimpleHmac<Sha256> as Mac>::new_from_slice(&key.0)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(session_id.as_bytes());
    format!("hmac:{}", &hex::encode(mac.finalize().into_bytes())[..32])
}

/// One operation as the gateway saw it. `None` fields are written as `null`.
#[derive(Debug, Clone, Serialize)]
pub struct TelemetryRecord {
    pub ts_utc: String,
    pub module: &'static str,
    pub event: TelemetryEvent,
    /// The id of the person who made the call.
    pub user_id: String,
    pub session_id: Option<String>,
    pub channel: Option<Channel>,
    pub preview_id: Option<String>,
    pub task_id: Option<String>,
    pub raw_input: Option<String>,
    pub normalized_intent: Option<String>,
    pub risk: Option<Risk>,
    pub lane: Option<Lane>,
    pub rule_id: Option<String>,
    pub outcome: Outcome,
    /// The error code of a refused operation.
    pub error_code: Option<&'static str>,
    pub latency_ms: u64,
    pub latency_us: u64,
    pub client_addr: Option<String>,
    /// The room an agent's proposal was made in (absent on every other line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    /// The agent that proposed the task; `user_id` is then the room on a preview and the
    /// deciding person on a confirm or reject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposed_by_agent: Option<String>,
}

impl TelemetryRecord {
    pub fn new(event: TelemetryEvent, at: DateTime<Utc>, user_id: Uuid) -> Self {
        Self {
            ts_utc: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            module: MODULE,
            event,
            user_id: user_id.to_string(),
            session_id: None,
            channel: None,
            preview_id: None,
            task_id: None,
            raw_input: None,
            normalized_intent: None,
            risk: None,
            lane: None,
            rule_id: None,
            outcome: Outcome::Ok,
            error_code: None,
            latency_ms: 0,
            latency_us: 0,
            client_addr: None,
            room_id: None,
            proposed_by_agent: None,
        }
    }
}

/// How far a line must have reached before the operation answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Written to the operating system (previews and watches).
    Flushed,
    /// On the disk (confirms).
    Synced,
}

/// The `event` of the line that starts a chain again after a damaged end was moved aside.
pub const CHAIN_REPAIR: &str = "chain_repair";
/// The `event` of a rotated log's first line: it names the file the chain continues from.
pub const CHAIN_CONTINUES: &str = "chain_continues";
/// How far back from the end a damaged log is searched for its last sound line; a log damaged
/// further back than this is left alone and stops start-up.
const MAX_REPAIR_SCAN_BYTES: u64 = 64 * 1024 * 1024;
/// A first line longer than this is not read for its seq.
const MAX_FIRST_LINE_BYTES: u64 = 4 * 1024 * 1024;
/// A rotation that failed is tried again after this many more bytes.
const ROTATION_RETRY_BYTES: u64 = 1024 * 1024;

struct ChainTail {
    file: File,
    last_hash: String,
    next_seq: u64,
    /// The file's length after the last complete line, to undo a partial write.
    length: u64,
    /// The `seq` of the live file's first line (the next one when it is empty).
    first_seq: u64,
    /// The length at which the live file is rotated next.
    rotate_at: u64,
}

/// The newest line of a chain: its `seq` and `hash`. Kept outside the log, it anchors the chain's
/// end, so lines cut from the end or a rewritten tail are found. `seq` 0 is an empty log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

impl std::fmt::Display for ChainHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

impl std::str::FromStr for ChainHead {
    type Err = String;

    /// `<seq>:<hash>`, as [`Display`](std::fmt::Display) writes it.
    fn from_str(text: &str) -> Result<Self, String> {
        let (seq, hash) = text.trim().split_once(':').ok_or("an anchor is <seq>:<hash>")?;
        let seq = seq.parse().map_err(|_| format!("{seq:?} is not a line number"))?;
        if !is_hex_hash(hash) {
            return Err(format!("{hash:?} is not a SHA-256 in lower-case hex"));
        }
        Ok(Self { seq, hash: hash.to_owned() })
    }
}

/// What was done to a log whose end was damaged when it was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// How many bytes after the last sound line were moved aside.
    pub damaged_bytes: u64,
    /// Where they were moved: a file beside the log.
    pub damaged_copy: PathBuf,
    /// The last sound line the chain continues from.
    pub resumed_after: ChainHead,
}

/// The line written after a repair; the verifier accepts it like any other line.
#[derive(Serialize)]
struct RepairLine<'a> {
    ts_utc: String,
    module: &'static str,
    event: &'static str,
    outcome: Outcome,
    damaged_bytes: u64,
    damaged_copy: &'a str,
    resumed_after_seq: u64,
}

/// A rotated log's first line.
#[derive(Serialize)]
struct ContinuesLine<'a> {
    ts_utc: String,
    module: &'static str,
    event: &'static str,
    outcome: Outcome,
    previous_file: &'a str,
}

fn now_utc() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The append-only, hash-chained log. All appends go through one mutex so lines never
/// interleave and each names its predecessor.
pub struct TelemetryLog {
    path: PathBuf,
    rotate_at_bytes: u64,
    tail: Mutex<ChainTail>,
    /// A second handle on the live file, so fsync runs without holding the tail's mutex.
    sync_handle: Mutex<Arc<File>>,
    /// The chain's head after every append, for whoever keeps it outside the file.
    head: tokio::sync::watch::Sender<ChainHead>,
    repair: Option<Repair>,
}

impl TelemetryLog {
    /// Opens (or creates) a log that is never rotated; see [`TelemetryLog::open_with`].
    #[cfg(test)]
    pub fn open(path: &Path) -> Result<Self, GatewayStartupError> {
        Self::open_with(path, u64::MAX)
    }

    /// Opens (or creates) the log at `path` and continues its chain, rotating the file whenever it
    /// reaches `rotate_at_bytes`.
    ///
    /// A damaged end — a line cut short by a crash, bytes that are not a sound line — is moved
    /// aside to `<name>.damaged-<time>` beside the log, the log is cut back to its last sound line
    /// and a `chain_repair` line is appended that names the copy; [`TelemetryLog::repair`] tells
    /// what was done. Only a log with no sound line in its last 64 MiB stops start-up.
    pub fn open_with(path: &Path, rotate_at_bytes: u64) -> Result<Self, GatewayStartupError> {
        let io_error = |source| GatewayStartupError::Io { path: path.to_owned(), source };
        finish_interrupted_rotation(path).map_err(io_error)?;
        let mut file = OpenOptions::new().create(true).append(true).read(true).open(path).map_err(io_error)?;
        let tail = read_tail(&mut file)
            .map_err(|problem| GatewayStartupError::TelemetryTail { path: path.to_owned(), problem })?;
        let damaged = match tail {
            Tail::Sound { .. } => None,
            Tail::Damaged { good_length, .. } => {
                Some(move_damaged_tail_aside(&mut file, path, good_length).map_err(io_error)?)
            }
        };
        let (mut last_hash, mut last_seq, length, first_seq) = match tail {
            Tail::Sound { head, length, first_seq } | Tail::Damaged { head, good_length: length, first_seq } => {
                (head.hash, head.seq, length, first_seq)
            }
        };
        // An empty live file beside rotated ones (its lines lost, or it was removed) continues
        // the newest rotated file's chain rather than starting a new one.
        let mut continues = None;
        if length == 0 {
            let rotated = log_series(path).map_err(io_error)?;
            if let Some(newest) = rotated.iter().rev().find(|f| f.first_seq.is_some()) {
                let broken = |problem: String| GatewayStartupError::TelemetryTail {
                    path: newest.path.clone(),
                    problem: format!(
                        "the live log is empty and the newest rotated file cannot be continued: {problem}"
                    ),
                };
                let mut previous = File::open(&newest.path).map_err(|e| broken(e.to_string()))?;
                match read_tail(&mut previous).map_err(broken)? {
                    Tail::Sound { head, .. } if head.seq > 0 => {
                        last_hash = head.hash;
                        last_seq = head.seq;
                        continues = newest.path.file_name().map(|n| n.to_string_lossy().into_owned());
                    }
                    _ => return Err(broken("its end is not a sound line".to_owned())),
                }
            }
        }
        let sync_handle = file.try_clone().map_err(io_error)?;
        let (head, _) = tokio::sync::watch::channel(ChainHead { seq: last_seq, hash: last_hash.clone() });
        let mut log = Self {
            path: path.to_owned(),
            rotate_at_bytes,
            tail: Mutex::new(ChainTail {
                file,
                last_hash,
                next_seq: last_seq + 1,
                length,
                first_seq: first_seq.unwrap_or(last_seq + 1),
                rotate_at: rotate_at_bytes,
            }),
            sync_handle: Mutex::new(Arc::new(sync_handle)),
            head,
            repair: None,
        };
        if let Some(previous_file) = continues {
            let line = ContinuesLine {
                ts_utc: now_utc(),
                module: MODULE,
                event: CHAIN_CONTINUES,
                outcome: Outcome::Ok,
                previous_file: &previous_file,
            };
            log.append(&line, Durability::Synced).map_err(io_error)?;
            lock(&log.tail).first_seq = last_seq + 1;
        }
        if let Some((damaged_bytes, damaged_copy)) = damaged {
            let resumed_after = log.head.borrow().clone();
            let copy_name = damaged_copy.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let line = RepairLine {
                ts_utc: now_utc(),
                module: MODULE,
                event: CHAIN_REPAIR,
                outcome: Outcome::Ok,
                damaged_bytes,
                damaged_copy: &copy_name,
                resumed_after_seq: resumed_after.seq,
            };
            log.append(&line, Durability::Synced).map_err(io_error)?;
            tracing::warn!(
                log = %path.display(),
                damaged_bytes,
                damaged_copy = %damaged_copy.display(),
                resumed_after_seq = resumed_after.seq,
                "the telemetry log's end was damaged: it was moved aside and the chain continues after its last sound line"
            );
            log.repair = Some(Repair { damaged_bytes, damaged_copy, resumed_after });
        }
        Ok(log)
    }

    /// What was repaired when the log was opened, if anything.
    pub fn repair(&self) -> Option<&Repair> {
        self.repair.as_ref()
    }

    /// The chain's head now, and each new one as lines are appended.
    pub fn head(&self) -> tokio::sync::watch::Receiver<ChainHead> {
        self.head.subscribe()
    }

    /// Puts every line appended so far on the disk: an anchor kept after this never names a line
    /// that a crash of the machine could take back.
    pub fn sync(&self) -> io::Result<()> {
        let handle = Arc::clone(&lock(&self.sync_handle));
        handle.sync_data()
    }

    /// Checks the log against a head kept outside it: the line `anchor.seq` must still be there
    /// with the same hash. When the anchor is the newest line (the usual case) only the last line
    /// is compared; otherwise the files from the one holding that line on are verified.
    pub fn check_anchor(&self, anchor: &ChainHead) -> Result<(), ChainBreak> {
        let current = self.head.borrow().clone();
        if let Some(repair) = self.repair.as_ref().filter(|r| anchor.seq > r.resumed_after.seq) {
            return Err(ChainBreak {
                line: anchor.seq,
                problem: format!(
                    "the anchor names line seq {}, which was in the damaged end moved aside to {} at start-up ({} bytes)",
                    anchor.seq,
                    repair.damaged_copy.display(),
                    repair.damaged_bytes
                ),
            });
        }
        if current.seq == anchor.seq {
            return if current.hash == anchor.hash {
                Ok(())
            } else {
                Err(ChainBreak { line: anchor.seq, problem: rewritten_tail(anchor, &current.hash) })
            };
        }
        let first_seq = lock(&self.tail).first_seq;
        if anchor.seq >= first_seq || anchor.seq == 0 {
            let file = File::open(&self.path)
                .map_err(|e| ChainBreak { line: 0, problem: format!("{}: {e}", self.path.display()) })?;
            return verify_chain_anchored(io::BufReader::new(file), Some(anchor)).map(|_| ());
        }
        let files = log_series(&self.path)
            .map_err(|e| ChainBreak { line: 0, problem: format!("{}: {e}", self.path.display()) })?;
        let from = files.iter().rposition(|file| file.first_seq.is_some_and(|first| first <= anchor.seq)).unwrap_or(0);
        verify_series(files[from..].iter().map(|file| file.path.as_path()), Some(anchor)).map(|_| ())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line; returns once it is flushed to the OS or, for [`Durability::Synced`], on disk.
    pub fn append(&self, record: &impl Serialize, durability: Durability) -> io::Result<()> {
        let value = serde_json::to_value(record).map_err(io::Error::other)?;
        let Value::Object(fields) = value else {
            return Err(io::Error::other("a telemetry record must serialize to an object"));
        };
        {
            let mut tail = lock(&self.tail);
            self.write_line(&mut tail, fields)?;
            if tail.length >= tail.rotate_at {
                self.rotate(&mut tail);
            }
        }
        if durability == Durability::Synced {
            self.sync()?;
        }
        Ok(())
    }

    /// Chains `fields` after the tail and writes them as one line to the live file.
    fn write_line(&self, tail: &mut ChainTail, mut fields: Map<String, Value>) -> io::Result<()> {
        fields.insert("seq".to_owned(), Value::from(tail.next_seq));
        fields.insert("prev_hash".to_owned(), Value::from(tail.last_hash.clone()));
        let hash = chain_hash(&fields);
        fields.insert("hash".to_owned(), Value::from(hash.clone()));
        let mut line = canonical_json(&Value::Object(fields));
        line.push('\n');
        if let Err(error) = tail.file.write_all(line.as_bytes()) {
            // Undo a partial line so the next one starts cleanly; the chain tail is unchanged.
            let length = tail.length;
            if let Err(undo) = tail.file.set_len(length) {
                tracing::error!(error = %undo, "could not undo a partial telemetry line");
            }
            return Err(error);
        }
        tail.length += line.len() as u64;
        self.head.send_replace(ChainHead { seq: tail.next_seq, hash: hash.clone() });
        tail.last_hash = hash;
        tail.next_seq += 1;
        Ok(())
    }

    /// Moves the full live file aside as `<stem>.<first seq>-<last seq>.jsonl` and starts a new
    /// one whose first line continues the chain and names it. Nothing is lost if this fails part
    /// way: the live file is kept (or put back) and rotation is tried again later.
    fn rotate(&self, tail: &mut ChainTail) {
        let last_seq = tail.next_seq - 1;
        let rotated = rotated_path(&self.path, tail.first_seq, last_seq);
        let next = sibling(&self.path, ".next");
        let rotated_name = rotated.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Everything that can fail is done before the renames: the new file is written, synced
        // and opened for appending, so once the live name is the new file nothing is undone.
        let prepared = (|| -> io::Result<(File, File, String, u64)> {
            if rotated.exists() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} exists", rotated.display())));
            }
            tail.file.sync_data()?;
            let mut new_file = OpenOptions::new().create(true).truncate(true).write(true).read(true).open(&next)?;
            let line = ContinuesLine {
                ts_utc: now_utc(),
                module: MODULE,
                event: CHAIN_CONTINUES,
                outcome: Outcome::Ok,
                previous_file: &rotated_name,
            };
            let Value::Object(mut fields) = serde_json::to_value(&line).map_err(io::Error::other)? else {
                return Err(io::Error::other("a line is an object"));
            };
            fields.insert("seq".to_owned(), Value::from(tail.next_seq));
            fields.insert("prev_hash".to_owned(), Value::from(tail.last_hash.clone()));
            let hash = chain_hash(&fields);
            fields.insert("hash".to_owned(), Value::from(hash.clone()));
            let mut text = canonical_json(&Value::Object(fields));
            text.push('\n');
            new_file.write_all(text.as_bytes())?;
            new_file.sync_data()?;
            // Appends go to the end whatever the position; the clone is the sync handle.
            new_file.seek(SeekFrom::End(0))?;
            let clone = new_file.try_clone()?;
            Ok((new_file, clone, hash, text.len() as u64))
        })();
        let (file, clone, hash, length) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => return self.rotation_failed(tail, &next, &error),
        };
        if let Err(error) = std::fs::rename(&self.path, &rotated) {
            return self.rotation_failed(tail, &next, &error);
        }
        if let Err(error) = std::fs::rename(&next, &self.path) {
            // Put the full file back so the live name always holds the chain's end.
            if let Err(back) = std::fs::rename(&rotated, &self.path) {
                // Neither name can be fixed now: keep appending to the full file under its new
                // name; `.next` is kept, and the next start finishes the rotation from it.
                tracing::error!(error = %back, rotated = %rotated.display(), "could not put the telemetry log back after a failed rotation");
                tail.rotate_at = u64::MAX;
                return;
            }
            return self.rotation_failed(tail, &next, &error);
        }
        if let Err(error) = sync_folder(&self.path) {
            tracing::warn!(%error, "could not sync the telemetry folder after a rotation");
        }
        // The new file is an appending handle: reopen it so, as before, every write appends.
        let file = match OpenOptions::new().append(true).read(true).open(&self.path) {
            Ok(reopened) => reopened,
            Err(_) => file,
        };
        tail.file = file;
        *lock(&self.sync_handle) = Arc::new(clone);
        tail.first_seq = tail.next_seq;
        self.head.send_replace(ChainHead { seq: tail.next_seq, hash: hash.clone() });
        tail.last_hash = hash;
        tail.next_seq += 1;
        tail.length = length;
        tail.rotate_at = self.rotate_at_bytes;
        tracing::info!(rotated = %rotated.display(), "the telemetry log was rotated");
    }

    /// A rotation that did not happen: the live file is unchanged and keeps growing; the next
    /// attempt comes a little later.
    fn rotation_failed(&self, tail: &mut ChainTail, next: &Path, error: &io::Error) {
        if self.path.exists() {
            let _ = std::fs::remove_file(next);
        }
        tracing::error!(%error, log = %self.path.display(), "could not rotate the telemetry log; it keeps growing");
        tail.rotate_at = tail.length + ROTATION_RETRY_BYTES;
    }
}

/// `gateway.jsonl` → `gateway.000000000001-000000012345.jsonl`: rotated files sort by their lines.
fn rotated_path(live: &Path, first_seq: u64, last_seq: u64) -> PathBuf {
    let stem = live.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    live.with_file_name(format!("{stem}.{first_seq:012}-{last_seq:012}.jsonl"))
}

fn sibling(live: &Path, suffix: &str) -> PathBuf {
    let name = live.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    live.with_file_name(format!("{name}{suffix}"))
}

fn sync_folder(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(folder) => File::open(folder)?.sync_all(),
        None => Ok(()),
    }
}

/// A crash between a rotation's two renames leaves the new live file under its temporary name.
fn finish_interrupted_rotation(live: &Path) -> io::Result<()> {
    let next = sibling(live, ".next");
    if !next.exists() {
        return Ok(());
    }
    if live.exists() {
        std::fs::remove_file(&next)
    } else {
        std::fs::rename(&next, live)
    }
}

/// Copies the bytes after `good_length` to a new file beside the log, syncs it, then cuts the log
/// back to `good_length`. Returns how many bytes moved and where.
fn move_damaged_tail_aside(file: &mut File, path: &Path, good_length: u64) -> io::Result<(u64, PathBuf)> {
    let length = file.seek(SeekFrom::End(0))?;
    file.seek(SeekFrom::Start(good_length))?;
    let mut damaged = Vec::new();
    Read::by_ref(file).take(length - good_length).read_to_end(&mut damaged)?;
    let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let copy = sibling(path, &format!(".damaged-{stamp}"));
    let mut out = OpenOptions::new().write(true).create_new(true).open(&copy)?;
    out.write_all(&damaged)?;
    out.sync_all()?;
    file.set_len(good_length)?;
    file.sync_all()?;
    sync_folder(path)?;
    Ok((damaged.len() as u64, copy))
}

/// The hash of a line's fields (without `hash`).
fn chain_hash(fields: &Map<String, Value>) -> String {
    let mut fields = fields.clone();
    fields.remove("hash");
    hex::encode(Sha256::digest(canonical_json(&Value::Object(fields)).as_bytes()))
}

/// Compact JSON with every object's keys sorted, whatever map type serde_json was built with.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                if let Some(field) = fields.get(key) {
                    write_canonical(field, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The end of a log as found when it is opened.
enum Tail {
    /// Its last line is sound: the chain continues after `head`. `first_seq` is the seq of the
    /// file's first line, when that line is sound.
    Sound { head: ChainHead, length: u64, first_seq: Option<u64> },
    /// Bytes after `good_length` are not a sound line; `head` is the last sound one.
    Damaged { head: ChainHead, good_length: u64, first_seq: Option<u64> },
}

/// A complete line that stands on its own: a JSON object whose hash is its content's and that
/// has a seq. Its link to the line before is the verifier's business.
fn sound_line(line: &[u8]) -> Option<ChainHead> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(line) else {
        return None;
    };
    let stated = fields.get("hash").and_then(Value::as_str).filter(|h| is_hex_hash(h))?;
    let seq = fields.get("seq").and_then(Value::as_u64)?;
    (chain_hash(&fields) == stated).then(|| ChainHead { seq, hash: stated.to_owned() })
}

/// The seq of the file's first line, if it is sound.
fn read_first_seq(file: &mut File) -> Option<u64> {
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut line = Vec::new();
    io::BufReader::new(Read::by_ref(file).take(MAX_FIRST_LINE_BYTES)).read_until(b'\n', &mut line).ok()?;
    sound_line(line.strip_suffix(b"\n")?).map(|head| head.seq)
}

/// Finds the last sound line, reading backwards in growing windows.
fn read_tail(file: &mut File) -> Result<Tail, String> {
    let length = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    if length == 0 {
        return Ok(Tail::Sound {
            head: ChainHead { seq: 0, hash: GENESIS_HASH.to_owned() },
            length: 0,
            first_seq: None,
        });
    }
    let mut window: u64 = 64 * 1024;
    loop {
        let start = length.saturating_sub(window);
        file.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
        let mut bytes = Vec::with_capacity((length - start) as usize);
        Read::by_ref(file).take(length - start).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        // Complete lines that begin inside the window: after a newline, or at the file's start.
        let mut ends: Vec<usize> = bytes.iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(i, _)| i).collect();
        let first_line_start = if start == 0 { Some(0) } else { None };
        let mut found = None;
        while let Some(end) = ends.pop() {
            let begin = match ends.last() {
                Some(previous) => previous + 1,
                None => match first_line_start {
                    Some(begin) => begin,
                    None => break,
                },
            };
            if let Some(head) = sound_line(&bytes[begin..end]) {
                found = Some((head, start + end as u64 + 1));
                break;
            }
        }
        let first_seq = read_first_seq(file);
        match found {
            Some((head, good_length)) if good_length == length => {
                return Ok(Tail::Sound { head, length, first_seq });
            }
            Some((head, good_length)) => return Ok(Tail::Damaged { head, good_length, first_seq }),
            None if start == 0 => {
                // Nothing in the file is a sound line: all of it is moved aside, the chain starts anew.
                let head = ChainHead { seq: 0, hash: GENESIS_HASH.to_owned() };
                return Ok(Tail::Damaged { head, good_length: 0, first_seq: None });
            }
            None if window >= MAX_REPAIR_SCAN_BYTES => {
                return Err(format!(
                    "no sound line in the last {} MiB; it was left as it is",
                    MAX_REPAIR_SCAN_BYTES / (1024 * 1024)
                ));
            }
            None => window = window.saturating_mul(4),
        }
    }
}

fn is_hex_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The result of checking a chain: how many lines were sound, and its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub lines: u64,
    pub last_hash: String,
    /// The last line's `seq`; 0 for an empty log.
    pub last_seq: u64,
    /// For a rotated file, the line of the previous file its chain continues from.
    pub continues_from: Option<ChainHead>,
    /// How many `chain_repair` lines the chain holds.
    pub repairs: u64,
}

fn rewritten_tail(anchor: &ChainHead, found: &str) -> String {
    format!(
        "the anchor kept outside the log says line seq {} has hash {}, but the log has {found}: the end of the log was rewritten",
        anchor.seq, anchor.hash
    )
}

/// Where and why a chain breaks. `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ChainBreak {
    pub line: u64,
    pub problem: String,
}

/// Checks every line of a telemetry log: its own hash, its link to the line before and its seq.
pub fn verify_chain(reader: impl BufRead) -> Result<ChainReport, ChainBreak> {
    verify_chain_anchored(reader, None)
}

/// [`verify_chain`], and, given the head kept outside the log, that its line is still there
/// unchanged: a log cut short or with its end rewritten (and re-hashed) fails here, though its
/// chain alone is sound.
///
/// A file's first line links to the genesis hash, unless it is a `chain_continues` line: then
/// the file is a rotated log's continuation and its link is checked by [`verify_series`].
pub fn verify_chain_anchored(reader: impl BufRead, anchor: Option<&ChainHead>) -> Result<ChainReport, ChainBreak> {
    let mut anchor_found = anchor.is_some_and(|a| a.seq == 0);
    let mut previous_hash = GENESIS_HASH.to_owned();
    let mut previous_seq: Option<u64> = None;
    let mut continues_from = None;
    let mut repairs = 0;
    let mut lines = 0u64;
    for (index, line) in reader.split(b'\n').enumerate() {
        let number = index as u64 + 1;
        let broken = |problem: String| ChainBreak { line: number, problem };
        let line = line.map_err(|e| broken(format!("cannot be read: {e}")))?;
        let value: Value = serde_json::from_slice(&line).map_err(|e| broken(format!("is not JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(broken("is not a JSON object".to_owned()));
        };
        let stated = fields.get("hash").and_then(Value::as_str).unwrap_or_default().to_owned();
        let computed = chain_hash(&fields);
        if stated != computed {
            return Err(broken(format!(
                "its content does not match its hash (stated {stated:?}, computed {computed})"
            )));
        }
        let prev_hash = fields.get("prev_hash").and_then(Value::as_str).unwrap_or_default();
        let seq = fields.get("seq").and_then(Value::as_u64);
        let event = fields.get("event").and_then(Value::as_str);
        if number == 1 && event == Some(CHAIN_CONTINUES) && prev_hash != GENESIS_HASH {
            let Some(seq) = seq.filter(|&s| s > 1) else {
                return Err(broken("continues a chain but has no seq after 1".to_owned()));
            };
            continues_from = Some(ChainHead { seq: seq - 1, hash: prev_hash.to_owned() });
            previous_seq = Some(seq - 1);
        } else if prev_hash != previous_hash {
            return Err(broken(format!(
                "prev_hash {prev_hash:?} does not match the hash of the line before ({previous_hash}); a line was removed, inserted or rewritten"
            )));
        }
        match (previous_seq, seq) {
            (_, None) => return Err(broken("has no seq".to_owned())),
            (Some(before), Some(seq)) if seq != before + 1 => {
                return Err(broken(format!("seq {seq} does not follow {before}")));
            }
            _ => {}
        }
        if event == Some(CHAIN_REPAIR) {
            repairs += 1;
        }
        if let Some(anchor) = anchor.filter(|a| Some(a.seq) == seq) {
            if anchor.hash != computed {
                return Err(broken(rewritten_tail(anchor, &computed)));
            }
            anchor_found = true;
        }
        previous_seq = seq;
        previous_hash = computed;
        lines = number;
    }
    let last_seq = previous_seq.unwrap_or(0);
    if let Some(anchor) = anchor.filter(|_| !anchor_found) {
        return Err(ChainBreak {
            line: lines + 1,
            problem: format!(
                "the log ends at seq {last_seq}, but the anchor kept outside it says seq {} was written (hash {}): lines were cut from the end",
                anchor.seq, anchor.hash
            ),
        });
    }
    Ok(ChainReport { lines, last_hash: previous_hash, last_seq, continues_from, repairs })
}

/// Checks a telemetry file; see [`verify_chain`].
pub fn verify_file(path: &Path) -> Result<ChainReport, ChainBreak> {
    let file = File::open(path).map_err(|e| ChainBreak { line: 0, problem: format!("{}: {e}", path.display()) })?;
    verify_chain(io::BufReader::new(file))
}

/// One file of a log and its rotated predecessors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub path: PathBuf,
    /// The seq of its first line, from a rotated file's name; `None` for the live file.
    pub first_seq: Option<u64>,
}

/// The live log's rotated files, oldest first, then the live file itself.
pub fn log_series(live: &Path) -> io::Result<Vec<LogFile>> {
    let stem = live.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let folder = live.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut rotated = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let range = name.strip_prefix(&format!("{stem}.")).and_then(|rest| rest.strip_suffix(".jsonl"));
        let first = range.and_then(|r| r.split_once('-')).and_then(|(first, last)| {
            let numbers = first.len() == 12 && last.len() == 12;
            numbers.then(|| first.parse::<u64>().ok()).flatten().filter(|_| last.parse::<u64>().is_ok())
        });
        if let Some(first) = first {
            rotated.push(LogFile { path: folder.join(&name), first_seq: Some(first) });
        }
    }
    rotated.sort_by_key(|file| file.first_seq);
    rotated.push(LogFile { path: live.to_owned(), first_seq: None });
    Ok(rotated)
}

/// The live file of every gateway log in `folder` — `gateway.jsonl` and each instance's
/// `gateway-<instance>.jsonl` — named even when only its rotated files remain; sorted by name.
pub fn gateway_logs_in(folder: &Path) -> io::Result<Vec<PathBuf>> {
    let mut stems = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(folder)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let Some(base) = name.strip_suffix(".jsonl") else { continue };
        if !crate::folders::is_gateway_log_file(&name) {
            continue;
        }
        let stem = match base.rsplit_once('.') {
            Some((stem, range)) if is_rotation_range(range) => stem,
            _ => base,
        };
        stems.insert(stem.to_owned());
    }
    Ok(stems.into_iter().map(|stem| folder.join(format!("{stem}.jsonl"))).collect())
}

/// `<12 digits>-<12 digits>`, the range in a rotated file's name.
fn is_rotation_range(range: &str) -> bool {
    range.split_once('-').is_some_and(|(first, last)| {
        [first, last].iter().all(|n| n.len() == 12 && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Checks files of one chain in order: each sound, each after the first continuing exactly where
/// the one before ended, and, given an anchor, its line found in one of them. `line` in a break
/// counts from the first line of the series.
pub fn verify_series<'a>(
    paths: impl IntoIterator<Item = &'a Path>,
    anchor: Option<&ChainHead>,
) -> Result<ChainReport, ChainBreak> {
    let mut total: Option<ChainReport> = None;
    let mut anchor_found = anchor.is_none_or(|a| a.seq == 0);
    for path in paths {
        let file = File::open(path).map_err(|e| ChainBreak { line: 0, problem: format!("{}: {e}", path.display()) })?;
        let before = total.as_ref().map_or(0, |t| t.lines);
        let shift = |broken: ChainBreak| ChainBreak {
            line: before + broken.line,
            problem: format!("{}: {}", path.display(), broken.problem),
        };
        let in_range = anchor.filter(|_| !anchor_found);
        let report = verify_chain(io::BufReader::new(file)).map_err(shift)?;
        if let Some(previous) = &total {
            let expected = ChainHead { seq: previous.last_seq, hash: previous.last_hash.clone() };
            if report.continues_from.as_ref() != Some(&expected) {
                return Err(shift(ChainBreak {
                    line: 1,
                    problem: format!("does not continue the previous file's last line ({expected})"),
                }));
            }
        }
        if let Some(anchor) = in_range {
            let first_seq = report.continues_from.as_ref().map_or(1, |c| c.seq + 1);
            if (first_seq..=report.last_seq).contains(&anchor.seq) {
                let file = File::open(path)
                    .map_err(|e| ChainBreak { line: 0, problem: format!("{}: {e}", path.display()) })?;
                verify_chain_anchored(io::BufReader::new(file), Some(anchor)).map_err(shift)?;
                anchor_found = true;
            }
        }
        total = Some(match total {
            None => report,
            Some(previous) => ChainReport {
                lines: previous.lines + report.lines,
                repairs: previous.repairs + report.repairs,
                continues_from: previous.continues_from,
                ..report
            },
        });
    }
    let total = total.unwrap_or(ChainReport {
        lines: 0,
        last_hash: GENESIS_HASH.to_owned(),
        last_seq: 0,
        continues_from: None,
        repairs: 0,
    });
    if let Some(anchor) = anchor.filter(|_| !anchor_found) {
        return Err(ChainBreak {
            line: total.lines + 1,
            problem: format!(
                "the log ends at seq {}, but the anchor kept outside it says seq {} was written (hash {}): lines were cut from the end",
                total.last_seq, anchor.seq, anchor.hash
            ),
        });
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(event: TelemetryEvent, raw_input: &str) -> TelemetryRecord {
        let mut record = TelemetryRecord::new(event, Utc::now(), Uuid::new_v4());
        record.raw_input = Some(raw_input.to_owned());
        record.session_id = Some("0b7c4a8e-3f0e-4c5e-9a52-1a4f7e1d2c3b".to_owned());
        record
    }

    #[test]
    fn every_gateway_log_of_a_folder_is_found() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "gateway.jsonl",
            "gateway.000000000001-000000000010.jsonl",
            "gateway-a.jsonl",
            "gateway-b.000000000001-000000000002.jsonl",
            "gateway-c.d.jsonl",
            "executor.jsonl",
            "gateway.jsonl.damaged-20260101T000000",
            "gatewayx.jsonl",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let logs: Vec<String> = gateway_logs_in(dir.path())
            .unwrap()
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(logs, ["gateway.jsonl", "gateway-a.jsonl", "gateway-b.jsonl", "gateway-c.d.jsonl"]);
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let value = serde_json::json!({"b": 1, "a": {"d": [true, null], "c": "x"}});
        assert_eq!(canonical_json(&value), r#"{"a":{"c":"x","d":[true,null]},"b":1}"#);
    }

    #[test]
    fn lines_chain_and_verify_and_continue_across_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.jsonl");
        let log = TelemetryLog::open(&path).unwrap();
        log.append(&record(TelemetryEvent::Preview, "liam check status"), Durability::Flushed).unwrap();
        log.append(&record(TelemetryEvent::Confirm, "weird \"quotes\"\n and \u{0}"), Durability::Synced).unwrap();
        drop(log);
        let log = TelemetryLog::open(&path).unwrap();
        log.append(&record(TelemetryEvent::Watch, "x"), Durability::Flushed).unwrap();

        let report = verify_file(&path).unwrap();
        assert_eq!(report.lines, 3);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["prev_hash"], GENESIS_HASH);
        assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
        assert_eq!(lines[2]["prev_hash"], lines[1]["hash"]);
        assert_eq!(lines[2]["seq"], 3);
        assert_eq!(lines[0]["module"], "chat_gateway");
        assert_eq!(lines[0]["event"], "preview");
        assert_eq!(lines[0]["outcome"], "ok");
    }

    #[test]
    fn lines_without_a_user_id_still_verify_and_the_chain_continues_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.jsonl");
        // Two lines as they were written before calls named their person: no `user_id` key.
        let mut text = String::new();
        let mut previous = GENESIS_HASH.to_owned();
        for seq in 1..=2u64 {
            let line = serde_json::json!({
                "ts_utc": "2026-01-01T00:00:00.000Z", "module": MODULE, "event": "preview",
                "session_id": null, "outcome": "ok", "seq": seq, "prev_hash": previous,
            });
            let Value::Object(mut fields) = line else { unreachable!("an object") };
            let hash = chain_hash(&fields);
            fields.insert("hash".into(), Value::from(hash.clone()));
            text.push_str(&canonical_json(&Value::Object(fields)));
            text.push('\n');
            previous = hash;
        }
        std::fs::write(&path, text).unwrap();
        assert_eq!(verify_file(&path).unwrap().lines, 2);

        let log = TelemetryLog::open(&path).unwrap();
        let user = Uuid::new_v4();
        log.append(&TelemetryRecord::new(TelemetryEvent::Watch, Utc::now(), user), Durability::Flushed).unwrap();
        assert_eq!(verify_file(&path).unwrap().lines, 3);
        let last: Value =
            serde_json::from_str(std::fs::read_to_string(&path).unwrap().lines().last().unwrap()).unwrap();
        assert_eq!(last["user_id"], user.to_string());
        assert_eq!(last["seq"], 3);

        // The person is covered by the hash like every other field.
        let forged = std::fs::read_to_string(&path).unwrap().replace(&user.to_string(), &Uuid::new_v4().to_string());
        assert_eq!(verify_chain(forged.as_bytes()).unwrap_err().line, 3);
    }

    #[test]
    fn an_anchor_kept_outside_finds_a_cut_or_rewritten_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.jsonl");
        let log = TelemetryLog::open(&path).unwrap();
        let heads = log.head();
        assert_eq!(heads.borrow().seq, 0, "an empty log's head");
        for input in ["one", "two", "three", "four"] {
            log.append(&record(TelemetryEvent::Preview, input), Durability::Flushed).unwrap();
        }
        let head = heads.borrow().clone();
        let text = std::fs::read_to_string(&path).unwrap();
        let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!((head.seq, head.hash.as_str()), (4, last["hash"].as_str().unwrap()));
        assert_eq!(head.to_string().parse::<ChainHead>().unwrap(), head, "the anchor's text form round-trips");
        assert!("4:xyz".parse::<ChainHead>().is_err() && "four:".parse::<ChainHead>().is_err());

        // The log as it is agrees with its anchor, and with an older one (lines written since).
        log.check_anchor(&head).unwrap();
        let second: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        let older = ChainHead { seq: 2, hash: second["hash"].as_str().unwrap().to_owned() };
        log.check_anchor(&older).unwrap();
        let report = verify_chain_anchored(text.as_bytes(), Some(&head)).unwrap();
        assert_eq!((report.lines, report.last_seq), (4, 4));
        drop(log);

        // The last line cut off: the chain alone is sound, the anchor is not found.
        let cut: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(verify_chain(cut.as_bytes()).unwrap().lines, 3);
        let broken = verify_chain_anchored(cut.as_bytes(), Some(&head)).unwrap_err();
        assert!(broken.problem.contains("cut from the end"), "{broken}");
        std::fs::write(&path, &cut).unwrap();
        let reopened = TelemetryLog::open(&path).unwrap();
        assert!(reopened.check_anchor(&head).unwrap_err().problem.contains("cut from the end"));
        drop(reopened);

        // The last line rewritten and re-hashed: the chain alone is sound, the anchor's hash differs.
        let mut fields: Map<String, Value> = serde_json::from_str(text.lines().nth(3).unwrap()).unwrap();
        fields.insert("raw_input".into(), Value::from("forged"));
        let hash = chain_hash(&fields);
        fields.insert("hash".into(), Value::from(hash));
        let forged = format!("{cut}{}\n", canonical_json(&Value::Object(fields)));
        assert_eq!(verify_chain(forged.as_bytes()).unwrap().lines, 4);
        let broken = verify_chain_anchored(forged.as_bytes(), Some(&head)).unwrap_err();
        assert_eq!(broken.line, 4);
        assert!(broken.problem.contains("rewritten"), "{broken}");
        std::fs::write(&path, &forged).unwrap();
        let reopened = TelemetryLog::open(&path).unwrap();
        assert!(reopened.check_anchor(&head).unwrap_err().problem.contains("rewritten"));
        // An empty log's anchor holds for any log.
        reopened.check_anchor(&ChainHead { seq: 0, hash: GENESIS_HASH.to_owned() }).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn tampering_is_pinpointed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.jsonl");
        let log = TelemetryLog::open(&path).unwrap();
        for input in ["one", "two", "three", "four"] {
            log.append(&record(TelemetryEvent::Preview, input), Durability::Flushed).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();

        let edited = text.replacen("\"three\"", "\"THREE\"", 1);
        assert_eq!(verify_chain(edited.as_bytes()).unwrap_err().line, 3);

        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(1);
        let removed = lines.join("\n") + "\n";
        assert_eq!(verify_chain(removed.as_bytes()).unwrap_err().line, 2);

        // A rewritten line with a recomputed hash still breaks the link from the next line.
        let mut fields: Map<String, Value> = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
        fields.insert("raw_input".into(), Value::from("forged"));
        let hash = chain_hash(&fields);
        fields.insert("hash".into(), Value::from(hash));
        let forged_line = canonical_json(&Value::Object(fields));
        let forged: Vec<String> =
            text.lines().enumerate().map(|(i, l)| if i == 1 { forged_line.clone() } else { l.to_owned() }).collect();
        let broken = verify_chain((forged.join("\n") + "\n").as_bytes()).unwrap_err();
        assert_eq!(broken.line, 3, "{broken}");

        assert_eq!(verify_chain("not json\n".as_bytes()).unwrap_err().line, 1);
        assert_eq!(verify_chain("".as_bytes()).unwrap().lines, 0);
    }

    fn damaged_copies(dir: &Path) -> Vec<PathBuf> {
        let mut copies: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains(".damaged-"))
            .collect();
        copies.sort();
        copies
    }

    #[test]
    fn a_damaged_end_is_moved_aside_and_the_chain_continues() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.jsonl");
        let log = TelemetryLog::open(&path).unwrap();
        for input in ["one", "two", "three"] {
            log.append(&record(TelemetryEvent::Preview, input), Durability::Flushed).unwrap();
        }
        let sound_head = log.head().borrow().clone();
        drop(log);
        let sound = std::fs::read(&path).unwrap();

        // A crash tore the next line, and zeros followed it (as a file system may leave them).
        let torn = b"{\"event\":\"confirm\",\"hash\":\"ab\0\0\0\0";
        let mut damaged = sound.clone();
        damaged.extend_from_slice(torn);
        std::fs::write(&path, &damaged).unwrap();

        let log = TelemetryLog::open(&path).unwrap();
        let repair = log.repair().cloned().expect("a repair");
        assert_eq!(repair.damaged_bytes, torn.len() as u64);
        assert_eq!(repair.resumed_after, sound_head);
        assert_eq!(std::fs::read(&repair.damaged_copy).unwrap(), torn, "the damaged bytes are kept");
        assert_eq!(damaged_copies(dir.path()), vec![repair.damaged_copy.clone()]);
        log.append(&record(TelemetryEvent::Watch, "after"), Durability::Flushed).unwrap();
        drop(log);

        let report = verify_file(&path).unwrap();
        assert_eq!((report.lines, report.last_seq, report.repairs), (5, 5, 1));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.as_bytes().starts_with(&sound), "the sound lines are untouched");
        let repair_line: Value = serde_json::from_str(text.lines().nth(3).unwrap()).unwrap();
        assert_eq!(repair_line["event"], CHAIN_REPAIR);
        assert_eq!(repair_line["seq"], 4);
        assert_eq!(repair_line["resumed_after_seq"], 3);
        assert_eq!(repair_line["prev_hash"], sound_head.hash.as_str());
        assert_eq!(repair_line["damaged_bytes"], torn.len());

        // A whole line that is not sound (edited without its hash) is damage too.
        let edited = text.replacen("\"after\"", "\"AFTER\"", 1);
        std::fs::write(&path, edited).unwrap();
        let log = TelemetryLog::open(&path).unwrap();
        assert_eq!(log.repair().unwrap().resumed_after.seq, 4);
        drop(log);
        assert_eq!(verify_file(&path).unwrap().repairs, 2);
        assert_eq!(damaged_copies(dir.path()).len(), 2);

        // Nothing sound at all: all of it is moved aside and a new chain starts.
        std::fs::write(&path, "{\"no\":\"hash\"}\n").unwrap();
        let log = TelemetryLog::open(&path).unwrap();
        assert_eq!(log.repair().unwrap().resumed_after.seq, 0);
        drop(log);
        assert_eq!(verify_file(&path).unwrap().lines, 1);
    }

    #[test]
    fn a_full_log_is_rotated_and_the_chain_runs_across_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.jsonl");
        let log = TelemetryLog::open_with(&path, 2_000).unwrap();
        let heads = log.head();
        for index in 0..40 {
            log.append(&record(TelemetryEvent::Preview, &format!("input {index}")), Durability::Flushed).unwrap();
        }
        let head = heads.borrow().clone();
        let series = log_series(&path).unwrap();
        assert!(series.len() >= 4, "{series:?}");
        for file in &series[..series.len() - 1] {
            assert!(std::fs::metadata(&file.path).unwrap().len() >= 2_000);
        }
        // Each rotated file stands alone; the series verifies as one chain and finds the anchor.
        for file in &series {
            verify_file(&file.path).unwrap_or_else(|e| panic!("{}: {e}", file.path.display()));
        }
        let report = verify_series(series.iter().map(|f| f.path.as_path()), Some(&head)).unwrap();
        assert_eq!(report.last_seq, head.seq);
        assert_eq!(report.lines, head.seq);
        assert_eq!(report.lines, 40 + (series.len() as u64 - 1), "one chain_continues line per rotation");
        // An anchor in an older file is found there.
        log.check_anchor(&head).unwrap();
        let first = verify_file(&series[0].path).unwrap();
        log.check_anchor(&ChainHead { seq: first.last_seq, hash: first.last_hash.clone() }).unwrap();
        drop(log);

        // The live file continues the chain after a restart.
        let log = TelemetryLog::open_with(&path, 2_000).unwrap();
        log.append(&record(TelemetryEvent::Watch, "after"), Durability::Flushed).unwrap();
        let series = log_series(&path).unwrap();
        verify_series(series.iter().map(|f| f.path.as_path()), None).unwrap();

        // A live file lost after a rotation: the chain continues from the newest rotated file.
        drop(log);
        let before = log_series(&path).unwrap();
        let newest_rotated = verify_file(&before[before.len() - 2].path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let log = TelemetryLog::open_with(&path, 2_000).unwrap();
        assert_eq!(log.head().borrow().seq, newest_rotated.last_seq + 1, "a chain_continues line");
        log.append(&record(TelemetryEvent::Watch, "after the loss"), Durability::Flushed).unwrap();
        drop(log);
        let series = log_series(&path).unwrap();
        let report = verify_series(series.iter().map(|f| f.path.as_path()), None).unwrap();
        assert_eq!(report.last_seq, newest_rotated.last_seq + 2);

        // A file taken out of the middle breaks the series.
        let without: Vec<&Path> =
            series.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, f)| f.path.as_path()).collect();
        assert!(verify_series(without, None).unwrap_err().problem.contains("does not continue"));
        // A continuing file whose first line was removed no longer verifies on its own.
        let live = std::fs::read_to_string(&path).unwrap();
        let rest: String = live.lines().skip(1).map(|l| format!("{l}\n")).collect();
        assert_eq!(verify_chain(rest.as_bytes()).unwrap_err().line, 1);
    }

    #[test]
    fn a_rotation_cut_short_between_its_renames_is_finished_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.jsonl");
        let log = TelemetryLog::open_with(&path, 600).unwrap();
        for index in 0..6 {
            log.append(&record(TelemetryEvent::Preview, &format!("input {index}")), Durability::Flushed).unwrap();
        }
        let head = log.head().borrow().clone();
        drop(log);
        // As if the process died after moving the full file aside, before the new one took its name.
        std::fs::rename(&path, dir.path().join("gateway.jsonl.next")).unwrap();
        let log = TelemetryLog::open_with(&path, 600).unwrap();
        assert_eq!(log.head().borrow().clone(), head);
        log.check_anchor(&head).unwrap();
        assert!(!dir.path().join("gateway.jsonl.next").exists());
    }

    #[test]
    fn a_long_last_line_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.jsonl");
        let log = TelemetryLog::open(&path).unwrap();
        log.append(&record(TelemetryEvent::Preview, "short"), Durability::Flushed).unwrap();
        log.append(&record(TelemetryEvent::Preview, &"x".repeat(200_000)), Durability::Flushed).unwrap();
        drop(log);
        let log = TelemetryLog::open(&path).unwrap();
        log.append(&record(TelemetryEvent::Preview, "after"), Durability::Flushed).unwrap();
        assert_eq!(verify_file(&path).unwrap().lines, 3);
    }
}
