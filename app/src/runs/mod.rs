//! A run's own page: its meters against its limits, the timeline of its turns (drawn as SVG on
//! the server) and the table behind it. The server renders the report as HTML; while the run is
//! going, the page's island asks for it again every two seconds, so the browser carries no
//! chart or table code.

#[cfg(feature = "ssr")]
mod report;

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

/// What the run page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub room_name: String,
    /// While true, the report changes and is worth asking for again.
    pub running: bool,
    /// The report: meters, chart, turns and the room's other runs, as server-rendered HTML.
    pub html: String,
}

/// A run of a room as its page shows it.
#[server(prefix = "/api/fn", endpoint = "runs/view", input = Json, output = crate::codec::JsonText)]
pub async fn load_run(room_id: Uuid, run_id: Uuid) -> Result<RunView, AppError> {
    use domain::runs::RunStatus;

    let (services, actor) = (crate::caller::services(), crate::caller::actor().await);
    let timeline = services::runs::run_timeline(&services, &actor, room_id, run_id).await?;
    let room = services::rooms::get_room(&services, &actor, room_id).await?;
    let runs = services::runs::list_runs(&services, &actor, room_id).await?;
    let now_ms = (chrono::Utc::now() - timeline.started_at).num_milliseconds();
    let chart_svg = services::charts::run_chart_svg(&timeline, now_ms);
    let running = timeline.run.status == RunStatus::Running;
    Ok(RunView { room_name: room.name, running, html: report::render(room_id, &timeline, &chart_svg, &runs) })
}

/// How often a running run's report is asked for again.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// The report, kept current while the run goes on.
#[island]
pub fn RunReport(room_id: Uuid, run_id: Uuid, running: bool, html: String) -> impl IntoView {
    let html = RwSignal::new(html);
    let running = RwSignal::new(running);
    #[cfg(feature = "hydrate")]
    {
        let busy = StoredValue::new(false);
        let refresh = move || {
            if !running.get_untracked() || busy.get_value() {
                return;
            }
            busy.set_value(true);
            leptos::task::spawn_local(async move {
                if let Ok(view) = load_run(room_id, run_id).await {
                    running.set(view.running);
                    html.set(view.html);
                }
                busy.set_value(false);
            });
        };
        if let Ok(ticker) = set_interval_with_handle(refresh, REFRESH) {
            on_cleanup(move || ticker.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (room_id, run_id, REFRESH);
    view! { <div class="run-report" data-running=move || running.get().to_string() inner_html=move || html.get()></div> }
}
