//! The usage report: tokens and cost per day, room, agent or model, over the rooms the person
//! takes part in (every room for admins).

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use domain::accounts::Role;
use domain::usage::{UsageGroup, UsageTotal};
use storage::UsageScope;

use crate::access::Actor;
use crate::{ServiceError, ServiceResult, Services};

/// The range a report covers when none is given: the last 30 days, today included.
pub const DEFAULT_DAYS: i64 = 30;
/// The longest range one report may cover.
pub const MAX_DAYS: i64 = 3660;

/// What a report was asked for, as given (query strings).
#[derive(Debug, Clone, Default)]
pub struct UsageQuery {
    pub group_by: Option<String>,
    /// A day (`YYYY-MM-DD`, from its start, UTC) or an RFC 3339 instant.
    pub from: Option<String>,
    /// A day (`YYYY-MM-DD`, to its end, UTC) or an RFC 3339 instant (exclusive).
    pub to: Option<String>,
}

/// A report: its grouping, its range (from inclusive, to exclusive) and its rows.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageReport {
    pub group_by: UsageGroup,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub rows: Vec<UsageTotal>,
}

pub async fn usage_report(services: &Services, actor: &Actor, query: &UsageQuery) -> ServiceResult<UsageReport> {
    let person = actor.require_person()?;
    let scope = if person.role == Role::Admin { UsageScope::Everything } else { UsageScope::Person(person.id) };
    let group_by = match query.group_by.as_deref().map(str::trim) {
        None | Some("") => UsageGroup::Day,
        Some(text) => text
            .parse()
            .map_err(|_| ServiceError::invalid("group_by", "group_by must be day, agent, model or room."))?,
    };
    let now = services.clock.now();
    let to = match query.to.as_deref().map(str::trim) {
        None | Some("") => start_of_day(now.date_naive()) + Duration::days(1),
        Some(text) => parse_bound(text, "to", Bound::End)?,
    };
    let from = match query.from.as_deref().map(str::trim) {
        None | Some("") => to - Duration::days(DEFAULT_DAYS),
        Some(text) => parse_bound(text, "from", Bound::Start)?,
    };
    if from >= to {
        return Err(ServiceError::invalid("to", "to must come after from."));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(ServiceError::invalid("from", format!("A report covers at most {MAX_DAYS} days.")));
    }
    let mut rows = services.store.usage_report(scope, group_by, (from, to)).await?;
    if group_by != UsageGroup::Day {
        // The most expensive first; for the free demo model, the most tokens first.
        rows.sort_by(|a, b| b.cost.total_cmp(&a.cost).then(b.tokens().cmp(&a.tokens())).then(a.label.cmp(&b.label)));
    }
    Ok(UsageReport { group_by, from, to, rows })
}

#[derive(Clone, Copy)]
enum Bound {
    Start,
    End,
}

/// A day stands for its start (`from`) or the start of the next day (`to`), so `from=to=a day`
/// is that whole day.
fn parse_bound(text: &str, field: &'static str, bound: Bound) -> ServiceResult<DateTime<Utc>> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(match bound {
            Bound::Start => start_of_day(day),
            Bound::End => start_of_day(day) + Duration::days(1),
        });
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| ServiceError::invalid(field, format!("{field} must be a day (YYYY-MM-DD) or an RFC 3339 time.")))
}

fn start_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The report as CSV, for a spreadsheet: one row per key, cost with six decimals.
pub fn to_csv(report: &UsageReport) -> String {
    let mut out = format!("{},key,input_tokens,output_tokens,cost\n", report.group_by.as_str());
    for row in &report.rows {
        out.push_str(&format!(
            "{},{},{},{},{:.6}\n",
            csv_field(&row.label),
            csv_field(&row.key),
            row.input_tokens,
            row.output_tokens,
            row.cost
        ));
    }
    out
}

/// Quotes a field when it needs it, and keeps a spreadsheet from reading it as a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_bound_covers_the_whole_day() {
        let from = parse_bound("2026-11-02", "from", Bound::Start).unwrap();
        let to = parse_bound("2026-11-02", "to", Bound::End).unwrap();
        assert_eq!(from.to_rfc3339(), "2026-11-02T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-11-03T00:00:00+00:00");
        let instant = parse_bound("2026-11-02T10:30:00+02:00", "to", Bound::End).unwrap();
        assert_eq!(instant.to_rfc3339(), "2026-11-02T08:30:00+00:00");
        let error = parse_bound("yesterday", "from", Bound::Start).unwrap_err();
        assert!(matches!(error, ServiceError::Invalid { field: "from", .. }));
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("Ada (Tea, room)"), "\"Ada (Tea, room)\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
