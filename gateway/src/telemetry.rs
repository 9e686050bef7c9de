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

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TelemetryEvent {
    Preview,
    Confirm,
    Watch,
    /// A session ended on request, with its unconfirmed previews.
    SessionEnd,
}

/// Whether the operation succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error,
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

struct ChainTail {
    file: File,
    last_hash: String,
    next_seq: u64,
    /// The file's length after the last complete line, to undo a partial write.
    length: u64,
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

/// The append-only, hash-chained log. All appends go through one mutex so lines never
/// interleave and each names its predecessor.
pub struct TelemetryLog {
    path: PathBuf,
    tail: Mutex<ChainTail>,
    /// A second handle on the same file, so fsync runs without holding the mutex.
    sync_handle: File,
    /// The chain's head after every append, for whoever keeps it outside the file.
    head: tokio::sync::watch::Sender<ChainHead>,
}

impl TelemetryLog {
    /// Opens (or creates) the log and reads its last line to continue the chain.
    pub fn open(path: &Path) -> Result<Self, GatewayStartupError> {
        let io_error = |source| GatewayStartupError::Io { path: path.to_owned(), source };
        let mut file = OpenOptions::new().create(true).append(true).read(true).open(path).map_err(io_error)?;
        let (last_hash, last_seq, length) = read_tail(&mut file)
            .map_err(|problem| GatewayStartupError::TelemetryTail { path: path.to_owned(), problem })?;
        let sync_handle = file.try_clone().map_err(io_error)?;
        let (head, _) = tokio::sync::watch::channel(ChainHead { seq: last_seq, hash: last_hash.clone() });
        Ok(Self {
            path: path.to_owned(),
            tail: Mutex::new(ChainTail { file, last_hash, next_seq: last_seq + 1, length }),
            sync_handle,
            head,
        })
    }

    /// The chain's head now, and each new one as lines are appended.
    pub fn head(&self) -> tokio::sync::watch::Receiver<ChainHead> {
        self.head.subscribe()
    }

    /// Puts every line appended so far on the disk: an anchor kept after this never names a line
    /// that a crash of the machine could take back.
    pub fn sync(&self) -> io::Result<()> {
        self.sync_handle.sync_data()
    }

    /// Checks the log against a head kept outside it: the line `anchor.seq` must still be there
    /// with the same hash. When the anchor is the newest line (the usual case) only the last line
    /// is compared; otherwise the whole file is verified.
    pub fn check_anchor(&self, anchor: &ChainHead) -> Result<(), ChainBreak> {
        let current = self.head.borrow().clone();
        if current.seq == anchor.seq {
            return if current.hash == anchor.hash {
                Ok(())
            } else {
                Err(ChainBreak { line: anchor.seq, problem: rewritten_tail(anchor, &current.hash) })
            };
        }
        let file = File::open(&self.path)
            .map_err(|e| ChainBreak { line: 0, problem: format!("{}: {e}", self.path.display()) })?;
        verify_chain_anchored(io::BufReader::new(file), Some(anchor)).map(|_| ())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line; returns once it is flushed to the OS or, for [`Durability::Synced`], on disk.
    pub fn append(&self, record: &TelemetryRecord, durability: Durability) -> io::Result<()> {
        let value = serde_json::to_value(record).map_err(io::Error::other)?;
        let Value::Object(mut fields) = value else {
            return Err(io::Error::other("a telemetry record must serialize to an object"));
        };
        {
            let mut tail = lock(&self.tail);
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
        }
        if durability == Durability::Synced {
            self.sync_handle.sync_data()?;
        }
        Ok(())
    }
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

/// Reads the last line's `hash` and `seq` and the file's length; an empty file starts a chain.
fn read_tail(file: &mut File) -> Result<(String, u64, u64), String> {
    let length = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    if length == 0 {
        return Ok((GENESIS_HASH.to_owned(), 0, 0));
    }
    // Read backwards in growing windows until the window holds the whole last line.
    let mut window: u64 = 64 * 1024;
    loop {
        let start = length.saturating_sub(window);
        file.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
        let mut bytes = Vec::with_capacity((length - start) as usize);
        Read::by_ref(file).take(length - start).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        if bytes.last() != Some(&b'\n') {
            return Err("the last line is incomplete (no trailing newline)".to_owned());
        }
        let body = &bytes[..bytes.len() - 1];
        match body.iter().rposition(|&b| b == b'\n') {
            Some(newline) => return parse_tail_line(&body[newline + 1..]).map(|(h, s)| (h, s, length)),
            None if start == 0 => return parse_tail_line(body).map(|(h, s)| (h, s, length)),
            None => window = window.saturating_mul(4),
        }
    }
}

fn parse_tail_line(line: &[u8]) -> Result<(String, u64), String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("the last line is not JSON: {e}"))?;
    let hash = value.get("hash").and_then(Value::as_str).filter(|h| is_hex_hash(h));
    let seq = value.get("seq").and_then(Value::as_u64);
    match (hash, seq) {
        (Some(hash), Some(seq)) => Ok((hash.to_owned(), seq)),
        _ => Err("the last line has no valid hash and seq".to_owned()),
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
pub fn verify_chain_anchored(reader: impl BufRead, anchor: Option<&ChainHead>) -> Result<ChainReport, ChainBreak> {
    let mut anchor_found = anchor.is_some_and(|a| a.seq == 0);
    let mut previous_hash = GENESIS_HASH.to_owned();
    let mut previous_seq: Option<u64> = None;
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
        if prev_hash != previous_hash {
            return Err(broken(format!(
                "prev_hash {prev_hash:?} does not match the hash of the line before ({previous_hash}); a line was removed, inserted or rewritten"
            )));
        }
        let seq = fields.get("seq").and_then(Value::as_u64);
        match (previous_seq, seq) {
            (_, None) => return Err(broken("has no seq".to_owned())),
            (Some(before), Some(seq)) if seq != before + 1 => {
                return Err(broken(format!("seq {seq} does not follow {before}")));
            }
            _ => {}
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
    Ok(ChainReport { lines, last_hash: previous_hash, last_seq })
}

/// Checks a telemetry file; see [`verify_chain`].
pub fn verify_file(path: &Path) -> Result<ChainReport, ChainBreak> {
    let file = File::open(path).map_err(|e| ChainBreak { line: 0, problem: format!("{}: {e}", path.display()) })?;
    verify_chain(io::BufReader::new(file))
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

    #[test]
    fn a_torn_last_line_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.jsonl");
        std::fs::write(&path, "{\"hash\":\"ab").unwrap();
        assert!(matches!(TelemetryLog::open(&path), Err(GatewayStartupError::TelemetryTail { .. })));
        std::fs::write(&path, "{\"no\":\"hash\"}\n").unwrap();
        assert!(matches!(TelemetryLog::open(&path), Err(GatewayStartupError::TelemetryTail { .. })));
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
