//! The usage page's data: tokens and cost per day, agent, model and room over a range, each
//! grouping with its chart drawn on the server (the browser bundle carries no plotting code).

use domain::usage::{UsageGroup, UsageTotal};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One grouping of the report: its rows and their chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageSection {
    pub group_by: UsageGroup,
    pub rows: Vec<UsageTotal>,
    /// The chart as an SVG document, drawn by the server from `rows`; empty when there are none.
    pub chart_svg: String,
}

/// The report for a range, by every grouping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageOverview {
    /// The range as days (`YYYY-MM-DD`), both included.
    pub from: String,
    pub to: String,
    pub sections: Vec<UsageSection>,
}

/// Every grouping of the caller's usage from `from` to `to` (days, both included; the last 30
/// days when absent).
#[server(prefix = "/api/fn", endpoint = "usage/overview", input = Json, output = crate::codec::JsonText)]
pub async fn load_usage(from: Option<String>, to: Option<String>) -> Result<UsageOverview, AppError> {
    use services::usage::{usage_report, UsageQuery};

    let (services, actor) = (crate::caller::services(), crate::caller::actor().await);
    let mut sections = Vec::new();
    let mut range = None;
    for group_by in [UsageGroup::Day, UsageGroup::Agent, UsageGroup::Model, UsageGroup::Room] {
        let query = UsageQuery { group_by: Some(group_by.as_str().to_owned()), from: from.clone(), to: to.clone() };
        let report = usage_report(&services, &actor, &query).await?;
        range.get_or_insert((report.from, report.to));
        let chart_svg = services::charts::usage_chart_svg(&report);
        sections.push(UsageSection { group_by, rows: report.rows, chart_svg });
    }
    let (from, to) = range.expect("four reports were made");
    Ok(UsageOverview {
        from: from.format("%Y-%m-%d").to_string(),
        // `to` is exclusive; the page shows the last day included.
        to: (to - chrono::Duration::days(1)).format("%Y-%m-%d").to_string(),
        sections,
    })
}
