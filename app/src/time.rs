//! Times as the pages show them, in UTC so the server and the browser render the same text.
//! Formatted by hand: chrono's format strings would add their parser to the browser bundle.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// `14:05`
pub fn clock(at: &DateTime<Utc>) -> String {
    format!("{:02}:{:02}", at.hour(), at.minute())
}

/// `14:05:09 UTC`
pub fn clock_seconds(at: &DateTime<Utc>) -> String {
    format!("{:02}:{:02}:{:02} UTC", at.hour(), at.minute(), at.second())
}

/// `2026-11-22 14:05 UTC`
pub fn date_time(at: &DateTime<Utc>) -> String {
    format!("{:04}-{:02}-{:02} {} UTC", at.year(), at.month(), at.day(), clock(at))
}

/// `4:52` for 292 seconds left; `0:00` once none are.
pub fn minutes_seconds(seconds: i64) -> String {
    let seconds = seconds.max(0);
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// Milliseconds since the epoch: the browser's clock once hydrated, the server's while it renders.
pub fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Utc::now().timestamp_millis() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_stable() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T04:05:09.123Z").unwrap().with_timezone(&Utc);
        assert_eq!(clock(&at), "04:05");
        assert_eq!(clock_seconds(&at), "04:05:09 UTC");
        assert_eq!(date_time(&at), "2026-11-22 04:05 UTC");
        assert_eq!(minutes_seconds(292), "4:52");
        assert_eq!(minutes_seconds(60), "1:00");
        assert_eq!(minutes_seconds(-3), "0:00");
    }
}
