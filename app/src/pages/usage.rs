use domain::usage::UsageGroup;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::accounts::refusal::Refusal;
use crate::usage::{load_usage, UsageOverview, UsageSection};

/// Tokens and cost per day, agent, model and room, as charts with their tables and CSV files.
/// The range comes from the address (`?from=&to=`, days), so a plain form chooses it.
#[component]
pub fn UsagePage() -> impl IntoView {
    let range = use_query_map().with_untracked(|query| (query.get("from"), query.get("to")));
    let overview = Resource::new(move || range.clone(), |(from, to)| load_usage(from, to));

    view! {
        <Title text="Usage" />
        <Suspense fallback=|| view! { <p class="loading">"Loading usage…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(overview) => view! { <UsageReport overview /> }.into_any(),
                    Err(error) => view! { <Refusal error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn UsageReport(overview: UsageOverview) -> impl IntoView {
    let total: (i64, i64, f64) = overview.sections.first().map_or((0, 0, 0.0), |day| {
        day.rows.iter().fold((0, 0, 0.0), |(i, o, c), row| (i + row.input_tokens, o + row.output_tokens, c + row.cost))
    });
    let (from, to) = (overview.from.clone(), overview.to.clone());
    view! {
        <div class="page-head">
            <h1>"Usage"</h1>
            <p class="lede">
                "Tokens and cost in the rooms you take part in (every room, for admins), by day, agent, model and room. "
                "Costs follow the server's price list; the demo model is free."
            </p>
        </div>
        <form class="usage-range card" method="get" action="/usage">
            <div>
                <label for="usage-from">"From"</label>
                <input id="usage-from" type="date" name="from" value=from />
            </div>
            <div>
                <label for="usage-to">"To"</label>
                <input id="usage-to" type="date" name="to" value=to />
            </div>
            <button type="submit" class="primary">"Show"</button>
        </form>
        <p class="usage-total">
            {format!(
                "{} to {}: {} tokens in, {} out · ${}",
                overview.from,
                overview.to,
                total.0,
                total.1,
                crate::numbers::decimal(total.2, 4)
            )}
        </p>
        {overview
            .sections
            .into_iter()
            .map(|section| {
                let (from, to) = (overview.from.clone(), overview.to.clone());
                view! { <UsageChart section from to /> }
            })
            .collect_view()}
    }
}

#[component]
fn UsageChart(section: UsageSection, from: String, to: String) -> impl IntoView {
    let group = section.group_by;
    let heading = match group {
        UsageGroup::Day => "Per day",
        UsageGroup::Agent => "Per agent",
        UsageGroup::Model => "Per model",
        UsageGroup::Room => "Per room",
    };
    let id = format!("usage-by-{}", group.as_str());
    let labelled_by = id.clone();
    let csv = format!("/api/usage?group_by={}&from={from}&to={to}&format=csv", group.as_str());
    let empty = section.rows.is_empty();
    view! {
        <section class="usage-section card" aria-labelledby=labelled_by data-group=group.as_str()>
            <div class="usage-section-head">
                <h2 id=id>{heading}</h2>
                <a class="button" href=csv download="">{format!("Download CSV ({})", group.as_str())}</a>
            </div>
            {if empty {
                view! { <p class="empty">"No usage in this range."</p> }.into_any()
            } else {
                view! {
                    <figure class="usage-chart" inner_html=section.chart_svg></figure>
                    <div class="table-scroll" tabindex="0" role="region" aria-label=format!("Usage {}", heading.to_lowercase())>
                    <table class="data-table usage-table">
                        <caption class="visually-hidden">{format!("Usage {}", heading.to_lowercase())}</caption>
                        <thead>
                            <tr>
                                <th scope="col">{group.heading()}</th>
                                <th scope="col" class="number">"Input tokens"</th>
                                <th scope="col" class="number">"Output tokens"</th>
                                <th scope="col" class="number">"Cost"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {section
                                .rows
                                .into_iter()
                                .map(|row| view! {
                                    <tr>
                                        <th scope="row">{row.label}</th>
                                        <td class="number">{row.input_tokens}</td>
                                        <td class="number">{row.output_tokens}</td>
                                        <td class="number">{format!("${}", crate::numbers::decimal(row.cost, 4))}</td>
                                    </tr>
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                    </div>
                }
                .into_any()
            }}
        </section>
    }
}
