//! Daily token budgets: how many tokens of paid generations each person may use per UTC day
//! (`USER_DAILY_TOKENS`), and all guests together (`GUEST_DAILY_TOKENS`). A direct reply counts
//! against whoever wrote the message it answers, a run's turns against whoever started the run.
//! The demo model costs nothing and counts against nobody.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Days, Utc};
use uuid::Uuid;

use crate::llm::Provider;
use crate::{lock, ServiceError, ServiceResult, Services};

/// The wall clock budgets are counted on: the system's, unless stopped at an instant (tests
/// move it across a day boundary instead of waiting for one).
#[derive(Clone, Default)]
pub struct WallClock {
    stopped_at: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl WallClock {
    pub fn now(&self) -> DateTime<Utc> {
        lock(&self.stopped_at).unwrap_or_else(Utc::now)
    }

    /// Stops the clock at `at`; `None` lets it follow the system clock again.
    pub fn set(&self, at: Option<DateTime<Utc>>) {
        *lock(&self.stopped_at) = at;
    }
}

/// Whose budget a generation counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payer {
    Person(Uuid),
    /// Everyone who is not signed in, sharing one budget.
    Guests,
}

impl From<Option<Uuid>> for Payer {
    fn from(user_id: Option<Uuid>) -> Self {
        user_id.map_or(Payer::Guests, Payer::Person)
    }
}

/// A payer's budget for the current UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyBudget {
    pub payer: Payer,
    /// Tokens a day; `None` when unlimited.
    pub limit: Option<i64>,
    pub used: i64,
    /// The start of the next UTC day.
    pub resets_at: DateTime<Utc>,
    /// When the budget was read.
    pub now: DateTime<Utc>,
}

impl DailyBudget {
    /// Tokens left today; `None` when unlimited.
    pub fn remaining(&self) -> Option<i64> {
        self.limit.map(|limit| (limit - self.used).max(0))
    }

    pub fn is_spent(&self) -> bool {
        self.remaining() == Some(0)
    }

    fn variable(&self) -> &'static str {
        match self.payer {
            Payer::Person(_) => "USER_DAILY_TOKENS",
            Payer::Guests => "GUEST_DAILY_TOKENS",
        }
    }

    pub fn seconds_to_reset(&self) -> u64 {
        u64::try_from((self.resets_at - self.now).num_seconds()).unwrap_or(0).max(1)
    }

    /// "resets at 00:00 UTC, in 5 h 12 min"
    fn resets(&self) -> String {
        let minutes = self.seconds_to_reset().div_ceil(60);
        let wait = match (minutes / 60, minutes % 60) {
            (0, m) => format!("{m} min"),
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        };
        format!("It resets at 00:00 UTC, in {wait}.")
    }

    /// The refusal of a request that would have a model generate on this budget (posting where
    /// an agent would answer, starting a run): `QUOTA_EXCEEDED`, naming the limit and its reset.
    pub fn refusal(&self) -> ServiceError {
        let whose = match self.payer {
            Payer::Person(_) => "Your daily token budget",
            Payer::Guests => "The daily token budget guests share",
        };
        ServiceError::QuotaExceeded {
            message: format!(
                "{whose} is used up ({} tokens a day, {}). {}",
                self.limit.unwrap_or_default(),
                self.variable(),
                self.resets()
            ),
            retry_after_seconds: Some(self.seconds_to_reset()),
        }
    }

    /// What the room is told when a turn is not taken; `who` names the payer.
    pub fn notice(&self, who: &str) -> String {
        let whose = match self.payer {
            Payer::Person(_) => format!("{who}'s daily token budget"),
            Payer::Guests => "The daily token budget guests share".to_owned(),
        };
        format!(
            "{whose} is used up ({} tokens a day, {}), so no agent was asked to answer. {}",
            self.limit.unwrap_or_default(),
            self.variable(),
            self.resets()
        )
    }
}

/// The start of the UTC day `now` falls in.
pub fn start_of_day(now: DateTime<Utc>) -> DateTime<Utc> {
    now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

/// `payer`'s budget today, as the stored usage says.
pub async fn daily(services: &Services, payer: Payer) -> ServiceResult<DailyBudget> {
    let limits = &services.config.limits;
    let now = services.clock.now();
    let since = start_of_day(now);
    let resets_at = since.checked_add_days(Days::new(1)).unwrap_or(since);
    let limit = match payer {
        Payer::Person(_) => limits.user_daily_tokens,
        Payer::Guests => limits.guest_daily_tokens,
    };
    if limit == 0 {
        return Ok(DailyBudget { payer, limit: None, used: 0, resets_at, now });
    }
    let used = match payer {
        Payer::Person(user_id) => services.store.tokens_used_by_since(user_id, since).await?,
        Payer::Guests => services.store.tokens_used_by_guests_since(since).await?,
    };
    Ok(DailyBudget { payer, limit: Some(limit), used, resets_at, now })
}

/// Refuses a post in `room_id` on `payer`'s account when their budget is spent and an agent on a
/// paid model would answer it, so the writer is told at once instead of by a notice later. Rooms
/// whose active agents all use the demo model cost nothing and are never refused.
pub async fn check_before_reply(services: &Services, room_id: Uuid, payer: Payer) -> ServiceResult<()> {
    let budget = daily(services, payer).await?;
    if !budget.is_spent() {
        return Ok(());
    }
    let agents = services.store.list_agents(room_id).await?;
    let paid = agents
        .iter()
        .filter(|agent| agent.is_active)
        .any(|agent| services.models.resolve(&agent.model).is_ok_and(|route| route.provider != Provider::Demo));
    if paid {
        return Err(budget.refusal());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::PublicError;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn days_start_at_midnight_utc() {
        assert_eq!(start_of_day(at("2025-03-04T17:45:12.345Z")), at("2025-03-04T00:00:00Z"));
        assert_eq!(start_of_day(at("2025-03-04T00:00:00Z")), at("2025-03-04T00:00:00Z"));
    }

    #[test]
    fn the_notice_names_the_limit_and_the_reset() {
        let budget = DailyBudget {
            payer: Payer::Person(Uuid::nil()),
            limit: Some(100),
            used: 130,
            resets_at: at("2025-03-05T00:00:00Z"),
            now: at("2025-03-04T18:47:30Z"),
        };
        assert!(budget.is_spent());
        assert_eq!(budget.remaining(), Some(0));
        assert_eq!(
            budget.notice("Ada"),
            "Ada's daily token budget is used up (100 tokens a day, USER_DAILY_TOKENS), so no agent was asked \
             to answer. It resets at 00:00 UTC, in 5 h 13 min."
        );
        let guests = DailyBudget { payer: Payer::Guests, now: at("2025-03-04T23:00:00Z"), ..budget };
        assert!(guests.notice("-").contains("guests share") && guests.notice("-").contains("in 1 h."));
        assert_eq!(guests.refusal().retry_after(), Some(3600));
        assert!(guests.refusal().public_message().starts_with("The daily token budget guests share is used up"));
        assert_eq!(
            budget.refusal().public_message(),
            "Your daily token budget is used up (100 tokens a day, USER_DAILY_TOKENS). It resets at 00:00 UTC, \
             in 5 h 13 min."
        );
    }

    #[test]
    fn a_stopped_clock_stays_put() {
        let clock = WallClock::default();
        let instant = at("2030-01-01T12:00:00Z");
        clock.set(Some(instant));
        assert_eq!(clock.clone().now(), instant);
        clock.set(None);
        assert!(clock.now() < instant);
    }
}
