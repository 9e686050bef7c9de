//! Refusals that cost the caller nothing — a rate limit hit, a malformed body — are counted, not
//! written one line (and one write) each: a flood of them must not fill the disk or hold the
//! telemetry lock. Each caller (person and address), operation and error code gets one `refused`
//! line per window, with how many there were and when the first and last came.
//!
//! A window opens with the first refusal after the previous one was written; its lines are written
//! by the next call after it closes, or by [`crate::Gateway::flush_refusals`] (which the server
//! calls on a timer and at shutdown). A process killed outright loses at most one window's counts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::GatewayError;
use crate::telemetry::{Outcome, TelemetryEvent, TelemetryRecord, MODULE};

/// Distinct callers counted in one window; further ones share one line with `user_id` "*".
const MAX_KEYS_PER_WINDOW: usize = 10_000;
/// The `event` of an aggregated line.
pub const REFUSED: &str = "refused";

/// True for a refusal that is counted rather than written on its own.
pub fn is_counted(error: &GatewayError) -> bool {
    matches!(
        error,
        GatewayError::RateLimited { .. }
            | GatewayError::MalformedJson(_)
            | GatewayError::InvalidField(_)
            | GatewayError::UnsupportedMediaType
            | GatewayError::PayloadTooLarge
            | GatewayError::InvalidSessionId
            | GatewayError::InvalidInput(_)
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    event: TelemetryEvent,
    error_code: &'static str,
    user_id: String,
    client_addr: Option<String>,
}

struct Count {
    /// When the key was first counted, relative to the others: refusals in the same millisecond
    /// keep the order they happened in.
    seq: u64,
    count: u64,
    first_ts_utc: String,
    last_ts_utc: String,
}

/// One window's refusals of one caller and kind.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedLine {
    pub ts_utc: String,
    pub module: &'static str,
    pub event: &'static str,
    pub outcome: Outcome,
    pub refused_event: TelemetryEvent,
    pub error_code: &'static str,
    pub user_id: String,
    pub client_addr: Option<String>,
    pub count: u64,
    pub first_ts_utc: String,
    pub last_ts_utc: String,
    pub window_seconds: u64,
}

pub struct RefusalTally {
    window: Duration,
    opened: Option<Instant>,
    counts: HashMap<Key, Count>,
    next_seq: u64,
}

impl RefusalTally {
    pub fn new(window: Duration) -> Self {
        Self { window, opened: None, counts: HashMap::new(), next_seq: 0 }
    }

    /// Counts a refused call whose record is `record`, at `now`.
    pub fn count(&mut self, record: &TelemetryRecord, error_code: &'static str, now: Instant) {
        self.opened.get_or_insert(now);
        let mut key = Key {
            event: record.event,
            error_code,
            user_id: record.user_id.clone(),
            client_addr: record.client_addr.clone(),
        };
        if !self.counts.contains_key(&key) && self.counts.len() >= MAX_KEYS_PER_WINDOW {
            key.user_id = "*".to_owned();
            key.client_addr = Some("*".to_owned());
        }
        let next_seq = &mut self.next_seq;
        let count = self.counts.entry(key).or_insert_with(|| {
            *next_seq += 1;
            Count { seq: *next_seq, count: 0, first_ts_utc: record.ts_utc.clone(), last_ts_utc: record.ts_utc.clone() }
        });
        count.count += 1;
        count.last_ts_utc.clone_from(&record.ts_utc);
    }

    /// The lines of a window that has closed by `now`, taken out of the tally.
    pub fn due(&mut self, now: Instant) -> Vec<RefusedLine> {
        match self.opened {
            Some(opened) if now.saturating_duration_since(opened) >= self.window => self.drain(),
            _ => Vec::new(),
        }
    }

    /// Puts back lines that could not be written, so their counts go into a later line.
    pub fn restore(&mut self, lines: impl IntoIterator<Item = RefusedLine>, now: Instant) {
        for line in lines {
            self.opened.get_or_insert(now);
            let key = Key {
                event: line.refused_event,
                error_code: line.error_code,
                user_id: line.user_id,
                client_addr: line.client_addr,
            };
            let next_seq = &mut self.next_seq;
            let count = self.counts.entry(key).or_insert_with(|| {
                *next_seq += 1;
                Count {
                    seq: *next_seq,
                    count: 0,
                    first_ts_utc: line.first_ts_utc.clone(),
                    last_ts_utc: line.last_ts_utc.clone(),
                }
            });
            count.count += line.count;
            if line.first_ts_utc < count.first_ts_utc {
                count.first_ts_utc = line.first_ts_utc;
            }
            if line.last_ts_utc > count.last_ts_utc {
                count.last_ts_utc = line.last_ts_utc;
            }
        }
    }

    /// Every counted refusal as lines, whether or not the window has closed.
    pub fn drain(&mut self) -> Vec<RefusedLine> {
        self.opened = None;
        let ts_utc = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut counted: Vec<(Key, Count)> = self.counts.drain().collect();
        // A stable order, so the same refusals always make the same lines: as they first happened.
        counted.sort_by(|(_, a), (_, b)| (&a.first_ts_utc, a.seq).cmp(&(&b.first_ts_utc, b.seq)));
        counted
            .into_iter()
            .map(|(key, count)| RefusedLine {
                ts_utc: ts_utc.clone(),
                module: MODULE,
                event: REFUSED,
                outcome: Outcome::Error,
                refused_event: key.event,
                error_code: key.error_code,
                user_id: key.user_id,
                client_addr: key.client_addr,
                count: count.count,
                first_ts_utc: count.first_ts_utc,
                last_ts_utc: count.last_ts_utc,
                window_seconds: self.window.as_secs(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;

    #[test]
    fn one_line_per_caller_and_kind_per_window() {
        let mut tally = RefusalTally::new(Duration::from_secs(60));
        let start = Instant::now();
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..500 {
            let mut record = TelemetryRecord::new(TelemetryEvent::Preview, Utc::now(), alice);
            record.client_addr = Some("192.0.2.1".to_owned());
            tally.count(&record, "RATE_LIMITED", start);
        }
        tally.count(&TelemetryRecord::new(TelemetryEvent::Confirm, Utc::now(), alice), "RATE_LIMITED", start);
        tally.count(&TelemetryRecord::new(TelemetryEvent::Preview, Utc::now(), bob), "MALFORMED_JSON", start);
        assert!(tally.due(start + Duration::from_secs(59)).is_empty(), "the window is still open");
        let lines = tally.due(start + Duration::from_secs(60));
        assert_eq!(lines.len(), 3);
        let counts: Vec<u64> = lines.iter().map(|l| l.count).collect();
        assert_eq!(counts.iter().sum::<u64>(), 502);
        assert!(counts.contains(&500));
        assert!(tally.due(start + Duration::from_secs(600)).is_empty(), "nothing is written twice");
    }

    #[test]
    fn refusals_in_the_same_millisecond_keep_their_order() {
        let at = Utc::now();
        let user = Uuid::new_v4();
        let events = [TelemetryEvent::Preview, TelemetryEvent::Confirm, TelemetryEvent::Watch, TelemetryEvent::Preview];
        // Many times, since a hash map's order differs from one tally to the next.
        for _ in 0..50 {
            let mut tally = RefusalTally::new(Duration::from_secs(60));
            for event in events {
                tally.count(&TelemetryRecord::new(event, at, user), "MALFORMED_JSON", Instant::now());
            }
            let order: Vec<(TelemetryEvent, u64)> = tally.drain().iter().map(|l| (l.refused_event, l.count)).collect();
            assert_eq!(order, [(TelemetryEvent::Preview, 2), (TelemetryEvent::Confirm, 1), (TelemetryEvent::Watch, 1)]);
        }
    }

    #[test]
    fn lines_that_could_not_be_written_are_counted_again() {
        let mut tally = RefusalTally::new(Duration::from_secs(60));
        let now = Instant::now();
        let user = Uuid::new_v4();
        for _ in 0..3 {
            tally.count(&TelemetryRecord::new(TelemetryEvent::Preview, Utc::now(), user), "RATE_LIMITED", now);
        }
        let unwritten = tally.drain();
        tally.count(&TelemetryRecord::new(TelemetryEvent::Preview, Utc::now(), user), "RATE_LIMITED", now);
        tally.restore(unwritten, now);
        let lines = tally.drain();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].count, 4, "nothing is lost");
    }

    #[test]
    fn a_flood_of_callers_is_bounded() {
        let mut tally = RefusalTally::new(Duration::from_secs(1));
        let now = Instant::now();
        for _ in 0..(MAX_KEYS_PER_WINDOW + 50) {
            tally.count(
                &TelemetryRecord::new(TelemetryEvent::Preview, Utc::now(), Uuid::new_v4()),
                "RATE_LIMITED",
                now,
            );
        }
        let lines = tally.drain();
        assert_eq!(lines.len(), MAX_KEYS_PER_WINDOW + 1);
        let overflow = lines.iter().find(|l| l.user_id == "*").expect("one line for the rest");
        assert_eq!(overflow.count, 50);
    }
}
