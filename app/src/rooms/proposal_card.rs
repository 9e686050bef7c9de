//! An agent's proposal of a control-plane task, shown under the message it came with: the
//! gateway's preview, a countdown to its expiry, then what people decided and how the task went.
//! Confirm and Reject are offered only to those who may decide; they are plain form posts until
//! the island hydrates, then act in place.
//!
//! What the card says is written as one escaped HTML string rather than as a view of its own
//! elements: every element a view adds costs the browser bundle about a kilobyte, which its
//! budget cannot spare. Only the countdown, the buttons and a refusal are elements of their own.

use std::fmt::Write;

use domain::control_plane::{Lane, TaskState};
use domain::proposals::{Proposal, ProposalState};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos::task::spawn_local;
use uuid::Uuid;

use super::api::plain::{ConfirmProposalForm, RejectProposalForm};
use super::api::{confirm_proposal, reject_proposal};
use super::state::RoomState;
use crate::time::{clock, minutes_seconds, now_ms};

/// Where a person turns an unrecognised command into a task.
const CONTROL_PANEL: &str = "/control-plane";

/// The proposal `id` of `state`, kept current by live events. `refusal` is what a plain post of
/// its Confirm or Reject was answered.
#[component]
pub fn ProposalCard(state: RoomState, id: Uuid, refusal: Option<String>) -> impl IntoView {
    // What a proposal never changes after it is made, and the state it was first shown in.
    let (first_state, expires_at, needs_override, risk, label) = state.proposals.with_untracked(|list| {
        let proposal = list.iter().find(|p| p.id == id);
        (
            proposal.map_or(ProposalState::Pending, |p| p.state),
            proposal.and_then(|p| p.expires_at),
            proposal.is_some_and(|p| p.requires_structured_override),
            proposal.and_then(|p| p.risk).map_or("none", |risk| risk.as_str()),
            format!("{} proposes a task", proposal.map_or("An agent", |p| p.agent_name.as_str())),
        )
    });
    let error = RwSignal::new(refusal);
    let busy = RwSignal::new(false);
    let now = RwSignal::new(now_ms());
    #[cfg(feature = "hydrate")]
    if first_state.is_open() {
        if let Ok(ticker) = set_interval_with_handle(move || now.set(now_ms()), std::time::Duration::from_secs(1)) {
            on_cleanup(move || ticker.clear());
        }
    }
    let expires_ms = expires_at.map(|at| at.timestamp_millis() as f64);
    let seconds_left = move || expires_ms.map_or(0, |at| ((at - now.get()) / 1000.0).ceil().max(0.0) as i64);
    let proposal_state =
        move || state.proposals.with(|list| list.iter().find(|p| p.id == id).map_or(first_state, |p| p.state));
    let pending = move || proposal_state() == ProposalState::Pending && expires_ms.is_some();
    let open = Memo::new(move |_| {
        state.access.with(|access| access.decide_proposals) && pending() && !needs_override && seconds_left() > 0
    });
    // Empty, and so hidden, once the proposal no longer waits.
    let countdown = move || match (pending(), seconds_left()) {
        (false, _) => String::new(),
        (true, 0) => "expired".to_owned(),
        (true, left) => format!("expires in {}", minutes_seconds(left)),
    };
    let said = move || state.proposals.with(|list| list.iter().find(|p| p.id == id).map(text).unwrap_or_default());

    let decide = move |confirm: bool| {
        move |ev: leptos::ev::MouseEvent| {
            ev.prevent_default();
            if busy.get_untracked() {
                return;
            }
            busy.set(true);
            spawn_local(async move {
                let answer = if confirm {
                    confirm_proposal(state.room_id, id).await
                } else {
                    reject_proposal(state.room_id, id).await
                };
                match answer {
                    Ok(proposal) => {
                        error.set(None);
                        state.upsert_proposal(proposal);
                    }
                    Err(refused) => error.set(Some(refused.message)),
                }
                busy.set(false);
            });
        }
    };
    let disabled = move || busy.get();
    let actions = move || {
        open.get().then(|| {
            view! {
                // One form: Confirm posts it, Reject posts it elsewhere (`formaction`).
                <form class="proposal-actions" method="post" action=ConfirmProposalForm::url()>
                    <input type="hidden" name="room_id" value=state.room_id.to_string() />
                    <input type="hidden" name="proposal_id" value=id.to_string() />
                    <button type="submit" class="primary" on:click=decide(true) disabled=disabled>
                        "Confirm"
                    </button>
                    <button type="submit" class="danger" formaction=RejectProposalForm::url() on:click=decide(false)
                        disabled=disabled>
                        "Reject"
                    </button>
                </form>
            }
        })
    };

    view! {
        <article
            class="proposal"
            data-state=move || proposal_state().as_str()
            data-risk=risk
            aria-label=label
        >
            <p class="ttl" role="timer">{countdown}</p>
            <div class="proposal-text" inner_html=said></div>
            {actions}
            {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        </article>
    }
}

/// `text` made safe to place in HTML, as an element's content or a quoted attribute's value.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the card says about `proposal`, as HTML; every text in it comes from the agent, the
/// gateway or the execution plane, so every one is escaped.
fn text(proposal: &Proposal) -> String {
    let e = |text: &str| escaped(text);
    let opt = |text: &Option<String>| escaped(text.as_deref().unwrap_or_default());
    let mut html = String::new();
    let state = proposal.state.as_str();
    let _ = write!(
        html,
        r#"<p class="proposal-head"><span class="proposal-title">{} proposes a task</span>"#,
        e(&proposal.agent_name)
    );
    if let Some(risk) = proposal.risk {
        let risk = risk.as_str();
        let _ = write!(html, r#" <span class="badge risk risk--{risk}">{risk} risk</span>"#);
    }
    let _ = write!(html, r#" <span class="badge proposal-state proposal-state--{state}">{state}</span></p>"#);
    let _ = write!(html, r#"<p class="proposal-command"><code>{}</code></p>"#, e(&proposal.command));
    if !proposal.reason.is_empty() {
        let _ = write!(html, r#"<p class="proposal-reason">{}</p>"#, e(&proposal.reason));
    }
    if proposal.intent.is_some() {
        let _ = write!(html, r#"<dl class="facts"><dt>Intent</dt><dd class="intent">{}</dd>"#, opt(&proposal.intent));
        html.push_str(r#"<dt>Operations</dt><dd><ul class="operations">"#);
        for op in &proposal.operations {
            let args = op.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
            let args = if args.is_empty() { String::new() } else { format!(" ({args})") };
            let _ = write!(html, "<li><code>{}</code>{}</li>", e(&op.tool), e(&args));
        }
        let lane = match proposal.lane {
            // Not recognised: only a person in the control panel can make a task of it.
            _ if proposal.requires_structured_override => "approval — only from the control panel",
            Some(Lane::Fast) => "fast — to the inbox once confirmed",
            Some(Lane::Approval) => "approval — to pending approval once confirmed",
            None => "",
        };
        let _ = write!(
            html,
            r#"</ul></dd><dt>Lane</dt><dd class="lane">{lane}</dd><dt>Matched rule</dt><dd><code class="rule-id">{}</code></dd><dt>Why this risk</dt><dd class="risk-reason">{}</dd></dl>"#,
            opt(&proposal.rule_id),
            opt(&proposal.risk_reason),
        );
        if proposal.requires_structured_override {
            let _ = write!(
                html,
                r#"<p class="proposal-note">The gateway did not recognise this command, so it cannot be confirmed here. A person may type it in the <a href="{CONTROL_PANEL}">control panel</a> and confirm it there with a structured override.</p>"#
            );
        }
    }
    let who = proposal.decided_by_name.as_deref().map_or_else(|| "someone".to_owned(), e);
    let when = proposal.decided_at.as_ref().map(|at| format!(" at {}", clock(at))).unwrap_or_default();
    match proposal.state {
        ProposalState::Pending => {}
        ProposalState::Confirmed => {
            let task_state = proposal.task_state.unwrap_or(TaskState::Accepted).as_str();
            let _ = write!(
                html,
                r#"<p class="decided">Confirmed by {who}{when}.</p><dl class="facts"><dt>Task id</dt><dd><code class="task-id">{}</code></dd><dt>Task state</dt><dd><span class="badge state state--{task_state}" data-task-state="{task_state}">{}</span></dd>"#,
                opt(&proposal.task_id),
                task_state.replace('_', " "),
            );
            if let Some(summary) = &proposal.result_summary {
                let _ = write!(html, r#"<dt>Result</dt><dd class="result-summary">{}</dd>"#, e(summary));
            }
            html.push_str("</dl>");
        }
        ProposalState::Rejected => {
            let _ = write!(html, r#"<p class="decided">Rejected by {who}{when}; nothing was run.</p>"#);
        }
        ProposalState::Expired => {
            html.push_str(r#"<p class="decided">Expired before anyone confirmed it; nothing was run.</p>"#);
        }
        ProposalState::Refused => {
            let why = proposal.error.as_deref().unwrap_or("no reason given");
            let _ = write!(html, r#"<p class="decided">The gateway refused this proposal: {}</p>"#, e(why));
        }
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use domain::control_plane::{Operation, Risk};

    fn proposal(state: ProposalState) -> Proposal {
        let now = Utc::now();
        Proposal {
            id: Uuid::nil(),
            room_id: Uuid::nil(),
            message_id: None,
            agent_id: None,
            agent_name: "Ops <b>".into(),
            run_id: None,
            command: "liam check status <script>alert(1)</script>".into(),
            reason: "\"quoted\" & 'single'".into(),
            preview_id: Some("p".into()),
            intent: Some("status_check".into()),
            operations: vec![Operation {
                tool: "status_reader".into(),
                args: [("agent".to_owned(), "<liam>".to_owned())].into_iter().collect(),
            }],
            risk: Some(Risk::Low),
            lane: Some(Lane::Fast),
            rule_id: Some("liam_status".into()),
            risk_reason: Some("reads & changes nothing".into()),
            requires_structured_override: false,
            expires_at: Some(now),
            state,
            error: None,
            decided_by: None,
            decided_by_name: Some("Ada <i>".into()),
            decided_at: None,
            task_id: Some("task_1".into()),
            task_state: Some(TaskState::PendingApproval),
            path_written: None,
            result_summary: Some("<img src=x onerror=alert(1)>".into()),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn what_agents_and_the_execution_plane_wrote_is_escaped() {
        let html = text(&proposal(ProposalState::Confirmed));
        for raw in ["<script>", "<b>", "<i>", "<liam>", "<img", "\"quoted\"", "'single'", "& 'single'"] {
            assert!(!html.contains(raw), "{raw} left as is in {html}");
        }
        assert!(html.contains("liam check status &lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{html}");
        assert!(html.contains("Confirmed by Ada &lt;i&gt;"), "{html}");
        assert!(html.contains(r#"data-task-state="pending_approval">pending approval<"#), "{html}");
        assert!(html.contains("<code>status_reader</code> (agent=&lt;liam&gt;)"), "{html}");
    }

    #[test]
    fn each_state_says_what_became_of_the_proposal() {
        assert!(!text(&proposal(ProposalState::Pending)).contains("class=\"decided\""));
        assert!(text(&proposal(ProposalState::Rejected)).contains("Rejected by Ada &lt;i&gt;; nothing was run."));
        assert!(text(&proposal(ProposalState::Expired)).contains("Expired before anyone confirmed it"));
        let mut refused = proposal(ProposalState::Refused);
        refused.intent = None;
        refused.error = Some("too many <open> proposals".into());
        let html = text(&refused);
        assert!(html.contains("refused this proposal: too many &lt;open&gt; proposals"), "{html}");
        assert!(!html.contains("<dl"), "a refused proposal has no preview to show: {html}");
        let mut unknown = proposal(ProposalState::Pending);
        unknown.requires_structured_override = true;
        assert!(text(&unknown).contains(r#"<a href="/control-plane">control panel</a>"#));
    }
}
